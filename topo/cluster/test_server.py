"""A second "server" on this machine: its own network namespace, reached over a veth, running its own sshd.

    root namespace  ectsrv2 10.254.2.1/30 ==veth== eth0 10.254.2.2/30  [netns ectsrv2: sshd on :22]

It shares this machine's files (so the project, its .venv and Mininet are at the same paths, as on a prepared
server), except ``private_folders`` (an empty tmpfs over each in sshd's own mount namespace: a server with its
own disk there, e.g. over the results folder), but has its own network stack: a cluster run reaches it by ssh with the project key, exactly as it
reaches a remote machine, and VXLAN tunnels to it cross a real (virtual) wire. The veth's MTU leaves room for
the VXLAN header, so a tunnelled link carries full 1500-byte frames as a one-server link does.

Everything it starts is recorded first (topo.registry, tag ``cluster-server``): :func:`running_test_server`
removes it on exit, also on error or Ctrl-C, and ``clean`` removes it after a crash. Nothing under ``~/.ssh``
is read or written: its host key and authorized key live in ``.cache/cluster/test-server/``.
"""
from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from topo import commands
from topo.cluster.errors import ClusterError
from topo.cluster.servers import CLUSTER_DIR, Server, ensure_key
from topo.registry import NetworkState, owner_marked

NAMESPACE = "ectsrv2"
STATE_TAG = "cluster-server"
SSHD = Path("/usr/sbin/sshd")
READY_TIMEOUT_S = 10.0
TUNNEL_HEADROOM_BYTES = 50  # VXLAN over IPv4: outer Ethernet 14 + IP 20 + UDP 8 + VXLAN 8


@dataclass(frozen=True)
class TestServerSpec:
    namespace: str = NAMESPACE
    host_address: str = "10.254.2.1"     # this machine's end of the veth
    server_address: str = "10.254.2.2"   # the test server's address (what ssh and the tunnels use)
    prefix_len: int = 30
    mtu_bytes: int = 1500 + TUNNEL_HEADROOM_BYTES
    private_folders: tuple[str, ...] = ()  # hidden from the server by an empty tmpfs: a server with its own disk

    def __post_init__(self):
        if not (self.namespace.startswith("ect") and len(self.namespace) <= 15):
            raise ValueError(f"namespace must start with 'ect' and be at most 15 characters, got {self.namespace!r}")
        if not 1280 <= self.mtu_bytes <= 9000:
            raise ValueError(f"mtu_bytes must be between 1280 and 9000, got {self.mtu_bytes}")
        for folder in self.private_folders:
            if not Path(folder).is_absolute() or not Path(folder).is_dir():
                raise ValueError(f"private_folders must be existing absolute folders, got {folder!r}")

    @property
    def folder(self) -> Path:
        return CLUSTER_DIR / "test-server"


def _sshd_config(spec: TestServerSpec) -> str:
    folder = spec.folder
    return "\n".join([
        f"ListenAddress {spec.server_address}", "Port 22",
        f"HostKey {folder / 'ssh_host_ed25519_key'}", f"PidFile {folder / 'sshd.pid'}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}",
        "PermitRootLogin prohibit-password", "PubkeyAuthentication yes", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no", "UseDNS no",
        "MaxStartups 200", "MaxSessions 200", "X11Forwarding no", "PrintMotd no", ""])


def _prepare_files(spec: TestServerSpec) -> Path:
    key = ensure_key()
    folder = spec.folder
    folder.mkdir(parents=True, exist_ok=True)
    host_key = folder / "ssh_host_ed25519_key"
    if not host_key.exists():
        commands.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ect test server", "-f", str(host_key)])
    (folder / "authorized_keys").write_text(Path(f"{key}.pub").read_text())
    config = folder / "sshd_config"
    config.write_text(_sshd_config(spec))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    return config


def _listening(address: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((address, 22), timeout=0.5):
            return True
        time.sleep(0.05)
    return False


def namespace_pids(namespace: str) -> list[int]:
    out = commands.run(["ip", "netns", "pids", namespace], check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def remove_namespace(namespace: str, veth: str) -> None:
    """Kill every process in ``namespace`` (sshd and what it started), then delete it and the veth."""
    for _ in range(3):
        pids = namespace_pids(namespace)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    commands.run(["ip", "netns", "del", namespace], check=False)
    commands.run(["ip", "link", "del", veth], check=False)


def _private(spec: TestServerSpec) -> list[str]:
    """sshd's own mount namespace with an empty tmpfs over each private folder: what the server's sessions
    write there stays there (gone with the namespace), and this machine's files there are not seen."""
    if not spec.private_folders:
        return []
    mounts = "".join(f"mount -t tmpfs ect-test-server {shlex.quote(f)} && " for f in spec.private_folders)
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", mounts + 'exec "$@"', "sh"]


def _start(spec: TestServerSpec, state: NetworkState) -> tuple[subprocess.Popen, Server]:
    config = _prepare_files(spec)
    ns, veth = spec.namespace, spec.namespace
    state.add_namespaces([ns])
    state.add_interfaces([veth])
    commands.run(["ip", "netns", "add", ns])
    commands.run(["ip", "link", "add", veth, "mtu", str(spec.mtu_bytes), "type", "veth",
                  "peer", "name", "eth0", "mtu", str(spec.mtu_bytes), "netns", ns])
    commands.run(["ip", "addr", "add", f"{spec.host_address}/{spec.prefix_len}", "dev", veth])
    commands.run(["ip", "link", "set", veth, "up"])
    inside = ["ip", "netns", "exec", ns]
    commands.run(inside + ["ip", "addr", "add", f"{spec.server_address}/{spec.prefix_len}", "dev", "eth0"])
    commands.run(inside + ["ip", "link", "set", "eth0", "up"])
    commands.run(inside + ["ip", "link", "set", "lo", "up"])
    log = open(spec.folder / "sshd.log", "wb")  # noqa: SIM115 -- the child holds it
    with owner_marked(state.owner_pid), log:
        sshd = subprocess.Popen(inside + _private(spec) + [str(SSHD), "-D", "-e", "-f", str(config)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    state.add_process(sshd.pid, "test-server sshd")
    if not _listening(spec.server_address, READY_TIMEOUT_S) or sshd.poll() is not None:
        tail = (spec.folder / "sshd.log").read_text(errors="replace").strip().splitlines()
        raise ClusterError(f"the test server's sshd did not start: {tail[-1] if tail else 'no output'} "
                           f"(log: {spec.folder / 'sshd.log'})")
    return sshd, Server(spec.server_address, spec.server_address)


@contextlib.contextmanager
def running_test_server(spec: TestServerSpec | None = None):
    """Start the test server; yield its :class:`Server`; remove everything it started on exit."""
    if not SSHD.exists():
        raise ClusterError(f"{SSHD} is missing: run 'sudo ./setup.sh' (apt package openssh-server)")
    if os.geteuid() != 0:
        raise ClusterError("the test server needs root (a network namespace): run it with sudo")
    spec = spec or TestServerSpec()
    if spec.namespace in commands.run(["ip", "netns", "list"], check=False).stdout.split():
        raise ClusterError(f"network namespace {spec.namespace} exists already: a test server is running (stop it) "
                           f"or a crashed one left it (run 'sudo python harness/run.py clean')")
    state = NetworkState(owner_pid=os.getpid(), tag=STATE_TAG)
    sshd = None
    try:
        sshd, server = _start(spec, state)
        yield server
    finally:
        if sshd is not None and sshd.poll() is None:
            sshd.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                sshd.wait(timeout=2.0)
        remove_namespace(spec.namespace, spec.namespace)
        if sshd is not None and sshd.poll() is None:
            sshd.kill()
            sshd.wait()
        state.remove()
