"""Start a node process, wait until it is ready, stop it for certain: the one way the harness, the tests and
the benchmarks start a node server (``python -m nodes.cloud``, ``nodes.edge`` or ``nodes.collab_edge``).

    with NodeProcess("cloud", ["--models", DIR], log_dir=LOG) as cloud:
        ... cloud.url ...

Readiness is the ready file the node writes once serving (never a sleep). On
exit the process gets SIGTERM (clean shutdown: in-flight requests finish), then
SIGKILL after ``stop_timeout_s``; its stdout/stderr are in ``<log_dir>/<kind>.out``.
``popen`` can be replaced (e.g. a Mininet host's ``popen``) to start it elsewhere;
the process must lead its own process group (``start_new_session``, or mnexec's setsid).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from nodes.errors import NodeConfigError

KINDS = ("cloud", "edge", "collab_edge")


class NodeStartError(RuntimeError):
    """The node exited (``exited``) or did not become ready in time; the message carries the tail of its output."""

    def __init__(self, message: str, exited: bool = False):
        super().__init__(message)
        self.exited = exited


class NodeProcess:
    def __init__(self, kind: str, args: list[str], *, log_dir: Path, host: str = "127.0.0.1", port: int = 0,
                 ready_timeout_s: float = 120.0, stop_timeout_s: float = 30.0, popen=subprocess.Popen,
                 python: str = sys.executable):
        if kind not in KINDS:
            raise NodeConfigError(f"node kind {kind!r} is not one of {', '.join(KINDS)}")
        self.kind, self.log_dir = kind, Path(log_dir)
        self.ready_file = self.log_dir / f"{kind}.ready.json"
        self.out_file = self.log_dir / f"{kind}.out"
        self.argv = [python, "-m", f"nodes.{kind}", "--host", host, "--port", str(port), "--log-dir",
                     str(self.log_dir), "--ready-file", str(self.ready_file), *args]
        self.ready_timeout_s, self.stop_timeout_s = ready_timeout_s, stop_timeout_s
        self._popen = popen
        self._out = None
        self._terminated = False
        self.process = None
        self.url = ""
        self.pid = 0
        self.starts = 0

    def start(self) -> "NodeProcess":
        """Start it (again, after ``kill``: same arguments, output appended) and wait until it is ready."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.ready_file.unlink(missing_ok=True)
        self._out = open(self.out_file, "ab" if self.starts else "wb")
        self._terminated = False
        self.process = self._popen(self.argv, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)
        self.starts += 1
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    __enter__ = start

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.ready_file.exists():
                info = json.loads(self.ready_file.read_text())
                self.url, self.pid = info["url"], info["pid"]
                return
            if self.process.poll() is not None:
                raise NodeStartError(f"{self.kind} exited with {self.process.returncode}: {self.output_tail()}",
                                     exited=True)
            time.sleep(0.05)
        raise NodeStartError(f"{self.kind} not ready within {self.ready_timeout_s:g} s: {self.output_tail()}")

    def output_tail(self, chars: int = 600) -> str:
        if self._out is not None and not self._out.closed:
            self._out.flush()
        try:
            text = self.out_file.read_text(errors="replace")
        except OSError:
            return ""
        return text[-chars:].strip()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def terminate(self) -> None:
        """SIGTERM once, without waiting (several nodes' shutdowns overlap; ``stop`` then waits)."""
        if self.running() and not self._terminated:
            self.process.send_signal(signal.SIGTERM)
            self._terminated = True

    def kill(self) -> None:
        """SIGKILL at once (a crash, as a fault injects it), and wait for it; ``start`` brings it back."""
        if self.running():
            self._kill_group()
        if self.process is not None:
            self.process.wait()
        self._close_output()

    def stop(self, timeout_s: float | None = None) -> int | None:
        """SIGTERM, wait ``timeout_s`` (default ``stop_timeout_s``), SIGKILL if needed; returns the exit code."""
        if self.process is None:
            return None
        if self.running():
            self.terminate()
            try:
                self.process.wait(self.stop_timeout_s if timeout_s is None else timeout_s)
            except subprocess.TimeoutExpired:
                self._kill_group()
                self.process.wait()
        self._close_output()
        return self.process.returncode

    def _kill_group(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # its own session: only its group
        except ProcessLookupError:
            pass  # it exited just now

    def _close_output(self) -> None:
        if self._out is not None:
            self._out.close()

    def __exit__(self, *exc) -> None:
        self.stop()


def stop_nodes(nodes, timeout_s: float) -> None:
    """Stop several nodes at once: SIGTERM to all, then ``timeout_s`` in all for them to exit, then SIGKILL."""
    live = [n for n in nodes if n is not None]
    for node in live:
        node.terminate()
    deadline = time.monotonic() + timeout_s
    for node in live:
        node.stop(max(0.0, deadline - time.monotonic()))
