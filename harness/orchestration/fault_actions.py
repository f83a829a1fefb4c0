"""Faults applied to a running network: link down/up, node kill/restart, access rate changes.

- ``link-down``: ``ip link set DEV down`` on bs's interface of that link (inside bs's namespace),
  ``up`` at the end. bs is one end of every link and has only connected routes, which the
  kernel puts back when the interface comes up; the far host keeps its default route.
  On a scenario the interface is that of the link's first router end (a base station or site); its static
  routes through that interface go with it, so at the end ``after_up()`` puts the network's routes back
  (the scenario's routes, and the /32 routes of devices moved with their address).
- ``kill``: SIGKILL of the node process; at the end the node is started again with the same
  arguments inside the same host and waited for until it reports ready.
- ``rate``: the link's emulator gets a new constant rate over its control channel
  (topo/emulator/control.py); at the end the profile's rate (or trace) comes back.
  Needs the userspace backend (a kernel-shaped or unshaped link has no emulator).
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

from harness.orchestration.faults import Fault, FaultError
from nodes.launch import NodeProcess
from topo.emulator.control import RateControl, read_ack, write_control

ACK_TIMEOUT_S = 3.0


class RunningNodes:
    """The node servers of one access network by host name (nodes.launch.NodeProcess); a restart starts the
    same NodeProcess again, with the same arguments, inside the same host."""

    def __init__(self, start: Callable[[NodeProcess, str], object]):
        self._start = start  # start(node, what): start it and wait until it is ready
        self._nodes: dict[str, NodeProcess] = {}

    def add(self, host: str, node: NodeProcess) -> None:
        self._nodes[host] = node

    def get(self, host: str) -> NodeProcess | None:
        return self._nodes.get(host)

    def kill(self, host: str) -> None:
        node = self._nodes.get(host)
        if node is None:
            raise FaultError(f"no {host} server is running in this network")
        node.kill()

    def restart(self, host: str) -> None:
        self._start(self._nodes[host], f"the {host} server (restarted)")


class NetworkFaults:
    """``begin``/``end`` of each fault kind on an EdgeCloudNetwork (the FaultRunner's actions)."""

    def __init__(self, net, nodes: RunningNodes, after_up: Callable[[], None] = lambda: None):
        self.net, self.nodes, self.after_up = net, nodes, after_up
        self._seq = int(time.time() * 1000) % 1_000_000_000

    # --- link down ---------------------------------------------------------------------------
    def router_interface(self, link_name: str) -> tuple[str, str]:
        """(router, its interface on ``link_name``): bs on the fixed network, a scenario's first router end."""
        links = {link.name: link for link in self.net.spec.links}
        if link_name not in links:
            raise FaultError(f"no link {link_name!r} in this network (links: {', '.join(links)})")
        link = links[link_name]
        routers = getattr(self.net.spec, "routers", None) or ["bs"]
        router = next((n for n in (link.node1, link.node2) if n in routers), None)
        if router is None:
            raise FaultError(f"the {link_name} link has no router end to take down")
        peer = link.wire or (link.node1 if link.node2 == router else link.node2)
        for intf in self.net.host(router).intfList():
            ends = (intf.link.intf1, intf.link.intf2) if intf.link else ()
            if any(end.node.name == peer for end in ends if end is not intf):
                return router, intf.name
        raise FaultError(f"{router} has no interface on the {link_name} link (towards {peer})")

    def bs_interface(self, link_name: str) -> str:
        return self.router_interface(link_name)[1]

    def _ip_link(self, link_name: str, state: str) -> None:
        router, dev = self.router_interface(link_name)
        proc = self.net.host(router).popen(["ip", "link", "set", "dev", dev, state], stdout=subprocess.PIPE,
                                           stderr=subprocess.PIPE)
        _, err = proc.communicate(timeout=10)
        if proc.returncode != 0:
            raise FaultError(f"ip link set dev {dev} {state} failed: {err.decode(errors='replace').strip()}")

    # --- rate ------------------------------------------------------------------------------------
    def _wire(self, link_name: str):
        for wire in self.net.wires():
            if wire.link_name == link_name:
                return wire
        raise FaultError(f"the {link_name} link has no userspace emulator (unshaped, or the kernel backend): "
                         "rate faults need --link-backend userspace and a shaped link")

    def _control(self, link_name: str, control_args: dict) -> None:
        wire = self._wire(link_name)
        if wire.process is None or wire.process.poll() is not None:
            raise FaultError(f"the {link_name} link emulator is not running")
        config_path = Path(wire.run_dir) / f"emulator-{link_name}.json"
        self._seq += 1
        write_control(config_path, RateControl(seq=self._seq, **control_args))
        os.kill(wire.process.pid, signal.SIGUSR1)
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while time.monotonic() < deadline:
            ack = read_ack(config_path)
            if ack and ack.get("error"):
                raise FaultError(f"the {link_name} emulator refused the change: {ack['error']}")
            if ack and ack.get("seq") == self._seq:
                return
            time.sleep(0.01)
        raise FaultError(f"the {link_name} emulator did not acknowledge the change within {ACK_TIMEOUT_S:g} s")

    # --- the FaultRunner interface ---------------------------------------------------------------
    def check(self, fault: Fault) -> None:
        """Refuse, before the workload, a fault this network cannot apply."""
        if fault.kind == "rate":
            self._wire(fault.target)
        elif fault.kind == "link-down":
            self.router_interface(fault.target)
        elif self.nodes.get(fault.target) is None:
            raise FaultError(f"fault {fault.text!r}: no {fault.target} server runs in this experiment")

    def begin(self, fault: Fault) -> None:
        if fault.kind == "link-down":
            self._ip_link(fault.target, "down")
        elif fault.kind == "kill":
            self.nodes.kill(fault.target)
        else:
            rates = {"uplink_rate_bps": fault.rate_bps if fault.direction in (None, "up") else None,
                     "downlink_rate_bps": fault.rate_bps if fault.direction in (None, "down") else None}
            self._control(fault.target, rates)

    def end(self, fault: Fault, at_stop: bool = False) -> None:
        if fault.kind == "link-down":
            self._ip_link(fault.target, "up")
            self.after_up()
        elif fault.kind == "kill":
            if not at_stop:  # at the end of the workload the node would only be stopped again
                self.nodes.restart(fault.target)
        else:
            self._control(fault.target, {"restore": True})
