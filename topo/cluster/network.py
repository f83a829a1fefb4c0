"""A Mininet network spread over servers: ``MininetCluster`` with Linux bridges, :class:`ClusterHost` and
:class:`VxlanLink` (no Open vSwitch, no controller).

:func:`cluster_mininet` builds (not starts) it from a Mininet ``Topo``; the caller starts and stops it as it
does a one-server network. The first server must be ``localhost``: the harness, switches and emulators run here.
"""
from __future__ import annotations

import contextlib
import os

from mininet.nodelib import LinuxBridge

from topo.cluster.errors import ClusterError
from topo.cluster.mininet_cluster import load
from topo.cluster.nodes import ClusterHost
from topo.cluster.placement import Placement, placer_for
from topo.cluster.servers import CLUSTER_DIR, Server
from topo.cluster.vxlan_link import MAX_FRAME_MTU, VxlanLink

_cluster = load()


@contextlib.contextmanager
def _home(folder):
    """MininetCluster makes ``$HOME/.ssh/mn``: point it at the project's cache, not this machine's ~/.ssh."""
    previous = os.environ.get("HOME")
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(folder)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = previous


def cluster_mininet(topo, servers: list[Server], placement: Placement, shared_results: dict | None = None,
                    **mininet_kwargs):
    """An unbuilt ``MininetCluster`` of ``topo`` with ``placement`` over ``servers``; ``shared_results``: server
    name -> whether it sees this machine's results folder (filled in once the network is up; its hosts read it)."""
    if not servers or not servers[0].is_local:
        raise ClusterError("the first of --servers must be localhost (this machine runs the harness, the switches "
                           "and the link emulators)")
    placement.check(list(topo.hosts()), servers)
    params = dict(switch=LinuxBridge, controller=None, autoSetMacs=True, autoStaticArp=False,
                  waitConnected=False, build=False)
    params.update(mininet_kwargs)
    host_class = type("RunClusterHost", (ClusterHost,), {"shared_results": shared_results if shared_results
                                                          is not None else {}})
    with _home(CLUSTER_DIR):
        return _cluster.MininetCluster(
            topo=topo, servers=[s.name for s in servers], serverIP={s.name: s.address for s in servers},
            user="root", placement=placer_for(placement, servers), precheck=False,
            host=host_class, link=VxlanLink, **params)


def tunnels(net) -> list[VxlanLink]:
    return [link for link in net.links if isinstance(link, VxlanLink) and link.crosses_servers]


def lower_segment_mtu(net) -> None:
    """Where a tunnel carries less than a full frame, give both ends of every link that shares its segment
    (through an emulator wire) the tunnel's MTU, so no host sends a frame the tunnel would drop."""
    for tunnel in tunnels(net):
        if tunnel.mtu_bytes >= MAX_FRAME_MTU:
            continue
        for intf in (tunnel.intf1, tunnel.intf2):
            node = intf.node
            for other in node.intfList() if not getattr(node, "inNamespace", True) else [intf]:
                for end in (other.link.intf1, other.link.intf2) if other.link else (other,):
                    end.node.cmd(f"ip link set {end.name} mtu {tunnel.mtu_bytes}")
