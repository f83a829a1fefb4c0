"""A cluster run in progress: while :func:`using_cluster` is active, every network the harness builds
(topo.network) is a ``MininetCluster`` over its servers, with its placement (topo.cluster.network).

For each network it writes ``cluster.json`` into the network's folder: the servers, where each host runs, the
tunnels (VNI, MTU, ends). Files the remote hosts write (node logs, captures) land in the same results folder:
directly where the server shares this machine's files (the test server; an NFS-mounted checkout), otherwise
copied back over ssh when the network stops. On such a server the run's folders are made there when the
network is up (the same tree, empty), and a node server's ready file comes here over ssh as soon as it is
written there (topo.cluster.ready_relay), so the harness waits for it as on one machine.
"""
from __future__ import annotations

import contextlib
import json
import secrets
import shlex
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from topo.cluster.cleanup import cluster_recorded
from topo.cluster.errors import ClusterError
from topo.cluster.placement import Placement
from topo.cluster.servers import Server, ssh_options

_active: "ClusterSession | None" = None


@dataclass
class ClusterSession:
    servers: list[Server]
    placement: Placement
    shared: dict = field(default_factory=dict)  # server name -> whether it sees this machine's results folder

    def mininet(self, topo, **params):
        """What topo.network builds instead of ``Mininet(...)``."""
        from topo.cluster.network import cluster_mininet

        return cluster_mininet(topo, self.servers, self.placement, shared_results=self.shared, **params)

    def remote_servers(self) -> list[Server]:
        used = {self.placement.server_of(host, self.servers).name for host, _ in self.placement.hosts}
        return [s for s in self.servers if not s.is_local and s.name in used]

    def started(self, net, folder: Path) -> None:
        """The network is up: record it, and make its results folder on servers that do not share it."""
        from topo.cluster.network import tunnels

        root = results_root(folder)
        for server in self.remote_servers():
            self.shared[server.name] = shares_folder(server, root)
            if not self.shared[server.name]:
                made = server.run(make_folders(root))
                if made.returncode != 0:
                    raise ClusterError(f"could not make the results folder {root} on {server.name}: "
                                       f"{(made.stderr.strip().splitlines() or ['no output'])[-1]}")
        record = {"servers": [asdict(s) for s in self.servers], "placement": dict(self.placement.hosts),
                  "hosts": {h.name: getattr(h, "server", "localhost") for h in net.hosts},
                  "tunnels": [{"link": f"{t.intf1.node.name}-{t.intf2.node.name}", "vni": t.vni, "mtu_bytes": t.mtu_bytes,
                               "ends": [t.intf1.name, t.intf2.name]} for t in tunnels(net)],
                  "shared_results_folder": self.shared}
        (folder / "cluster.json").write_text(json.dumps(record, indent=1))

    def stopped(self, folder: Path) -> None:
        """The network is down: copy back what the remote hosts wrote, from servers that do not share it."""
        root = results_root(folder)
        for server in self.remote_servers():
            if self.shared.get(server.name, True):
                continue
            pull = subprocess.run(f"ssh {' '.join(ssh_options())} {server.user}@{server.address} "
                                  f"tar -C {root} -cf - . | tar -C {root} -xf -", shell=True,
                                  capture_output=True, text=True, timeout=600)
            if pull.returncode != 0:
                raise ClusterError(f"could not copy the results back from {server.name}: "
                                   f"{(pull.stderr.strip().splitlines() or ['no output'])[-1]}")


def results_root(folder: Path) -> Path:
    """The run folder of a network folder ``<run>/logs/<access>``."""
    folder = Path(folder)
    return folder.parents[1] if folder.parent.name == "logs" else folder


def make_folders(root: Path) -> str:
    """A script that makes ``root`` and every folder under it here (pcaps/, logs/<access>/...) on a server."""
    folders = [Path(root), *sorted(p for p in Path(root).rglob("*") if p.is_dir())]
    return "mkdir -p " + " ".join(shlex.quote(str(f)) for f in folders) + "\n"


def shares_folder(server: Server, folder: Path) -> bool:
    """Does ``server`` see this machine's ``folder`` (same files, not a copy)?"""
    token = secrets.token_hex(8)
    probe = Path(folder) / f".ect-shared-{token}"
    probe.write_text(token)
    try:
        return server.run(f"cat {probe} 2>/dev/null").stdout.strip() == token
    finally:
        probe.unlink(missing_ok=True)


def active_cluster() -> ClusterSession | None:
    return _active


@contextlib.contextmanager
def using_cluster(servers: list[Server], placement: Placement):
    """Networks built inside this block are spread over ``servers`` as ``placement`` says."""
    global _active
    if _active is not None:
        raise ClusterError("a cluster run is active already in this process")
    if not servers or not servers[0].is_local:
        raise ClusterError("the first of --servers must be localhost (this machine runs the harness)")
    _active = ClusterSession(servers, placement)
    try:
        with cluster_recorded(servers):
            yield _active
    finally:
        _active = None
