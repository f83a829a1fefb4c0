"""What the emulator measures about itself: how late packets leave, and its own CPU.

Lateness = actual send time minus the scheduled release time (departure from the rate
service plus the delay line), per direction; it is never negative (nothing leaves early).
``LatenessHistogram`` keeps 1 us bins up to 20 ms (exact values beyond) for the run's
p50 / p99 / max; ``ProcessCpu`` turns getrusage into the cores used per interval.

Where lateness comes from, per interval (the summary's process columns, recorders.py):
``HostSteal`` the vCPU time the hypervisor took from this VM (/proc/stat ``steal``, all CPUs:
while stolen no guest process runs, real-time or not), ``GcPauses`` the time this process spent
in Python's cyclic garbage collector; the I/O loop adds its worst wake-up delay (a sleep that
ended later than asked: the process was not running) and its longest single ``send`` (the
receiver's kernel work runs inside it on a veth).
"""
from __future__ import annotations

import gc
import math
import os
import resource
import time

import numpy as np

HISTOGRAM_BINS = 20_000   # 1 us each: 0..20 ms


def percentile(sorted_values: list, fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(0, min(len(sorted_values) - 1, math.ceil(fraction * len(sorted_values)) - 1))
    return sorted_values[rank]


def nearest_rank(values, fractions: tuple) -> list[float]:
    """Nearest-rank percentiles of unsorted ``values`` (a list or an ``array('d')``; nan each when
    empty). A partial sort in numpy: the once-a-second summary must not stall the loop (sorting
    9,000 floats in Python took 1-3 ms here, and every packet due meanwhile left that late)."""
    if len(values) == 0:
        return [math.nan] * len(fractions)
    array = np.array(values, dtype=float)
    ranks = [max(0, min(len(array) - 1, math.ceil(f * len(array)) - 1)) for f in fractions]
    chosen = np.partition(array, sorted(set(ranks)))
    return [float(chosen[r]) for r in ranks]


class LatenessHistogram:
    def __init__(self):
        self._bins = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
        self._beyond: list[float] = []
        self.count = 0
        self.max_s = 0.0

    def add_all(self, lateness_s) -> None:
        """Add seconds (a list or an ``array('d')``, copied: the caller may clear it)."""
        if len(lateness_s) == 0:
            return
        array = np.array(lateness_s, dtype=float)
        index = np.floor(np.clip(array, 0.0, None) * 1e6).astype(np.int64)
        inside = index < HISTOGRAM_BINS
        self._bins += np.bincount(index[inside], minlength=HISTOGRAM_BINS)
        if not inside.all():
            self._beyond.extend(array[~inside].tolist())
        self.count += len(array)
        self.max_s = max(self.max_s, float(array.max()))

    def percentile_s(self, fraction: float) -> float:
        """The nearest-rank percentile, to the upper edge of its 1 us bin (nan without packets)."""
        if self.count == 0:
            return math.nan
        rank = max(1, math.ceil(fraction * self.count))
        seen = np.cumsum(self._bins)
        if seen[-1] >= rank:
            index = int(np.searchsorted(seen, rank))
            return min((index + 1) * 1e-6, self.max_s)
        return sorted(self._beyond)[rank - int(seen[-1]) - 1]

    def record(self) -> dict:
        """For the counters file: packets, p50 / p99 / max in ms (None without packets)."""
        if self.count == 0:
            return {"packets": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
        return {"packets": self.count, "p50_ms": round(self.percentile_s(0.5) * 1000, 4),
                "p99_ms": round(self.percentile_s(0.99) * 1000, 4), "max_ms": round(self.max_s * 1000, 4)}

def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class ProcessCpu:
    """The process's CPU (user + system) between samples, as a fraction of one core."""

    def __init__(self, now_s: float):
        self._last_s = now_s
        self._last_cpu_s = cpu_seconds()
        self.start_s, self.start_cpu_s = now_s, self._last_cpu_s

    def sample(self, now_s: float) -> float:
        cpu_s = cpu_seconds()
        elapsed_s = now_s - self._last_s
        fraction = (cpu_s - self._last_cpu_s) / elapsed_s if elapsed_s > 0 else math.nan
        self._last_s, self._last_cpu_s = now_s, cpu_s
        return fraction

    def since_start(self, now_s: float) -> float:
        """Cores used since the loop started forwarding (start-up imports left out)."""
        elapsed_s = now_s - self.start_s
        return (cpu_seconds() - self.start_cpu_s) / elapsed_s if elapsed_s > 0 else math.nan


def read_steal_ticks(path: str = "/proc/stat") -> int | None:
    """The ``steal`` column of /proc/stat's ``cpu`` line (all CPUs, USER_HZ ticks); None where unreadable."""
    try:
        with open(path) as handle:
            fields = handle.readline().split()
        return int(fields[8]) if fields and fields[0] == "cpu" and len(fields) > 8 else None
    except (OSError, ValueError):
        return None


class HostSteal:
    """Milliseconds of vCPU time stolen by the hypervisor (summed over CPUs) between samples."""

    def __init__(self, path: str = "/proc/stat"):
        self.path = path
        self._ms_per_tick = 1000.0 / os.sysconf("SC_CLK_TCK")
        self._start = self._last = read_steal_ticks(path)

    def sample(self) -> float | None:
        ticks = read_steal_ticks(self.path)
        if ticks is None or self._last is None:
            return None
        stolen_ms = (ticks - self._last) * self._ms_per_tick
        self._last = ticks
        return stolen_ms

    def total_ms(self) -> float | None:
        ticks = read_steal_ticks(self.path)
        return None if ticks is None or self._start is None else (ticks - self._start) * self._ms_per_tick


class GcPauses:
    """Time spent in Python's garbage collector (a ``gc.callbacks`` hook), per interval and in all."""

    def __init__(self, clock=time.perf_counter):
        self._clock = clock
        self._started_s = None
        self.interval_s = self.interval_max_s = 0.0
        self.total_s = self.max_s = 0.0
        self.collections = 0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, _info: dict) -> None:
        if phase == "start":
            self._started_s = self._clock()
        elif self._started_s is not None:
            pause_s = self._clock() - self._started_s
            self._started_s = None
            self.collections += 1
            self.interval_s += pause_s
            self.total_s += pause_s
            if pause_s > self.interval_max_s:
                self.interval_max_s = pause_s
            if pause_s > self.max_s:
                self.max_s = pause_s

    def take(self) -> tuple[float, float]:
        """(total, longest) pause in seconds since the last take."""
        taken = self.interval_s, self.interval_max_s
        self.interval_s = self.interval_max_s = 0.0
        return taken

    def close(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)


def settle_heap() -> None:
    """After set-up: collect once, then move every object alive into the permanent generation
    (gc.freeze), so a full collection during forwarding only walks what the loop allocated since.
    With the imports (numpy, the trace readers) a full collection otherwise takes 6-8 ms on this
    VM, and every packet due meanwhile leaves that late."""
    gc.collect()
    gc.freeze()
