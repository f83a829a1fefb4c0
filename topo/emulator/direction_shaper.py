"""One direction of a link: arrival -> loss -> queue -> rate service -> delay line.

With a radio model (``spec.radio_model``, topo/emulator/radio) the rate service is the radio's:
it takes packets from the queue into its own per-device buffers. ``side`` says which direction
this is and ``shared`` is the one dict of the emulator process that both directions share.

The clock is injected: ``accept(packet, now_s)``, ``next_event_s()``, ``pop_due(now_s, out)``.
Tests drive it with a virtual clock; the I/O loop with ``time.monotonic()``.
"""
from __future__ import annotations

import math
import random

from topo.emulator.delay_line import DelayLine
from topo.emulator.loss import BernoulliLoss, GilbertElliottLoss, NoLoss
from topo.emulator.queue_discipline import PacketQueue
from topo.emulator.radio import build_radio_service
from topo.emulator.rate_schedule import ConstantRateService, TraceRateService, UnlimitedService
from topo.profiles import DirectionSpec
from traces.readers import read_delay_csv, read_delivery_trace


def build_loss(spec: DirectionSpec, rng: random.Random):
    if spec.loss_model == "gilbert-elliott":
        return GilbertElliottLoss(spec.ge_p_good_bad, spec.ge_p_bad_good, spec.ge_loss_good,
                                  spec.ge_loss_bad, rng)
    if spec.loss > 0:
        return BernoulliLoss(spec.loss, rng)
    return NoLoss()


def build_service(spec: DirectionSpec, start_s: float, on_opportunity=None, side: str = "uplink",
                  shared: dict | None = None, on_drop=None):
    if spec.radio_model is not None:
        return build_radio_service(spec, side, start_s, {} if shared is None else shared, on_drop)
    if spec.rate_trace is not None:
        return TraceRateService(read_delivery_trace(spec.rate_trace), start_s,
                                loop=spec.trace_mode == "loop", on_opportunity=on_opportunity)
    if spec.rate_bps is not None:
        return ConstantRateService(spec.rate_bps)
    return UnlimitedService()


class DirectionShaper:
    def __init__(self, spec: DirectionSpec, start_s: float = 0.0, recorder=None, on_opportunity=None,
                 side: str = "uplink", shared: dict | None = None):
        self.spec = spec
        self.side = side
        self.start_s = start_s
        self._recorder = recorder
        self._loss = build_loss(spec, random.Random(f"{spec.seed}:loss"))
        self._has_loss = not isinstance(self._loss, NoLoss)
        self.queue = PacketQueue(spec.queue, spec.queue_limit_packets, spec.queue_limit_bytes)
        self.service = build_service(spec, start_s, on_opportunity, side, shared, self._radio_drop)
        self._radio = getattr(self.service, "radio", False)
        self._configured_service = self.service
        self._immediate = self.service.immediate
        delay_trace = read_delay_csv(spec.delay_trace) if spec.delay_trace is not None else None
        self.delay_line = DelayLine(spec.delay_ms, spec.jitter_ms, spec.jitter_distribution,
                                    spec.allow_reorder, delay_trace, start_s,
                                    loop=spec.trace_mode == "loop",
                                    rng=random.Random(f"{spec.seed}:jitter"))
        self._min_delay_s = self.delay_line.min_delay_s()
        self.offered_packets = self.offered_bytes = 0
        self.lost_packets = self.lost_bytes = 0
        self.dropped_packets = self.dropped_bytes = 0
        self.delivered_packets = self.delivered_bytes = 0

    def _depart(self, packet, departure_s: float) -> None:
        self.delivered_packets += 1
        self.delivered_bytes += packet.size_bytes
        if self._recorder is not None:
            self._recorder.departure(departure_s, packet.size_bytes, departure_s - packet.arrival_s)
        self.delay_line.push(packet, departure_s)

    def _radio_drop(self, packet, now_s: float) -> None:
        """A radio service dropped ``packet`` from its own buffers (its queue limit)."""
        self.dropped_packets += 1
        self.dropped_bytes += packet.size_bytes
        if self._recorder is not None:
            self._recorder.drop(now_s, packet.size_bytes)

    def accept(self, packet, now_s: float) -> bool:
        """A packet arrives at ``now_s`` (= packet.arrival_s); False if it was lost or dropped."""
        size = packet.size_bytes
        self.offered_packets += 1
        self.offered_bytes += size
        recorder = self._recorder
        if recorder is not None:
            recorder.arrival(now_s, size)
        if self._has_loss and self._loss.lost():
            self.lost_packets += 1
            self.lost_bytes += size
            if recorder is not None:
                recorder.drop(now_s, size)
            return False
        service, queue = self.service, self.queue
        service.advance(now_s, queue, self._depart)
        dropped = queue.enqueue(packet)
        accepted = True
        for victim in dropped:
            accepted = accepted and victim is not packet
            self.dropped_packets += 1
            self.dropped_bytes += victim.size_bytes
            if recorder is not None:
                recorder.drop(now_s, victim.size_bytes)
        service.advance(now_s, queue, self._depart)
        return accepted

    def advance(self, now_s: float) -> None:
        self.service.advance(now_s, self.queue, self._depart)

    def next_event_s(self) -> float:
        """When something next happens: a departure from the rate service or a release."""
        service_s = self.service.next_event_s(self.queue)
        release_s = self.delay_line.next_release_s()
        return service_s if service_s < release_s else release_s

    def next_release_s(self) -> float:
        """The earliest time a packet can have to leave the link (when the I/O loop must be awake).

        A departure from the rate service releases nothing before its delay has passed, so the
        service need not be advanced before then: ``pop_due`` catches up in virtual time.
        """
        service_s = self.service.next_event_s(self.queue) + self._min_delay_s
        release_s = self.delay_line.next_release_s()
        return service_s if service_s < release_s else release_s

    def pop_due(self, now_s: float, out: list) -> None:
        """Advance to ``now_s`` and append (release_s, packet) for every packet due by then."""
        self.service.advance(now_s, self.queue, self._depart)
        self.delay_line.pop_due(now_s, out)

    def set_rate(self, rate_bps: float | None, now_s: float) -> None:
        """From ``now_s`` serve at a constant ``rate_bps``, or (None) at the configured rate again.

        Queued packets stay queued; a packet in transmission leaves at ``now_s`` when the
        service is replaced, or keeps its finish time when only a constant rate changes.
        """
        self.service.advance(now_s, self.queue, self._depart)
        if self._radio:  # the radio keeps its buffers and mechanisms; only the cell's rate changes
            self.service.set_rate(rate_bps, now_s)
            self.service.advance(now_s, self.queue, self._depart)
            return
        new = ConstantRateService(rate_bps) if rate_bps is not None else self._configured_service
        if new is self.service:
            return
        if isinstance(new, ConstantRateService) and isinstance(self.service, ConstantRateService):
            new.take_over(self.service)
        else:
            packet = self.service.release_transit()
            if packet is not None:
                self._depart(packet, now_s)
            new.advance(now_s, [], self._depart)  # skip what the replaced service would have done meanwhile
        self.service = new
        self._immediate = new.immediate
        self.service.advance(now_s, self.queue, self._depart)

    @property
    def in_flight(self) -> int:
        held = len(self.service) if self._radio else 0
        return len(self.queue) + held + len(self.delay_line)


def drain(shaper: DirectionShaper, until_s: float = math.inf, limit: int = 10_000_000) -> list:
    """Run a shaper's virtual clock from event to event up to ``until_s`` (tests, offline use)."""
    released: list = []
    for _ in range(limit):
        next_s = shaper.next_event_s()
        if next_s > until_s or next_s == math.inf:
            break
        shaper.pop_due(next_s, released)
    return released
