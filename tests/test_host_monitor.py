"""The host CPU monitor: /proc/stat arithmetic, named processes, its files and its own cost."""
import csv
import os
import subprocess
import sys
import time

import pytest

from harness.orchestration.host_monitor import HostMonitor, busy_between, descendants, read_proc_stat

STAT_BEFORE = """cpu  100 0 100 800 0 0 0 0 0 0
cpu0 50 0 50 400 0 0 0 0 0 0
cpu1 50 0 50 400 0 0 0 0 0 0
intr 1 2 3
"""
STAT_AFTER = """cpu  200 0 200 900 0 0 0 100 0 0
cpu0 150 0 100 400 0 0 0 0 0 0
cpu1 50 0 100 500 0 0 0 100 0 0
"""


def test_busy_per_core_from_proc_stat():
    busy = busy_between(read_proc_stat(STAT_BEFORE), read_proc_stat(STAT_AFTER))
    assert busy["cpu0"] == (100.0, 0.0)            # 150 busy jiffies of 150
    assert busy["cpu1"] == (150 / 250 * 100, 40.0)  # system 50 + steal 100 of 250; steal counts as busy
    assert busy["all"][0] == pytest.approx(300 / 400 * 100)


def test_monitor_writes_both_files_and_follows_named_processes(tmp_path):
    burner = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"])
    try:
        with HostMonitor(tmp_path, period_s=0.1) as monitor:
            monitor.watch("burner", burner.pid)
            monitor.watch("gone", 2 ** 22 + 12345)  # no such process: dropped, not an error
            time.sleep(1.0)
    finally:
        burner.kill()
        burner.wait()
    with open(tmp_path / "host-cpu.csv") as handle:
        host = list(csv.DictReader(handle))
    cores = {row["core"] for row in host}
    assert {"all", "cpu0"} <= cores and len(cores) == (os.cpu_count() or 1) + 1
    assert all(0.0 <= float(row["busy_pct"]) <= 100.0 for row in host)
    with open(tmp_path / "process-cpu.csv") as handle:
        rows = list(csv.DictReader(handle))
    burning = [float(r["cpu_cores"]) for r in rows if r["name"] == "burner"]
    assert len(burning) >= 5 and max(burning) >= 0.5  # a busy loop shows as most of a core
    assert not [r for r in rows if r["name"] == "gone"]
    record = monitor.record()
    assert record["samples"] >= 8 and record["files"] == ["host-cpu.csv", "process-cpu.csv"]
    assert record["own_cpu_fraction"] < 0.05  # negligible next to what it measures


def test_descendants_finds_grandchildren():
    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess, sys; subprocess.run([sys.executable, '-c', "
                               "'import time; time.sleep(3)'])"])
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not descendants(parent.pid):
            time.sleep(0.05)
        assert len(descendants(parent.pid)) == 1
        assert parent.pid in descendants(os.getpid())
    finally:
        for child in descendants(parent.pid):
            os.kill(child, 9)
        parent.kill()
        parent.wait()


def test_bad_period():
    with pytest.raises(ValueError, match="period_s must be > 0"):
        HostMonitor("/tmp", period_s=0)
