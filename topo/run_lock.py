"""One network of this project at a time on a machine: two would collide on interface names.

An exclusive ``flock`` on ``/run/ect/network.lock``, held while a network (or a whole
experiment) runs. The kernel releases it when the holder dies, even by SIGKILL, so a crash
never leaves a stale lock. Re-entrant within one process (an experiment holds it across the
networks it builds one after another).
"""
from __future__ import annotations

import contextlib
import fcntl
import os

from topo.errors import TopoError
from topo.registry import STATE_DIR

LOCK_PATH = STATE_DIR / "network.lock"
_held = {"fd": None, "depth": 0}


@contextlib.contextmanager
def exclusive_run():
    if _held["depth"]:
        _held["depth"] += 1
        try:
            yield
        finally:
            _held["depth"] -= 1
        return
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise TopoError(f"another run of this testbed is active (pid {holder}): wait for it to finish, "
                        f"or stop it (Ctrl-C) and run 'sudo python harness/run.py clean'") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    _held.update(fd=fd, depth=1)
    try:
        yield
    finally:
        _held.update(fd=None, depth=0)
        os.close(fd)  # releases the flock
