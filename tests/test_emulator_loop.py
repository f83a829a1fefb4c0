"""The I/O loop on fake sockets and fake time: what lateness counts, and where it says it came from."""
import csv
import gc
import json
import math
import os

import pytest

from topo.emulator import io_loop, wakeup
from topo.emulator.config import EmulatorConfig
from topo.emulator.io_loop import LinkEmulator
from topo.emulator.measurements import GcPauses, HostSteal, nearest_rank, read_steal_ticks
from topo.emulator.wakeup import Waiter
from topo.profiles import DirectionSpec

FRAME = b"\x00" * 12 + b"\x08\x00" + b"\x45" + b"\x00" * 11 + bytes([10, 0, 0, 1, 10, 0, 0, 2]) + b"x" * 100


class FakeWorld:
    """Time moves only in select (to the next arrival, or the timeout plus ``oversleep_s``) and in send."""

    def __init__(self, send_cost_s=0.0, oversleep_s=0.0, stop_at_s=math.inf):
        self.now_s = 1000.0
        self.send_cost_s, self.oversleep_s, self.stop_at_s = send_cost_s, oversleep_s, stop_at_s
        self.emulator = None

    def clock(self):
        return self.now_s

    def select(self, rlist, _w, _x, timeout_s):
        ready_s = min((s.next_arrival_s() for s in rlist), default=math.inf)
        if ready_s <= self.now_s + timeout_s:
            self.now_s = max(self.now_s, ready_s) + (1e-6 if timeout_s == 0 else 0.0)
        else:
            self.now_s += timeout_s + (self.oversleep_s if timeout_s > 0 else 1e-6)
        if self.now_s >= self.stop_at_s:
            self.emulator.stop_requested = True
        return [s for s in rlist if s.next_arrival_s() <= self.now_s], [], []


class FakeSocket:
    def __init__(self, world, arrivals_s=()):
        self.world = world
        self.frames = [(t, FRAME) for t in arrivals_s]
        self.sent = []   # (time handed over, frame)

    def next_arrival_s(self):
        return self.frames[0][0] if self.frames else math.inf

    def recv_into(self, buffer):
        if not self.frames or self.frames[0][0] > self.world.now_s:
            raise BlockingIOError
        _, frame = self.frames.pop(0)
        buffer[:len(frame)] = frame
        return len(frame)

    def send(self, frame):
        self.sent.append((self.world.now_s, frame))
        self.world.now_s += self.world.send_cost_s
        return len(frame)


def emulator_on(world, tmp_path, up_arrivals_s, spec=None):
    spec = spec or DirectionSpec(delay_ms=10)
    config = EmulatorConfig("t", "fake0", "fake1", spec, spec, log_dir=str(tmp_path))
    emulator = LinkEmulator(config, clock=world.clock, select_fn=world.select)
    world.emulator = emulator
    up, down = FakeSocket(world, up_arrivals_s), FakeSocket(world)
    emulator.sockets = [(up, True), (down, True)]
    return emulator, up, down


def run(emulator):
    try:
        emulator.run()
    finally:
        emulator.gc_pauses.close()
        emulator.recorders.close()


def test_lateness_is_counted_from_the_hand_over_not_after_the_send(tmp_path):
    """Three frames due together, each send taking 0.5 ms (the receiver's kernel work inside it):
    the first is handed over on time, the others wait for the sends before them."""
    world = FakeWorld(send_cost_s=0.0005, stop_at_s=1000.2)
    emulator, _up, down = emulator_on(world, tmp_path, [1000.001] * 3)
    run(emulator)
    handed = [t for t, _ in down.sent]
    assert len(handed) == 3 and handed[0] == pytest.approx(1000.011, abs=5e-6)
    record = emulator.recorders.lateness["uplink"].record()
    assert record["packets"] == 3
    assert record["p50_ms"] == pytest.approx(0.5, abs=0.01) and record["max_ms"] == pytest.approx(1.0, abs=0.01)
    assert emulator.lateness_sources(world.now_s)["send_max_ms"] == pytest.approx(0.5, abs=0.01)


def test_a_late_wake_up_is_recorded_as_the_wake_delay(tmp_path):
    world = FakeWorld(oversleep_s=0.003, stop_at_s=1000.5)
    emulator, _up, down = emulator_on(world, tmp_path, [1000.001])
    run(emulator)
    assert len(down.sent) == 1
    sources = emulator.lateness_sources(world.now_s)
    assert sources["wake_delay_max_ms"] == pytest.approx(3.0, abs=0.01)
    late_ms = (3.0 - wakeup.EARLY_S * 1000)  # the first half of the split sleep ended EARLY_S before the release
    assert emulator.recorders.lateness["uplink"].record()["max_ms"] == pytest.approx(late_ms, abs=0.01)


def test_summary_is_written_in_a_gap_or_half_a_second_late_and_has_the_process_columns(tmp_path, monkeypatch):
    """A frame every 0.5 ms for 2.6 s: there is never a 2 ms gap, so each second's summary is written
    WRITE_POSTPONE_MAX_S after it closed, not in the middle of releases; the rest at exit."""
    world = FakeWorld(stop_at_s=1002.7)
    arrivals = [1000.0 + i * 0.0005 for i in range(1, 5200)]
    emulator, _up, down = emulator_on(world, tmp_path, arrivals)
    writes = []
    original = emulator._write_closed
    def spy(now_s):
        writes.append((now_s, [closed[0] for closed in emulator._closed]))
        original(now_s)
    monkeypatch.setattr(emulator, "_write_closed", spy)
    run(emulator)
    assert len(down.sent) > 5100
    in_loop = writes[:-1]
    assert len(in_loop) == 2
    for now_s, closed_at in in_loop:
        assert now_s - closed_at[0] == pytest.approx(io_loop.WRITE_POSTPONE_MAX_S, abs=0.001)
    with open(tmp_path / "t-summary.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["direction"] == "uplink"]
    assert [r["second"] for r in rows][:2] == ["0", "1"]
    assert all(r["cpu_fraction"] != "" and r["gc_ms"] != "" and r["wake_delay_max_us"] != "" for r in rows[:2])
    assert int(rows[0]["delivered_packets"]) == 1999  # left the rate service (unlimited) in second 0
    assert float(rows[1]["lateness_p99_us"]) < 10


def test_idle_link_writes_its_summary_at_once(tmp_path, monkeypatch):
    world = FakeWorld(stop_at_s=1001.3)
    emulator, _up, _down = emulator_on(world, tmp_path, [])
    writes = []
    original = emulator._write_closed
    monkeypatch.setattr(emulator, "_write_closed", lambda now_s: (writes.append(now_s), original(now_s)))
    run(emulator)
    assert writes[0] == pytest.approx(1001.0, abs=0.06)  # the first interval closed at 1 s, nothing due


def test_counters_name_where_lateness_came_from(tmp_path):
    world = FakeWorld(stop_at_s=1000.2)
    emulator, _up, _down = emulator_on(world, tmp_path, [1000.001])
    run(emulator)
    emulator.sockets = []
    emulator.close()
    counters = json.loads((tmp_path / "t-counters.json").read_text())
    assert set(counters["lateness_sources"]) == {"host_steal_ms", "host_steal_ms_per_s", "gc_collections", "gc_ms",
                                                 "gc_max_ms", "wake_delay_max_ms", "send_max_ms"}


def test_host_steal_reads_the_steal_column(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  10 0 5 100 0 0 1 7 0 0\ncpu0 5 0 2 50 0 0 0 3 0 0\n")
    assert read_steal_ticks(str(stat)) == 7
    steal = HostSteal(str(stat))
    stat.write_text("cpu  10 0 5 100 0 0 1 19 0 0\n")
    assert steal.sample() == pytest.approx(12 * 1000 / os.sysconf("SC_CLK_TCK"))
    assert steal.sample() == 0
    assert HostSteal(str(tmp_path / "absent")).sample() is None


def test_gc_pauses_are_timed_and_the_hook_removed():
    pauses = GcPauses()
    try:
        gc.collect()
        total_s, longest_s = pauses.take()
        assert pauses.collections >= 1 and total_s > 0 and 0 < longest_s <= total_s
        assert pauses.take() == (0.0, 0.0)
    finally:
        pauses.close()
    assert pauses._callback not in gc.callbacks


def test_waiter_records_how_late_a_timed_sleep_ended():
    world = FakeWorld(oversleep_s=0.0007)
    waiter = Waiter(world.clock, lambda r, w, x, t: world.select([], w, x, t))
    waiter.wait([], world.now_s + 0.010)
    assert waiter.wake_delay_max_s == pytest.approx(0.0007)


def test_nearest_rank_matches_the_sorted_definition():
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert nearest_rank(values, (0.5, 0.99, 0.0)) == [3.0, 5.0, 1.0]
    assert all(math.isnan(v) for v in nearest_rank([], (0.5,)))
