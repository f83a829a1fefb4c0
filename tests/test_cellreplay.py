"""CellReplay trace pairs: the packet-train reader, and the workload-sensitive replay on a virtual clock."""
import math

import pytest

from topo.emulator.direction_shaper import DirectionShaper, drain
from topo.emulator.packet import Packet
from topo.profiles import DirectionSpec, ProfileError, load_profile_file
from traces.cellreplay import PacketTrainTrace, read_packet_train_trace, write_packet_train_trace
from traces.trace_types import TraceFormatError

LIGHT_OFFSETS_MS = (0, 2, 4, 6, 8, 10, 12, 14, 16, 18)   # 10 packets, one per 2 ms: 6 Mbit/s


def write_pair(tmp_path, base_ms=(20, 40, 20), heavy_per_ms=4, duration_ms=3000):
    """A light trace (a train every second) and a heavy trace (``heavy_per_ms`` MTUs per ms: 48 Mbit/s)."""
    light = PacketTrainTrace(tuple(range(0, 1000 * len(base_ms), 1000)), base_ms,
                             (LIGHT_OFFSETS_MS,) * len(base_ms))
    write_packet_train_trace(tmp_path / "x.train", light)
    (tmp_path / "x.heavy").write_text("".join(f"{ms}\n" * heavy_per_ms for ms in range(1, duration_ms + 1)))
    return tmp_path / "x.train", tmp_path / "x.heavy"


def profile(tmp_path, extra="", queue_limit="1000 packets"):
    write_pair(tmp_path)
    path = tmp_path / "cell.toml"
    path.write_text(f'[radio]\nmodel = "cellreplay"\nup_light_trace = "x.train"\nup_heavy_trace = "x.heavy"\n'
                    f'down_light_trace = "x.train"\ndown_heavy_trace = "x.heavy"\n{extra}\n'
                    f'[up]\nqueue_limit = "{queue_limit}"\n[down]\nqueue_limit = "{queue_limit}"\n')
    return load_profile_file(path)


def burst(shaper, at_s, count, size=1500):
    for _ in range(count):
        shaper.accept(Packet(at_s, size), at_s)
    return [release_s for release_s, _p in drain(shaper)]


# --- the reader ---------------------------------------------------------------------------------
def test_reader_round_trip_and_interpolated_base_delay(tmp_path):
    light_path, _heavy = write_pair(tmp_path)
    trace = read_packet_train_trace(light_path)
    assert trace.time_ms == (0, 1000, 2000) and trace.offsets_ms[1] == LIGHT_OFFSETS_MS
    assert trace.base_delay_at_ms(500) == pytest.approx(30.0)
    assert trace.base_delay_at_ms(1750) == pytest.approx(25.0)
    assert trace.base_delay_at_ms(2000) == 20.0 and trace.duration_ms == 2000


@pytest.mark.parametrize("text, message", [
    ("0 20 0 1\n100 x 0\n", "line 2: base_delay_ms 'x' is not a number"),
    ("0 20 0 1\n0 20 0\n", "line 2: time_ms 0 is not after the line before"),
    ("0 20 0 3 2\n100 20\n", "line 1: delivery offset 2 ms is earlier"),
    ("0 20 0\n100 -5\n", "line 2: base_delay_ms must be a finite number >= 0"),
    ("# only a comment\n0 20 0 1\n", "line 2: one train gives a trace of zero duration"),
    ("\n\n", "empty packet-train trace"),
    ("0\n100 20\n", "line 1: expected time_ms base_delay_ms"),
])
def test_reader_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.train"
    path.write_text(text)
    with pytest.raises(TraceFormatError) as err:
        read_packet_train_trace(path)
    assert str(path) in str(err.value) and message in str(err.value) and "\n" not in str(err.value)


def test_a_malformed_trace_fails_when_the_profile_loads(tmp_path):
    write_pair(tmp_path)
    (tmp_path / "x.train").write_text("0 20 0\n1000 twenty 0\n")
    with pytest.raises(ProfileError) as err:
        load_cell(tmp_path)
    assert "x.train line 2" in str(err.value) and "[radio]" in str(err.value)


def load_cell(tmp_path, extra=""):
    path = tmp_path / "cell.toml"
    path.write_text(f'[radio]\nmodel = "cellreplay"\nup_light_trace = "x.train"\nup_heavy_trace = "x.heavy"\n'
                    f'down_light_trace = "x.train"\ndown_heavy_trace = "x.heavy"\n{extra}\n[up]\n[down]\n')
    return load_profile_file(path)


def test_profile_errors_missing_trace_and_unknown_key(tmp_path):
    write_pair(tmp_path)
    (tmp_path / "c.toml").write_text('[radio]\nmodel = "cellreplay"\nup_light_trace = "x.train"\n[up]\n[down]\n')
    with pytest.raises(ProfileError, match="missing up_heavy_trace|up_heavy_trace"):
        load_profile_file(tmp_path / "c.toml")
    with pytest.raises(ProfileError, match="unknown cellreplay parameter 'idle'"):
        load_cell(tmp_path, 'idle = "5 ms"')
    (tmp_path / "d.toml").write_text('[radio]\nmodel = "cellreplay"\nup_light_trace = "nope.train"\n[up]\n[down]\n')
    with pytest.raises(ProfileError, match="nope.train"):
        load_profile_file(tmp_path / "d.toml")


# --- the replay ---------------------------------------------------------------------------------
def shapers(spec, start_s=0.0):
    shared = {}
    return {side: DirectionShaper(spec, start_s, side=side, shared=shared) for side in ("uplink", "downlink")}


def test_an_isolated_packet_gets_the_interpolated_base_delay(tmp_path):
    spec = profile(tmp_path).up
    assert spec.radio_model == "cellreplay" and spec.rate_bps is None
    up = shapers(spec)["uplink"]
    assert burst(up, 0.5, 1, size=84) == [pytest.approx(0.5 + 0.030)]
    assert burst(up, 1.75, 1, size=84) == [pytest.approx(1.75 + 0.025)]
    assert up.next_event_s() == math.inf                     # nothing pending: no wakeups


def test_a_short_burst_rides_the_light_train(tmp_path):
    up = shapers(profile(tmp_path).up)["uplink"]
    releases = burst(up, 0.0, 5)
    assert releases == [pytest.approx(0.020 + offset / 1000) for offset in LIGHT_OFFSETS_MS[:5]]
    assert up.service.stats == {"bursts": 1, "light_packets": 5, "heavy_packets": 0, "link_drops": 0}


def test_a_long_burst_outgrows_its_train_and_the_heavy_trace_serves_the_rest(tmp_path):
    up = shapers(profile(tmp_path).up)["uplink"]
    releases = burst(up, 0.0, 100)
    stats = up.service.stats
    assert stats["light_packets"] == 10 and stats["heavy_packets"] == 90 and stats["bursts"] == 1
    assert releases[:10] == [pytest.approx(0.020 + offset / 1000) for offset in LIGHT_OFFSETS_MS]
    # the 90 others enter the heavy queue behind the train's last packet (20 + 18 ms: packets never
    # overtake) and leave at the heavy trace's 4 MTUs per ms: the last ceil(90 / 4) = 23 ms later
    assert releases[10] == pytest.approx(0.038 + 0.001)
    assert releases[-1] == pytest.approx(0.038 + 0.023)
    assert releases == sorted(releases)


def test_short_bursts_get_less_than_the_saturated_rate_that_mahimahi_gives(tmp_path):
    """CellReplay's point: replaying only the heavy trace gives a short burst a saturated link."""
    spec = profile(tmp_path).up
    cell = burst(shapers(spec)["uplink"], 0.0, 8)[-1]
    mahimahi = DirectionShaper(DirectionSpec(rate_trace=str(tmp_path / "x.heavy"), delay_ms=20.0,
                                             queue_limit_packets=None))
    heavy_only = burst(mahimahi, 0.0, 8)[-1]
    assert cell == pytest.approx(0.020 + 0.014)               # light train: 8 packets over 14 ms
    assert heavy_only == pytest.approx(0.002 + 0.020)          # Mahimahi: 4 per ms from 1 ms on
    assert cell - 0.020 > 5 * (heavy_only - 0.020)


def test_after_an_idle_gap_the_next_packet_starts_a_new_train(tmp_path):
    spec = profile(tmp_path, extra='idle_gap = "50 ms"').up
    up = shapers(spec)["uplink"]
    burst(up, 0.0, 3)            # released at 20, 22, 24 ms
    burst(up, 0.050, 1)          # would leave at 70 ms, within 24 + 50 ms: the same burst (train used up)
    assert up.service.stats["bursts"] == 1 and up.service.stats["heavy_packets"] == 1
    burst(up, 0.200, 1)
    assert up.service.stats["bursts"] == 2


def test_heavy_queue_limit_drops_are_counted(tmp_path):
    up = shapers(profile(tmp_path, queue_limit="20 packets").up)["uplink"]
    releases = burst(up, 0.0, 100)
    assert up.dropped_packets == 100 - 10 - 20 and len(releases) == 30
    assert len(up.service) == 0 and up.in_flight == 0


def test_set_rate_replaces_the_heavy_trace_and_none_restores_it(tmp_path):
    up = shapers(profile(tmp_path).up)["uplink"]
    up.set_rate(12e6, 0.0)                                    # 1 MTU per ms
    releases = burst(up, 0.0, 30)
    assert releases[-1] == pytest.approx(0.038 + 20 * 0.001)  # after the train, 20 heavy ones at 1 ms each
    up.set_rate(None, 1.0)
    releases = burst(up, 1.0, 30)
    assert releases[-1] == pytest.approx(1.0 + 0.040 + 0.018 + 0.005)  # base 40 ms; 20 at 4 per ms


def test_mahimahi_single_traces_keep_working(tmp_path):
    _light, heavy = write_pair(tmp_path)
    shaper = DirectionShaper(DirectionSpec(rate_trace=str(heavy), queue_limit_packets=None))
    assert burst(shaper, 0.0, 8) == [pytest.approx(0.001)] * 4 + [pytest.approx(0.002)] * 4
