"""benchmarks/bench_reproduce_dataset.py's report: the scorecard's verdict on each row it measured, and the
file name of a --time-only run; run_dataset itself is tested in test_reproduce_system_b_models.py."""
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_reproduce_dataset  # noqa: E402
from harness.experiments.reproduce import system_b_models  # noqa: E402
from harness.experiments.reproduce.measured import Measured  # noqa: E402


def test_a_time_only_report_judges_its_rows_as_the_scorecard_does(tmp_path, monkeypatch):
    calls = []

    def fake_run(work_dir, name, plan, progress, time_only=False):
        calls.append((work_dir, name, plan.name, time_only))
        return [Measured("b.cloudcnn.fashion.acc", 91.0, None, 1, "%", "measured", "cloud"),
                Measured("b.train_time.fashion.k3", -46.0, 3.0, 5, "% change", "measured", "near"),
                Measured("b.train_time.fashion.k3@stride1", -20.0, 1.0, 5, "% change", "measured", "far")], \
            {"fashion/cloudcnn": 10.0}

    monkeypatch.setattr(system_b_models, "run_dataset", fake_run)
    monkeypatch.setattr(bench_reproduce_dataset, "RESULTS_OUT", tmp_path)
    assert bench_reproduce_dataset.main(["fashion", "--time-only", "--results-dir", str(tmp_path / "c")]) == 0
    assert calls == [(tmp_path / "c" / "reproduce-full" / "system_b_models", "fashion", "full", True)]
    result = json.loads((tmp_path / "reproduce-parts" / "system-b-models-fashion-time.json").read_text())
    assert result["time_only"] is True and result["steps_total_seconds"] == 10.0
    assert result["verdicts"] == {"b.cloudcnn.fashion.acc": "reproduced", "b.train_time.fashion.k3": "reproduced",
                                  "b.train_time.fashion.k3@stride1": "direction only"}
    markdown = (tmp_path / "reproduce-parts" / "system-b-models-fashion-time.md").read_text()
    assert "--time-only" in markdown and "| b.train_time.fashion.k3@stride1 | -45.47 % change | -20.00 ± 1.00" in markdown
