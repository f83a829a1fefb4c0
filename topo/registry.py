"""What a running network has created, on disk, so a crashed run can be cleaned up.

Each network writes ``/run/ect/net-<pid>.json`` *before* it creates anything: the
root-namespace interfaces and bridges it will make, named namespaces, and every process it
starts (emulators, node servers, tcpdump, iperf3). A test path (``topo.emulator.netns_path``)
writes ``net-<pid>-<tag>.json`` the same way. Every process started while a network runs also
carries its owner's pid in the environment (``ECT_NET_OWNER``), so what the state file could not
name (a command typed into a host) is still known to be that run's. ``topo.cleanup`` reads both.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_DIR = Path(os.environ.get("ECT_STATE_DIR", "/run/ect"))
PREFIX = "ect"  # every root-namespace interface, bridge and namespace the project makes
OWNER_ENV = "ECT_NET_OWNER"  # pid of the process whose network started this process


@dataclass
class NetworkState:
    owner_pid: int
    interfaces: list[str] = field(default_factory=list)   # root-namespace links to delete
    processes: list[dict] = field(default_factory=list)   # {"pid": n, "what": "emulator"}
    run_dir: str = ""
    namespaces: list[str] = field(default_factory=list)   # named namespaces (ip netns) to delete
    tag: str = ""                                          # "" for a network; a test path's tag otherwise

    @property
    def path(self) -> Path:
        return STATE_DIR / (f"net-{self.owner_pid}-{self.tag}.json" if self.tag else f"net-{self.owner_pid}.json")

    def save(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=STATE_DIR, prefix=".net-")
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(self), out)
        os.replace(tmp, self.path)

    def add_interfaces(self, names) -> None:
        self.interfaces.extend(n for n in names if n not in self.interfaces)
        self.save()

    def add_namespaces(self, names) -> None:
        self.namespaces.extend(n for n in names if n not in self.namespaces)
        self.save()

    def add_process(self, pid: int, what: str) -> None:
        self.processes.append({"pid": pid, "what": what})
        self.save()

    def add_processes(self, pids, what: str) -> None:
        """Several processes, one write."""
        self.processes.extend({"pid": pid, "what": what} for pid in pids)
        self.save()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def load_states() -> list[NetworkState]:
    states = []
    for path in sorted(STATE_DIR.glob("net-*.json")):
        try:
            states.append(NetworkState(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            path.unlink(missing_ok=True)  # unreadable (written by hand?): the owner marks still find its processes
    return states


@contextlib.contextmanager
def owner_marked(owner_pid: int):
    """Processes started inside this block (and their children) carry ``ECT_NET_OWNER=<owner_pid>``."""
    previous = os.environ.get(OWNER_ENV)
    os.environ[OWNER_ENV] = str(owner_pid)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(OWNER_ENV, None)
        else:
            os.environ[OWNER_ENV] = previous


def owner_of(environ: dict) -> int | None:
    """The owner pid a process's environment carries, or None."""
    value = environ.get(OWNER_ENV, "")
    return int(value) if value.isdigit() else None
