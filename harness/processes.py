"""The harness's child processes in the emulated hosts: their command lines, readiness and stopping."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

from harness.errors import HarnessError
from topo.commands import wait_for_line


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def wait_ready(proc: subprocess.Popen, what: str, timeout_s: float) -> None:
    """Node servers print 'ready' on stdout once serving."""
    found, _ = wait_for_line(proc, proc.stdout, "ready", timeout_s)
    if found:
        return
    err = proc.stderr.read().decode(errors="replace").strip().splitlines() if proc.poll() is not None else []
    raise HarnessError(f"{what} did not become ready: {err[-1] if err else f'no ready line in {timeout_s:.0f} s'}")


def stop(proc: subprocess.Popen | None, timeout_s: float = 10.0, signals=(signal.SIGTERM,)) -> None:
    """Each of ``signals`` in turn, ``timeout_s`` for each, then SIGKILL."""
    stop_all([proc], timeout_s, signals)


def stop_all(procs, timeout_s: float = 5.0, signals=(signal.SIGTERM,)) -> None:
    """Stop several processes at once (the waits overlap, not one after the other)."""
    live = [p for p in procs if p is not None and p.poll() is None]
    for signum in (*signals, signal.SIGKILL):
        for proc in live:
            if proc.poll() is None:
                proc.send_signal(signum)
        deadline = time.monotonic() + timeout_s
        for proc in live:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()) if signum != signal.SIGKILL else None)
            except subprocess.TimeoutExpired:
                pass
        live = [p for p in live if p.poll() is None]
        if not live:
            return
