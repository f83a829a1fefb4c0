import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.errors import ModelError, SettingsError
from models.preprocess import decode_image, encode_image
from models.runtime import open_session
from models.zoo import ROLES, BuildSettings, ensure_models, load_manifest, model_names, model_origin

REPO = Path(__file__).resolve().parent.parent
SMALL = {"epochs": 1, "ae_epochs": 1, "max_train_images": 40, "feature_dim": 8, "architectures": False}
CLI_SMALL = ["--epochs", "1", "--ae-epochs", "1", "--max-train-images", "40", "--feature-dim", "8",
             "--no-architectures"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cache = tmp_path_factory.mktemp("zoo")
    return cache, ensure_models(cache, progress=False, **SMALL)


def test_unknown_or_bad_settings_are_refused(tmp_path):
    with pytest.raises(SettingsError, match="unknown model build setting.*epoch_count"):
        ensure_models(tmp_path, progress=False, epoch_count=3)
    with pytest.raises(SettingsError, match="epochs=0"):
        ensure_models(tmp_path, progress=False, epochs=0)
    with pytest.raises(ModelError, match="no model manifest"):
        load_manifest(tmp_path)


@pytest.mark.slow
def test_manifest_describes_every_default_model(built):
    cache, manifest = built
    assert list(manifest["models"]) == model_names(3)
    assert load_manifest(cache) == json.loads((cache / "manifest.json").read_text()) == manifest
    image = decode_image(encode_image(np.zeros((32, 32, 3), np.uint8)))
    for name, entry in manifest["models"].items():
        assert entry["role"] in ROLES and entry["file"] == f"{name}.onnx"
        assert (cache / entry["file"]).stat().st_size == entry["bytes"]
        session = open_session(cache / entry["file"], device="cpu")
        assert [i["name"] for i in entry["inputs"]] == [i.name for i in session.inputs]
        if entry["role"] == "full":
            assert entry["inputs"][0]["shape"] == [None, 3, 32, 32] and 0 <= entry["accuracy"] <= 1
            assert session.run({"image": image})[0].shape == (1, 10)
    assert manifest["models"]["cloudcnn-lower-3"]["outputs"][0]["shape"] == [None, 32, 26, 26]
    assert manifest["models"]["pca-encoder"]["outputs"][0]["shape"] == [None, 8]
    assert manifest["dataset"]["name"] == "digits" and manifest["train_seconds"]["total"] > 0


@pytest.mark.slow
def test_cache_is_reused_and_builds_are_deterministic(built, tmp_path):
    cache, manifest = built
    before = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.onnx")}
    assert ensure_models(cache, progress=False, **SMALL) == manifest
    assert {p.name: p.stat().st_mtime_ns for p in cache.glob("*.onnx")} == before
    other = ensure_models(tmp_path, progress=False, **SMALL)
    assert {n: e["sha256"] for n, e in other["models"].items()} == \
        {n: e["sha256"] for n, e in manifest["models"].items()}


@pytest.mark.slow
def test_cli_reuses_cache_and_reports_errors_in_one_line(built, tmp_path):
    cache, _ = built
    done = subprocess.run([sys.executable, "-m", "models", "build", "--cache", str(cache), "--quiet", *CLI_SMALL],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "edgecnn1-3" in done.stdout and "manifest:" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "models", "build", "--cache", str(tmp_path), "--quiet",
                          "--data", str(tmp_path / "missing"), "--dataset", "mnist"],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "does not exist" in bad.stderr


@pytest.mark.slow
def test_model_origin_says_where_the_models_came_from(built):
    cache, manifest = built
    origin = model_origin(cache)
    assert json.loads(json.dumps(origin)) == origin  # JSON-able, as experiment.json records it
    assert origin["dataset"] == "digits" and origin["dataset_source"] and origin["train_images"] == 40
    assert origin["train_images_available"] > 40 and origin["test_images"] == manifest["dataset"]["test_images"] > 0
    assert origin["training_set"] == "subset" and "held-out" in origin["test_split"]
    assert origin["epochs"] == 1 and origin["default_epochs"] == BuildSettings().epochs
    assert origin["test_models"] is True and origin["reduced"] and "REDUCED" in origin["note"]
    assert origin["train_settings"]["max_epochs"] == 1 and origin["train_settings"]["batch_size"] == 32
    assert origin["train_settings_source"] == "manifest" and origin["epochs_run"]["cloudcnn"] == 1
    assert set(origin["test_accuracy"]) >= {"cloudcnn", "edgecnn1-3", "cloudcnn-upper-3", "pca-classifier"}
    assert origin["test_accuracy"]["cloudcnn"] == manifest["models"]["cloudcnn"]["accuracy"]


def _manifest(tmp_path: Path, **settings) -> Path:
    full = {**{k: v for k, v in vars(BuildSettings()).items()}, **settings}
    manifest = {"manifest_version": 1, "key": "k", "settings": full,
                "dataset": {"name": "mnist", "source": "IDX files", "train_images": 60000, "test_images": 10000},
                "models": {"cloudcnn": {"file": "cloudcnn.onnx", "sha256": "0" * 64, "bytes": 1, "role": "full",
                                        "accuracy": 0.99},
                           "cloudcnn-lower-3": {"file": "l.onnx", "sha256": "0" * 64, "bytes": 1, "role": "lower",
                                                "accuracy": None}},
                "training": {"cloudcnn": {"epochs_run": 9}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def test_model_origin_of_a_full_set_from_an_older_manifest(tmp_path):
    origin = model_origin(_manifest(tmp_path))  # no "origin" block: written before it existed
    assert origin["test_models"] is False and origin["reduced"] is False and origin["reduced_because"] == []
    assert origin["training_set"] == "full" and origin["train_images"] == 60000 and origin["epochs"] == 15
    assert origin["test_accuracy"] == {"cloudcnn": 0.99} and origin["epochs_run"] == {"cloudcnn": 9}
    assert origin["train_settings"]["max_epochs"] == 15 and "code defaults" in origin["train_settings_source"]
    assert origin["train_images_available"] is None


def test_model_origin_flags_fewer_epochs_than_the_real_set(tmp_path):
    origin = model_origin(_manifest(tmp_path, epochs=1, ae_epochs=1))
    assert origin["test_models"] is True and any("epochs 1 <" in r for r in origin["reduced_because"])


def test_manifest_that_is_not_json_says_what_to_do(tmp_path):
    (tmp_path / "manifest.json").write_bytes(b"\xff\xfe not json")
    with pytest.raises(ModelError, match="not a JSON model manifest.*python -m models build --force"):
        model_origin(tmp_path)
