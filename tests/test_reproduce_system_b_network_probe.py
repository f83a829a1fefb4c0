"""``reproduce`` System B network: the served models timed warm and after an idle gap, beside the run's own times."""
from __future__ import annotations

import json

import pytest
from torch import nn

from harness.experiments.reproduce import system_b_network_probe as probe
from models.export import to_onnx_bytes


def _timings(path, model, starts_ms, run_ms, paced=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for number, (start, took) in enumerate(zip(starts_ms, run_ms)):
        record = {"request_id": f"r{number}", "model": model, "status": 200, "inference_start_ns": int(start * 1e6),
                  "inference_end_ns": int((start + 3 * took) * 1e6)}     # paced: the stamp spans 3x the real run
        if paced:
            record["inference_compute_ns"] = int(took * 1e6)
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines + ["not json", json.dumps({"request_id": "r99", "model": model, "status": 503})])
                    + "\n")


def _read(run, access, node):
    from harness.analysis.node_records import read_node_records
    return probe.inferences(read_node_records(run), access, node)


def test_in_run_takes_the_real_run_before_pacing_and_the_idle_gap(tmp_path):
    _timings(tmp_path / "logs" / "lte" / "edge" / "timings.jsonl", "edgecnn1-3", [0, 100, 200, 400],
             [2.0, 2.2, 2.4, 9.0])
    found = probe.in_run(_read(tmp_path, "lte", "edge"))
    assert found["model"] == "edgecnn1-3" and found["inferences"] == 4    # the 503 and the bad line are skipped
    assert found["run_ms_median"] == pytest.approx(2.3)
    # gaps from one inference's end to the next one's start: 100 - 6, 200 - 106.6, 400 - 207.2 ms
    assert found["idle_gap_s_median"] == pytest.approx(0.094)
    _timings(tmp_path / "logs" / "lte" / "cloud" / "timings.jsonl", "m", [0, 50], [1.0, 1.0], paced=False)
    assert probe.in_run(_read(tmp_path, "lte", "cloud"))["run_ms_median"] == pytest.approx(3.0)
    assert probe.in_run(_read(tmp_path, "wifi", "edge")) is None


def _onnx(path, width):
    model = nn.Sequential(nn.Flatten(1), nn.Linear(48, width), nn.ReLU(), nn.Linear(width, 10)).eval()
    path.write_bytes(to_onnx_bytes(model, (3, 4, 4)))
    return path


def _run(tmp_path, with_edge=True):
    run, models = tmp_path / "run", tmp_path / "models"
    models.mkdir()
    _onnx(models / "small.onnx", 8)
    _onnx(models / "big.onnx", 512)
    (models / "manifest.json").write_text(json.dumps({"models": {"small": {"file": "small.onnx"},
                                                                 "big": {"file": "big.onnx"}}}))
    if with_edge:
        _timings(run / "logs" / "lte" / "edge" / "timings.jsonl", "small", [0, 30, 60], [1.0, 1.0, 1.0])
    _timings(run / "logs" / "lte" / "cloud" / "timings.jsonl", "big", [0, 30, 60], [2.0, 2.0, 2.0])
    (run / "logs" / "lte" / "cloud" / "compute.json").write_text(json.dumps({"models": {"big": {"threads": 1}}}))
    return run, models


def test_probe_run_times_the_served_files_in_turns_after_the_runs_idle_gap(tmp_path):
    run, models = _run(tmp_path)
    slept = []
    found = probe.probe_run(run, "lte", lambda: models, repeats=3)
    assert found["in_run"]["edge"]["model"] == "small" and found["in_run"]["cloud"]["model"] == "big"
    measured = found["probe"]
    assert measured["gap_s"] == pytest.approx(0.027)     # 30 ms apart, each inference 3 ms long
    assert measured["cloud"]["threads"] == 1 and measured["edge"]["provider"] == "CPUExecutionProvider"
    assert measured["cloud"]["weights_mb"] > measured["edge"]["weights_mb"]
    assert all(measured[n][k] > 0 for n in ("edge", "cloud") for k in ("cold_ms", "warm_ms"))
    timed = probe.probe({"edge": models / "small.onnx"}, {}, 0.5, repeats=4, sleep=slept.append)
    assert slept == [0.5] * 4 and timed["repeats"] == 4
    text = probe.probe_text(found)
    assert "before the pacing" in text and "back to back" in text and "idle gap like the run's (27 ms)" in text


def test_no_probe_without_both_nodes_inferences_and_the_model_set_is_not_asked(tmp_path):
    run, _ = _run(tmp_path, with_edge=False)
    assert probe.probe_run(run, "lte", lambda: pytest.fail("the model set was asked for")) is None
    assert probe.probe_text(None) == ""


def _record(run_edge, run_cloud, warm, cold):
    return {"in_run": {"edge": {"model": "edgecnn1-3", "run_ms_median": run_edge},
                       "cloud": {"model": "cloudcnn", "run_ms_median": run_cloud}},
            "probe": {"gap_s": 0.1, "edge": {"weights_mb": 22.3, "warm_ms": warm[0], "cold_ms": cold[0]},
                      "cloud": {"weights_mb": 4.6, "warm_ms": warm[1], "cold_ms": cold[1]}}}


def test_the_sentence_says_which_of_warm_and_cold_the_run_matches():
    cold = probe.probe_text(_record(2.7, 2.8, warm=(0.6, 1.3), cold=(2.2, 2.35)))
    assert "in the run (-3.6%)" in cold and "(-53.8%)" in cold and "(-6.4%)" in cold
    assert "the run's ratio is the cold one (each request reaches its node after an idle upload)" in cold
    warm = probe.probe_text(_record(0.7, 1.4, warm=(0.6, 1.3), cold=(2.2, 2.35)))
    assert "the run's ratio is the warm one" in warm and "idle upload" not in warm


def test_a_probe_that_cannot_run_leaves_the_figures_and_says_why(tmp_path, monkeypatch):
    from harness.experiments.reproduce import system_b_network as part
    from models.errors import ModelError

    def broken(*args, **kwargs):
        raise ModelError("cloudcnn.onnx: not an ONNX model")

    monkeypatch.setattr(part, "probe_run", broken)
    import topo.network
    monkeypatch.setattr(topo.network.os, "geteuid", lambda: 1000)
    from tests.test_reproduce_system_b_network import _fake_run
    from harness.experiments.reproduce.system_b_network_fit import read_calibration
    tag = f"quick-{part.scenario_hash(part.SCENARIO_PATH)}"
    for access in ("lte", "wifi"):
        _fake_run(tmp_path / "runs" / f"{access}-{part.access_hash(access)}-{tag}", access,
                  read_calibration(part.CALIBRATION_PATH))
    lines = []
    out = {m.key: m for m in part.run_part(tmp_path, True, lines.append)}
    assert "b.lte.inference.60k" in out and json.loads((tmp_path / "fit.json").read_text())["inference_probe"] is None
    assert any("the inference probe did not run (cloudcnn.onnx: not an ONNX model)" in line for line in lines)
