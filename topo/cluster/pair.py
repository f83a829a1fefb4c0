"""Two hosts and one link between them, on one server or across two: what the tunnel test and benchmark use.

    h1 (server 1) --veth-- [ectxw: topo.emulator, server 1] --VXLAN or veth-- h2 (server 1 or 2)

With ``shaping=None`` the link is direct (no emulator): a plain veth on one server, the bare tunnel across two.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from mininet.log import setLogLevel
from mininet.topo import Topo

from topo import commands
from topo.cleanup import clean_state
from topo.cluster.cleanup import cluster_recorded
from topo.cluster.network import cluster_mininet, lower_segment_mtu, tunnels
from topo.cluster.placement import Placement
from topo.cluster.servers import Server
from topo.links import EmulatorWire
from topo.profiles import DirectionSpec
from topo.registry import NetworkState, owner_marked

H1_ADDRESS, H2_ADDRESS = "10.9.0.1", "10.9.0.2"
WIRE = "ectxw"
STATE_TAG = "cluster-pair"


class PairTopo(Topo):
    def build(self, shaping: DirectionSpec | None = None):  # noqa: D102 (Mininet's hook)
        self.addHost("h1", ip=f"{H1_ADDRESS}/24")
        self.addHost("h2", ip=f"{H2_ADDRESS}/24")
        if shaping is None:
            self.addLink("h1", "h2")
            return
        self.addSwitch(WIRE, cls=EmulatorWire, link_name="xw", uplink=shaping, downlink=shaping, dpid="a1")
        self.addLink("h1", WIRE)
        self.addLink(WIRE, "h2")


@dataclass
class RunningPair:
    net: object
    tunnel_mtu_bytes: int | None

    def host(self, name: str):
        return self.net.get(name)


def _offloads_off(net) -> None:
    for host in net.hosts:
        host.cmd("; ".join(" ".join(commands.offload_args(i.name)) + " 2>/dev/null"
                           for i in host.intfList() if i.name != "lo"))
    for switch in net.switches:
        for intf in switch.intfList():
            if intf.name != "lo":
                commands.disable_offloads(intf.name)


@contextlib.contextmanager
def running_pair(servers: list[Server], h2_server: int = 1, shaping: DirectionSpec | None = None):
    """Start the pair with h2 on ``servers[h2_server - 1]``; yield a :class:`RunningPair`; always tear down."""
    setLogLevel("error")
    placement = Placement((("h2", f"server{h2_server}"),))
    state = NetworkState(owner_pid=os.getpid(), tag=STATE_TAG)
    state.add_interfaces([WIRE, f"{WIRE}-eth1", f"{WIRE}-eth2"])
    EmulatorWire.on_process = staticmethod(lambda pid: state.add_process(pid, "emulator"))
    net = None
    with owner_marked(os.getpid()), cluster_recorded(servers[:max(h2_server, 1)]):
        try:
            net = cluster_mininet(PairTopo(shaping=shaping), servers[:max(h2_server, 1)], placement)
            net.build()
            for host in net.hosts:
                if not host.isRemote:
                    state.add_process(host.pid, "mininet-host")
            lower_segment_mtu(net)
            _offloads_off(net)
            net.start()
            for wire in (s for s in net.switches if isinstance(s, EmulatorWire)):
                wire.wait_ready()  # in case another network of this process left EmulatorWire.defer_ready set
            found = tunnels(net)
            yield RunningPair(net, found[0].mtu_bytes if found else None)
        finally:
            if net is not None:
                try:
                    net.stop()
                except Exception:  # noqa: BLE001 -- teardown goes on: the hosts' shells (and ssh) must go
                    for host in net.hosts:
                        with contextlib.suppress(Exception):
                            host.terminate()
            EmulatorWire.on_process = None
            clean_state(state)
