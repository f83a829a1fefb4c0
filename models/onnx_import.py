"""Read an ONNX graph written by ``models.export`` back into torch layers (weights from the initialisers).

Used by the edge: it receives CloudCNN's shared lower block as ONNX bytes and builds EdgeCNN1-k on it.
Only the ops our writer emits are accepted; anything else is refused with the op named.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import onnx
import torch
from google.protobuf.message import DecodeError
from onnx import numpy_helper
from torch import nn

from models.errors import ModelError
from models.layers import Centre, Project


def parse_onnx(data: bytes, what: str = "model") -> onnx.ModelProto:
    """Bytes -> ModelProto, checked; ModelError with one line for anything that is not a valid ONNX model."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) == 0:
        raise ModelError(f"{what}: empty or non-bytes ONNX data")
    try:
        proto = onnx.load_from_string(bytes(data))
        onnx.checker.check_model(proto)
    except (DecodeError, onnx.checker.ValidationError, ValueError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
        raise ModelError(f"{what}: {len(data)} bytes are not a valid ONNX model ({first})") from None
    if len(proto.graph.node) == 0:
        raise ModelError(f"{what}: ONNX graph has no nodes")
    return proto


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _tensor(inits: dict[str, np.ndarray], name: str, node: str) -> torch.Tensor:
    if name not in inits:
        raise ModelError(f"ONNX node {node!r}: input {name!r} is not an initialiser")
    return torch.from_numpy(np.array(inits[name], dtype=np.float32, copy=True))


def _layer(node: onnx.NodeProto, inits: dict[str, np.ndarray]) -> nn.Module | None:
    attrs = _attrs(node)
    if node.op_type == "Conv":
        weight = _tensor(inits, node.input[1], node.name)
        bias = _tensor(inits, node.input[2], node.name) if len(node.input) > 2 and node.input[2] else None
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        if attrs.get("group", 1) != 1 or list(attrs.get("dilations", [1, 1])) != [1, 1] or pads[:2] != pads[2:]:
            raise ModelError(f"ONNX Conv {node.name!r}: only group=1, dilation 1, symmetric pads are supported")
        out_c, in_c, kh, kw = weight.shape
        conv = nn.Conv2d(in_c, out_c, (kh, kw), stride=tuple(attrs.get("strides", [1, 1])),
                         padding=tuple(pads[:2]), bias=bias is not None)
        with torch.no_grad():
            conv.weight.copy_(weight)
            if bias is not None:
                conv.bias.copy_(bias)
        return conv
    if node.op_type == "Relu":
        return nn.ReLU()
    if node.op_type == "MaxPool":
        if any(attrs.get("pads", [0, 0, 0, 0])) or attrs.get("ceil_mode", 0):
            raise ModelError(f"ONNX MaxPool {node.name!r}: pads/ceil_mode are not supported")
        return nn.MaxPool2d(tuple(attrs["kernel_shape"]), stride=tuple(attrs.get("strides", attrs["kernel_shape"])))
    if node.op_type == "Flatten":
        if attrs.get("axis", 1) != 1:
            raise ModelError(f"ONNX Flatten {node.name!r}: only axis=1 is supported")
        return nn.Flatten(1)
    if node.op_type == "Gemm":
        if attrs.get("transB", 0) != 1 or attrs.get("transA", 0) != 0 or attrs.get("alpha", 1.0) != 1.0 \
                or attrs.get("beta", 1.0) != 1.0:
            raise ModelError(f"ONNX Gemm {node.name!r}: only transB=1, alpha=beta=1 is supported")
        weight = _tensor(inits, node.input[1], node.name)
        bias = _tensor(inits, node.input[2], node.name) if len(node.input) > 2 and node.input[2] else None
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        with torch.no_grad():
            linear.weight.copy_(weight)
            if bias is not None:
                linear.bias.copy_(bias)
        return linear
    if node.op_type == "Softmax":
        return nn.Softmax(dim=attrs.get("axis", -1))
    if node.op_type == "Sub":
        return Centre(_tensor(inits, node.input[1], node.name))
    if node.op_type == "MatMul":
        return Project(_tensor(inits, node.input[1], node.name))
    raise ModelError(f"ONNX node {node.name!r}: op {node.op_type!r} is not one the model reader supports "
                     "(Conv, Relu, MaxPool, Flatten, Gemm, Softmax, Sub, MatMul)")


def sequential_from_onnx(data: bytes, what: str = "model") -> nn.Sequential:
    """A chain-shaped ONNX graph -> nn.Sequential with the ONNX node names as layer names."""
    proto = parse_onnx(data, what)
    graph = proto.graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    layers: "OrderedDict[str, nn.Module]" = OrderedDict()
    current = graph.input[0].name
    for index, node in enumerate(graph.node):
        if not node.input or node.input[0] != current or len(node.output) != 1:
            raise ModelError(f"{what}: ONNX graph is not a simple chain at node {index} ({node.name!r})")
        name = node.name or f"{node.op_type.lower()}{index}"
        if name in layers:
            raise ModelError(f"{what}: duplicate ONNX node name {name!r}")
        layer = _layer(node, inits)
        layers[name] = layer
        current = node.output[0]
    return nn.Sequential(layers)


def shared_block_from_onnx(data: bytes, *, freeze: bool = True) -> nn.Sequential:
    """A received CloudCNN lower block (Conv/Relu only) -> frozen torch layers ready for a new head."""
    block = sequential_from_onnx(data, what="shared block")
    for name, layer in block.named_children():
        if not isinstance(layer, (nn.Conv2d, nn.ReLU)):
            raise ModelError(f"shared block: layer {name!r} is {type(layer).__name__}; a shared block holds only "
                             "Conv and Relu layers")
    if freeze:
        for parameter in block.parameters():
            parameter.requires_grad_(False)
    return block
