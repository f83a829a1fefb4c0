"""Start and stop the edge/cloud network (DESIGN.md, steps 2-3 and 7).

``with running_network(spec) as net:`` builds the Mininet network with Linux bridges and
no controller, starts the link emulators, configures routing, and tears everything down
on normal exit, exceptions, SIGINT and SIGTERM.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from mininet.log import lg, setLogLevel
from mininet.net import Mininet
from mininet.node import Host
from mininet.nodelib import LinuxBridge

from topo import commands
from topo.cleanup import clean_state, clear_for
from topo.cluster.session import active_cluster
from topo.errors import TopoError
from topo.links import EmulatorWire
from topo.registry import NetworkState, owner_marked
from topo.run_lock import exclusive_run
from topo.topology import TopologySpec


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so ``finally`` blocks run (like KeyboardInterrupt)."""


@dataclass
class EdgeCloudNetwork:
    """A running network: the Mininet object plus what the harness needs to know."""

    spec: TopologySpec  # or a topo.scenario.plan.ScenarioNetworkSpec: the same interface
    mininet: Mininet
    state: NetworkState
    run_dir: Path
    timings_s: dict = field(default_factory=dict)

    def host(self, name: str) -> Host:
        return self.mininet.get(name)

    @property
    def host_names(self) -> list[str]:
        return list(self.spec.hosts)

    def popen(self, host: str, argv: list[str], what: str, **kwargs):
        """Start ``argv`` inside ``host``'s namespace and register it for cleanup."""
        proc = self.host(host).popen(argv, **kwargs)
        self.state.add_process(proc.pid, what)
        return proc

    def wires(self) -> list[EmulatorWire]:
        return [s for s in self.mininet.switches if isinstance(s, EmulatorWire)]

    def cli(self) -> None:
        """Mininet's CLI on this network, printing as Mininet's does: the network runs at log level
        "error" (quiet), which would also hide the CLI's output (``nodes``, ``net``, a host's ping)."""
        from mininet.cli import CLI

        previous = lg.level, lg.ch.level
        setLogLevel("output")
        try:
            CLI(self.mininet)
        finally:
            lg.setLevel(previous[0])
            lg.ch.setLevel(previous[1])


def require_root(command: str) -> None:
    if os.geteuid() != 0:
        raise TopoError(f"'{command}' needs root (network namespaces): run it with sudo")


def _root_interfaces_of(net: Mininet) -> list[str]:
    names = []
    for switch in net.switches:
        names.append(switch.name)
        names.extend(i.name for i in switch.intfList() if i.name != "lo")
    return names


@contextlib.contextmanager
def _signals_raise():
    """Turn SIGTERM and SIGHUP (the terminal closed) into an exception in the main thread; restore afterwards."""
    def on_term(_signum, _frame):
        raise Terminated()
    previous = {s: signal.signal(s, on_term) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _signals_ignored():
    saved = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _configure(net: Mininet, spec: TopologySpec) -> None:
    for router in spec.routers:
        net.get(router).cmd("sysctl -qw net.ipv4.ip_forward=1")
    spec.configure_routes(net)
    if spec.backend == "userspace":
        # Frames forwarded in userspace must carry real checksums and be at most one MTU.
        for node in net.hosts:
            script = "; ".join(" ".join(commands.offload_args(i.name)) + " 2>/dev/null"
                               for i in node.intfList() if i.name != "lo")
            node.cmd(script)
        for switch in net.switches:
            for intf in switch.intfList():
                if intf.name != "lo":
                    commands.disable_offloads(intf.name)


@contextlib.contextmanager
def running_network(spec: TopologySpec, run_dir: Path | None = None, log_dir: Path | None = None,
                    packet_log: bool = False, quiet: bool = True):
    """Build and start ``spec``; yield an EdgeCloudNetwork; always tear down. One at a time per machine."""
    require_root("topology")
    with exclusive_run(), _network(spec, run_dir, log_dir, packet_log, quiet) as net:
        yield net


@contextlib.contextmanager
def _network(spec: TopologySpec, run_dir: Path | None, log_dir: Path | None, packet_log: bool, quiet: bool):
    missing = commands.missing_tools()
    if missing:
        raise TopoError(f"missing tools: {', '.join(missing)}: run 'sudo ./setup.sh'")
    setLogLevel("error" if quiet else "info")
    for line in clear_for(spec.planned_root_interfaces()).lines():  # what a killed run left in this one's way
        print(f"network: a run that is gone left these behind: {line}", file=sys.stderr, flush=True)
    run_dir = Path(run_dir or tempfile.mkdtemp(prefix="ect-run-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    state = NetworkState(owner_pid=os.getpid(), run_dir=str(run_dir))
    state.add_interfaces(spec.planned_root_interfaces())  # before anything exists
    EmulatorWire.run_dir, EmulatorWire.log_dir, EmulatorWire.packet_log = run_dir, log_dir, packet_log
    EmulatorWire.on_process = staticmethod(lambda pid: state.add_process(pid, "emulator"))
    EmulatorWire.defer_ready = True  # every emulator is launched first, then all are waited for
    net = None
    timings = {}
    cluster = active_cluster()  # a cluster run (topo.cluster.session): the same network over several servers
    with _signals_raise(), owner_marked(os.getpid()):
        try:
            started = time.monotonic()
            build = cluster.mininet if cluster else Mininet
            net = build(topo=spec.mininet_topo(), switch=LinuxBridge, controller=None,
                        autoSetMacs=True, autoStaticArp=False, waitConnected=False, build=False)
            net.build()
            state.add_processes([h.pid for h in net.hosts if not getattr(h, "isRemote", False)], "mininet-host")
            state.add_interfaces(_root_interfaces_of(net))
            _configure(net, spec)
            wires = [s for s in net.switches if isinstance(s, EmulatorWire)]
            for wire in wires:  # launched first: they boot while Mininet sets up the bridges
                wire.start(net.controllers)
            net.start()
            for wire in wires:
                wire.wait_ready()
            timings["start_s"] = time.monotonic() - started
            if cluster:
                cluster.started(net, run_dir)
            yield EdgeCloudNetwork(spec, net, state, run_dir, timings)
        finally:
            with _signals_ignored():
                stopped = time.monotonic()
                _stop(net)
                leftovers = clean_state(state)
                if cluster and net is not None:
                    cluster.stopped(run_dir)  # what the other servers wrote, into this results folder
                timings["stop_s"] = time.monotonic() - stopped
                if not leftovers.empty and not quiet:
                    print(f"teardown removed leftovers: {leftovers}")


def _stop(net: Mininet | None) -> None:
    if net is None:
        return
    try:
        net.stop()
    except Exception:  # noqa: BLE001 -- teardown must go on; clean() below removes the rest
        for switch in net.switches:
            with contextlib.suppress(Exception):
                switch.stop()
        for host in net.hosts:
            with contextlib.suppress(Exception):
                host.terminate()
