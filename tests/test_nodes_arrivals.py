"""Arrival schedules (nodes.arrivals) and the loops that follow them, without a server: Poisson statistics for
fixed seeds, arrival-file errors naming file:line, the closed loop's think time, the open loop sending on
schedule whatever the replies do, and the lateness of an overloaded client."""
from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nodes.arrivals import MAX_ARRIVALS, ThinkTime, before, lateness_ms, parse_arrivals, poisson_offsets_ns, \
    read_arrivals
from nodes.client import on_schedule
from nodes.errors import NodeConfigError
from nodes.workload import RowRecorder, closed

REPO = Path(__file__).resolve().parent.parent


# --- Poisson ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate_hz, seed", [(20.0, 0), (0.5, 7), (1000.0, 42)])
def test_poisson_gaps_have_the_exponential_mean_and_variance(rate_hz, seed):
    n = 40_000
    gaps_s = np.diff(poisson_offsets_ns(rate_hz, seed, count=n), prepend=0) / 1e9
    mean_s, var_s2 = 1 / rate_hz, 1 / rate_hz ** 2
    # 4 standard errors: the sample mean's is mean/sqrt(n); the sample variance's sqrt(8)*var/sqrt(n)
    assert abs(gaps_s.mean() - mean_s) < 4 * mean_s / math.sqrt(n)
    assert abs(gaps_s.var() - var_s2) < 4 * math.sqrt(8) * var_s2 / math.sqrt(n)
    assert np.all(gaps_s >= 0) and gaps_s[0] > 0  # the first arrival is one gap after the start


def test_poisson_counts_in_a_window_have_mean_and_variance_rate_times_duration():
    rate_hz, duration_s, seeds = 5.0, 10.0, 400
    counts = np.array([len(poisson_offsets_ns(rate_hz, seed, duration_s=duration_s)) for seed in range(seeds)])
    expected = rate_hz * duration_s
    assert abs(counts.mean() - expected) < 4 * math.sqrt(expected / seeds)
    dispersion = counts.var(ddof=1) / counts.mean()  # 1 for Poisson; its standard error is about sqrt(2/(seeds-1))
    assert abs(dispersion - 1) < 4 * math.sqrt(2 / (seeds - 1))


def test_a_seed_gives_one_schedule_whichever_bound_is_used():
    by_count = poisson_offsets_ns(50.0, 3, count=2000)
    by_duration = poisson_offsets_ns(50.0, 3, duration_s=10.0)
    assert np.all(by_duration < 10e9) and len(by_duration) > 400
    assert np.array_equal(by_duration, by_count[:len(by_duration)])  # also past the first drawn chunk
    assert np.array_equal(poisson_offsets_ns(50.0, 3, count=100), by_count[:100])
    assert not np.array_equal(poisson_offsets_ns(50.0, 4, count=100), by_count[:100])
    assert by_count.dtype == np.int64 and np.all(np.diff(by_count) >= 0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(rate_hz=0, seed=0, count=5), "must be a number > 0"),
    (dict(rate_hz=float("nan"), seed=0, count=5), "must be a number > 0"),
    (dict(rate_hz=-1, seed=0, duration_s=5), "must be a number > 0"),
    (dict(rate_hz=1, seed=0), "exactly one of"),
    (dict(rate_hz=1, seed=0, count=5, duration_s=5), "exactly one of"),
    (dict(rate_hz=1, seed=0, count=0), "1.."),
    (dict(rate_hz=1, seed=0, duration_s=0), "must be > 0"),
    (dict(rate_hz=1e6, seed=0, duration_s=10), "lower the rate or the duration"),
])
def test_bad_poisson_settings_are_refused(kwargs, message):
    with pytest.raises(NodeConfigError, match=message):
        poisson_offsets_ns(**kwargs)


# --- arrival files -----------------------------------------------------------------------------------------------
def test_an_arrival_file_with_comments_blank_lines_and_ties():
    text = "# device 3, from a trace\n\n0\n0.5  # half a second\n0.5\n  2.25\n\n1e1\n"
    offsets = parse_arrivals(text, "a.txt")
    assert offsets.tolist() == [0, 500_000_000, 500_000_000, 2_250_000_000, 10_000_000_000]
    assert before(offsets, 2.25).tolist() == [0, 500_000_000, 500_000_000]
    assert before(offsets, 0).tolist() == offsets.tolist()  # 0: no cut


@pytest.mark.parametrize("text, line, message", [
    ("0.1\nabc\n", 2, "'abc' is not a send time in seconds"),
    ("0.1\n0.2\n0.15\n", 3, "must not decrease"),
    ("# header\n-1\n", 2, "finite number of seconds >= 0"),
    ("1\nnan\n", 2, "finite number"),
    ("1\ninf\n", 2, "finite number"),
    ("time_s\n1\n", 1, "is not a send time"),
    ("1,2\n", 1, "is not a send time"),
])
def test_a_malformed_arrival_file_names_the_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "arrivals.txt"
    path.write_text(text)
    with pytest.raises(NodeConfigError) as error:
        read_arrivals(path)
    assert str(error.value).startswith(f"{path}:{line}: ") and message in str(error.value)
    assert "\n" not in str(error.value)


def test_an_empty_missing_or_binary_arrival_file_is_named(tmp_path):
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    (tmp_path / "binary.bin").write_bytes(b"\xff\xfe\x00\x81" * 10)
    for name, message in (("empty.txt", "no send time in it"), ("missing.txt", "cannot read it"),
                          ("binary.bin", "not a text file")):
        with pytest.raises(NodeConfigError, match=message) as error:
            read_arrivals(tmp_path / name)
        assert str(tmp_path / name) in str(error.value)


def test_too_many_send_times_are_refused():
    with pytest.raises(NodeConfigError, match="more than"):
        parse_arrivals("0\n" * (MAX_ARRIVALS + 1), "big.txt")


# --- think time and lateness ---------------------------------------------------------------------------------------
def test_think_time_is_checked_and_counts_from_the_reply():
    assert ThinkTime(0).due_ns(1_000) == 1_000 and ThinkTime(2.5).due_ns(1_000) == 2_501_000
    for bad in (-1, float("nan"), float("inf"), "5"):
        with pytest.raises(NodeConfigError, match="think time"):
            ThinkTime(bad)
    assert lateness_ms(3_500_000, 1_000_000) == 2.5 and lateness_ms("", 1) == "" and lateness_ms(5, None) == ""


class FakeClient:
    """``infer_image`` as the real client's: a row with send and reply stamps; the "server" takes
    ``service_s``; ``busy_s`` blocks the event loop before each send (an overloaded device)."""

    def __init__(self, service_s: float, busy_s: float = 0.0):
        self.service_s, self.busy_s = service_s, busy_s
        self.in_flight = self.most_in_flight = 0

    async def infer_image(self, jpeg: bytes, request_id: str) -> dict:
        if self.busy_s:
            time.sleep(self.busy_s)  # CPU work on the loop, as encoding a big body is
        row = {"request_id": request_id, "size_bytes": len(jpeg), "send_start_ns": time.monotonic_ns(),
               "status": 200, "error": ""}
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(self.service_s)
        self.in_flight -= 1
        row["reply_complete_ns"] = time.monotonic_ns()
        return row


class ListSink:
    def __init__(self):
        self.rows = []

    def write(self, row):
        self.rows.append(dict(row))


def run_closed(think_ms: float, repetitions: int = 3) -> list[dict]:
    sink = ListSink()

    async def go():
        recorder = RowRecorder(sink, total=2 * repetitions)
        await closed(FakeClient(0.02), [(1, b"a"), (2, b"bb")], repetitions, 0.0, "t", recorder,
                     ThinkTime(think_ms), device="ue4")
    asyncio.run(go())
    return sink.rows


@pytest.mark.parametrize("think_ms", [0.0, 60.0])
def test_the_closed_loop_waits_the_think_time_after_each_reply(think_ms):
    rows = run_closed(think_ms)
    assert [r["request_id"] for r in rows] == ["t-1-0", "t-2-0", "t-1-1", "t-2-1", "t-1-2", "t-2-2"]
    assert {r["device"] for r in rows} == {"ue4"} and {r["pattern"] for r in rows} == {"closed"}
    assert rows[0]["scheduled_ns"] == rows[0]["send_start_ns"] and rows[0]["schedule_lateness_ms"] == 0
    for previous, row in zip(rows, rows[1:]):
        assert row["scheduled_ns"] == previous["reply_complete_ns"] + int(think_ms * 1e6)
        assert row["send_start_ns"] - previous["reply_complete_ns"] >= think_ms * 1e6  # never before it is due
        assert 0 <= row["schedule_lateness_ms"] < 50  # and not long after
    idle_ms = [(b["send_start_ns"] - a["reply_complete_ns"]) / 1e6 for a, b in zip(rows, rows[1:])]
    assert np.median(idle_ms) < think_ms + 20  # a think time of 0 sends at once


def run_open(offsets_ns, client: FakeClient) -> list[dict]:
    async def go():
        return await on_schedule(client, [(1, b"a")], offsets_ns, run_id="o")
    return asyncio.run(go())


def test_the_open_loop_keeps_its_schedule_whatever_the_replies_do():
    offsets_ns = np.arange(20, dtype=np.int64) * 20_000_000  # every 20 ms, replies take 200 ms
    client = FakeClient(0.2)
    rows = run_open(offsets_ns, client)
    assert client.most_in_flight >= 8  # requests overlap: no send waited for a reply
    scheduled = np.array([r["scheduled_ns"] for r in rows])
    assert np.array_equal(scheduled - scheduled[0], offsets_ns)
    lateness = np.array([r["schedule_lateness_ms"] for r in rows])
    assert np.all(lateness >= 0) and np.median(lateness) < 10
    assert {r["pattern"] for r in rows} == {"open"}


def test_an_overloaded_client_shows_in_its_lateness():
    offsets_ns = np.arange(20, dtype=np.int64) * 5_000_000  # 200 per second; each send costs the device 15 ms
    rows = run_open(offsets_ns, FakeClient(0.01, busy_s=0.015))
    lateness = [r["schedule_lateness_ms"] for r in rows]
    assert lateness[-1] > 150 and lateness[-1] > lateness[len(lateness) // 2] > lateness[0]


# --- the workload's arrival options: one line each, before any image is made or request sent ----------------------
@pytest.mark.parametrize("extra, message", [
    (["--think-ms", "5", "--rate-hz", "2"], "--think-ms and --rate-hz together: choose one arrival pattern"),
    (["--rate-hz", "2", "--arrivals", "ARRIVALS"], "--rate-hz and --arrivals together"),
    (["--arrivals", "ARRIVALS", "--repetitions", "2"], "drop --repetitions"),
    (["--arrivals", "BAD"], "bad.txt:3: 'x' is not a send time"),
    (["--arrivals", "ARRIVALS", "--duration-s", "0.05"], "no send time before --duration-s 0.05"),
    (["--rate-hz", "0"], "--rate-hz 0 must be > 0"),
    (["--rate", "-1"], "--rate-hz -1 must be > 0"),
    (["--think-ms", "-3"], "think time -3.0 ms must be a number >= 0"),
    (["--device", "ue 1"], "--device 'ue 1'"),
])
def test_workload_arrival_options_fail_in_one_line(tmp_path, extra, message):
    (tmp_path / "arrivals.txt").write_text("0.1\n0.2\n")
    (tmp_path / "bad.txt").write_text("0.1\n# fine\nx\n")
    paths = {"ARRIVALS": str(tmp_path / "arrivals.txt"), "BAD": str(tmp_path / "bad.txt")}
    done = subprocess.run([sys.executable, "-m", "nodes.workload", "--url", "http://127.0.0.1:9", "--model", "m",
                           "--sizes", "20K", "--out", str(tmp_path / "rows.csv"), *[paths.get(a, a) for a in extra]],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr, done.stderr
