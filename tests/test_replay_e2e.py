"""`replay` end to end: a short workload while the access link replays the shipped variable LTE traces."""
from __future__ import annotations

import csv
import json

import pytest

from conftest import REPO_ROOT, run_cli

pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_replay_writes_a_time_series_against_capacity(tmp_path, models_dir, clean_machine):
    traces = REPO_ROOT / "traces"
    result = run_cli("replay", "--uplink", str(traces / "lte-variable.up"), "--downlink",
                     str(traces / "lte-variable.down"), "--duration-s", "12", "--sizes", "60K",
                     "--calibrate-seconds", "0", "--models-dir", str(models_dir), "--results-dir", str(tmp_path),
                     timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = list(tmp_path.iterdir())
    record = json.loads((run_dir / "experiment.json").read_text())
    assert record["status"] == "complete" and record["spec"]["accesses"] == ["trace"]
    with open(run_dir / "replay.csv", newline="") as f:
        series = list(csv.DictReader(f))
    assert len(series) >= 10  # closed loop of 60K images over an ~8 Mbit/s link for 12 s
    times = [float(r["time_s"]) for r in series]
    assert times == sorted(times) and times[0] >= 0
    assert all(float(r["uplink_capacity_mbps"]) > 0 for r in series)
    assert all(r["status"] == "ok" for r in series)
    assert (run_dir / "replay.png").is_file()
