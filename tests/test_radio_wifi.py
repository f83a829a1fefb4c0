"""The WiFi radio model on a virtual clock: airtime, the shared medium, aggregation, retries, profiles."""
import math

import pytest

from topo.emulator.direction_shaper import drain
from topo.emulator.packet import Packet
from topo.emulator.radio import wifi_airtime as air
from topo.emulator.radio.addresses import ipv4_frame
from topo.emulator.radio.wifi_offline import Flow, run_flows, wifi_shapers, wifi_spec
from topo.emulator.radio.wifi_params import WifiParams
from topo.profiles import ProfileError, load_profile, load_profile_file

STATION, SERVER = "10.0.1.1", "10.0.2.2"
SEEDS_WIFI_BPS = 72e6


def packet(at_s, side="downlink", station=STATION, size=1500):
    src, dst = (station, SERVER) if side == "uplink" else (SERVER, station)
    return Packet(at_s, size, ipv4_frame(src, dst, size))


def default_params():
    profile = load_profile("wifi")
    return WifiParams.from_mapping(dict(profile.up.radio_params)), profile


# --- airtime constants (IEEE 802.11-2016) ------------------------------------------------
def test_timing_constants_and_txop_arithmetic():
    assert air.DIFS_US == 34.0 and air.SLOT_US == 9.0 and air.SIFS_US == 16.0
    assert air.access_us() == pytest.approx(101.5)
    assert air.BLOCK_ACK_US == 32.0
    assert air.subframe_bytes(1500) == 1544 and air.subframe_bytes(52) == 96
    # the profile comment's arithmetic
    assert air.txop_us(5 * 1544, 150e6) == pytest.approx(599.5)
    assert air.txop_us(96, 150e6) == pytest.approx(192.7)
    assert air.saturated_tcp_goodput_bps(150e6, 5, 0.03, segments_per_ack=5) == pytest.approx(70.92e6, rel=1e-3)
    assert air.ppdu_us(1544, 150e6, symbol_us=4.0) == pytest.approx(36 + 4.0 * math.ceil((22 + 8 * 1544) / 600))


@pytest.mark.parametrize("segments_per_ack", [2, 0])   # 0: one ACK per burst, as Linux ACKs an A-MPDU
def test_default_profile_gives_the_seeds_72_mbits_analytically_and_on_the_medium(segments_per_ack):
    params, profile = default_params()
    assert profile.up.radio_model == "wifi" and profile.up.rate_bps == 150e6
    per_ack = segments_per_ack or params.max_ampdu_mpdus
    analytic = air.saturated_tcp_goodput_bps(150e6, params.max_ampdu_mpdus, params.mpdu_error_rate,
                                             segments_per_ack=per_ack)
    assert analytic == pytest.approx(SEEDS_WIFI_BPS, rel=0.02)
    radio = dict(profile.up.radio_params)
    for direction in ("downlink", "uplink"):
        result = run_flows([Flow(STATION, direction, segments_per_ack=segments_per_ack)], radio=radio,
                           duration_s=2.0, warmup_s=0.3)
        assert result["goodput_bps"][0] == pytest.approx(SEEDS_WIFI_BPS, rel=0.025), direction
        assert result["goodput_bps"][0] == pytest.approx(analytic, rel=0.03), direction
        assert result["stats"]["retries"] > 0 and result["dropped"] == {"uplink": 0, "downlink": 0}


def test_full_standard_aggregation_would_be_much_faster_than_the_seeds():
    # 42 full MPDUs fit in 65,535 bytes: the fitted 5 is what brings 150 Mbit/s down to 72
    assert air.saturated_tcp_goodput_bps(150e6, 42, 0.03) > 1.6 * SEEDS_WIFI_BPS


# --- the shared medium ---------------------------------------------------------------------
@pytest.mark.parametrize("segments_per_ack", [2, 0])
def test_upload_and_download_share_one_medium_not_two_pipes(segments_per_ack):
    params, profile = default_params()
    both = run_flows([Flow(STATION, "uplink", segments_per_ack=segments_per_ack),
                      Flow(STATION, "downlink", segments_per_ack=segments_per_ack)],
                     radio=dict(profile.up.radio_params), duration_s=1.5, warmup_s=0.3)
    up, down = both["goodput_bps"]
    # each TXOP aggregates the sender's data with the ACKs it owes: k = d (1 + 1 / segments per ACK)
    per_ack = segments_per_ack or params.max_ampdu_mpdus - 1
    expected_each = air.bidirectional_tcp_goodput_bps(150e6, params.max_ampdu_mpdus, params.mpdu_error_rate,
                                                      segments_per_ack=per_ack)
    assert up == pytest.approx(expected_each, rel=0.05) and down == pytest.approx(expected_each, rel=0.05)
    assert up + down < 1.25 * SEEDS_WIFI_BPS         # one medium: not 2 x 72
    assert both["airtime_fraction"] == pytest.approx(1.0, abs=0.01)


def test_idle_packet_pays_access_preamble_and_airtime_then_the_delay():
    shapers, _ = wifi_shapers(wifi_spec({"mpdu_error_rate": 0.0}, delay_ms=1.0))
    shapers["downlink"].accept(packet(0.5), 0.5)
    (release_s, _p), = drain(shapers["downlink"])
    airtime_us = air.access_us() + air.ppdu_us(1544, 150e6)
    assert release_s == pytest.approx(0.5 + airtime_us * 1e-6 + 0.001)
    assert shapers["downlink"].next_event_s() == math.inf and shapers["uplink"].next_event_s() == math.inf


def test_a_busy_medium_delays_the_other_direction():
    shapers, _ = wifi_shapers(wifi_spec({"mpdu_error_rate": 0.0}))
    for _ in range(6):  # the first takes the idle medium at once, alone; five wait for the next turn
        shapers["downlink"].accept(packet(0.0), 0.0)
    shapers["uplink"].accept(packet(0.0001, "uplink", size=100), 0.0001)
    down_txop_s = air.txop_us(1544, 150e6) * 1e-6
    (up_release_s, _p), = drain(shapers["uplink"])  # the station's turn comes before the AP's next
    assert up_release_s == pytest.approx(down_txop_s + (air.access_us() + air.ppdu_us(144, 150e6)) * 1e-6)
    released = drain(shapers["downlink"])
    assert [round(r, 7) for r, _p in released] == [round((air.access_us() + air.ppdu_us(1544, 150e6)) * 1e-6, 7)] + \
        [round(up_release_s + (air.SIFS_US + air.BLOCK_ACK_US + air.access_us() + air.ppdu_us(5 * 1544, 150e6)) * 1e-6, 7)] * 5


def test_aggregation_limits_mpdus_bytes_and_airtime():
    def txops(radio, count=20):
        shapers, shared = wifi_shapers(wifi_spec({"mpdu_error_rate": 0.0, **radio}))
        for _ in range(count):
            shapers["downlink"].accept(packet(0.0), 0.0)
        released = drain(shapers["downlink"])
        assert len(released) == count
        return shared["wifi_medium"].stats["txops"], sorted({round(r, 9) for r, _ in released})

    # the first packet finds the medium idle and leaves alone; the other 19 are aggregated
    assert txops({"max_ampdu_mpdus": 6})[0] == 1 + 4         # 6 + 6 + 6 + 1
    assert txops({"max_ampdu_mpdus": 64})[0] == 1 + 1
    assert txops({"max_ampdu_mpdus": 64, "max_ampdu_bytes": 4000})[0] == 1 + 10   # 2 x 1,544 B each
    assert txops({"max_ampdu_mpdus": 64, "max_ppdu": "300 us"})[0] == 1 + 7       # 3 MPDUs: 36 + 3 x 82 us
    count, times = txops({"max_ampdu_mpdus": 5}, count=11)
    assert count == 3 and len(times) == 3                    # an A-MPDU's MPDUs leave together


def test_retries_keep_order_and_give_up_after_the_retry_limit():
    shapers, shared = wifi_shapers(wifi_spec({"mpdu_error_rate": 0.3, "retry_limit": 7, "seed": 3},
                                             queue_limit_packets=1000))
    sent = [packet(i * 1e-4) for i in range(300)]
    out = []
    for item in sent:
        shapers["downlink"].pop_due(item.arrival_s, out)
        shapers["downlink"].accept(item, item.arrival_s)
    released = [p for _r, p in out + drain(shapers["downlink"])]
    assert released == sent                                  # BlockAck reorder buffer: in order
    stats = shared["wifi_medium"].stats
    assert stats["retries"] == pytest.approx(300 * 0.3 / 0.7, rel=0.25) and stats["retry_drops"] == 0

    shapers, shared = wifi_shapers(wifi_spec({"mpdu_error_rate": 0.9, "retry_limit": 0}, queue_limit_packets=1000))
    for _ in range(200):
        shapers["uplink"].accept(packet(0.0, "uplink"), 0.0)
    released = drain(shapers["uplink"])
    dropped = shapers["uplink"].dropped_packets
    assert len(released) + dropped == 200 and dropped == pytest.approx(180, abs=20)
    assert shared["wifi_medium"].stats["retry_drops"] == dropped and len(shapers["uplink"].service) == 0


def test_per_station_queue_limit_drops_tail_and_counts():
    shapers, _ = wifi_shapers(wifi_spec({"mpdu_error_rate": 0.0}, queue_limit_packets=200))
    for _ in range(300):
        shapers["downlink"].accept(packet(0.0), 0.0)
    for _ in range(50):  # another station has its own queue at the access point
        shapers["downlink"].accept(packet(0.0, station="10.0.1.2"), 0.0)
    assert shapers["downlink"].dropped_packets == 100   # an MPDU on air stays queued until its BlockAck
    assert len(shapers["downlink"].service) == 250
    assert len(drain(shapers["downlink"])) == 250 and len(shapers["downlink"].service) == 0
    shapers, _ = wifi_shapers(wifi_spec({"mpdu_error_rate": 0.0, "queue_limit_packets": 50}, queue_limit_packets=200))
    for _ in range(300):
        shapers["uplink"].accept(packet(0.0, "uplink"), 0.0)
    assert shapers["uplink"].dropped_packets == 250              # the [radio] table's limit wins


def test_slow_station_drags_the_fast_one_down_performance_anomaly():
    # Heusse et al., INFOCOM 2003: per-TXOP fairness gives every station about the same
    # throughput, set by the slowest one's airtime
    radio = {"station_phy_rate": [["10.0.1.2", "15 Mbit/s"]]}
    result = run_flows([Flow("10.0.1.1", "downlink"), Flow("10.0.1.2", "downlink")], radio=radio,
                       duration_s=1.5, warmup_s=0.3)
    fast, slow = result["goodput_bps"]
    round_us = sum(air.txop_us(5 * 1544, rate) + air.txop_us(2 * 96, rate) for rate in (150e6, 15e6))
    each = (1 - 0.03) * 5 * 1448 * 8 / (round_us * 1e-6)    # one data + one ACK TXOP each per round
    assert fast == pytest.approx(each, rel=0.05) and slow == pytest.approx(each, rel=0.05)
    assert fast < 0.2 * SEEDS_WIFI_BPS


def test_set_rate_changes_the_phy_rate_and_none_restores_it():
    shapers, _ = wifi_shapers(wifi_spec({"mpdu_error_rate": 0.0}))
    down = shapers["downlink"]
    down.set_rate(15e6, 0.0)
    down.accept(packet(0.0), 0.0)
    (slow_s, _p), = drain(down)
    assert slow_s == pytest.approx((air.access_us() + air.ppdu_us(1544, 15e6)) * 1e-6)
    down.set_rate(None, 1.0)
    down.accept(packet(1.0), 1.0)
    (fast_s, _p), = drain(down)
    assert fast_s - 1.0 == pytest.approx((air.access_us() + air.ppdu_us(1544, 150e6)) * 1e-6)


def test_non_ip_frames_pass_straight_through():
    shapers, _ = wifi_shapers(wifi_spec(delay_ms=0.0))
    arp = Packet(0.25, 28, b"\xff" * 12 + b"\x08\x06" + bytes(28))
    shapers["uplink"].accept(arp, 0.25)
    assert drain(shapers["uplink"]) == [(0.25, arp)]


# --- profiles and parameters ----------------------------------------------------------------
def test_wifi_ideal_keeps_the_old_pipe():
    ideal = load_profile("wifi-ideal")
    assert ideal.up.radio_model is None and ideal.up.rate_bps == ideal.down.rate_bps == 72e6
    assert ideal.up.delay_ms == 2.0 and ideal.up.queue_limit_packets == 200


def test_station_override_parses_addresses_and_rates():
    params = WifiParams.from_mapping({"station_phy_rate": [["10.0.1.2", "65 Mbit/s"], ["10.0.1.3", "30 Mbit/s"]]})
    assert params.phy_rate_for(bytes([10, 0, 1, 2]), 150e6) == 65e6
    assert params.phy_rate_for(bytes([10, 0, 1, 9]), 150e6) == 150e6
    assert WifiParams.from_mapping(params.to_mapping()) == params
    assert params.peak_rate_bps(150e6) == 150e6


@pytest.mark.parametrize("line, message", [
    ('mpdu_eror_rate = 0.1', "unknown wifi parameter 'mpdu_eror_rate'"),
    ('mpdu_error_rate = 1.0', "mpdu_error_rate must lie in 0..1"),
    ('max_ampdu_mpdus = 65', "max_ampdu_mpdus must lie in 1..64"),
    ('max_ampdu_mpdus = "six"', "max_ampdu_mpdus must be an integer"),
    ('symbol_us = 0.8', "symbol_us must be 3.6"),
    ('station_phy_rate = [["10.0.1.300", "65 Mbit/s"]]', "is not an IPv4 address"),
    ('station_phy_rate = [["10.0.1.2"]]', "is not an [address, rate] pair"),
    ('station_phy_rate = [["10.0.1.2", "65 parsecs"]]', "unknown unit"),
])
def test_bad_radio_parameters_name_file_and_key(tmp_path, line, message):
    path = tmp_path / "bad.toml"
    path.write_text(f'[radio]\nmodel = "wifi"\n{line}\n[up]\nrate = "150 Mbit/s"\n[down]\nrate = "150 Mbit/s"\n')
    with pytest.raises(ProfileError) as err:
        load_profile_file(path)
    assert str(path) in str(err.value) and "[radio]" in str(err.value) and message in str(err.value)


def test_wifi_needs_a_phy_rate_per_direction(tmp_path):
    body = open(load_profile("wifi").source).read().replace('rate = "150 Mbit/s"\n', "", 1)
    path = tmp_path / "norate.toml"
    path.write_text(body)
    with pytest.raises(ProfileError, match="constant rate"):
        load_profile_file(path)


def test_radio_parameters_survive_the_emulator_config_json():
    import json

    from topo.profiles import DirectionSpec
    spec = wifi_spec({"station_phy_rate": [["10.0.1.2", "65 Mbit/s"]], "max_ampdu_mpdus": 8})
    again = DirectionSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    shapers, shared = wifi_shapers(again)
    assert shared["wifi_medium"].params.phy_rate_for(bytes([10, 0, 1, 2]), 150e6) == 65e6
    assert shared["wifi_medium"].params.max_ampdu_mpdus == 8


def test_calibrate_compares_wifi_goodput_with_the_model_not_the_phy_rate():
    from topo.emulator.radio import tcp_goodput_bps
    from topo.profiles import load_profile

    up = load_profile("wifi").up
    assert up.radio_model == "wifi" and up.rate_bps == 150e6
    expected = tcp_goodput_bps(up.radio_model, up.radio_params, up.rate_bps)
    assert 69e6 < expected < 74e6  # the profile's own arithmetic: ~70.9 Mbit/s, not the 150 Mbit/s PHY rate
    lte = load_profile("lte").up
    assert tcp_goodput_bps(lte.radio_model, lte.radio_params, lte.rate_bps) == lte.rate_bps
