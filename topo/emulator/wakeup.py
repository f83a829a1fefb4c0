"""How the emulator waits for its next event, and the scheduling it asks the kernel for.

The I/O loop never busy-polls while nothing is due. It sleeps in ``select`` on its two
sockets (timeouts in microseconds, timer slack 1 us) with three rules:

* a long wait (>= ``PRECISE_FROM_S``) is split: sleep until ``EARLY_S`` before the event
  (a vCPU parked for milliseconds wakes 50-300 us late), sleep again until ``SPIN_S``
  before it, then poll the sockets for the last few microseconds, so an isolated packet
  (an idle link) leaves within a few microseconds of its release time;
* a short wait (a busy link: the next event is near) is one sleep of at least
  ``MIN_SLEEP_S``, so the packets due meanwhile leave together in one wakeup (batching)
  instead of one wakeup each; what this costs in lateness the loop measures. When the kernel
  stamps received frames (``stamped``: SO_TIMESTAMPNS), that sleep does not watch the
  sockets either: frames arriving meanwhile wait in the socket and are taken together, and
  they keep their true arrival time, so batching them changes no schedule;
* otherwise a packet arriving ends the sleep at once.

Real-time scheduling (SCHED_FIFO, a low priority) makes those wakeups happen on time on a
loaded machine; it needs CAP_SYS_NICE and real-time runtime in the process's cgroup. What the
process got (policy, priority, or the error) is returned and recorded in its counters.
``ECT_EMULATOR_FIFO_PRIORITY=0`` asks for no real-time scheduling (a benchmark's comparison).
"""
from __future__ import annotations

import ctypes
import os
import select
import time

PR_SET_TIMERSLACK = 29
EARLY_S = 0.0003          # a long sleep ends this long before the event ...
SPIN_S = 0.00003          # ... a second one this long before it; the rest is polled
PRECISE_FROM_S = 0.001    # waits at least this long are split as above
MIN_SLEEP_S = 0.0002      # a short wait sleeps at least this long (batches a busy link's wakeups)
MAX_WAIT_S = 0.05         # wake at least this often (signals, summary flushes)
FIFO_PRIORITY = 10        # low among real-time priorities: above every normal process, below the kernel's
FIFO_ENV = "ECT_EMULATOR_FIFO_PRIORITY"
NICENESS = -10            # the fallback without real-time scheduling (best effort)


def prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def set_fine_timer_slack() -> bool:
    return prctl(PR_SET_TIMERSLACK, 1000)  # ns; the default 50 us would add to every sleep


def raise_priority(niceness: int = NICENESS) -> None:
    """A wire should not wait behind batch jobs: best effort, ignored without CAP_SYS_NICE."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
    except (PermissionError, OSError):
        pass


def request_scheduling(priority: int | None = None) -> dict:
    """Ask for SCHED_FIFO at ``priority`` (default: $ECT_EMULATOR_FIFO_PRIORITY or 10; 0 = do not ask);
    on refusal keep SCHED_OTHER at nice -10. Returns what the process got, for its counters."""
    if priority is None:
        text = os.environ.get(FIFO_ENV, str(FIFO_PRIORITY))
        try:
            priority = int(text)
        except ValueError:
            priority = FIFO_PRIORITY
    record: dict = {"requested": "SCHED_FIFO" if priority > 0 else "SCHED_OTHER",
                    "requested_priority": priority}
    raise_priority()
    if priority > 0:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        except (OSError, AttributeError) as err:
            record["error"] = f"SCHED_FIFO refused: {getattr(err, 'strerror', None) or err}"
    policy = os.sched_getscheduler(0)
    record["policy"] = {os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_RR: "SCHED_RR"}.get(policy, "SCHED_OTHER")
    record["priority"] = os.sched_getparam(0).sched_priority
    record["nice"] = os.getpriority(os.PRIO_PROCESS, 0)
    record["timer_slack_ns"] = 1000 if set_fine_timer_slack() else None
    return record


class Waiter:
    """``wait(fds, next_s)``: sleep until ``next_s`` or until a socket is readable; returns the readable ones.

    ``clock`` and ``select_fn`` are injected (tests drive them); ``wakeups`` counts the sleeps;
    ``wake_delay_max_s`` is the latest a timed sleep ended past its timeout since the caller last
    reset it (the process was not running then: another task, the kernel, or a stolen vCPU).
    """

    def __init__(self, clock=time.monotonic, select_fn=select.select, stamped: bool = False):
        self.clock = clock
        self.select = select_fn
        self.stamped = stamped
        self._precise_s = None
        self.wakeups = 0
        self.wake_delay_max_s = 0.0

    def _sleep(self, fds, now_s: float, timeout_s: float) -> list:
        readable = self.select(fds, [], [], timeout_s)[0]
        if not readable:
            delay_s = self.clock() - now_s - timeout_s
            if delay_s > self.wake_delay_max_s:
                self.wake_delay_max_s = delay_s
        return readable

    def wait(self, fds, next_s: float) -> list:
        clock, sel = self.clock, self.select
        now_s = clock()
        wait_s = next_s - now_s
        if wait_s <= 0:
            return sel(fds, [], [], 0)[0]
        self.wakeups += 1
        if wait_s > MAX_WAIT_S:
            self._precise_s = None
            return self._sleep(fds, now_s, MAX_WAIT_S)
        if wait_s >= PRECISE_FROM_S:
            self._precise_s = next_s
            return self._sleep(fds, now_s, wait_s - EARLY_S)
        if next_s == self._precise_s:  # the second half of a long wait: be on time
            self._precise_s = None
            if wait_s > SPIN_S:
                readable = self._sleep(fds, now_s, wait_s - SPIN_S)
                if readable:
                    return readable
            while clock() < next_s:
                readable = sel(fds, [], [], 0)[0]
                if readable:
                    return readable
            return []
        sleep_s = wait_s if wait_s > MIN_SLEEP_S else MIN_SLEEP_S
        if self.stamped:
            self._sleep([], now_s, sleep_s)
            return fds  # whatever arrived meanwhile: the loop reads until the sockets are empty
        return self._sleep(fds, now_s, sleep_s)
