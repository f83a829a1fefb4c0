"""How the emulator waits (no busy polling), what it measures about itself, and per-address bytes."""
import math
import os
import socket

import pytest

from topo.emulator import wakeup
from topo.emulator.direction_shaper import DirectionShaper
from topo.emulator.measurements import LatenessHistogram, ProcessCpu
from topo.emulator.packet import Packet
from topo.emulator.source_bins import SourceBins, address_key
from topo.emulator.wakeup import Waiter
from topo.profiles import DirectionSpec


class FakeTime:
    """A clock that only moves when the fake ``select`` sleeps (or a poll costs ``poll_cost_s``)."""

    def __init__(self, poll_cost_s=1e-6, oversleep_s=0.0):
        self.now_s = 100.0
        self.calls = []
        self.poll_cost_s, self.oversleep_s = poll_cost_s, oversleep_s

    def clock(self):
        return self.now_s

    def select(self, rlist, _w, _x, timeout_s):
        self.calls.append((list(rlist), timeout_s))
        self.now_s += timeout_s + (self.oversleep_s if timeout_s > 0 else self.poll_cost_s)
        return [], [], []


def test_idle_link_sleeps_without_polling():
    fake = FakeTime()
    waiter = Waiter(fake.clock, fake.select)
    for _ in range(20):
        waiter.wait(["sock"], math.inf)  # nothing due: one 50 ms sleep per turn, sockets watched
    assert all(timeout == wakeup.MAX_WAIT_S and rlist == ["sock"] for rlist, timeout in fake.calls)


def test_long_wait_is_split_and_ends_on_time_with_few_polls():
    fake = FakeTime(oversleep_s=20e-6)
    waiter = Waiter(fake.clock, fake.select)
    target = fake.now_s + 0.010
    while fake.now_s < target:
        waiter.wait(["sock"], target)
    assert fake.calls[0][1] == pytest.approx(0.010 - wakeup.EARLY_S)
    assert fake.calls[1][1] == pytest.approx(wakeup.EARLY_S - 20e-6 - wakeup.SPIN_S)
    polls = [c for c in fake.calls if c[1] == 0]
    assert len(polls) <= wakeup.SPIN_S / fake.poll_cost_s + 1  # polling only covers the last SPIN_S
    assert 0 <= fake.now_s - target < 5e-6


def test_busy_link_batches_wakeups():
    fake = FakeTime()
    waiter = Waiter(fake.clock, fake.select, stamped=True)
    readable = waiter.wait(["a", "b"], fake.now_s + 50e-6)  # due in 50 us: sleep MIN_SLEEP_S, sockets not watched
    assert fake.calls == [([], wakeup.MIN_SLEEP_S)] and readable == ["a", "b"]
    fake.calls.clear()
    Waiter(fake.clock, fake.select).wait(["a"], fake.now_s + 50e-6)  # no kernel stamps: watch the sockets
    assert fake.calls == [(["a"], wakeup.MIN_SLEEP_S)]


def test_due_now_only_polls():
    fake = FakeTime()
    waiter = Waiter(fake.clock, fake.select)
    waiter.wait(["a"], fake.now_s - 1)
    assert fake.calls == [(["a"], 0)] and waiter.wakeups == 0


def test_scheduling_record_says_what_was_got(monkeypatch):
    monkeypatch.setattr(os, "sched_setscheduler", lambda *a: (_ for _ in ()).throw(PermissionError(1, "denied")))
    record = wakeup.request_scheduling(10)
    assert record["requested"] == "SCHED_FIFO" and "SCHED_FIFO refused: denied" in record["error"]
    assert record["policy"] in ("SCHED_OTHER", "SCHED_FIFO", "SCHED_RR") and "priority" in record
    monkeypatch.setenv(wakeup.FIFO_ENV, "0")
    assert wakeup.request_scheduling()["requested"] == "SCHED_OTHER"


def test_lateness_histogram_percentiles():
    histogram = LatenessHistogram()
    assert histogram.record() == {"packets": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    histogram.add_all([i * 1e-6 for i in range(1, 100)] + [0.050])  # 1..99 us, then one 50 ms outlier
    record = histogram.record()
    assert record["packets"] == 100
    assert record["p50_ms"] == pytest.approx(0.051, abs=0.0011)
    assert record["p99_ms"] == pytest.approx(0.100, abs=0.0011)
    assert record["max_ms"] == pytest.approx(50.0)
    histogram.add_all([0.030] * 200)  # beyond the 1 us bins: exact values
    assert histogram.percentile_s(0.99) == pytest.approx(0.030)


def test_process_cpu_counts_work():
    cpu = ProcessCpu(0.0)
    sum(i * i for i in range(300_000))
    assert cpu.sample(1.0) > 0  # some CPU went by over "1 s"


def frame(src, dst, payload=b"x" * 50):
    return b"\x00" * 12 + b"\x08\x00" + b"\x45" + b"\x00" * 11 + socket.inet_aton(src) + socket.inet_aton(dst) + payload


def test_source_bins_count_each_pair_per_interval():
    bins = SourceBins("uplink")
    for src in ("10.0.1.1", "10.0.1.2", "10.0.1.1"):
        bins.offered(address_key(frame(src, "10.0.2.2")), 100)
    bins.sent(address_key(frame("10.0.1.1", "10.0.2.2")), 100)
    bins.offered(address_key(b"\x00" * 12 + b"\x08\x06" + b"\x00" * 28), 28)  # ARP
    rows = bins.take_rows(3)
    assert rows == [[3, "uplink", "-", "-", 1, 28, 0, 0],
                    [3, "uplink", "10.0.1.1", "10.0.2.2", 2, 200, 1, 100],
                    [3, "uplink", "10.0.1.2", "10.0.2.2", 1, 100, 0, 0]]
    assert bins.take_rows(4) == []
    totals = {t["source_ip"]: t for t in bins.totals()}
    assert totals["10.0.1.1"]["offered_bytes"] == 200 and totals["10.0.1.2"]["sent_packets"] == 0


def test_next_release_skips_rate_service_wakeups_within_the_delay():
    shaper = DirectionShaper(DirectionSpec(rate_bps=8e6, delay_ms=20), 0.0)
    for i in range(10):
        shaper.accept(Packet(0.0, 1000), 0.0)
    # the first departure is at 1 ms, its release at 21 ms: nothing can leave before then
    assert shaper.next_event_s() == pytest.approx(0.001)
    assert shaper.next_release_s() == pytest.approx(0.021)
    out = []
    shaper.pop_due(0.0215, out)  # catching up late changes no virtual departure
    assert [round(r, 6) for r, _ in out] == [0.021]
    shaper.pop_due(0.0305, out)
    assert [round(r, 6) for r, _ in out] == [round(0.021 + 0.001 * i, 6) for i in range(10)]


def test_next_release_with_jitter_is_not_postponed():
    shaper = DirectionShaper(DirectionSpec(rate_bps=8e6, delay_ms=20, jitter_ms=5), 0.0)
    shaper.accept(Packet(0.0, 1000), 0.0)
    assert shaper.next_release_s() == pytest.approx(0.001)  # jitter can shorten the delay: no lower bound
