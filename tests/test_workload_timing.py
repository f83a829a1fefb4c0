"""A device keeps its schedule on a loaded machine (nodes.device_timing): the shared start line, the event loop
whose timers are not rounded up to a millisecond, real-time scheduling and what the device reports it got."""
from __future__ import annotations

import asyncio
import csv
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nodes.arrivals import poisson_offsets_ns
from nodes.device_timing import NoStartLine, parse_scheduling, precise_loop, request_realtime, start_line, \
    wait_for_start
from nodes.launch import NodeProcess

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(300)


def test_the_start_line_is_read_after_ready_and_anything_else_is_one_clear_error():
    out = io.StringIO()
    line = start_line(0.5).decode()
    assert wait_for_start(io.StringIO(line), out) == int(line.split()[1]) and out.getvalue() == "ready\n"
    assert int(line.split()[1]) - time.monotonic_ns() > 0.4e9
    with pytest.raises(NoStartLine, match="stdin closed"):
        wait_for_start(io.StringIO(""), io.StringIO())
    with pytest.raises(NoStartLine, match="expected 'start NS'.*'go'"):
        wait_for_start(io.StringIO("go\n"), io.StringIO())


def test_the_devices_loop_wakes_within_a_millisecond_not_at_the_next_whole_one():
    """asyncio's epoll loop rounds each wait up to whole ms: 2.1 ms sleeps end >= 0.9 ms late, every one of them."""
    async def late_ms() -> list[float]:
        out = []
        for _ in range(30):
            due = time.monotonic_ns() + 2_100_000
            await asyncio.sleep(0.0021)
            out.append((time.monotonic_ns() - due) / 1e6)
        return out

    with asyncio.Runner(loop_factory=precise_loop) as runner:
        assert min(runner.run(late_ms())) < 0.5


def test_what_scheduling_a_device_got_is_reported():
    got = request_realtime(0)
    assert got["policy"] == "SCHED_OTHER" and not got["error"]
    assert parse_scheduling("scheduling SCHED_FIFO 5 nice 0") == "SCHED_FIFO 5 nice 0"
    assert parse_scheduling("progress 1 2") is None


@pytest.fixture(scope="module")
def cloud(models_dir, tmp_path_factory):
    with NodeProcess("cloud", ["--models", str(models_dir), "--threads", "1"],
                     log_dir=tmp_path_factory.mktemp("timing-cloud")) as node:
        yield node


def start_workload(cloud, tmp_path: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nodes.workload", "--url", cloud.url, "--model", "cloudcnn",
                             "--sizes", "8K", "--images-dir", str(tmp_path / "images"), "--out",
                             str(tmp_path / "rows.csv"), *args], cwd=REPO, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def until_ready(proc: subprocess.Popen) -> list[str]:
    lines = []
    for raw in proc.stdout:
        lines.append(raw.decode().strip())
        if lines[-1] == "ready":
            return lines
    raise AssertionError(proc.stderr.read().decode())


def rows_of(tmp_path: Path) -> list[dict]:
    with open(tmp_path / "rows.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_an_open_schedule_starts_at_the_start_line_in_real_time(cloud, tmp_path):
    proc = start_workload(cloud, tmp_path, "--rate-hz", "20", "--duration-s", "0.6", "--seed", "4",
                          "--start-line", "--realtime-priority", "5")
    try:
        lines = until_ready(proc)
        time.sleep(0.3)  # a device waiting for its start sends nothing
        line = start_line(0.2)
        proc.stdin.write(line)
        proc.stdin.close()
        assert proc.wait(60) == 0, proc.stderr.read().decode()
    finally:
        proc.kill()
    start_ns = int(line.split()[1])
    rows = sorted(rows_of(tmp_path), key=lambda r: int(r["scheduled_ns"]))
    offsets = poisson_offsets_ns(20, 4, duration_s=0.6)
    assert np.array_equal(np.array([int(r["scheduled_ns"]) for r in rows]), start_ns + offsets)
    assert all(int(r["send_start_ns"]) >= start_ns for r in rows)
    (scheduling,) = [parse_scheduling(x) for x in lines if parse_scheduling(x) is not None]
    expected = "SCHED_FIFO 5" if os.geteuid() == 0 else "SCHED_OTHER"  # without CAP_SYS_NICE: refused, said why
    assert scheduling.startswith(expected), scheduling


def test_a_closed_loop_counts_its_duration_from_the_start_line(cloud, tmp_path):
    proc = start_workload(cloud, tmp_path, "--duration-s", "0.5", "--think-ms", "50", "--start-line")
    try:
        until_ready(proc)
        time.sleep(0.6)  # longer than the duration: counted from the start line, not from the process start
        line = start_line(0.1)
        proc.stdin.write(line)
        proc.stdin.close()
        assert proc.wait(60) == 0, proc.stderr.read().decode()
    finally:
        proc.kill()
    rows = rows_of(tmp_path)
    assert len(rows) >= 3 and int(rows[0]["scheduled_ns"]) == int(line.split()[1])
    assert all(r["status"] == "200" for r in rows)


def test_a_device_whose_harness_went_before_the_start_says_so(cloud, tmp_path):
    proc = start_workload(cloud, tmp_path, "--rate-hz", "5", "--start-line")
    try:
        until_ready(proc)
        proc.stdin.close()
        assert proc.wait(30) == 2
        assert "stdin closed before the start line" in proc.stderr.read().decode()
    finally:
        proc.kill()
    assert not (tmp_path / "rows.csv").exists()  # no request was sent
