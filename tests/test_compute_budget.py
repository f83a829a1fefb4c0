"""Compute budgets without root: budgets, node and latency profiles, settings, the speed factor's stretch, profile
replay, the harness flags and the report's section."""
from __future__ import annotations

import asyncio
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from harness.analysis.compute_section import compute_section, paced_stats
from harness.errors import SpecError
from harness.experiments.compare.spec import ExperimentSpec
from models.runtime import open_session
from nodes.compute_budget import ComputeBudget, load_node_profile, parse_settings, resolve_budgets
from nodes.errors import NodeConfigError
from nodes.inference_pacing import InferencePacer, pacer_from_options
from nodes.latency_profile import load_latency_profile
from nodes.served_models import TensorModel
from tests.conftest import run_cli


def _profile_file(tmp_path: Path, models: dict) -> Path:
    path = tmp_path / "gpu.json"
    path.write_text(json.dumps({"format": "ect-latency-profile/1", "hardware": "test GPU", "models": models}))
    return path


# --- budgets, node profiles, settings -----------------------------------------------------------------------------
@pytest.mark.parametrize("bad, words", [
    (dict(cpus=-0.5), "cpus"), (dict(cpus=float("nan")), "cpus"), (dict(threads=0.5), "threads"),
    (dict(threads=-1), "threads"), (dict(speed_factor=0.5), "speed factor"), (dict(speed_factor=True), "speed"),
    (dict(speed_factor=2.0, latency_profile="system-a-edge"), "one or the other")])
def test_a_bad_budget_is_refused_with_its_value(bad, words):
    with pytest.raises(NodeConfigError, match=words):
        ComputeBudget(**bad)


def test_node_args_cap_the_threads_at_the_quota():
    budget = ComputeBudget(cpus=11.6, threads=16, speed_factor=1.378)
    assert budget.node_args(threads_cap=2) == ["--threads", "2", "--speed-factor", "1.378"]
    assert ComputeBudget().node_args(2) == []


@pytest.mark.parametrize("name", ["system-a", "system-b"])
def test_the_shipped_node_profiles_load_and_say_where_their_numbers_come_from(name):
    profile = load_node_profile(name)
    assert len(profile.sha256) == 64 and set(profile.budgets) == {"edge", "cloud"}
    text = Path(profile.path).read_text()
    assert "PassMark" in text and "bench_compute.py" in text  # sources in the comments, the script that wrote it
    for budget in profile.budgets.values():
        assert budget.cpus > 0 and budget.threads >= 1 and budget.hardware
        assert (budget.speed_factor > 1) != bool(budget.latency_profile)  # slower: a factor; faster: a profile


def test_system_a_gpu_profiles_cover_every_model_and_cite_their_scaling():
    for node in ("system-a-edge", "system-a-cloud"):
        profile = load_latency_profile(node)
        assert {"cloudcnn", "edgecnn1-3", "cloudcnn-lower-3", "cloudcnn-upper-3"} <= set(profile.models())
        doc = json.loads(Path(profile.path).read_text())
        assert "Scaled, not measured" in doc["basis"] and any("NVIDIA" in s for s in doc["sources"])


def test_settings_override_the_profile_later_items_winning():
    profile, budgets = resolve_budgets(("node_profile=system-b", "edge.cpus=0.5", "edge.cpus=0.25",
                                        "cloud.latency_profile=system-a-cloud"))
    assert profile.name == "system-b"
    assert budgets["edge"].cpus == 0.25 and budgets["edge"].speed_factor > 1
    assert budgets["cloud"].latency_profile == "system-a-cloud" and budgets["cloud"].speed_factor == 1.0
    assert resolve_budgets(("node_profile=none",))[1]["edge"] == ComputeBudget()
    assert parse_settings(())[0] == "system-b"  # the default: compare reproduces System B


@pytest.mark.parametrize("item, words", [("edge.cpus", "KEY=VALUE"), ("edge.gpus=1", "NAME in"),
                                         ("phone.cpus=1", "NODE in"), ("edge.threads=two", "not an integer"),
                                         ("node_profile=nosuch", "no such profile"),
                                         ("cloud.latency_profile=nope", "cloud: latency profile 'nope'")])
def test_bad_settings_are_one_line_each(item, words):
    with pytest.raises(NodeConfigError, match=words):
        resolve_budgets((item,))


def test_the_spec_refuses_a_bad_compute_setting():
    with pytest.raises(SpecError, match="compute: edge: cpus"):
        ExperimentSpec(compute=("edge.cpus=-1",))


def test_a_bad_node_profile_file_names_the_file_and_key(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[edge]\ncpus = 1\ngpus = 2\n')
    with pytest.raises(NodeConfigError, match=r"mine.toml \[edge\]: unknown key 'gpus'"):
        load_node_profile(str(path))


@pytest.mark.parametrize("models, words", [({"m": {"1": []}}, "non-empty"), ({"m": {"x": [1.0]}}, "positive integer"),
                                           ({"m": {"1": [-1.0]}}, "not a time"), ({}, "must map")])
def test_a_bad_latency_profile_is_refused(tmp_path, models, words):
    with pytest.raises(NodeConfigError, match=words):
        load_latency_profile(str(_profile_file(tmp_path, models)))


# --- pacing -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("factor", [1.5, 3.0])
def test_a_speed_factor_stretches_by_the_factor(factor):
    pacer, stamps, measured_ns = InferencePacer(factor), {}, 20_000_000
    start = time.monotonic_ns()
    pacer.pace("m", 1, measured_ns, stamps)
    slept_ns = time.monotonic_ns() - start
    assert (factor - 1) * measured_ns <= slept_ns < (factor - 1) * measured_ns + 15e6
    assert stamps["inference_target_ns"] == round(factor * measured_ns) and stamps["compute_honoured"]


def test_no_pacing_stamps_nothing_and_sleeps_nothing():
    stamps = {}
    start = time.monotonic()
    InferencePacer().pace("m", 1, 50_000_000, stamps)
    assert stamps == {} and time.monotonic() - start < 0.005


def test_a_latency_profile_is_replayed_and_a_slower_run_is_recorded_as_not_honoured(tmp_path):
    profile = load_latency_profile(str(_profile_file(tmp_path, {"m": {"1": [30.0], "4": [50.0]}})))
    pacer = InferencePacer(profile=profile, seed=3)
    stamps = {}
    start = time.monotonic_ns()
    pacer.pace("m", 1, 10_000_000, stamps)           # the real run took 10 ms, the profile says 30: sleep 20
    assert 20e6 <= time.monotonic_ns() - start < 35e6
    assert stamps["inference_target_ns"] == 30_000_000 and stamps["compute_honoured"] is True
    pacer.pace("m", 8, 10_000_000, stamps)           # batch 8 from batch 4's samples, scaled x2
    assert stamps["inference_target_ns"] == 100_000_000 and stamps["compute_profile_batch"] == 4
    slow = {}
    pacer.pace("m", 1, 45_000_000, slow)              # this machine slower than the profile: not honoured
    assert slow["compute_honoured"] is False and pacer.not_honoured == 1 and pacer.paced == 3
    with pytest.raises(NodeConfigError, match="no times for model 'other'"):
        pacer.register("other", None)


def test_profile_samples_follow_the_recorded_distribution(tmp_path):
    profile = load_latency_profile(str(_profile_file(tmp_path, {"m": {"1": [1.0, 2.0, 3.0, 4.0]}})))
    rng = random.Random(0)
    draws = [profile.sample_ms("m", 1, rng)[0] for _ in range(4000)]
    assert set(draws) == {1.0, 2.0, 3.0, 4.0} and abs(np.mean(draws) - 2.5) < 0.1


def test_a_served_model_reports_the_emulated_inference_and_the_node_records_what_it_got(tmp_path, models_dir):
    session = open_session(models_dir / "pca-classifier.onnx", device="cpu", threads=1)
    pacer = pacer_from_options(4.0, "", 0, tmp_path)
    model = TensorModel("pca-classifier", session, ThreadPoolExecutor(1), pacer=pacer)
    feeds = {session.inputs[0].name: np.zeros((2, 64), np.float32)}
    stamps = {}
    asyncio.run(model.run_session(feeds, stamps))
    emulated = stamps["inference_end_ns"] - stamps["inference_start_ns"]
    assert emulated >= 4 * stamps["inference_compute_ns"] * 0.99 and stamps["compute_honoured"]
    record = json.loads((tmp_path / "compute.json").read_text())
    assert record["speed_factor"] == 4.0 and record["models"]["pca-classifier"] == {"provider": "CPUExecutionProvider",
                                                                                    "threads": 1, "ort_spinning": False}


def test_a_node_refuses_a_profile_without_its_model(tmp_path, models_dir):
    profile = _profile_file(tmp_path, {"cloudcnn": {"1": [1.0]}})
    proc = run_node_cli(["nodes.cloud", "--models", str(models_dir), "--log-dir", str(tmp_path / "log"),
                         "--latency-profile", str(profile), "--port", "0"])
    assert proc.returncode == 2 and "has no times for model" in proc.stderr and len(proc.stderr.splitlines()) == 1


def run_node_cli(argv):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)


# --- the harness: flags, report -----------------------------------------------------------------------------------
@pytest.mark.parametrize("flags, words", [
    (["--edge-cpus", "0"], "not a number of cores"), (["--node-profile", "nosuch"], "no such profile"),
    (["--edge-latency-profile", "system-a-edge", "--edge-speed-factor", "2"], "one or the other")])
def test_bad_compute_flags_are_one_line_errors(flags, words):
    proc = run_cli("compare", *flags, "--results-dir", "/nonexistent", timeout=60)
    assert proc.returncode in (1, 2) and words in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("check, text, words", [("_threads", "0", "thread count"), ("_threads", "2.5", "thread count"),
                                                ("_factor", "0.5", "not a factor"), ("_factor", "inf", "not a factor"),
                                                ("_cores", "-1", "number of cores"), ("_cores", "x", "number of cores")])
def test_each_compute_flag_checks_its_value(check, text, words):
    import argparse

    from harness.cli import compute_options
    with pytest.raises(argparse.ArgumentTypeError, match=words):
        getattr(compute_options, check)(text)


def test_flags_merge_over_the_config_file(tmp_path):
    from argparse import Namespace

    from harness.cli.compute_options import compute_settings
    config = tmp_path / "c.toml"
    config.write_text('compute = ["node_profile=system-a", "edge.cpus=1"]\n')
    args = Namespace(config=config, **{k: None for k in ("node_profile", "edge_cpus", "edge_threads",
                                                          "edge_speed_factor", "edge_latency_profile", "cloud_cpus",
                                                          "cloud_threads", "cloud_speed_factor",
                                                          "cloud_latency_profile")})
    assert compute_settings(args) is None
    args.edge_cpus = 0.5
    assert compute_settings(args) == ("node_profile=system-a", "edge.cpus=0.5")


def test_the_report_says_what_each_node_got_and_what_was_not_honoured(tmp_path):
    logs = tmp_path / "logs" / "lte" / "cloud"
    logs.mkdir(parents=True)
    rows = [{"inference_compute_ns": 3_000_000, "inference_target_ns": 1_000_000, "compute_honoured": False},
            {"inference_compute_ns": 1_000_000, "inference_target_ns": 2_000_000, "compute_honoured": True}, {}]
    (logs / "timings.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert paced_stats(logs / "timings.jsonl")["not_honoured"] == 1
    record = {"compute": {"lte": {"node_profile": {"name": "system-a"}, "nodes": {"cloud": {
        "given": {"hardware": "2x GTX 1080 Ti"}, "threads_cap": 2,
        "quota": {"applied": False, "why": "not root", "capped": "5.26 cores asked, this machine has 2"},
        "node": {"models": {"cloudcnn": {"provider": "CPUExecutionProvider", "threads": 2}},
                 "latency_profile": {"path": "/x/system-a-cloud.json", "sha256": "ab" * 32, "hardware": "GTX"}}}}}}}
    text = "\n".join(compute_section(tmp_path, record))
    assert "not applied: not root (5.26 cores asked" in text and "system-a-cloud.json (sha256 abababababab" in text
    assert "1 of 2 not honoured" in text and "2.00 ms median" in text
    assert compute_section(tmp_path, {}) == []
