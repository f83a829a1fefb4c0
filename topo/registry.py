"""What a running network has created, on disk, so a crashed run can be cleaned up.

Each network writes ``/run/ect/net-<pid>.json`` *before* it creates anything: the
root-namespace interfaces and bridges it will make, and every process it starts
(emulators, node servers, tcpdump, iperf3). ``topo.cleanup`` reads these files.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_DIR = Path(os.environ.get("ECT_STATE_DIR", "/run/ect"))
PREFIX = "ect"  # every root-namespace interface, bridge and namespace the project makes


@dataclass
class NetworkState:
    owner_pid: int
    interfaces: list[str] = field(default_factory=list)   # root-namespace links to delete
    processes: list[dict] = field(default_factory=list)   # {"pid": n, "what": "emulator"}
    run_dir: str = ""

    @property
    def path(self) -> Path:
        return STATE_DIR / f"net-{self.owner_pid}.json"

    def save(self) -> None:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=STATE_DIR, prefix=".net-")
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(self), out)
        os.replace(tmp, self.path)

    def add_interfaces(self, names) -> None:
        self.interfaces.extend(n for n in names if n not in self.interfaces)
        self.save()

    def add_process(self, pid: int, what: str) -> None:
        self.processes.append({"pid": pid, "what": what})
        self.save()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def load_states() -> list[NetworkState]:
    states = []
    for path in sorted(STATE_DIR.glob("net-*.json")):
        try:
            states.append(NetworkState(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            path.unlink(missing_ok=True)  # unreadable: a crash mid-write; the prefix scan still finds things
    return states
