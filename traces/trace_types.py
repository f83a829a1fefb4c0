"""Immutable trace objects: what a link can deliver, and how its delay varies.

A ``DeliveryTrace`` is a Mahimahi packet-delivery schedule: each entry is one
opportunity to deliver ``OPPORTUNITY_BYTES`` (one MTU) at a millisecond counted from
the start of the trace. A ``DelayTrace`` is a step function of one-way delay over time.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OPPORTUNITY_BYTES = 1500  # one delivery opportunity carries one MTU-sized packet (Mahimahi)


class TraceFormatError(ValueError):
    """A trace file or value that cannot be used; the message names file and line."""


@dataclass(frozen=True, eq=False)
class DeliveryTrace:
    """Delivery opportunities in ms from the start; non-decreasing; the last one ends the trace."""

    opportunity_ms: np.ndarray
    source: str = "<memory>"

    def __post_init__(self):
        times = np.asarray(self.opportunity_ms, dtype=np.int64)
        if times.ndim != 1 or times.size == 0:
            raise TraceFormatError(f"{self.source}: a delivery trace needs at least one opportunity")
        if times[0] < 0:
            raise TraceFormatError(f"{self.source}: times must be >= 0, got {int(times[0])} ms")
        steps = np.diff(times)
        if steps.size and steps.min() < 0:
            bad = int(np.argmax(steps < 0)) + 1
            raise TraceFormatError(f"{self.source}: entry {bad + 1} ({int(times[bad])} ms) is earlier than "
                                   f"the one before ({int(times[bad - 1])} ms); times must not decrease")
        if times[-1] == 0:
            raise TraceFormatError(f"{self.source}: the trace lasts 0 ms (its last time must be > 0)")
        times.setflags(write=False)
        object.__setattr__(self, "opportunity_ms", times)

    @property
    def duration_ms(self) -> int:
        """The trace's period: its last timestamp (Mahimahi loops with this shift)."""
        return int(self.opportunity_ms[-1])

    @property
    def packets(self) -> int:
        return int(self.opportunity_ms.size)

    @property
    def mean_rate_bps(self) -> float:
        return self.packets * OPPORTUNITY_BYTES * 8 / (self.duration_ms / 1000.0)

    def capacity_bytes_per_window(self, window_ms: int = 1000) -> np.ndarray:
        """Bytes the trace can deliver in each window [k*w, (k+1)*w) of one pass."""
        bins = np.arange(0, self.duration_ms + window_ms, window_ms)
        counts, _ = np.histogram(self.opportunity_ms, bins=bins)
        return counts.astype(np.int64) * OPPORTUNITY_BYTES


@dataclass(frozen=True, eq=False)
class DelayTrace:
    """One-way delay as a step function: ``delay_ms[i]`` holds from ``time_s[i]`` to ``time_s[i+1]``.

    The last row holds for as long as the interval before it; that end is the trace's period.
    """

    time_s: np.ndarray
    delay_ms: np.ndarray
    source: str = "<memory>"

    def __post_init__(self):
        times = np.asarray(self.time_s, dtype=np.float64)
        delays = np.asarray(self.delay_ms, dtype=np.float64)
        if times.ndim != 1 or times.size < 2 or times.shape != delays.shape:
            raise TraceFormatError(f"{self.source}: a delay trace needs at least two rows of time_s,delay_ms")
        if np.any(np.diff(times) <= 0):
            raise TraceFormatError(f"{self.source}: time_s must increase strictly from row to row")
        if times[0] != 0:
            raise TraceFormatError(f"{self.source}: the first row must be at time_s 0, got {times[0]}")
        if np.any(delays < 0):
            raise TraceFormatError(f"{self.source}: delay_ms must be >= 0")
        times.setflags(write=False)
        delays.setflags(write=False)
        object.__setattr__(self, "time_s", times)
        object.__setattr__(self, "delay_ms", delays)

    @property
    def duration_s(self) -> float:
        return float(self.time_s[-1] + (self.time_s[-1] - self.time_s[-2]))
