"""A link between nodes on two servers, carried by a VXLAN tunnel (no Open vSwitch, no gretap).

:class:`VxlanLink` is Mininet cluster edition's ``RemoteLink`` with another tunnel: each end is a ``vxlan``
interface made in its server's root namespace (``local`` this server, ``remote`` the other, one VNI per link)
and moved into its node. Between two nodes of one server it is an ordinary veth pair. When one end is the
project's :class:`topo.links.EmulatorWire` (a root-namespace node on server 1), the userspace emulator forwards
between the local veth and the tunnel, so it shapes the cross-server link as it shapes a local one.

The tunnel's MTU is the underlay's less 50 bytes of VXLAN header, at most 1500: a 1550-byte underlay (the test
server's veth, a jumbo-frame LAN) carries full frames; on a 1500-byte LAN the tunnel has 1450 and the hosts on
that segment need the same (``lower_segment_mtu``).
"""
from __future__ import annotations

import itertools
import os
import re

from topo import commands
from topo.cluster.errors import ClusterError
from topo.cluster.mininet_cluster import load
from topo.cluster.servers import LOCAL, Server

_cluster = load()
VXLAN_PORT = 4789
VNI_BASE = 4200
VNIS_PER_PROCESS = 64  # each process its own block of VNIs: a dying run's tunnel cannot clash with the next one's
MAX_FRAME_MTU = 1500

END_SCRIPT = r"""set -e
remote={remote}
route=$(ip -o route get "$remote")
dev=$(echo "$route" | sed -n 's/.* dev \([^ ]*\).*/\1/p')
local=$(echo "$route" | sed -n 's/.* src \([^ ]*\).*/\1/p')
under=$(cat /sys/class/net/"$dev"/mtu)
mtu=$((under - 50)); [ "$mtu" -gt {max_mtu} ] && mtu={max_mtu}
ip link del {name} 2>/dev/null || true
ip link add {name} type vxlan id {vni} local "$local" remote "$remote" dstport {port} nolearning
ip link set {name} mtu "$mtu" {address}
{move}
echo "mtu=$mtu local=$local"
"""


def _server_of(node) -> Server:
    name = getattr(node, "server", LOCAL) or LOCAL
    return Server(LOCAL, "127.0.0.1") if name == LOCAL else Server(name, node.serverIP)


class VxlanLink(_cluster.RemoteLink):
    """``RemoteLink`` over VXLAN; ``mtu_bytes`` is the tunnel's MTU (None for a same-server veth)."""

    _vnis = itertools.count(VNI_BASE + (os.getpid() % 200_000) * VNIS_PER_PROCESS)

    def __init__(self, node1, node2, **kwargs):
        self.mtu_bytes = None
        self.vni = None
        super().__init__(node1, node2, **kwargs)

    def makeTunnel(self, node1, node2, intfname1, intfname2, addr1=None, addr2=None):  # noqa: N802,N803
        server1, server2 = _server_of(node1), _server_of(node2)
        if server1.address == server2.address:
            raise ClusterError(f"link {node1}-{node2}: both servers have address {server1.address}: a tunnel "
                               f"needs two; name the servers by their own addresses in --servers")
        self.vni = next(self._vnis)
        mtus = []
        for node, name, addr, here, there in ((node1, intfname1, addr1, server1, server2),
                                              (node2, intfname2, addr2, server2, server1)):
            remote = there.address
            if there.is_local:  # the remote end of a tunnel to this machine: its address as that server sees it
                remote = self._local_address_towards(here)
            move = f"ip link set {name} netns {node.pid}" if node.inNamespace else f"ip link set {name} up"
            script = END_SCRIPT.format(remote=remote, name=name, vni=self.vni, port=VXLAN_PORT,
                                       max_mtu=MAX_FRAME_MTU, address=f"address {addr}" if addr else "", move=move)
            result = here.run(script)
            found = re.search(r"mtu=(\d+)", result.stdout)
            if result.returncode != 0 or not found:
                raise ClusterError(f"VXLAN end {name} on {here.name} could not be made: "
                                   f"{(result.stderr.strip().splitlines() or ['no output'])[-1]} "
                                   f"(check the servers: harness/run.py cluster check)")
            mtus.append(int(found.group(1)))
        self.mtu_bytes = min(mtus)
        return self

    @staticmethod
    def _local_address_towards(server: Server) -> str:
        route = commands.run(["ip", "-o", "route", "get", server.address]).stdout
        found = re.search(r" src (\S+)", route)
        if not found:
            raise ClusterError(f"no route from this machine to {server.name} ({server.address})")
        return found.group(1)

    def terminate(self):
        """RemoteLink.stop() 'terminates' the tunnel it made: for VXLAN, deleting the ends (below) is all."""

    def stop(self):
        if self.tunnel is not None:
            for intf in (self.intf1, self.intf2):
                if intf is not None:
                    intf.delete()
            self.tunnel = None
        else:
            _cluster.Link.stop(self)

    @property
    def crosses_servers(self) -> bool:
        return self.tunnel is not None
