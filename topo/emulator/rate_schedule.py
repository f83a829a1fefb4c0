"""Rate services: when queued packets leave the link (before the delay line).

All three share one small contract, driven lazily by whoever owns the clock:
``advance(now_s, queue, depart)`` serves everything due up to ``now_s`` and calls
``depart(packet, departure_s)`` with the VIRTUAL departure time (from the schedule,
never from when the caller woke up); ``next_event_s(queue)`` says when the next departure can
happen (``inf`` when the link has nothing to do). Call ``advance`` before enqueueing.
"""
from __future__ import annotations

import math
from bisect import bisect_right

from traces.trace_types import OPPORTUNITY_BYTES, DeliveryTrace

INF = math.inf


class UnlimitedService:
    """No rate limit: a packet departs when it arrives."""

    immediate = True

    def advance(self, now_s, queue, depart) -> None:
        while queue:
            packet = queue.dequeue()
            depart(packet, packet.arrival_s)

    def next_event_s(self, queue) -> float:
        return INF

    def release_transit(self):
        """The packet being transmitted, taken out (None here: nothing is ever in transit)."""
        return None


class ConstantRateService:
    """A byte-exact serialiser: a packet occupies the link for size_bytes * 8 / rate_bps.

    This is the limit of Mahimahi's opportunities as they shrink to one byte: no rounding
    to 1500-byte opportunities, so an idle link adds only the packet's own transmission time.
    """

    immediate = False

    def __init__(self, rate_bps: float):
        if not rate_bps > 0:
            raise ValueError(f"rate_bps must be > 0, got {rate_bps}")
        self.rate_bps = rate_bps
        self._seconds_per_byte = 8.0 / rate_bps
        self._free_s = -INF
        self._transit = None
        self._finish_s = INF

    def advance(self, now_s, queue, depart) -> None:
        while True:
            if self._transit is None:
                if not queue:
                    return
                packet = queue.dequeue()
                start_s = packet.arrival_s if packet.arrival_s > self._free_s else self._free_s
                self._finish_s = start_s + packet.size_bytes * self._seconds_per_byte
                self._transit = packet
            if self._finish_s > now_s:
                return
            packet, self._transit = self._transit, None
            self._free_s = self._finish_s
            self._finish_s = INF
            depart(packet, self._free_s)

    def next_event_s(self, queue) -> float:
        """Valid after ``advance``: a non-empty queue always has its head in transit."""
        return self._finish_s

    def set_rate(self, rate_bps: float) -> None:
        """A new rate from the next packet on; the packet in transit keeps its finish time."""
        if not rate_bps > 0:
            raise ValueError(f"rate_bps must be > 0, got {rate_bps}")
        self.rate_bps = rate_bps
        self._seconds_per_byte = 8.0 / rate_bps

    def take_over(self, other: "ConstantRateService") -> None:
        """Continue ``other``'s transmission (the packet in transit keeps its finish time)."""
        self._transit, self._finish_s, self._free_s = other._transit, other._finish_s, other._free_s
        other._transit, other._finish_s = None, INF

    def release_transit(self):
        """The packet being transmitted, taken out (the caller delivers it)."""
        packet, self._transit, self._finish_s = self._transit, None, INF
        return packet


class TraceRateService:
    """Mahimahi delivery opportunities: at each trace time, 1500 bytes may leave.

    Bytes are counted as in Mahimahi: one opportunity can carry several small packets, a
    large packet may use parts of two, an opportunity that finds the queue empty is
    wasted. ``loop``: when the trace ends it restarts shifted by its last timestamp;
    otherwise the link delivers nothing more (queued packets stay until dropped).
    """

    immediate = False

    def __init__(self, trace: DeliveryTrace, start_s: float = 0.0, loop: bool = True,
                 on_opportunity=None):
        self._schedule = trace.opportunity_ms.tolist()
        self._period_ms = trace.duration_ms
        self._start_s = start_s
        self._loop = loop
        self._on_opportunity = on_opportunity
        self._index = 0
        self._base_ms = 0
        self._transit = None
        self._transit_left = 0
        self.finished = False
        self._next_s = start_s + self._schedule[0] / 1000.0

    def _next_opportunity(self) -> None:
        self._index += 1
        if self._index == len(self._schedule):
            if not self._loop:
                self.finished = True
                self._next_s = INF
                return
            self._index = 0
            self._base_ms += self._period_ms
        self._next_s = self._start_s + (self._base_ms + self._schedule[self._index]) / 1000.0

    def _skip_idle(self, now_s: float) -> None:
        """Jump over the opportunities up to ``now_s``: the link was idle, they were wasted."""
        relative_ms = (now_s - self._start_s) * 1000.0 - self._base_ms
        if relative_ms >= self._period_ms:
            if not self._loop:
                self.finished = True
                self._next_s = INF
                return
            loops = int(relative_ms // self._period_ms)
            self._base_ms += loops * self._period_ms
            relative_ms -= loops * self._period_ms
        self._index = bisect_right(self._schedule, relative_ms)
        if self._index == len(self._schedule):  # float edge at the period's end
            self._index = len(self._schedule) - 1
            self._next_opportunity()
            return
        self._next_s = self._start_s + (self._base_ms + self._schedule[self._index]) / 1000.0

    def advance(self, now_s, queue, depart) -> None:
        while self._next_s <= now_s:
            if self._transit is None and not queue and self._on_opportunity is None:
                self._skip_idle(now_s)
                return
            opportunity_s = self._next_s
            if self._on_opportunity is not None:
                self._on_opportunity(opportunity_s)
            self._next_opportunity()
            budget = OPPORTUNITY_BYTES
            while budget > 0:
                if self._transit is None:
                    if not queue:
                        break
                    self._transit = queue.dequeue()
                    self._transit_left = self._transit.size_bytes
                used = budget if budget < self._transit_left else self._transit_left
                self._transit_left -= used
                budget -= used
                if self._transit_left == 0:
                    packet, self._transit = self._transit, None
                    depart(packet, opportunity_s)

    def release_transit(self):
        """The packet partly sent, taken out (the caller delivers it)."""
        packet, self._transit, self._transit_left = self._transit, None, 0
        return packet

    def next_event_s(self, queue) -> float:
        """Only a busy link needs waking; an idle one skips its opportunities lazily."""
        if self._transit is None and not queue:
            return INF
        return self._next_s
