"""Tiny stand-in ONNX models under the model zoo's names, with a manifest of the zoo's shape.

For tests and benchmarks of the node processes that must not depend on the
trained set (``python -m models build``). Each graph is a few ops built with
``onnx.helper`` from seeded weights: image models take (N, 3, 32, 32) FP32 as
``models.preprocess.decode_image`` produces; outputs are 10-way softmax.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
FEATURES = 16
LOWER_CHANNELS = 8


def _model(nodes, inputs, outputs, weights: dict, name: str) -> bytes:
    initializers = [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in weights.items()]
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="nodes-synthetic")
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def _image_input():
    return helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])


def _probabilities():
    return helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])


def _conv(rng, prefix: str, in_ch: int, out_ch: int, x: str, y: str):
    weights = {f"{prefix}_w": rng.normal(0, 0.3, (out_ch, in_ch, 3, 3)), f"{prefix}_b": np.zeros(out_ch)}
    nodes = [helper.make_node("Conv", [x, f"{prefix}_w", f"{prefix}_b"], [f"{prefix}_c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", [f"{prefix}_c"], [y])]
    return nodes, weights


def _head(rng, x: str, in_features: int, pool: bool):
    weights = {"fc_w": rng.normal(0, 0.3, (in_features, 10)), "fc_b": np.zeros(10)}
    nodes = []
    if pool:
        nodes += [helper.make_node("GlobalAveragePool", [x], ["pooled"]),
                  helper.make_node("Flatten", ["pooled"], ["flat"])]
        x = "flat"
    nodes += [helper.make_node("Gemm", [x, "fc_w", "fc_b"], ["logits"]),
              helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1)]
    return nodes, weights


def full_model(seed: int, conv_layers: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    nodes, weights, x, ch = [], {}, "input", 3
    for i in range(conv_layers):
        n, w = _conv(rng, f"conv{i}", ch, LOWER_CHANNELS, x, f"act{i}")
        nodes += n
        weights.update(w)
        x, ch = f"act{i}", LOWER_CHANNELS
    n, w = _head(rng, x, LOWER_CHANNELS, pool=True)
    return _model(nodes + n, [_image_input()], [_probabilities()], {**weights, **w}, f"full{seed}")


def lower_model(seed: int) -> bytes:
    n, w = _conv(np.random.default_rng(seed), "conv0", 3, LOWER_CHANNELS, "input", "lower_output")
    out = helper.make_tensor_value_info("lower_output", TensorProto.FLOAT, ["N", LOWER_CHANNELS, 32, 32])
    return _model(n, [_image_input()], [out], w, "lower")


def upper_model(seed: int) -> bytes:
    n, w = _head(np.random.default_rng(seed), "upper_input", LOWER_CHANNELS, pool=True)
    inp = helper.make_tensor_value_info("upper_input", TensorProto.FLOAT, ["N", LOWER_CHANNELS, 32, 32])
    return _model(n, [inp], [_probabilities()], w, "upper")


def encoder_model(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    weights = {"enc_w": rng.normal(0, 0.05, (3 * 32 * 32, FEATURES)), "enc_b": np.zeros(FEATURES)}
    nodes = [helper.make_node("Flatten", ["input"], ["flat"]),
             helper.make_node("Gemm", ["flat", "enc_w", "enc_b"], ["features"])]
    out = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", FEATURES])
    return _model(nodes, [_image_input()], [out], weights, "encoder")


def feature_classifier_model(seed: int) -> bytes:
    n, w = _head(np.random.default_rng(seed), "features", FEATURES, pool=False)
    inp = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", FEATURES])
    return _model(n, [inp], [_probabilities()], w, "feature-classifier")


def model_set() -> dict[str, tuple[str, bytes]]:
    """NAME -> (role, ONNX bytes) with the model zoo's default names."""
    return {
        "cloudcnn": ("full", full_model(1, conv_layers=4)),
        "edgecnn1-3": ("full", full_model(2, conv_layers=1)),
        "edgecnn1-5": ("full", full_model(3, conv_layers=2)),
        "cloudcnn-lower-3": ("lower", lower_model(4)),
        "cloudcnn-upper-3": ("upper", upper_model(5)),
        "pca-encoder": ("encoder", encoder_model(6)),
        "pca-classifier": ("feature-classifier", feature_classifier_model(7)),
        "ae-encoder": ("encoder", encoder_model(8)),
        "ae-classifier": ("feature-classifier", feature_classifier_model(9)),
    }


def write_model_set(folder: Path) -> dict:
    """Write every model and ``manifest.json`` into folder; returns the manifest."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = {}
    for name, (role, data) in model_set().items():
        (folder / f"{name}.onnx").write_bytes(data)
        entries[name] = {"file": f"{name}.onnx", "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                         "role": role, "inputs": [], "outputs": [], "accuracy": None}
    manifest = {"models": entries, "dataset": {"name": "synthetic"}, "settings": {}, "train_seconds": {}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest
