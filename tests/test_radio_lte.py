"""The LTE radio model on the fake clock: RRC, DRX, SR/grant, TTIs, HARQ, PF, buffers, idle cost."""
from __future__ import annotations

import math
import statistics

import pytest

from topo.emulator.direction_shaper import DirectionShaper, drain
from topo.emulator.packet import Packet
from topo.emulator.radio.addresses import ipv4_frame
from topo.emulator.radio.harq import added_delay_distribution
from topo.emulator.radio.lte_params import LteParams
from topo.emulator.radio.lte_rrc import DRX_LONG, DRX_SHORT, IDLE, PROMOTING
from topo.profiles import DirectionSpec, ProfileError

SERVER = "10.0.2.2"


def ue(i: int = 1) -> str:
    return f"10.0.1.{i}"


def cell(rate_bps=8e6, delay_ms=0.0, queue_limit_packets=1000, **params):
    """An uplink and a downlink shaper of one LTE link, sharing the process's dict."""
    pairs = tuple(sorted(params.items()))
    spec = DirectionSpec(rate_bps=rate_bps, delay_ms=delay_ms, queue_limit_packets=queue_limit_packets,
                         radio_model="lte", radio_params=pairs)
    shared: dict = {}
    return (DirectionShaper(spec, 0.0, side="uplink", shared=shared),
            DirectionShaper(spec, 0.0, side="downlink", shared=shared))


def send_up(shaper, t_s, size=100, device=1):
    shaper.accept(Packet.from_frame(t_s, ipv4_frame(ue(device), SERVER, size)), t_s)


def send_down(shaper, t_s, size=100, device=1):
    shaper.accept(Packet.from_frame(t_s, ipv4_frame(SERVER, ue(device), size)), t_s)


def one(shaper, t_s, send=send_up, size=100, device=1) -> float:
    """The release time of one packet sent at ``t_s`` (the shaper otherwise empty)."""
    send(shaper, t_s, size, device)
    released = drain(shaper)
    assert len(released) == 1
    return released[0][0]


def test_first_packet_after_idle_pays_the_promotion_and_the_tail_brings_idle_back():
    up, _ = cell(bler=0.0, delay_ms=10)
    rrc = up.service.rrc
    device = bytes([10, 0, 1, 1])
    assert one(up, 1.0) == pytest.approx(1.0 + 0.260 + 0.001 + 0.010)  # promotion, one TTI, delay
    assert rrc.state_at(device, 1.1) == PROMOTING
    assert rrc.promotions(device) == 1
    later = one(up, 5.0)  # connected: a scheduling request instead (<= 10 + 8 ms), no promotion
    assert 5.0 + 0.008 + 0.001 + 0.010 <= later <= 5.0 + 0.018 + 0.001 + 0.010 + 1e-9
    assert rrc.promotions(device) == 1
    last_activity = later - 0.010
    assert rrc.state_at(device, last_activity + 11.5) != IDLE
    assert rrc.state_at(device, last_activity + 11.6) == IDLE
    assert one(up, 30.0) == pytest.approx(30.0 + 0.260 + 0.001 + 0.010)
    assert rrc.promotions(device) == 2


def test_downlink_to_an_idle_device_waits_for_its_paging_occasion_then_the_promotion():
    _, down = cell(bler=0.0)
    rrc = down.service.rrc
    state = rrc.device(bytes([10, 0, 1, 1]))
    release = one(down, 3.0, send_down)
    paging = rrc.next_paging_s(state, 3.0)
    assert 3.0 <= paging < 3.0 + 1.28
    assert release == pytest.approx(paging + 0.260 + 0.001)


def test_uplink_activity_promotes_for_both_directions_and_drx_delays_the_downlink():
    up, down = cell(bler=0.0)
    rrc = up.service.rrc
    device = bytes([10, 0, 1, 1])
    first = one(up, 1.0)  # promotion; the device is active until first + 100 ms
    assert one(down, first + 0.050, send_down) == pytest.approx(first + 0.051)  # awake: next TTI
    active = first + 0.051
    # quiet for 100 ms: short DRX cycles of 20 ms (on for 1 ms) for 20 ms, then long cycles of 40 ms
    assert rrc.state_at(device, active + 0.105) == DRX_SHORT
    assert rrc.state_at(device, active + 0.125) == DRX_LONG
    t_s = active + 0.125  # 5 ms into the first long cycle (which began at active + 120 ms)
    assert one(down, t_s, send_down) == pytest.approx(active + 0.160 + 0.001)


def test_without_drx_a_connected_device_hears_the_downlink_at_once():
    up, down = cell(bler=0.0, drx=False)
    first = one(up, 1.0)
    assert one(down, first + 2.0, send_down) == pytest.approx(first + 2.001)


def test_a_bursts_first_block_waits_for_sr_and_grant_the_rest_follow_in_consecutive_ttis():
    up, _ = cell(bler=0.0, start_connected=True)
    service = up.service
    for _ in range(5):
        send_up(up, 2.0003, 1000)  # 1000 B = one 8 Mbit/s block each
    released = [t for t, _ in drain(up)]
    sr = service.uplink.next_occasion_s(bytes([10, 0, 1, 1]), 2.0003)
    assert 2.0003 <= sr < 2.0103
    first = sr + 0.008 + 0.001
    assert released == pytest.approx([first + i * 0.001 for i in range(5)])
    assert service.uplink.requests == 1


def test_ttis_carry_rate_times_a_millisecond_over_one_minus_bler():
    _, down = cell(rate_bps=8e6, bler=0.0, start_connected=True, drx=False)
    for _ in range(3):
        send_down(down, 0.0, 1500)
    released = [t for t, _ in drain(down)]
    assert released == pytest.approx([0.002, 0.003, 0.005])  # 1000 B blocks: 1500 B spans TTI edges
    assert down.service.block_bytes == pytest.approx(1000.0)
    _, lossy = cell(rate_bps=8e6, bler=0.2)
    assert lossy.service.block_bytes == pytest.approx(1250.0)


def saturate(shaper, devices, seconds, send=send_down, size=1500):
    """Keep ``devices`` backlogged for ``seconds``; delivered bytes per device."""
    delivered = {d: 0 for d in devices}
    for step in range(int(seconds * 100)):
        t_s = step * 0.01
        for d in devices:
            for _ in range(12):  # 12 x 1500 B per 10 ms = 14.4 Mbit/s offered per device
                send(shaper, t_s, size, d)
        for release_s, packet in _pop(shaper, t_s + 0.01):
            delivered[packet.frame[33] if send is send_down else packet.frame[29]] += packet.size_bytes
    return delivered


def _pop(shaper, now_s):
    out: list = []
    shaper.pop_due(now_s, out)
    return out


def test_a_saturating_device_gets_the_profile_rate_despite_harq():
    _, down = cell(rate_bps=10e6, bler=0.1, start_connected=True, queue_limit_packets=100)
    delivered = saturate(down, [1], 4.0)
    rate_bps = delivered[1] * 8 / 4.0
    assert rate_bps == pytest.approx(10e6, rel=0.03)
    harq = down.service.harq
    assert harq.transmissions / harq.blocks == pytest.approx(1 / 0.9, rel=0.02)


@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_proportional_fair_gives_n_saturating_devices_one_nth_each(n):
    _, down = cell(rate_bps=8e6, bler=0.1, start_connected=True, queue_limit_packets=200)
    delivered = saturate(down, list(range(1, n + 1)), 3.0)
    total = sum(delivered.values())
    assert total * 8 / 3.0 == pytest.approx(8e6, rel=0.05)  # N devices share the cell, not N cells
    for d, size in delivered.items():
        assert size / total == pytest.approx(1 / n, rel=0.05), (d, delivered)


def test_harq_adds_whole_round_trips_at_the_configured_bler():
    _, down = cell(rate_bps=8e6, bler=0.1, start_connected=True, drx=False)
    added = []
    for i in range(4000):
        t_s = 1.0 + i * 0.05  # isolated small packets: one block each
        added.append(one(down, t_s, send_down) - (math.ceil(t_s * 1000 - 1e-6) / 1000 + 0.001))
    rounded = [round(a * 1000) for a in added]
    expected = dict((round(d * 1000), p) for d, p in added_delay_distribution(0.1, 0.008, 4, 0.040))
    assert set(rounded) <= set(expected)
    for delay_ms, p in expected.items():
        if p > 0.005:
            assert rounded.count(delay_ms) / len(rounded) == pytest.approx(p, abs=0.015), delay_ms
    assert statistics.mean(added) * 1000 == pytest.approx(sum(d * p for d, p in expected.items()), rel=0.15)


def test_a_block_lost_after_the_last_transmission_comes_back_by_rlc():
    _, down = cell(bler=0.999, harq_max_transmissions=2, rlc_recovery="40 ms", start_connected=True, drx=False)
    assert one(down, 1.0, send_down) == pytest.approx(1.001 + 0.008 + 0.040)
    assert down.service.harq.residual == 1


def test_rlc_delivers_in_order_behind_a_retransmitted_block():
    _, down = cell(rate_bps=8e6, bler=0.3, start_connected=True, drx=False, seed=4)
    sent = [Packet.from_frame(0.0, ipv4_frame(SERVER, ue(), 700)) for _ in range(200)]
    for packet in sent:
        down.queue.enqueue(packet)
    departed: list = []
    down.service.advance(10.0, down.queue, lambda packet, t_s: departed.append((t_s, packet)))
    assert [p for _, p in departed] == sent  # in order, though later blocks got through first
    times = [t for t, _ in departed]
    assert times == sorted(times)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) >= 0.008 - 1e-9  # a retransmission held the packets behind it
    assert down.service.harq.transmissions > down.service.harq.blocks


def test_per_device_buffers_drop_at_the_profile_limit_and_the_shaper_counts_it():
    up, _ = cell(queue_limit_packets=5, start_connected=True)
    for _ in range(8):
        send_up(up, 1.0, 1000, device=1)
    for _ in range(3):
        send_up(up, 1.0, 1000, device=2)  # another device has its own buffer
    assert up.dropped_packets == 3
    assert len(drain(up)) == 8


def test_an_idle_cell_needs_no_wakeups_and_skips_its_ttis_for_free():
    up, down = cell()
    one(up, 1.0)
    assert up.next_event_s() == math.inf and down.next_event_s() == math.inf
    service = up.service
    tti_before = service._next_tti
    up.pop_due(3600.0, [])  # an hour idle: nothing to work through
    assert service._next_tti == 3_600_000 and tti_before < 2000
    assert len(service) == 0


def test_lte_params_reject_bad_values_with_the_key():
    with pytest.raises(ValueError, match="tti_ms must be at most 10 ms"):
        LteParams(tti_ms=20.0)
    with pytest.raises(ValueError, match="tail_ms .* must be >= drx_inactivity_ms"):
        LteParams(tail_ms=10.0)
    with pytest.raises(ProfileError, match="start_connected must be true or false"):
        cell(start_connected="yes")
