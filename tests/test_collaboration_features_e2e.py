"""A tiny `features` (System A) end to end: one access, few images, a short learning sweep."""
from __future__ import annotations

import csv
import json

import pytest

from conftest import run_cli

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture(scope="module")
def features_run(tmp_path_factory, models_dir):
    results = tmp_path_factory.mktemp("results")
    result = run_cli("features", "--models-dir", str(models_dir), "--results-dir", str(results), "--accesses", "wifi",
                     "--images", "6", "--rate-hz", "10", "--feature-dims", "16", "--train-epochs", "1",
                     "--cnn-epochs", "1", "--ae-epochs", "1", "--max-train-images", "200", timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = list(results.iterdir())
    return run_dir


def test_files_and_status(features_run, clean_machine):
    for name in ("experiment.json", "paths.csv", "accuracy_by_dim.csv", "training.csv", "report.md",
                 "accuracy_by_dim.png"):
        assert (features_run / name).is_file(), name
    assert json.loads((features_run / "experiment.json").read_text())["status"] == "complete"


def test_wan_bytes_match_images_and_feature_tensors(features_run):
    record = json.loads((features_run / "experiment.json").read_text())
    with open(features_run / "paths.csv", newline="") as f:
        paths = {r["path"]: r for r in csv.DictReader(f)}
    assert set(paths) == {"raw", "pca", "autoencoder"}
    assert all(r["ok"] == r["requests"] == "6" for r in paths.values())
    raw = paths["raw"]
    # the raw path carries the whole JPEG over the WAN (+ HTTP/TCP headers), the feature paths d FP32 values
    assert float(raw["mean_image_bytes"]) <= float(raw["wan_to_cloud_bytes_per_image"]) \
        <= float(raw["mean_image_bytes"]) + 1500
    tensor_bytes = 4 * record["live_feature_dim"]
    for name in ("pca", "autoencoder"):
        per_image = float(paths[name]["wan_to_cloud_bytes_per_image"])
        assert tensor_bytes <= per_image <= tensor_bytes + 1500
        assert per_image < float(raw["wan_to_cloud_bytes_per_image"])
        assert float(paths[name]["reduction_vs_raw_pct"]) > 0


def test_accuracy_by_dimension_recorded(features_run):
    with open(features_run / "accuracy_by_dim.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["method"], r["feature_dim"]) for r in rows} == {("raw", "3072"), ("pca", "16"), ("autoencoder", "16")}
    assert all(0 <= float(r["accuracy"]) <= 1 for r in rows)
