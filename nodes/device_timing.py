"""How a device workload keeps its schedule on a shared, loaded machine (``nodes.workload``).

A device is a separate piece of hardware; here it is a process on the same few cores as the servers and
the link emulators. Three things kept its requests from leaving on time (schedule lateness p99 17-20 ms at
8-16 devices on 2 cores, median 3.6 ms):

- the CPU scheduler: a device that wakes for its next request waits behind a busy server until the next
  tick (4 ms at HZ=250) or longer. ``request_realtime(priority)`` asks for SCHED_FIFO at a priority below
  the emulators' (they must preempt the devices), so a device's wakeup preempts the servers at once. It is
  asked only once the device is set up (imports, images); a device's CPU stays bounded by its schedule (open
  loop) or its replies (closed loop, one request at a time), and it reports what it used (``cpu S``);
- start-up: N Python processes importing and making images overlapped the other devices' schedules. With
  ``--start-line`` a device says ``ready`` on stdout once it is set up and waits for ``start NS`` on stdin
  (``time.monotonic_ns()`` in every namespace of the host): every device starts its schedule at the same
  instant, after all of them are ready;
- the event loop's timer: asyncio's default epoll selector rounds every wait up to a whole millisecond
  (0-1 ms late each time); ``precise_loop()`` is an event loop on ``select()``, whose timeout is in
  microseconds (a device holds a few sockets, far below select's limit);
- the garbage collector: ``settle_memory()`` collects once and freezes what set-up made (modules,
  images), so later collections do not walk it.

What the device got is one ``scheduling ...`` line on stdout (``describe``), which the harness records.
"""
from __future__ import annotations

import asyncio
import gc
import os
import selectors
import sys
import time

DEVICE_FIFO_PRIORITY = 5   # below the emulators' SCHED_FIFO 10 (topo/emulator/wakeup.py): links keep their timing
NICENESS = -5              # the fallback without real-time scheduling (best effort)
START_PREFIX = "start "


class NoStartLine(Exception):
    """The ``start NS`` line did not come (stdin closed: the harness went, or another line came)."""


def request_realtime(priority: int) -> dict:
    """SCHED_FIFO at ``priority`` for this process (0: do not ask); else a raised nice value, best effort.
    Returns what it got: {"policy", "priority", "nice", "error"}."""
    record: dict = {"requested": "SCHED_FIFO" if priority > 0 else "SCHED_OTHER", "error": ""}
    if priority > 0:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        except (PermissionError, OSError) as err:
            record["error"] = f"SCHED_FIFO refused: {getattr(err, 'strerror', None) or err}"
            try:
                os.setpriority(os.PRIO_PROCESS, 0, NICENESS)
            except (PermissionError, OSError):
                pass
    policy = os.sched_getscheduler(0)
    record["policy"] = {os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_RR: "SCHED_RR"}.get(policy, "SCHED_OTHER")
    record["priority"] = os.sched_getparam(0).sched_priority
    record["nice"] = os.getpriority(os.PRIO_PROCESS, 0)
    return record


def describe(record: dict) -> str:
    """The ``scheduling ...`` stdout line of ``record`` (``parse_scheduling`` reads it back)."""
    line = f"scheduling {record['policy']} {record['priority']} nice {record['nice']}"
    return line + (f" ({record['error']})" if record.get("error") else "")


def parse_scheduling(line: str) -> str | None:
    """What a ``scheduling ...`` line says (e.g. "SCHED_FIFO 5 nice 0"), or None for another line."""
    return line[len("scheduling "):].strip() if line.startswith("scheduling ") else None


def precise_loop() -> asyncio.AbstractEventLoop:
    """An event loop whose timers wake within microseconds, not at the next whole millisecond."""
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


def settle_memory() -> None:
    """Collect once and freeze every object made so far: later collections skip the set-up's objects."""
    gc.collect()
    gc.freeze()


def wait_for_start(stdin=None, stdout=None) -> int:
    """Say ``ready`` and wait for the ``start NS`` line; returns NS (``time.monotonic_ns()`` time). A ValueError
    NoStartLine names what came instead (or that stdin closed: the harness went)."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    print("ready", file=stdout, flush=True)
    line = stdin.readline()
    if not line.startswith(START_PREFIX) or not line[len(START_PREFIX):].strip().isdigit():
        raise NoStartLine("stdin closed before the start line" if not line else
                         f"expected 'start NS' on stdin, got {line.strip()[:60]!r}")
    return int(line[len(START_PREFIX):])


def start_line(delay_s: float) -> bytes:
    """The line the harness sends every ready device: start ``delay_s`` from now."""
    return f"{START_PREFIX}{time.monotonic_ns() + int(delay_s * 1e9)}\n".encode()
