"""Architectures users know, exported to ONNX with a model card: MobileNetV2 (edge) and ResNet-18 (cloud).

Random seeded weights (nothing can be downloaded here): they stand for a realistic edge/cloud pair's inference
time, not its accuracy. Input: ``image``, float32 NCHW 3 x 224 x 224, ImageNet normalisation (the card embedded in
the file says so, models/model_card.py); output ``probabilities`` (softmax over 1000 classes). Exported with
torch's TorchScript exporter (the hand writer of models/export.py covers only the seeds' flat CNNs).
"""
from __future__ import annotations

import io
import warnings

import onnx
import torch
from torch import nn

from models.errors import ModelError
from models.export import IR_VERSION, OPSET, PRODUCER
from models.mobilenet_v2 import MobileNetV2
from models.model_card import METADATA_KEY, ModelCard
from models.resnet18 import ResNet18

ARCHITECTURES = {"mobilenetv2": MobileNetV2, "resnet18": ResNet18}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def architecture_card(size: int = 224) -> ModelCard:
    return ModelCard(input_name="image", height=size, width=size, channels=3, layout="NCHW", mean=IMAGENET_MEAN,
                     std=IMAGENET_STD, source="models/architectures.py")


def export_architecture(name: str, seed: int = 0, num_classes: int = 1000) -> bytes:
    """ONNX bytes of architecture ``name`` (random weights from ``seed``), batch dimension dynamic, card inside."""
    if name not in ARCHITECTURES:
        raise ModelError(f"architecture {name!r}: must be one of {', '.join(ARCHITECTURES)}")
    model = nn.Sequential(ARCHITECTURES[name](num_classes=num_classes, seed=seed), nn.Softmax(dim=1)).eval()
    size = ARCHITECTURES[name].input_size
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 3, size, size), buffer, dynamo=False, opset_version=OPSET,
                          input_names=["image"], output_names=["probabilities"],
                          dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}})
    proto = onnx.load_from_string(buffer.getvalue())
    proto.ir_version = IR_VERSION
    proto.producer_name = PRODUCER
    proto.graph.name = name
    for key, value in (("role", "full"), ("weights", f"random, seed {seed}"),
                       (METADATA_KEY, architecture_card(size).to_json())):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    return proto.SerializeToString()
