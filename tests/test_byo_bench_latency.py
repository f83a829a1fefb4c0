"""benchmarks/bench_model_latency.py on a tiny model set: a row per model x batch, median <= p90, the CSV and
Markdown it writes."""
from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

from nodes.synthetic_models import write_model_set

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_model_latency.py"


def load_script():
    spec = importlib.util.spec_from_file_location("bench_model_latency", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_model_and_batch_is_timed_and_written(tmp_path):
    bench = load_script()
    manifest = write_model_set(tmp_path / "set")
    assert bench.main(["--models-dir", str(tmp_path / "set"), "--repeats", "3", "--batches", "1,4",
                       "--out", str(tmp_path / "lat")]) == 0
    with open(tmp_path / "lat.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["model"], int(r["batch"])) for r in rows} == {(m, b) for m in manifest["models"] for b in (1, 4)}
    for row in rows:
        assert 0 < float(row["min_ms"]) <= float(row["median_ms"]) <= float(row["p90_ms"])
        assert row["provider"] == "CPUExecutionProvider" and row["threads"] == "1" and row["repeats"] == "3"
    assert "| cloudcnn | full | 4 |" in (tmp_path / "lat.md").read_text()


def test_round_robin_times_each_run_once_per_round():
    bench = load_script()
    calls = []
    samples = bench.time_round_robin({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 4, warmup=1)
    assert calls == ["a", "b"] + ["a", "b"] * 4 and all(len(v) == 4 for v in samples.values())
