"""MobileNetV2 and ResNet-18 (models/mobilenet_v2.py, resnet18.py, architectures.py): torchvision's parameter
counts, deterministic ONNX export that matches torch, the ImageNet card inside, and their place in the default
set (not in the tests' set)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from models.architectures import ARCHITECTURES, export_architecture
from models.model_card import METADATA_KEY, ModelCard
from models.runtime import open_session
from models.zoo import BuildSettings, ensure_models, model_names

# torchvision.models.mobilenet_v2() / resnet18(): 3,504,872 and 11,689,512 parameters
PARAMETERS = {"mobilenetv2": 3_504_872, "resnet18": 11_689_512}


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_same_size_as_torchvision_and_onnx_matches_torch(name):
    model = ARCHITECTURES[name](seed=0).eval()
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS[name]
    data = export_architecture(name, seed=0)
    assert data == export_architecture(name, seed=0)  # deterministic
    session = open_session(data, device="cpu", threads=1)
    card = ModelCard.from_json(session.metadata[METADATA_KEY], name)
    assert (card.layout, card.height, card.width, card.mean) == ("NCHW", 224, 224, (0.485, 0.456, 0.406))
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(x)), dim=1).numpy()
    got = session.run({"image": x})[0]
    assert got.shape == (2, 1000)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-6)


def test_the_default_set_has_them_and_the_tests_set_does_not(models_dir):
    assert BuildSettings().architectures is True
    assert model_names(3, True)[-2:] == ["mobilenetv2", "resnet18"]
    assert "mobilenetv2" not in json.loads((models_dir / "manifest.json").read_text())["models"]


@pytest.mark.slow
def test_a_build_with_them_serves_them_as_full_image_models(tmp_path):
    manifest = ensure_models(tmp_path, progress=False, epochs=1, ae_epochs=1, max_train_images=40, feature_dim=8)
    assert list(manifest["models"]) == model_names(3, True)
    for name in ARCHITECTURES:
        entry = manifest["models"][name]
        assert entry["role"] == "full" and entry["accuracy"] is None
        assert entry["inputs"][0]["shape"] == [None, 3, 224, 224]
