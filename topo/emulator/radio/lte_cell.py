"""One direction of an LTE cell as a rate service: per-device buffers, 1 ms TTIs, PF, HARQ.

Pipeline per packet: the device's buffer (the profile's queue limit, per device, as an eNodeB
keeps per-bearer buffers) -> access (RRC promotion, DRX wake-up on the downlink, scheduling
request + grant on the uplink: lte_rrc.py, lte_uplink.py) -> transport blocks, one per
served device and TTI, of up to rate * TTI / (1 - BLER) bytes shared by proportional fairness
(pf_scheduler.py) -> HARQ (harq.py; a retransmission takes its bytes from the TTI one HARQ
round trip later) -> in-order delivery per device (RLC), at the end of the TTI that completed
the packet's last block. The clock is lazy: TTIs are only worked through while some device has
data it may send, so an idle cell costs nothing and needs no wakeups.
"""
from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import deque

from topo.emulator.radio.addresses import device_of
from topo.emulator.radio.harq import Harq
from topo.emulator.radio.lte_params import LteParams
from topo.emulator.radio.lte_rrc import LteRrc
from topo.emulator.radio.lte_uplink import ScheduleRequest
from topo.emulator.radio.pf_scheduler import ProportionalFair

INF = math.inf
EPS_S = 1e-9
BYTES_EPS = 1e-6


class DeviceBuffer:
    __slots__ = ("device", "packets", "bytes", "head_left", "ready_s", "barrier_s")

    def __init__(self, device: bytes):
        self.device = device
        self.packets: deque = deque()
        self.bytes = 0
        self.head_left = 0.0
        self.ready_s = -INF      # when this burst's first block may be sent (access done)
        self.barrier_s = -INF    # the latest delivery so far (RLC delivers in order)

    def starts_at_s(self) -> float:
        head_s = self.packets[0].arrival_s
        return head_s if head_s > self.ready_s else self.ready_s


class LteCellService:
    immediate = False
    radio = True

    def __init__(self, spec, params: LteParams, side: str, start_s: float, shared: dict, on_drop):
        if spec.rate_bps is None:
            raise ValueError("the lte radio model needs a constant rate for the cell (rate = \"...\")")
        self.side = side
        self.params = params
        self.rrc = LteRrc.shared(shared, params, start_s)
        self.uplink = ScheduleRequest(params, start_s) if side == "uplink" else None
        self.harq = Harq(params.bler, params.harq_rtt_ms / 1000.0, params.harq_max_transmissions,
                         params.rlc_recovery_ms / 1000.0, random.Random(f"{params.seed}:harq:{side}"))
        self.scheduler = ProportionalFair()
        self._start_s = start_s
        self._tti_s = params.tti_s
        self._rtt_ttis = max(int(round(params.harq_rtt_ms / params.tti_ms)), 1)
        self._configured_rate_bps = spec.rate_bps
        self.set_rate(None)
        self._limit_packets, self._limit_bytes = spec.queue_limit_packets, spec.queue_limit_bytes
        self._drop_head = spec.queue == "drophead"
        self._on_drop = on_drop
        self._buffers: dict = {}
        self._backlogged: dict = {}   # device -> DeviceBuffer with data (insertion-ordered)
        self._reserved: dict = {}     # TTI index -> bytes HARQ retransmissions take from it
        self._done: list = []         # heap of (delivery_s, seq, packet)
        self._seq = itertools.count()
        self._next_tti = 0            # the first TTI not yet worked through

    # -- the rate-service contract --------------------------------------------------------------
    def set_rate(self, rate_bps, now_s: float | None = None) -> None:
        """The cell's rate from the next TTI on (``None``: the configured rate)."""
        rate_bps = self._configured_rate_bps if rate_bps is None else rate_bps
        if not rate_bps > 0:
            raise ValueError(f"rate_bps must be > 0, got {rate_bps}")
        self.rate_bps = rate_bps
        self.block_bytes = rate_bps * self._tti_s / 8.0 / (1.0 - self.params.bler)

    def release_transit(self):
        return None  # packets stay in the device buffers across a rate change

    def __len__(self) -> int:
        return sum(len(b.packets) for b in self._backlogged.values()) + len(self._done)

    def advance(self, now_s, queue, depart) -> None:
        while queue:
            self._admit(queue.dequeue())
        ended = int(math.floor((now_s - self._start_s) / self._tti_s + EPS_S))  # TTIs [0, ended) are over
        while self._backlogged and self._next_tti < ended:
            tti = self._next_tti
            tti_start_s = self._start_s + tti * self._tti_s
            ready = [b for b in self._backlogged.values() if b.starts_at_s() <= tti_start_s + EPS_S]
            if ready:
                self._serve(tti, ready)
                self._next_tti = tti + 1
            else:
                self._next_tti = max(tti + 1, self._tti_at(min(b.starts_at_s() for b in self._backlogged.values())))
        if not self._backlogged and self._next_tti < ended:
            self._next_tti = ended
        if self._reserved and len(self._reserved) > 64:
            self._reserved = {k: v for k, v in self._reserved.items() if k >= self._next_tti}
        done = self._done
        while done and done[0][0] <= now_s:
            delivery_s, _, packet = heapq.heappop(done)
            depart(packet, delivery_s)

    def next_event_s(self, queue) -> float:
        next_s = self._done[0][0] if self._done else INF
        if self._backlogged:
            tti = max(self._next_tti, self._tti_at(min(b.starts_at_s() for b in self._backlogged.values())))
            end_s = self._start_s + (tti + 1) * self._tti_s
            if end_s < next_s:
                next_s = end_s
        return next_s

    # -- inside -----------------------------------------------------------------------------------
    def _tti_at(self, t_s: float) -> int:
        """The first TTI starting at or after ``t_s``."""
        return max(int(math.ceil((t_s - self._start_s) / self._tti_s - EPS_S)), 0)

    def _admit(self, packet) -> None:
        device = device_of(packet, self.side)
        if device is None:  # not IPv4 (ARP): emulation plumbing, passes untouched
            heapq.heappush(self._done, (packet.arrival_s, next(self._seq), packet))
            return
        buffer = self._buffers.get(device)
        if buffer is None:
            buffer = self._buffers[device] = DeviceBuffer(device)
        if not buffer.packets:
            self._start_burst(buffer, packet.arrival_s)
        elif self._over(buffer, packet):
            if not self._drop_head:
                self._on_drop(packet, packet.arrival_s)
                return
            self._drop_oldest(buffer, packet)
        buffer.packets.append(packet)
        buffer.bytes += packet.size_bytes
        if len(buffer.packets) == 1:
            buffer.head_left = float(packet.size_bytes)
        self._backlogged[device] = buffer

    def _start_burst(self, buffer: DeviceBuffer, arrival_s: float) -> None:
        ready_s, promoted = self.rrc.access_s(buffer.device, arrival_s, self.side)
        if self.uplink is not None and not promoted:
            ready_s = self.uplink.first_tx_s(buffer.device, ready_s)
        buffer.ready_s = ready_s

    def _over(self, buffer: DeviceBuffer, packet) -> bool:
        return ((self._limit_packets is not None and len(buffer.packets) + 1 > self._limit_packets)
                or (self._limit_bytes is not None and buffer.bytes + packet.size_bytes > self._limit_bytes))

    def _drop_oldest(self, buffer: DeviceBuffer, packet) -> None:
        """Drop-head: drop the oldest packets not yet being sent until ``packet`` fits."""
        keep_head = buffer.head_left < buffer.packets[0].size_bytes  # partly sent: keep it
        while len(buffer.packets) > (1 if keep_head else 0) and self._over(buffer, packet):
            victim = buffer.packets[1] if keep_head else buffer.packets[0]
            buffer.packets.remove(victim)
            buffer.bytes -= victim.size_bytes
            self._on_drop(victim, packet.arrival_s)
        if buffer.packets and not keep_head:
            buffer.head_left = float(buffer.packets[0].size_bytes)

    def _serve(self, tti: int, ready: list) -> None:
        capacity = self.block_bytes - self._reserved.pop(tti, 0.0)
        end_s = self._start_s + (tti + 1) * self._tti_s
        start_s = end_s - self._tti_s
        for buffer in self.scheduler.order(ready, tti):
            if capacity <= BYTES_EPS:
                break
            sent, finished = self._take(buffer, capacity, start_s)
            if sent <= 0.0:
                continue
            capacity -= sent
            transmissions, added_s = self.harq.attempt()
            for attempt in range(1, transmissions):
                later = tti + attempt * self._rtt_ttis
                self._reserved[later] = self._reserved.get(later, 0.0) + sent
            delivered_s = end_s + added_s
            if delivered_s > buffer.barrier_s:
                buffer.barrier_s = delivered_s
            for packet in finished:
                heapq.heappush(self._done, (buffer.barrier_s, next(self._seq), packet))
            self.scheduler.served(buffer, sent, tti)  # the buffer stands for its device
            self.rrc.activity(buffer.device, end_s)
            if not buffer.packets:
                del self._backlogged[buffer.device]

    def _take(self, buffer: DeviceBuffer, capacity: float, tti_start_s: float) -> tuple[float, list]:
        """Fill up to ``capacity`` bytes of one block from ``buffer`` (packets there by the TTI's start)."""
        sent, finished = 0.0, []
        packets = buffer.packets
        while packets and capacity > BYTES_EPS:
            head = packets[0]
            if head.arrival_s > tti_start_s + EPS_S:
                break
            left = buffer.head_left
            if left <= capacity + BYTES_EPS:
                capacity -= left
                sent += left
                packets.popleft()
                buffer.bytes -= head.size_bytes
                finished.append(head)
                buffer.head_left = float(packets[0].size_bytes) if packets else 0.0
            else:
                buffer.head_left = left - capacity
                sent += capacity
                capacity = 0.0
        return sent, finished
