"""One half-duplex WiFi medium shared by the access point and every station, both directions.

Contenders are the access point (all downlink traffic, one queue per station) and each station
with uplink traffic. When the medium is free, the contenders with a frame waiting take turns,
one TXOP each (round robin: DCF's equal long-run chance per backlogged contender, with the mean
backoff instead of a random draw and no collisions). A TXOP sends one A-MPDU to (or from) one
station at that station's PHY rate and holds the medium for its airtime
(topo/emulator/radio/wifi_airtime.py). Each MPDU fails independently with ``mpdu_error_rate``;
a failed one is resent in that queue's next TXOP, dropped after ``retry_limit`` retries. The
receiver's BlockAck reorder buffer releases MPDUs in order: one sent after a failed one waits
for it. A delivered packet departs at the end of its PPDU.

Lazy, driven by whoever owns the clock: ``advance(now_s)`` plays every TXOP that ends by
``now_s``; ``next_event_s()`` is the end of the PPDU on air, ``inf`` with nothing queued (no
wakeups on an idle link). Non-IP frames (ARP) are emulation plumbing and pass straight through.
"""
from __future__ import annotations

import math
import random
from collections import deque

from topo.emulator.radio.addresses import device_of
from topo.emulator.radio.wifi_airtime import BLOCK_ACK_US, SIFS_US, access_us, ppdu_us, subframe_bytes
from topo.emulator.radio.wifi_params import WifiParams

INF = math.inf
AP = "ap"
SIDES = ("uplink", "downlink")


class _Entry:
    __slots__ = ("packet", "retries", "done")

    def __init__(self, packet):
        self.packet = packet
        self.retries = 0
        self.done = False


class StationQueue:
    """What one sender holds for one station: MPDUs in order, with their retry counts."""

    __slots__ = ("side", "device", "entries", "bytes", "limit_packets", "limit_bytes", "phy_rate_bps")

    def __init__(self, side: str, device: bytes, phy_rate_bps: float, limit_packets, limit_bytes):
        self.side, self.device, self.phy_rate_bps = side, device, phy_rate_bps
        self.entries: deque[_Entry] = deque()
        self.bytes = 0
        self.limit_packets, self.limit_bytes = limit_packets, limit_bytes

    def full_for(self, size_bytes: int) -> bool:
        return ((self.limit_packets is not None and len(self.entries) + 1 > self.limit_packets)
                or (self.limit_bytes is not None and self.bytes + size_bytes > self.limit_bytes))

    def head_arrival_s(self) -> float:
        for entry in self.entries:
            if not entry.done:
                return entry.packet.arrival_s
        return INF


class _Txop:
    __slots__ = ("queue", "mpdus", "deliver_s", "end_s")

    def __init__(self, queue, mpdus, deliver_s, end_s):
        self.queue, self.mpdus, self.deliver_s, self.end_s = queue, mpdus, deliver_s, end_s


class WifiMedium:
    def __init__(self, params: WifiParams, start_s: float = 0.0):
        self.params = params
        self._rng = random.Random(f"{params.seed}:wifi")
        self._free_s = start_s
        self._txop: _Txop | None = None
        self._sources: dict = {}      # side -> (shaper queue, depart, on_drop, limit_packets, limit_bytes)
        self._queues = {side: {} for side in SIDES}   # side -> device -> StationQueue
        self._contenders: deque = deque()             # AP and uplink devices, in turn order
        self._ap_turns: deque = deque()               # downlink devices, in turn order
        self._rate_override_bps = {side: None for side in SIDES}
        self._side_rate_bps = {side: None for side in SIDES}   # each direction's configured PHY rate
        self.held = {side: 0 for side in SIDES}
        self.stats = {"txops": 0, "busy_us": 0.0, "mpdus": 0, "retries": 0, "retry_drops": 0,
                      "queue_drops": 0, "busy_us_uplink": 0.0, "busy_us_downlink": 0.0}

    # -- the two directions plug in -------------------------------------------------------------
    def attach(self, side: str, queue, depart, on_drop, limit_packets, limit_bytes, phy_rate_bps: float) -> None:
        """Direction ``side`` takes its packets from ``queue`` and hands them to ``depart``."""
        self._sources[side] = (queue, depart, on_drop, limit_packets, limit_bytes)
        self._side_rate_bps[side] = phy_rate_bps

    def _rate_for(self, side: str, device: bytes) -> float:
        override = self._rate_override_bps[side]
        return override if override is not None else self.params.phy_rate_for(device, self._side_rate_bps[side])

    def set_phy_rate(self, side: str, rate_bps: float | None) -> None:
        """Every station's PHY rate in ``side``'s transmissions (None: the configured ones)."""
        self._rate_override_bps[side] = rate_bps
        for queue in self._queues[side].values():
            queue.phy_rate_bps = self._rate_for(side, queue.device)

    def _station_queue(self, side: str, device: bytes) -> StationQueue:
        queue = self._queues[side].get(device)
        if queue is None:
            _q, _d, _drop, limit_packets, limit_bytes = self._sources[side]
            if self.params.queue_limit_packets is not None:
                limit_packets, limit_bytes = self.params.queue_limit_packets, None
            queue = self._queues[side][device] = StationQueue(side, device, self._rate_for(side, device),
                                                              limit_packets, limit_bytes)
            # a newcomer's turn is next: it contends at the next TXOP, as a station that starts
            # its backoff while the medium is busy does
            if side == "downlink":
                self._ap_turns.appendleft(device)
                if AP not in self._contenders:
                    self._contenders.appendleft(AP)
            else:
                self._contenders.appendleft(device)
        return queue

    def _pull(self) -> None:
        """Move what the shapers queued into the per-station queues (drop-tail per station)."""
        for side, (source, depart, on_drop, _lp, _lb) in self._sources.items():
            while source:
                packet = source.dequeue()
                device = device_of(packet, side)
                if device is None:
                    depart(packet, packet.arrival_s)
                    continue
                queue = self._station_queue(side, device)
                if queue.full_for(packet.size_bytes):
                    self.stats["queue_drops"] += 1
                    on_drop(packet, packet.arrival_s)
                    continue
                queue.entries.append(_Entry(packet))
                queue.bytes += packet.size_bytes
                self.held[side] += 1

    # -- the medium ----------------------------------------------------------------------------
    def _pick(self, now_s: float):
        """The next TXOP's queue and start time if it starts by ``now_s``, else (None, its start or inf).

        The turn order only moves when a TXOP really starts."""
        start_s = self._next_start_s()
        if start_s > now_s:
            return None, start_s
        for _ in range(len(self._contenders)):
            contender = self._contenders[0]
            self._contenders.rotate(-1)
            if contender == AP:
                turns = self._ap_turns
                for _ in range(len(turns)):
                    device = turns[0]
                    turns.rotate(-1)
                    queue = self._queues["downlink"][device]
                    if queue.head_arrival_s() <= start_s:
                        return queue, start_s
            else:
                queue = self._queues["uplink"][contender]
                if queue.head_arrival_s() <= start_s:
                    return queue, start_s
        raise AssertionError("a frame is waiting but no contender has it")  # pragma: no cover

    def _start(self, queue: StationQueue, start_s: float) -> None:
        params = self.params
        mpdus, total_bytes = [], 0
        ppdu = 0.0
        for entry in queue.entries:
            if entry.done:
                continue
            if entry.packet.arrival_s > start_s or len(mpdus) == params.max_ampdu_mpdus:
                break
            size = subframe_bytes(entry.packet.size_bytes)
            if mpdus and total_bytes + size > params.max_ampdu_bytes:
                break
            candidate = ppdu_us(total_bytes + size, queue.phy_rate_bps, params.symbol_us, params.spatial_streams)
            if mpdus and candidate > params.max_ppdu_us:
                break
            mpdus.append(entry)
            total_bytes += size
            ppdu = candidate
        deliver_s = start_s + (access_us() + ppdu) * 1e-6
        end_s = deliver_s + (SIFS_US + BLOCK_ACK_US) * 1e-6
        self._txop = _Txop(queue, mpdus, deliver_s, end_s)
        busy_us = (end_s - start_s) * 1e6
        self.stats["txops"] += 1
        self.stats["busy_us"] += busy_us
        self.stats[f"busy_us_{queue.side}"] += busy_us
        self.stats["mpdus"] += len(mpdus)

    def _finish(self, txop: _Txop) -> None:
        params, rng = self.params, self._rng
        queue = txop.queue
        _source, depart, on_drop, _lp, _lb = self._sources[queue.side]
        for entry in txop.mpdus:
            if params.mpdu_error_rate == 0.0 or rng.random() >= params.mpdu_error_rate:
                entry.done = True
            elif entry.retries < params.retry_limit:
                entry.retries += 1
                self.stats["retries"] += 1
            else:  # given up: the reorder buffer stops waiting for it
                entry.done = True
                entry.packet = _Dropped(entry.packet)
        entries = queue.entries
        while entries and entries[0].done:
            entry = entries.popleft()
            packet = entry.packet
            self.held[queue.side] -= 1
            if isinstance(packet, _Dropped):
                queue.bytes -= packet.packet.size_bytes
                self.stats["retry_drops"] += 1
                on_drop(packet.packet, txop.deliver_s)
                continue
            queue.bytes -= packet.size_bytes
            depart(packet, txop.deliver_s)
        self._free_s = txop.end_s

    def advance(self, now_s: float) -> None:
        self._pull()
        while True:
            txop = self._txop
            if txop is None:
                queue, start_s = self._pick(now_s)
                if queue is None:
                    return
                self._start(queue, start_s)
                continue
            if txop.deliver_s > now_s:
                return
            self._txop = None
            self._finish(txop)

    def next_event_s(self) -> float:
        """Valid after ``advance``: the end of the PPDU on air, or inf when nothing waits."""
        if self._txop is not None:
            return self._txop.deliver_s
        return self._next_start_s()

    def _next_start_s(self) -> float:
        """When the next TXOP can start: the medium free and a frame waiting (inf: none waits)."""
        earliest = INF
        for queues in self._queues.values():
            for queue in queues.values():
                head = queue.head_arrival_s()
                if head < earliest:
                    earliest = head
        if earliest == INF:
            return INF
        return self._free_s if self._free_s > earliest else earliest

    def airtime_fraction(self, elapsed_s: float) -> float:
        return self.stats["busy_us"] * 1e-6 / elapsed_s if elapsed_s > 0 else 0.0


class _Dropped:
    """A packet given up after its last retry (still in the queue until the head reaches it)."""

    __slots__ = ("packet",)

    def __init__(self, packet):
        self.packet = packet
