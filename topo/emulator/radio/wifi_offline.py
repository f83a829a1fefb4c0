"""The WiFi medium driven on a virtual clock: saturating flows, for tests and benchmarks.

``run_flows`` plays a link (two DirectionShapers around one shared medium) for ``duration_s``
with any mix of:

* a saturating TCP-like download and/or upload per station: the sender keeps ``window``
  full-size segments in flight (ACK clocked: one new segment per segment acknowledged), the
  receiver answers every ``segments_per_ack`` segments with a 52-byte ACK in the other
  direction, which takes its own airtime; ``segments_per_ack = 0``: one ACK for each group of
  segments that arrive together (an A-MPDU's), as Linux's receiver does with such bursts;
* nothing else: no handshakes, no losses to recover (the window never overflows the queue).

It returns what was delivered, per station and direction, after ``warmup_s``.
"""
from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from topo.emulator.direction_shaper import DirectionShaper
from topo.emulator.packet import Packet
from topo.emulator.radio.addresses import ipv4_frame
from topo.profiles import DirectionSpec

SERVER = "10.0.2.2"
SEGMENT_IP_BYTES = 1500
MSS_BYTES = 1448
ACK_IP_BYTES = 52


@dataclass(frozen=True)
class Flow:
    station: str                # the device's IPv4 address
    direction: str              # "downlink" (server -> station) or "uplink"
    window: int = 256           # segments in flight (enough to fill the largest A-MPDUs)
    segments_per_ack: int = 2  # 0: one ACK per burst of segments released together


def wifi_spec(radio: dict | None = None, rate_bps: float = 150e6, delay_ms: float = 0.0,
              queue_limit_packets: int = 200) -> DirectionSpec:
    """A direction with ``model = "wifi"`` and the ``[radio]`` keys in ``radio`` (as a profile has them)."""
    pairs = tuple(sorted((key, _frozen(value)) for key, value in (radio or {}).items()))
    return DirectionSpec(rate_bps=rate_bps, delay_ms=delay_ms, queue_limit_packets=queue_limit_packets,
                         radio_model="wifi", radio_params=pairs)


def _frozen(value):
    return tuple(_frozen(item) for item in value) if isinstance(value, (list, tuple)) else value


def wifi_shapers(spec: DirectionSpec, start_s: float = 0.0):
    """Two shapers (uplink, downlink) around ONE medium, as the emulator process builds them."""
    shared: dict = {}
    shapers = {side: DirectionShaper(spec, start_s, side=side, shared=shared) for side in ("uplink", "downlink")}
    return shapers, shared


def _packet(now_s, side, station, size_bytes, flow_id, acked=0):
    source, destination = (station, SERVER) if side == "uplink" else (SERVER, station)
    packet = Packet(now_s, size_bytes, ipv4_frame(source, destination, size_bytes))
    packet.frame = packet.frame + bytes([flow_id, acked])  # tags after the IP packet (not charged)
    return packet


def run_flows(flows: list[Flow], radio: dict | None = None, duration_s: float = 2.0, warmup_s: float = 0.5,
              delay_ms: float = 1.0, phy_rate_bps: float = 150e6) -> dict:
    """Delivered goodput (bit/s, TCP payload) per flow index, and the medium's stats."""
    spec = wifi_spec(radio, phy_rate_bps, delay_ms, queue_limit_packets=1000)
    shapers, shared = wifi_shapers(spec)
    medium = shared["wifi_medium"]
    other = {"uplink": "downlink", "downlink": "uplink"}
    events: list = []          # (time_s, seq, side, packet) arrivals into a shaper
    order = itertools.count()
    unacked = [0] * len(flows)
    delivered = [0] * len(flows)
    for index, flow in enumerate(flows):
        for _ in range(flow.window):
            heapq.heappush(events, (0.0, next(order), flow.direction,
                                    _packet(0.0, flow.direction, flow.station, SEGMENT_IP_BYTES, index)))
    now_s = 0.0
    released: list = []
    while now_s < duration_s:
        next_s = min(shapers["uplink"].next_event_s(), shapers["downlink"].next_event_s(),
                     events[0][0] if events else float("inf"))
        if next_s == float("inf"):
            break
        now_s = next_s if next_s > now_s else now_s
        while events and events[0][0] <= now_s:
            at_s, _seq, side, packet = heapq.heappop(events)
            packet.arrival_s = at_s
            shapers[side].accept(packet, at_s)
        for side in ("uplink", "downlink"):
            released.clear()
            shapers[side].pop_due(now_s, released)
            for index, (release_s, packet) in enumerate(released):
                flow_id, acked = packet.frame[-2], packet.frame[-1]
                flow = flows[flow_id]
                station, back = flow.station, other[side]
                if packet.size_bytes == SEGMENT_IP_BYTES:     # a data segment reached its receiver
                    if release_s >= warmup_s:
                        delivered[flow_id] += MSS_BYTES * 8
                    unacked[flow_id] += 1
                    if flow.segments_per_ack:
                        due = unacked[flow_id] == flow.segments_per_ack
                    else:                                     # the last of this flow's burst
                        due = not any(later.frame[-2] == flow_id and at_s == release_s
                                      for at_s, later in released[index + 1:index + 2])
                    if due:
                        heapq.heappush(events, (release_s, next(order), back,
                                                _packet(release_s, back, station, ACK_IP_BYTES, flow_id,
                                                        unacked[flow_id])))
                        unacked[flow_id] = 0
                else:                                         # an ACK: the sender sends that many more
                    for _ in range(acked):
                        heapq.heappush(events, (release_s, next(order), back,
                                                _packet(release_s, back, station, SEGMENT_IP_BYTES, flow_id)))
    measured_s = max(now_s - warmup_s, 1e-9)
    return {"goodput_bps": [bits / measured_s for bits in delivered], "stats": dict(medium.stats),
            "airtime_fraction": medium.airtime_fraction(now_s), "elapsed_s": now_s,
            "dropped": {side: shaper.dropped_packets for side, shaper in shapers.items()}}
