"""The delay line after the rate service: constant delay, jitter, or a delay trace.

Release time = departure + delay(departure) + jitter, never below the departure time.
Jitter distributions (``jitter_ms`` = J):
  * ``normal``: N(0, J^2), J is the standard deviation;
  * ``uniform``: U(-J, +J) (standard deviation J/sqrt(3));
  * ``pareto``: J times a standardised Lomax (Pareto type II, shape 3) variable: mean 0,
    standard deviation J, never below -0.577*J, with a heavy upper tail (rare large delays).
Without ``allow_reorder`` a packet never leaves before the one ahead of it (release =
max(release, previous release)), so jitter bunches packets instead of reordering them.
A delay trace (``time_s,delay_ms`` step function) replaces the constant delay; it loops
with its period in ``loop`` mode and holds its last value otherwise.
"""
from __future__ import annotations

import heapq
import itertools
import math
import random
from bisect import bisect_right
from collections import deque

from traces.trace_types import DelayTrace

JITTER_DISTRIBUTIONS = ("normal", "uniform", "pareto")
_LOMAX_SHAPE = 3.0
_LOMAX_MEAN = 1.0 / (_LOMAX_SHAPE - 1.0)
_LOMAX_STD = math.sqrt(_LOMAX_SHAPE / ((_LOMAX_SHAPE - 1.0) ** 2 * (_LOMAX_SHAPE - 2.0)))


class DelayLine:
    def __init__(self, delay_ms: float = 0.0, jitter_ms: float = 0.0, jitter_distribution: str = "normal",
                 allow_reorder: bool = False, delay_trace: DelayTrace | None = None,
                 start_s: float = 0.0, loop: bool = True, rng: random.Random | None = None):
        if delay_ms < 0 or jitter_ms < 0:
            raise ValueError(f"delay_ms and jitter_ms must be >= 0, got {delay_ms} and {jitter_ms}")
        if jitter_distribution not in JITTER_DISTRIBUTIONS:
            raise ValueError(f"jitter_distribution must be one of {', '.join(JITTER_DISTRIBUTIONS)}, "
                             f"got {jitter_distribution!r}")
        self._delay_s = delay_ms / 1000.0
        self._jitter_s = jitter_ms / 1000.0
        self._distribution = jitter_distribution
        self._reorder = allow_reorder and jitter_ms > 0
        self._start_s = start_s
        self._loop = loop
        self._rng = rng or random.Random(1)
        self._trace_times = delay_trace.time_s.tolist() if delay_trace is not None else None
        self._trace_delays_s = ([d / 1000.0 for d in delay_trace.delay_ms.tolist()]
                                if delay_trace is not None else None)
        self._trace_period_s = delay_trace.duration_s if delay_trace is not None else 0.0
        self._fifo: deque = deque()
        self._heap: list = []
        self._order = itertools.count()
        self._last_release_s = -math.inf

    def delay_at_s(self, departure_s: float) -> float:
        """The base one-way delay (without jitter) for a packet leaving the rate service then."""
        if self._trace_times is None:
            return self._delay_s
        relative_s = departure_s - self._start_s
        if relative_s >= self._trace_period_s:
            if not self._loop:
                return self._trace_delays_s[-1]
            relative_s %= self._trace_period_s
        index = bisect_right(self._trace_times, relative_s) - 1
        return self._trace_delays_s[max(index, 0)]

    def min_delay_s(self) -> float:
        """A lower bound of release minus departure: 0 with jitter, else the (smallest traced) delay."""
        if self._jitter_s > 0:
            return 0.0
        if self._trace_delays_s is not None:
            return min(self._trace_delays_s)
        return self._delay_s

    def _jitter(self) -> float:
        if self._distribution == "normal":
            return self._rng.gauss(0.0, self._jitter_s)
        if self._distribution == "uniform":
            return self._rng.uniform(-self._jitter_s, self._jitter_s)
        lomax = self._rng.paretovariate(_LOMAX_SHAPE) - 1.0
        return self._jitter_s * (lomax - _LOMAX_MEAN) / _LOMAX_STD

    def push(self, packet, departure_s: float) -> None:
        release_s = departure_s + (self._delay_s if self._trace_times is None else self.delay_at_s(departure_s))
        if self._jitter_s > 0:
            release_s += self._jitter()
            if release_s < departure_s:
                release_s = departure_s
        if self._reorder:
            heapq.heappush(self._heap, (release_s, next(self._order), packet))
            return
        if release_s < self._last_release_s:
            release_s = self._last_release_s
        self._last_release_s = release_s
        self._fifo.append((release_s, packet))

    def next_release_s(self) -> float:
        if self._fifo:
            return self._fifo[0][0]
        if self._heap:
            return self._heap[0][0]
        return math.inf

    def pop_due(self, now_s: float, out: list) -> None:
        """Append (release_s, packet) for everything due at ``now_s`` to ``out``, in release order."""
        fifo = self._fifo
        while fifo and fifo[0][0] <= now_s:
            out.append(fifo.popleft())
        heap = self._heap
        while heap and heap[0][0] <= now_s:
            release_s, _, packet = heapq.heappop(heap)
            out.append((release_s, packet))

    def __len__(self) -> int:
        return len(self._fifo) + len(self._heap)
