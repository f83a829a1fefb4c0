import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.errors import ModelError, SettingsError
from models.preprocess import decode_image, encode_image
from models.runtime import open_session
from models.zoo import ROLES, ensure_models, load_manifest, model_names

REPO = Path(__file__).resolve().parent.parent
SMALL = {"epochs": 1, "ae_epochs": 1, "max_train_images": 40, "feature_dim": 8}
CLI_SMALL = ["--epochs", "1", "--ae-epochs", "1", "--max-train-images", "40", "--feature-dim", "8"]


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
