"""The servers of a cluster run and how ssh reaches them.

A server is named as ssh would name it (a host name or an address); ``localhost`` is this machine, where the
harness runs. ssh always uses the project's own key, ``.cache/cluster/id_ed25519`` (made on first use; put its
``.pub`` into a server's ``/root/.ssh/authorized_keys``), and its own known-hosts file beside it, so nothing in
``~/.ssh`` of this machine is read or changed. ``ECT_CLUSTER_KEY`` names another private key.
"""
from __future__ import annotations

import ipaddress
import os
import re
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from topo import commands
from topo.cluster.errors import ClusterError

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
CLUSTER_DIR = REPO_ROOT / ".cache" / "cluster"
LOCAL = "localhost"
SERVER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")
SSH_CONNECT_TIMEOUT_S = 5
OWNER_ENV = "ECT_CLUSTER_OWNER"  # HOST:PID of the run that started a process on a server (topo.cluster.cleanup)


def owner_tag(pid: int | None = None) -> str:
    """``<this host's name>:<pid>``: the tag of a run's processes on its servers."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def key_path() -> Path:
    return Path(os.environ.get("ECT_CLUSTER_KEY", CLUSTER_DIR / "id_ed25519"))


def ensure_key() -> Path:
    """The project's private key, made (ed25519, no passphrase) when it does not exist yet."""
    key = key_path()
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        commands.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgecloud-testbed cluster",
                      "-f", str(key)])
    return key


def ssh_options() -> list[str]:
    """ssh options every cluster connection uses: the project key and known-hosts file, no prompts."""
    return ["-i", str(key_path()), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={CLUSTER_DIR / 'known_hosts'}", "-o", "StrictHostKeyChecking=accept-new",
            "-o", f"ConnectTimeout={SSH_CONNECT_TIMEOUT_S}", "-o", "LogLevel=ERROR"]


@dataclass(frozen=True)
class Server:
    """One server: its name (as on the command line), the address ssh and the tunnels use, the ssh user."""

    name: str
    address: str
    user: str = "root"

    def __post_init__(self):
        if not SERVER_NAME.fullmatch(self.name):
            raise ClusterError(f"server name {self.name!r} is not a host name or an address")

    @property
    def is_local(self) -> bool:
        return self.name == LOCAL

    def ssh_argv(self, *remote: str) -> list[str]:
        """``ssh ... user@address REMOTE...`` (the remote words are joined by the remote shell)."""
        return ["ssh", *ssh_options(), f"{self.user}@{self.address}", *remote]

    def run(self, script: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess:
        """Run the shell ``script`` on this server (locally for ``localhost``), as the ssh user."""
        argv = ["bash", "-s"] if self.is_local else self.ssh_argv("bash", "-s")
        try:
            return subprocess.run(argv, input=script, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(argv, 124, "", f"no answer from {self.name} within {timeout_s:.0f} s")


def resolve(name: str) -> Server:
    """A server named on the command line; its address resolved here (the tunnels need one)."""
    name = name.strip()
    if name == LOCAL:
        return Server(LOCAL, "127.0.0.1")
    user, _, host = name.rpartition("@")
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        try:
            address = socket.gethostbyname(host)
        except OSError:
            raise ClusterError(f"server {host!r} does not resolve to an address: name it by address, or add it "
                               f"to /etc/hosts") from None
    return Server(host, address, user or "root")


def parse_servers(text: str) -> list[Server]:
    """``--servers a,b,...``: distinct servers, at least one."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ClusterError(f"--servers {text!r} names no server: give host names or addresses, comma-separated")
    servers = [resolve(n) for n in names]
    seen = set()
    for server in servers:
        if server.address in seen:
            raise ClusterError(f"--servers names {server.name} ({server.address}) twice")
        seen.add(server.address)
    return servers
