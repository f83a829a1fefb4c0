"""Workload-sensitive trace replay (CellReplay, NSDI 2025): light trains for bursts, heavy for the rest.

Mahimahi replays one saturated delivery trace with a fixed delay, so a short burst gets the
bandwidth of a saturated link and the minimum RTT. CellReplay replays a PAIR
(traces/cellreplay.py) and chooses by what the application sends:

* A packet that finds the link idle (everything before it released ``idle_gap`` ago or more,
  CellReplay's long-to-short timer) starts a new burst: it takes the packet-train recorded at
  that time; it leaves after the train's base delay, linearly interpolated between the trains
  recorded around it.
* The burst's next packets use that train's light delivery opportunities (one MTU each, at
  burst start + base delay + offset): the bandwidth a light workload saw.
* When a burst outgrows its train, the rest enters the heavy link queue after the base delay
  and is served by the heavy (saturated) trace, as Mahimahi would; so does any packet released
  while that queue is busy (packets never overtake each other).

Lazy on the injected clock: nothing wakes up while nothing is pending. The link queue is the
direction's queue discipline and limit (drops reported with ``on_drop``); the shaper's delay
line adds the direction's ``delay`` on top (normally 0: the trace has the base delay).
"""
from __future__ import annotations

import math
from collections import deque

from topo.emulator.queue_discipline import PacketQueue
from topo.emulator.radio.cellreplay_params import CellReplayParams
from topo.emulator.rate_schedule import ConstantRateService, TraceRateService
from traces.trace_types import OPPORTUNITY_BYTES

INF = math.inf


class _Entered:
    """A packet in the heavy link queue, stamped with when it entered it (not when it arrived)."""

    __slots__ = ("arrival_s", "size_bytes", "packet")

    def __init__(self, packet, entered_s: float):
        self.arrival_s, self.size_bytes, self.packet = entered_s, packet.size_bytes, packet


class CellReplayService:
    immediate = False
    radio = True

    def __init__(self, spec, params: CellReplayParams, side: str, start_s: float, shared: dict, on_drop):
        self._train, heavy = params.traces(side)
        self._start_s = start_s
        self._loop = params.trace_mode == "loop"
        self._idle_gap_s = params.idle_gap_ms / 1000.0
        self._period_s = self._train.duration_ms / 1000.0
        self._configured = TraceRateService(heavy, start_s, loop=self._loop)
        self._heavy = self._configured
        self._link = PacketQueue(spec.queue, spec.queue_limit_packets, spec.queue_limit_bytes)
        self._on_drop = on_drop
        self._pending: deque = deque()       # (time_s, packet, bypass): released by the light path
        self._burst_start_s = -INF
        self._base_s = 0.0
        self._offsets_s: tuple = ()
        self._index = 0
        self._bytes_left = 0
        self._last_release_s = -INF
        self._held = 0
        self._depart = None
        self.stats = {"bursts": 0, "light_packets": 0, "heavy_packets": 0, "link_drops": 0}

    # -- the light path: when each packet leaves it -----------------------------------------------
    def _train_at(self, time_s: float) -> tuple:
        relative_ms = (time_s - self._start_s) * 1000.0
        period_ms = self._train.duration_ms
        if relative_ms >= period_ms:
            relative_ms = relative_ms % period_ms if self._loop else period_ms
        row = self._train.row_at(relative_ms)
        return (self._train.base_delay_at_ms(relative_ms) / 1000.0,
                tuple(offset / 1000.0 for offset in self._train.offsets_ms[row]))

    def _schedule(self, packet) -> None:
        """Decide when ``packet`` leaves the light path (CellReplay's release time) and whether it
        may bypass the heavy link queue."""
        t = packet.arrival_s
        size = packet.size_bytes
        if t + self._base_s > self._last_release_s + self._idle_gap_s:   # the link is idle: a new burst
            self._base_s, self._offsets_s = self._train_at(t)
            self._burst_start_s, self._index = t, 0
            self._bytes_left = OPPORTUNITY_BYTES - size
            release_s, bypass = t + self._base_s, True
            self.stats["bursts"] += 1
        else:
            elapsed_s = t - self._burst_start_s
            offsets = self._offsets_s
            while self._index < len(offsets) and elapsed_s > offsets[self._index]:
                self._index += 1                       # opportunities nobody used are gone
                self._bytes_left = OPPORTUNITY_BYTES
            if self._bytes_left < size:
                self._index += 1
                self._bytes_left = OPPORTUNITY_BYTES
            self._bytes_left -= size
            if self._index < len(offsets):             # still within the light train
                release_s, bypass = self._burst_start_s + self._base_s + offsets[self._index], True
            else:                                      # the train is used up: the heavy trace serves it
                last = offsets[-1] if offsets else 0.0
                release_s, bypass = t + max(self._base_s, last), False
        if release_s < self._last_release_s:
            release_s, bypass = self._last_release_s, False
        self._last_release_s = release_s
        self._pending.append((release_s, packet, bypass))
        self.stats["light_packets" if bypass else "heavy_packets"] += 1

    # -- the heavy link queue -----------------------------------------------------------------------
    def _heavy_depart(self, entered, departure_s: float) -> None:
        self._held -= 1
        self._depart(entered.packet, departure_s)

    def _link_idle(self) -> bool:
        """Nothing queued and nothing being sent (an idle service has no next event)."""
        return not self._link and self._heavy.next_event_s(self._link) == INF

    def advance(self, now_s, queue, depart) -> None:
        self._depart = depart
        while queue:
            packet = queue.dequeue()
            self._held += 1
            self._schedule(packet)
        pending, heavy, link = self._pending, self._heavy, self._link
        while pending and pending[0][0] <= now_s:
            time_s, packet, bypass = pending.popleft()
            heavy.advance(time_s, link, self._heavy_depart)
            if bypass and self._link_idle():
                self._held -= 1
                depart(packet, time_s)
                continue
            for victim in link.enqueue(_Entered(packet, time_s)):
                self._held -= 1
                self.stats["link_drops"] += 1
                self._on_drop(victim.packet, time_s)
        heavy.advance(now_s, link, self._heavy_depart)

    def next_event_s(self, queue) -> float:
        pending_s = self._pending[0][0] if self._pending else INF
        heavy_s = self._heavy.next_event_s(self._link)
        return pending_s if pending_s < heavy_s else heavy_s

    def release_transit(self):
        return None

    def set_rate(self, rate_bps, now_s) -> None:
        """From ``now_s`` the heavy link is a constant ``rate_bps`` (None: the heavy trace again);
        the light trains and base delays stay. A packet partly sent leaves now."""
        if self._depart is not None:
            self.advance(now_s, (), self._depart)
        new = ConstantRateService(rate_bps) if rate_bps is not None else self._configured
        if new is self._heavy:
            return
        entered = self._heavy.release_transit()
        if entered is not None:
            self._heavy_depart(entered, now_s)
        new.advance(now_s, (), self._heavy_depart)  # skip what the replaced service did meanwhile
        self._heavy = new

    def __len__(self) -> int:
        return self._held
