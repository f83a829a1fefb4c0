"""The shaping core on a virtual clock: rate, trace, queue, delay, jitter, loss."""
import math
import statistics

import pytest

from topo.emulator.delay_line import DelayLine
from topo.emulator.direction_shaper import DirectionShaper, drain
from topo.emulator.loss import BernoulliLoss, GilbertElliottLoss
from topo.emulator.packet import Packet
from topo.emulator.queue_discipline import PacketQueue
from topo.emulator.rate_schedule import TraceRateService
from topo.profiles import DirectionSpec
from traces import DeliveryTrace


def spec(**fields):
    fields.setdefault("queue_limit_packets", None)
    return DirectionSpec(**fields)


def feed(shaper, arrivals, sizes=1500):
    """Accept packets at the given times (advancing the virtual clock between them)."""
    released = []
    for index, time_s in enumerate(arrivals):
        shaper.pop_due(time_s, released)
        size = sizes[index] if isinstance(sizes, list) else sizes
        shaper.accept(Packet(time_s, size, index), time_s)
    released += drain(shaper)
    return released


def mahimahi_trace(tmp_path, times):
    path = tmp_path / "t.up"
    path.write_text("\n".join(map(str, times)) + "\n")
    return str(path)


# --- constant rate ---------------------------------------------------------------------
def test_constant_rate_exact_departures():
    shaper = DirectionShaper(spec(rate_bps=12e6))  # 1500 B = 1 ms
    out = feed(shaper, [0.0, 0.0, 0.0, 0.0105])
    assert [round(t, 9) for t, _ in out] == [0.001, 0.002, 0.003, 0.0115]
    assert [p.frame for _, p in out] == [0, 1, 2, 3]


def test_constant_rate_small_packets_are_byte_exact():
    shaper = DirectionShaper(spec(rate_bps=8e6, delay_ms=5))
    out = feed(shaper, [0.0, 0.0], sizes=[100, 50])
    assert [round(t, 9) for t, _ in out] == [0.0001 + 0.005, 0.00015 + 0.005]


def test_unlimited_rate_passes_at_once():
    shaper = DirectionShaper(spec(delay_ms=10, queue_limit_packets=1))
    out = feed(shaper, [0.0] * 5)
    assert [round(t, 9) for t, _ in out] == [0.010] * 5 and shaper.dropped_packets == 0


def test_next_event_reports_departure_then_release():
    shaper = DirectionShaper(spec(rate_bps=12e6, delay_ms=10))
    assert shaper.next_event_s() == math.inf
    shaper.accept(Packet(0.0, 1500), 0.0)
    assert shaper.next_event_s() == pytest.approx(0.001)
    out = []
    shaper.pop_due(0.001, out)
    assert out == [] and shaper.next_event_s() == pytest.approx(0.011)


# --- trace rate ------------------------------------------------------------------------------
def test_trace_departures_follow_opportunities(tmp_path):
    shaper = DirectionShaper(spec(rate_trace=mahimahi_trace(tmp_path, [2, 2, 5, 10])))
    out = feed(shaper, [0.0] * 4)
    assert [round(t, 9) for t, _ in out] == [0.002, 0.002, 0.005, 0.010]


def test_trace_opportunity_carries_several_small_packets(tmp_path):
    shaper = DirectionShaper(spec(rate_trace=mahimahi_trace(tmp_path, [1, 2, 3])))
    out = feed(shaper, [0.0] * 4, sizes=[500, 500, 500, 1000])
    # three 500 B packets fill the 1 ms opportunity; the 1000 B one leaves at 2 ms
    assert [round(t, 9) for t, _ in out] == [0.001, 0.001, 0.001, 0.002]


def test_trace_large_packet_spans_two_opportunities(tmp_path):
    shaper = DirectionShaper(spec(rate_trace=mahimahi_trace(tmp_path, [1, 2, 3, 4])))
    out = feed(shaper, [0.0] * 2, sizes=[1000, 1500])
    assert [round(t, 9) for t, _ in out] == [0.001, 0.002]


def test_trace_wasted_opportunities_are_not_banked(tmp_path):
    shaper = DirectionShaper(spec(rate_trace=mahimahi_trace(tmp_path, [1, 2, 3, 4, 100])))
    out = feed(shaper, [0.0035, 0.0035])  # opportunities at 1, 2, 3 ms found the queue empty
    assert [round(t, 9) for t, _ in out] == [0.004, 0.100]


def test_trace_loops_shifted_by_its_last_time(tmp_path):
    shaper = DirectionShaper(spec(rate_trace=mahimahi_trace(tmp_path, [0, 10])))
    out = feed(shaper, [0.0005] * 4)
    assert [round(t, 9) for t, _ in out] == [0.010, 0.010, 0.020, 0.020]
    # an idle gap of many periods is skipped lazily, and the phase is kept
    out = feed(shaper, [1.0055])
    assert [round(t, 9) for t, _ in out] == [1.010]


def test_trace_once_stops_delivering(tmp_path):
    shaper = DirectionShaper(spec(rate_trace=mahimahi_trace(tmp_path, [0, 10]), trace_mode="once"))
    out = feed(shaper, [0.0005] * 3)
    assert [round(t, 9) for t, _ in out] == [0.010]
    assert len(shaper.queue) == 2 and shaper.next_event_s() == math.inf


def test_trace_idle_skip_matches_walking_every_opportunity(tmp_path):
    trace = DeliveryTrace([1, 1, 3, 7, 7, 7, 12, 30])
    seen = []
    fast = TraceRateService(trace, 0.0)
    slow = TraceRateService(trace, 0.0, on_opportunity=seen.append)
    queue_fast, queue_slow = PacketQueue(), PacketQueue()
    for now in [0.0005, 0.0071, 0.2456, 1.0]:
        fast.advance(now, queue_fast, None)
        slow.advance(now, queue_slow, None)
        assert fast.next_event_s(["x"]) == slow.next_event_s(["x"])
    assert len(seen) == 8 * 33 + 6  # 33 whole periods of 30 ms, then 991, 991, 993, 997 x3


def test_trace_rate_matches_capacity_over_time():
    trace = DeliveryTrace([1, 2, 2, 5, 9, 9, 9, 10])
    shaper = DirectionShaper(spec(rate_trace=None, rate_bps=None), 0.0)
    shaper.service = TraceRateService(trace, 0.0)
    out = feed(shaper, [0.0] * 800)
    assert len(out) == 800 and max(t for t, _ in out) == pytest.approx(1.0)


# --- queue disciplines ------------------------------------------------------------------------
def test_droptail_drops_arrivals_at_the_limit():
    shaper = DirectionShaper(spec(rate_bps=12e6, queue_limit_packets=2))
    out = feed(shaper, [0.0] * 5)
    # one in transmission + two queued survive; the 4th and 5th arrivals are dropped
    assert [p.frame for _, p in out] == [0, 1, 2]
    assert shaper.dropped_packets == 2 and shaper.dropped_bytes == 3000


def test_drophead_drops_the_oldest():
    shaper = DirectionShaper(spec(rate_bps=12e6, queue="drophead", queue_limit_packets=2))
    out = feed(shaper, [0.0] * 5)
    assert [p.frame for _, p in out] == [0, 3, 4]
    assert shaper.dropped_packets == 2


def test_byte_limit():
    queue = PacketQueue("droptail", None, 3000)
    assert queue.enqueue(Packet(0, 1500)) == () and queue.enqueue(Packet(0, 1500)) == ()
    dropped = queue.enqueue(Packet(0, 100))
    assert len(dropped) == 1 and queue.bytes == 3000
    head_queue = PacketQueue("drophead", None, 3000)
    first = Packet(0, 1500)
    head_queue.enqueue(first)
    head_queue.enqueue(Packet(0, 1500))
    assert head_queue.enqueue(Packet(0, 100)) == [first] and head_queue.bytes == 1600


def test_queue_rejects_bad_settings():
    with pytest.raises(ValueError, match="droptail, drophead"):
        PacketQueue("red")
    with pytest.raises(ValueError, match="limit_packets"):
        PacketQueue("droptail", 0)


# --- delay line ---------------------------------------------------------------------------------
@pytest.mark.parametrize("distribution", ["normal", "uniform", "pareto"])
def test_jitter_never_reorders_unless_asked(distribution):
    shaper = DirectionShaper(spec(delay_ms=20, jitter_ms=5, jitter_distribution=distribution, seed=3))
    arrivals = [i * 0.002 for i in range(2000)]
    out = feed(shaper, arrivals)
    order = [p.frame for _, p in out]
    assert order == sorted(order)
    releases = [t for t, _ in out]
    assert releases == sorted(releases)
    delays = [t - a for (t, _), a in zip(out, arrivals)]
    assert min(delays) >= 0
    assert 0.015 < statistics.median(delays) < 0.030


@pytest.mark.parametrize("distribution, mean_ms, std_ms", [("normal", 20, 5), ("uniform", 20, 5 / math.sqrt(3)),
                                                           ("pareto", 20, 5)])
def test_jitter_distributions_with_reordering(distribution, mean_ms, std_ms):
    shaper = DirectionShaper(spec(delay_ms=20, jitter_ms=5, jitter_distribution=distribution,
                                  allow_reorder=True, seed=3))
    arrivals = [i * 0.001 for i in range(20000)]
    out = feed(shaper, arrivals)
    delays_ms = [(t - arrivals[p.frame]) * 1000 for t, p in out]
    assert statistics.mean(delays_ms) == pytest.approx(mean_ms, abs=0.2)
    assert statistics.pstdev(delays_ms) == pytest.approx(std_ms, rel=0.1)
    assert [p.frame for _, p in out] != sorted(p.frame for _, p in out)  # it does reorder
    if distribution == "uniform":
        assert 15 - 1e-6 <= min(delays_ms) and max(delays_ms) <= 25 + 1e-6
    if distribution == "pareto":
        assert min(delays_ms) >= 20 - 0.58 * 5 and max(delays_ms) > 20 + 4 * 5  # heavy upper tail


def test_jitter_is_seeded():
    def run(seed):
        shaper = DirectionShaper(spec(delay_ms=20, jitter_ms=5, seed=seed))
        return [t for t, _ in feed(shaper, [i * 0.01 for i in range(50)])]
    assert run(1) == run(1) and run(1) != run(2)


def test_delay_trace_steps_and_loops(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("time_s,delay_ms\n0,10\n0.5,30\n")  # period 1 s
    shaper = DirectionShaper(spec(delay_trace=str(path)))
    out = feed(shaper, [0.1, 0.6, 1.2])
    assert [round(t, 9) for t, _ in out] == [0.110, 0.630, 1.210]


def test_delay_trace_decrease_does_not_reorder():
    from traces import DelayTrace
    line = DelayLine(delay_trace=DelayTrace([0.0, 0.01], [50.0, 0.0]))
    line.push("a", 0.009)   # 50 ms delay -> 0.059
    line.push("b", 0.011)   # 0 ms delay but must not overtake
    out = []
    line.pop_due(1.0, out)
    assert [p for _, p in out] == ["a", "b"] and out[1][0] == pytest.approx(0.059)


# --- loss ---------------------------------------------------------------------------------------
def binomial_bounds(n, p, sigmas=4.5):
    sd = math.sqrt(n * p * (1 - p))
    return n * p - sigmas * sd, n * p + sigmas * sd


@pytest.mark.parametrize("loss", [0.01, 0.1, 0.5])
def test_bernoulli_loss_rate(loss):
    shaper = DirectionShaper(spec(loss=loss, seed=7))
    n = 20000
    feed(shaper, [i * 1e-4 for i in range(n)])
    low, high = binomial_bounds(n, loss)
    assert low <= shaper.lost_packets <= high
    assert shaper.delivered_packets + shaper.lost_packets == n


def test_bernoulli_is_seeded():
    import random
    a = BernoulliLoss(0.3, random.Random("1:loss"))
    b = BernoulliLoss(0.3, random.Random("1:loss"))
    assert [a.lost() for _ in range(100)] == [b.lost() for _ in range(100)]


def runs_of_losses(flags):
    runs, current = [], 0
    for flag in flags:
        if flag:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    return runs


def test_gilbert_elliott_is_bursty():
    import random
    n = 100000
    model = GilbertElliottLoss(0.01, 0.2, 0.0, 1.0, random.Random(4))
    flags = [model.lost() for _ in range(n)]
    rate = sum(flags) / n
    assert rate == pytest.approx(model.stationary_loss, rel=0.15)          # 0.01/0.21 = 4.8 %
    mean_burst = statistics.mean(runs_of_losses(flags))
    assert mean_burst == pytest.approx(1 / 0.2, rel=0.15)                   # bursts of ~5
    bernoulli = BernoulliLoss(rate, random.Random(4))
    bernoulli_burst = statistics.mean(runs_of_losses([bernoulli.lost() for _ in range(n)]))
    assert bernoulli_burst < 1.2 < mean_burst


def test_gilbert_elliott_through_the_shaper():
    shaper = DirectionShaper(spec(loss_model="gilbert-elliott", ge_p_good_bad=0.05, ge_p_bad_good=0.5,
                                  ge_loss_good=0.0, ge_loss_bad=1.0, seed=2))
    feed(shaper, [i * 1e-4 for i in range(20000)])
    assert shaper.lost_packets / 20000 == pytest.approx(0.05 / 0.55, rel=0.2)


# --- recorders ------------------------------------------------------------------------------------
def test_second_bins_and_mahimahi_log(tmp_path):
    from topo.emulator.recorders import Fanout, MahimahiLog, SecondBins, SummaryCsv
    bins = SecondBins("uplink", 100.0)
    log = MahimahiLog(tmp_path / "l-uplink.log", "l uplink", "trace", 100.0)
    shaper = DirectionShaper(spec(rate_bps=12e6, queue_limit_packets=1), 100.0, Fanout([bins, log]),
                             on_opportunity=None)
    feed(shaper, [100.0, 100.0, 100.0, 101.5])
    bins.add_lateness(1, [20e-6, 10e-6, 900e-6])
    summary = SummaryCsv(tmp_path / "s.csv", [bins], process_by_second={1: [0.125, 30.0, 6.5, 7000.0, None]})
    summary.close()
    log.close()
    rows = (tmp_path / "s.csv").read_text().splitlines()
    assert rows[0].startswith("second,direction,offered_bytes,delivered_bytes,dropped_bytes")
    assert rows[1].split(",")[:5] == ["0", "uplink", "4500", "3000", "1500"]
    assert rows[0].endswith("lateness_p99_us,cpu_fraction,steal_ms,gc_ms,wake_delay_max_us,send_max_us")
    assert rows[1].split(",")[8:] == ["1.000", "2.000"] + [""] * 7  # no lateness, no process sample that second
    assert rows[2].split(",")[:5] == ["1", "uplink", "1500", "1500", "0"]
    assert rows[2].split(",")[10:] == ["20.000", "900.000", "0.125", "30.000", "6.500", "7000.000", ""]
    lines = (tmp_path / "l-uplink.log").read_text().splitlines()
    assert lines[1] == "# base timestamp: 100000"
    assert "100000 + 1500" in lines and "100000 d 1500" in lines and "100002 - 1500 2" in lines
