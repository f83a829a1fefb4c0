"""The harness starts many devices' schedules together (harness.experiments.compare.device_workload): each says it
is ready, all get the same start once every one is, an open loop runs real-time, and what each device got is
recorded beside its rows; a device that fails before it is ready does not hold the others back."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import time

import numpy as np
import pytest

from harness.errors import HarnessError
from harness.experiments.compare.device_workload import Workload, read_start_record, rows_file, run_workloads
from nodes.arrivals import poisson_offsets_ns
from nodes.launch import NodeProcess

pytestmark = pytest.mark.timeout(300)


class LoopbackNet:
    """``net.popen`` without a network: every device on this host (loopback), optionally one broken device."""

    def __init__(self, broken: str = ""):
        self.broken = broken

    def popen(self, host: str, argv: list[str], what: str, **kwargs) -> subprocess.Popen:
        if host == self.broken:
            argv = [*argv, "--sizes", "nonsense"]  # fails its set-up: exit 2 before it is ready
        return subprocess.Popen(argv, **kwargs)


@pytest.fixture(scope="module")
def cloud(models_dir, tmp_path_factory):
    with NodeProcess("cloud", ["--models", str(models_dir), "--threads", "1"],
                     log_dir=tmp_path_factory.mktemp("devices-cloud")) as node:
        yield node


def rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_devices_start_together_once_all_are_ready_and_say_what_they_got(cloud, tmp_path):
    workload = Workload(url=cloud.url, model="cloudcnn", sizes=("8K",), tag="t", seed=3, devices=3,
                        duration_s=1.0, rate_hz=6)
    started_ns = []
    outs = run_workloads(LoopbackNet(), workload, tmp_path, "cloud", "test",
                         on_start=lambda: started_ns.append(time.monotonic_ns()))
    assert len(started_ns) == 1 and outs == [rows_file(tmp_path, "cloud", i, 3) for i in (1, 2, 3)]
    starts = set()
    for index, out in enumerate(outs, 1):
        mine = sorted(rows(out), key=lambda r: int(r["scheduled_ns"]))
        offsets = poisson_offsets_ns(6, 3 + index - 1, duration_s=1.0)
        scheduled = np.array([int(r["scheduled_ns"]) for r in mine])
        assert len(mine) == len(offsets) and all(r["status"] == "200" and r["device"] == f"ue{index}" for r in mine)
        starts |= set((scheduled - offsets).tolist())  # every device's schedule counts from the same instant
        assert all(int(r["send_start_ns"]) > started_ns[0] for r in mine)  # nothing before the shared start
    (start,) = starts
    record = read_start_record(tmp_path, "cloud")
    assert start > started_ns[0] and record["start_ns"] == start
    assert record["devices_cpu_reported"] == 3 and 0 < record["devices_cpu_s"] < 3  # the schedules' own CPU
    assert record["ready"] == 3 and record["realtime_priority_requested"] == 5 and record["setup_s"] > 0
    expected = "SCHED_FIFO 5" if os.geteuid() == 0 else "SCHED_OTHER"
    assert set(record["scheduling"]) == {"ue1", "ue2", "ue3"}
    assert all(got.startswith(expected) for got in record["scheduling"].values()), record


def test_a_closed_loop_starts_together_in_real_time_and_keep_time_off_is_as_before(cloud, tmp_path):
    workload = Workload(url=cloud.url, model="cloudcnn", sizes=("8K",), tag="t", devices=2, repetitions=2)
    assert workload.realtime_priority == 5 and "--start-line" in workload.argv(1, tmp_path / "x.csv")
    run_workloads(LoopbackNet(), workload, tmp_path, "cloud", "test")
    record = read_start_record(tmp_path, "cloud")
    expected = "SCHED_FIFO 5" if os.geteuid() == 0 else "SCHED_OTHER"
    assert all(got.startswith(expected) for got in record["scheduling"].values()), record
    assert all(len(rows(rows_file(tmp_path, "cloud", i, 2))) == 2 for i in (1, 2))
    firsts = [min(int(r["scheduled_ns"]) for r in rows(rows_file(tmp_path, "cloud", i, 2))) for i in (1, 2)]
    assert firsts == [record["start_ns"]] * 2  # a closed loop's first request is due at the shared start
    old = Workload(url=cloud.url, model="cloudcnn", sizes=("8K",), tag="t", devices=2, keep_time=False)
    assert old.realtime_priority == 0 and "--start-line" not in old.argv(1, tmp_path / "x.csv")
    run_workloads(LoopbackNet(), old, tmp_path / "old", "cloud", "test")
    assert all(got.startswith("SCHED_OTHER") for got in read_start_record(tmp_path / "old", "cloud")["scheduling"]
               .values())


def test_a_device_that_fails_before_it_is_ready_does_not_hold_the_others(cloud, tmp_path):
    workload = Workload(url=cloud.url, model="cloudcnn", sizes=("8K",), tag="t", devices=3, duration_s=0.5,
                        rate_hz=8)
    with pytest.raises(HarnessError, match=r"device workload \(test, ue2\) failed: error: .*nonsense"):
        run_workloads(LoopbackNet(broken="ue2"), workload, tmp_path, "cloud", "test")
    record = json.loads((tmp_path / "start-cloud.json").read_text())
    assert record["ready"] == 2
    assert all(rows(rows_file(tmp_path, "cloud", i, 3)) for i in (1, 3))  # the others ran their schedules
