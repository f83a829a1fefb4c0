"""Start a node process, wait until it is ready, stop it for certain: for the harness, tests and benchmarks.

    with NodeProcess("cloud", ["--models", DIR], log_dir=LOG) as cloud:
        ... cloud.url ...

Readiness is the ready file the node writes once serving (never a sleep). On
exit the process gets SIGTERM (clean shutdown: in-flight requests finish), then
SIGKILL after ``stop_timeout_s``; its stdout/stderr are in ``<log_dir>/<kind>.out``.
``popen`` can be replaced (e.g. a Mininet host's ``popen``) to start it elsewhere.
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

KINDS = ("cloud", "edge")


class NodeStartError(RuntimeError):
    """The node exited or did not become ready in time; the message carries the tail of its output."""


class NodeProcess:
    def __init__(self, kind: str, args: list[str], *, log_dir: Path, host: str = "127.0.0.1", port: int = 0,
                 ready_timeout_s: float = 120.0, stop_timeout_s: float = 30.0, popen=subprocess.Popen,
                 python: str = sys.executable):
        if kind not in KINDS:
            raise NodeConfigError(f"node kind {kind!r} is not one of {', '.join(KINDS)}")
        self.kind, self.log_dir = kind, Path(log_dir)
        self.ready_file = self.log_dir / f"{kind}.ready.json"
        self.argv = [python, "-m", f"nodes.{kind}", "--host", host, "--port", str(port), "--log-dir",
                     str(self.log_dir), "--ready-file", str(self.ready_file), *args]
        self.ready_timeout_s, self.stop_timeout_s = ready_timeout_s, stop_timeout_s
        self._popen = popen
        self.process = None
        self.url = ""
        self.pid = 0

    def __enter__(self) -> "NodeProcess":
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.ready_file.unlink(missing_ok=True)
        self._out = open(self.log_dir / f"{self.kind}.out", "wb")
        self.process = self._popen(self.argv, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.ready_file.exists():
                info = json.loads(self.ready_file.read_text())
                self.url, self.pid = info["url"], info["pid"]
                return
            if self.process.poll() is not None:
                raise NodeStartError(f"{self.kind} exited with {self.process.returncode}: {self.output_tail()}")
            time.sleep(0.05)
        raise NodeStartError(f"{self.kind} not ready within {self.ready_timeout_s} s: {self.output_tail()}")

    def output_tail(self, chars: int = 600) -> str:
        self._out.flush()
        text = (self.log_dir / f"{self.kind}.out").read_text(errors="replace")
        return text[-chars:].strip()

    def stop(self) -> int | None:
        """SIGTERM, wait, SIGKILL if needed; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # its own session: only its group
                self.process.wait()
        self._out.close()
        return self.process.returncode

    def __exit__(self, *exc) -> None:
        self.stop()
