"""Which host goes on which server: ``--place cloud=server2`` (a placer of Mininet's cluster edition).

Servers are numbered from 1 in ``--servers`` order (``server1`` is the first, where the harness runs) or
named as given there. Every node not placed stays on server 1, and so do all switches and link emulators:
a cross-server link is a VXLAN tunnel whose shaping emulator runs on server 1 (topo.cluster.vxlan_link).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from topo.cluster.errors import ClusterError
from topo.cluster.mininet_cluster import load
from topo.cluster.servers import Server

SERVER_INDEX = re.compile(r"server(\d+)")


@dataclass(frozen=True)
class Placement:
    """Host name -> server name; hosts not named stay on the first server."""

    hosts: tuple[tuple[str, str], ...] = ()

    def server_of(self, host: str, servers: list[Server]) -> Server:
        wanted = dict(self.hosts).get(host)
        if wanted is None:
            return servers[0]
        index = SERVER_INDEX.fullmatch(wanted)
        if index:
            number = int(index.group(1))
            if not 1 <= number <= len(servers):
                raise ClusterError(f"--place {host}={wanted}: there are {len(servers)} servers (server1.."
                                   f"server{len(servers)})")
            return servers[number - 1]
        for server in servers:
            if wanted in (server.name, server.address):
                return server
        raise ClusterError(f"--place {host}={wanted}: no such server in --servers "
                           f"({', '.join(s.name for s in servers)}); use serverN or a name from --servers")

    def check(self, hosts: list[str], servers: list[Server]) -> None:
        for host, _ in self.hosts:
            if host not in hosts:
                raise ClusterError(f"--place {host}=...: no host {host!r} in this network (hosts: {', '.join(hosts)})")
            self.server_of(host, servers)


def parse_placement(text: str) -> Placement:
    """``cloud=server2,edge=server2``."""
    pairs = []
    for item in (i.strip() for i in text.split(",") if i.strip()):
        host, sep, server = item.partition("=")
        if not sep or not host.strip() or not server.strip():
            raise ClusterError(f"--place {item!r}: write HOST=SERVER, e.g. cloud=server2")
        pairs.append((host.strip(), server.strip()))
    hosts = [h for h, _ in pairs]
    if len(set(hosts)) != len(hosts):
        raise ClusterError(f"--place {text!r} places a host twice")
    return Placement(tuple(pairs))


def placer_for(placement: Placement, servers: list[Server]):
    """A ``Placer`` class for ``MininetCluster(placement=...)``: named hosts where placed, the rest on server 1."""
    hosts_on = {host: placement.server_of(host, servers).name for host, _ in placement.hosts}

    class ScenarioPlacer(load().Placer):
        def place(self, node):  # noqa: D102 (Mininet's hook)
            return hosts_on.get(node, servers[0].name) if node in self.hosts else servers[0].name

    return ScenarioPlacer
