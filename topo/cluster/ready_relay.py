"""A remote node's readiness on a server that does not share the results folder.

A node server says it is ready by writing its ``--ready-file`` (nodes.node_cli); the caller here waits for that
file (nodes.launch). On a server with its own disk the file appears there, not here. For such a command
:class:`ReadyRelay` keeps one ssh connection open to the server that waits there for the file (no polling over
ssh) and, once it is there, sends the command's folder as it is then (the ready file, ``compute.json``, the
logs so far) as a tar stream; the files land here, the ready file last and atomically, so the caller sees a
complete ready file exactly as on one machine. The relay ends when the file came, when the command here ended
(its ssh connection closes, the loop there reads EOF and exits). What the command writes later
comes back when the network stops (topo.cluster.session).
"""
from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import tarfile
import tempfile
import threading
import time
from pathlib import Path, PurePosixPath

from topo.cluster.servers import OWNER_ENV, Server

READY_FLAG = "--ready-file"
POLL_S = 0.05

# There: wait for a non-empty FILE; a line or EOF on stdin (the caller gave up, or is gone) ends the wait.
WAIT_SCRIPT = ('f={file}; while [ ! -s "$f" ]; do read -t {poll} _; [ $? -gt 128 ] || exit 3; done; '
               'tar -C {folder} -cf - .')


def ready_file_of(argv) -> Path | None:
    """The file named by ``--ready-file`` in ``argv`` (``--ready-file F`` or ``--ready-file=F``), else None."""
    argv = [str(a) for a in argv]
    for i, word in enumerate(argv):
        if word == READY_FLAG and i + 1 < len(argv):
            return Path(argv[i + 1])
        if word.startswith(READY_FLAG + "="):
            return Path(word.split("=", 1)[1])
    return None


class ReadyRelay(threading.Thread):
    """Brings ``ready_file`` (and its folder) from ``server`` here once the command ``watched`` there wrote it."""

    def __init__(self, server: Server, ready_file: Path, watched: subprocess.Popen, owner: str):
        super().__init__(name=f"ready-relay-{ready_file.name}", daemon=True)
        self.server, self.ready_file, self.watched, self.owner = server, Path(ready_file), watched, owner
        self.outcome = "waiting"   # then: "relayed", "shared" (the file was here already), or why not

    def run(self) -> None:
        folder = self.ready_file.parent
        script = WAIT_SCRIPT.format(file=shlex.quote(str(self.ready_file)), folder=shlex.quote(str(folder)),
                                    poll=POLL_S)
        argv = self.server.ssh_argv("env", f"{OWNER_ENV}={self.owner}", "bash", "-c", shlex.quote(script))
        with tempfile.TemporaryFile() as stream:
            relay = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=stream, stderr=subprocess.DEVNULL)
            try:
                while relay.poll() is None and self.watched.poll() is None:
                    time.sleep(POLL_S)
            finally:
                _end(relay)
            if relay.returncode != 0:
                self.outcome = f"no ready file came (relay exit {relay.returncode})"
                return
            stream.seek(0)
            self.outcome = self._unpack(stream)

    def _unpack(self, stream) -> str:
        folder = self.ready_file.parent
        with tarfile.open(fileobj=stream, mode="r:") as tar:
            files = [m for m in tar.getmembers() if m.isfile() and _safe(m.name)]
            ready = [m for m in files if PurePosixPath(m.name) == PurePosixPath(self.ready_file.name)]
            if not ready:
                return "the folder came without its ready file"
            content = tar.extractfile(ready[0]).read()
            with contextlib.suppress(OSError):
                if self.ready_file.read_bytes() == content:
                    return "shared"  # the server sees this folder: the node's own files are here already
            for member in files:
                if member is not ready[0]:
                    _write(folder / member.name, tar.extractfile(member).read())
            _write(self.ready_file, content)  # last: whoever waits for it finds the rest
        return "relayed"


def _end(relay: subprocess.Popen) -> None:
    if relay.poll() is None:
        with contextlib.suppress(OSError):
            relay.stdin.close()  # EOF there: the wait loop exits
        try:
            relay.wait(timeout=3.0)
        except subprocess.TimeoutExpired:
            relay.kill()
            relay.wait()
    elif relay.stdin:
        relay.stdin.close()


def _safe(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.relay-{os.getpid()}")
    tmp.write_bytes(content)
    os.replace(tmp, path)
