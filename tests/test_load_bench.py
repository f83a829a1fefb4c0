"""benchmarks/bench_load.py's own pieces: the host's load beside each run (host_share) and the crossover's scaled
budgets; nothing here runs the testbed."""
import sys
import time
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_load import SCALED_CLOUD_CPUS, scaled_budgets  # noqa: E402
from host_share import HostShare  # noqa: E402


def test_processes_are_ours_kernel_or_others():
    share = HostShare(root_pid=100)
    procs = {1: (0, "init", 0, 0), 2: (0, "kthreadd", 0, 0), 7: (2, "ksoftirqd/0", 0, 0), 100: (1, "bench", 0, 0),
             101: (100, "python", 0, 0), 102: (101, "emulator", 0, 0), 300: (1, "other-job", 0, 0)}
    assert [share._kind(pid, procs) for pid in (102, 101, 100, 7, 300)] == ["ours", "ours", "ours", "kernel", "others"]


def test_summary_means_only_the_samples_inside_the_intervals(tmp_path):
    share = HostShare(root_pid=1)
    share.samples = [{"t_s": float(t), "busy_cores": 2.0 if t < 5 else 0.5, "steal_ms_per_s": 0.0,
                      "ours_cores": 0.4, "kernel_cores": 0.0, "others_cores": 1.6 if t < 5 else 0.1} for t in range(10)]
    share.other_names = {"python": 8.0, "tar": 1.0}
    measured = share.summary([(5.0, 9.0)])
    assert measured["samples"] == 4 and measured["busy_cores"] == 0.5 and measured["others_cores"] == 0.1
    assert share.summary()["busy_cores_max"] == 2.0 and share.summary()["top_others_cpu_s"] == {"python": 8.0,
                                                                                                 "tar": 1.0}
    share.save(tmp_path / "host-share.json")
    assert HostShare.load(tmp_path / "host-share.json").summary([(5.0, 9.0)]) == measured
    assert HostShare.load(tmp_path / "missing.json") is None


def test_proc_is_read_every_period():
    share = HostShare(period_s=0.1)
    share.start()
    time.sleep(0.35)
    share.stop()
    assert len(share.samples) >= 2
    assert all(s[k] >= 0 for s in share.samples for k in ("busy_cores", "ours_cores", "kernel_cores", "others_cores"))


def test_the_crossover_keeps_the_profile_s_edge_to_cloud_core_ratio():
    args, scaled = scaled_budgets("system-b")
    doc = tomllib.loads((REPO / "nodes" / "node_profiles" / "system-b.toml").read_text())
    assert scaled["cloud_cpus"] == SCALED_CLOUD_CPUS and args[-1] == f"{SCALED_CLOUD_CPUS:g}"
    assert scaled["edge_cpus"] / scaled["cloud_cpus"] == pytest.approx(doc["edge"]["cpus"] / doc["cloud"]["cpus"],
                                                                       rel=2e-3)
    assert args[:2] == ["--edge-cpus", f"{scaled['edge_cpus']:g}"]
