"""Write a flat sequential torch model as an ONNX graph, by hand, deterministically.

Why by hand: torch 2.13's default exporter needs ``onnxscript`` and its TorchScript exporter is deprecated;
our models use eight layer kinds, each one ONNX op, so a direct writer gives byte-identical files for the
same weights, stable initialiser names (``conv1.weight``) that the edge reads back, a fixed opset and a
dynamic batch dimension named ``batch``.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from models.errors import ModelError
from models.layers import Centre, Project

OPSET = 17
IR_VERSION = 8
PRODUCER = "edgecloud-testbed.models"
BATCH_DIM = "batch"


def _pair(value: int | Sequence[int]) -> list[int]:
    return [int(value), int(value)] if isinstance(value, int) else [int(v) for v in value]


def _initialiser(name: str, tensor: torch.Tensor) -> onnx.TensorProto:
    array = np.ascontiguousarray(tensor.detach().cpu().numpy().astype(np.float32))
    return numpy_helper.from_array(array, name)


def _layer_nodes(name: str, layer: nn.Module, x: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], str]:
    """ONNX nodes + initialisers for one layer reading tensor ``x``; returns (nodes, inits, output name)."""
    y = f"{name}.out"
    if isinstance(layer, nn.Conv2d):
        if layer.groups != 1 or _pair(layer.dilation) != [1, 1] or layer.padding_mode != "zeros" \
                or isinstance(layer.padding, str):
            raise ModelError(f"export: conv layer {name!r} uses groups/dilation/padding mode the writer does not handle")
        pad_h, pad_w = _pair(layer.padding)
        inits = [_initialiser(f"{name}.weight", layer.weight)]
        inputs = [x, f"{name}.weight"]
        if layer.bias is not None:
            inits.append(_initialiser(f"{name}.bias", layer.bias))
            inputs.append(f"{name}.bias")
        node = helper.make_node("Conv", inputs, [y], name=name, kernel_shape=_pair(layer.kernel_size),
                                strides=_pair(layer.stride), pads=[pad_h, pad_w, pad_h, pad_w], dilations=[1, 1], group=1)
        return [node], inits, y
    if isinstance(layer, nn.ReLU):
        return [helper.make_node("Relu", [x], [y], name=name)], [], y
    if isinstance(layer, nn.MaxPool2d):
        if _pair(layer.padding) != [0, 0] or _pair(layer.dilation) != [1, 1] or layer.ceil_mode:
            raise ModelError(f"export: max-pool {name!r} uses padding/dilation/ceil mode the writer does not handle")
        node = helper.make_node("MaxPool", [x], [y], name=name, kernel_shape=_pair(layer.kernel_size),
                                strides=_pair(layer.stride if layer.stride is not None else layer.kernel_size))
        return [node], [], y
    if isinstance(layer, nn.Flatten):
        if layer.start_dim != 1 or layer.end_dim != -1:
            raise ModelError(f"export: flatten {name!r} must flatten dims 1..-1")
        return [helper.make_node("Flatten", [x], [y], name=name, axis=1)], [], y
    if isinstance(layer, nn.Linear):
        inits = [_initialiser(f"{name}.weight", layer.weight)]
        inputs = [x, f"{name}.weight"]
        if layer.bias is not None:
            inits.append(_initialiser(f"{name}.bias", layer.bias))
            inputs.append(f"{name}.bias")
        return [helper.make_node("Gemm", inputs, [y], name=name, transB=1)], inits, y
    if isinstance(layer, nn.Dropout):
        return [], [], x  # identity at inference
    if isinstance(layer, nn.Softmax):
        return [helper.make_node("Softmax", [x], [y], name=name, axis=1)], [], y
    if isinstance(layer, Centre):
        return [helper.make_node("Sub", [x, f"{name}.mean"], [y], name=name)], [_initialiser(f"{name}.mean", layer.mean)], y
    if isinstance(layer, Project):
        node = helper.make_node("MatMul", [x, f"{name}.components"], [y], name=name)
        return [node], [_initialiser(f"{name}.components", layer.components)], y
    raise ModelError(f"export: layer {name!r} of type {type(layer).__name__} is not supported by the ONNX writer")


def flat_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Leaf layers in order; nested Sequentials are flattened (their names kept, without prefix)."""
    layers: list[tuple[str, nn.Module]] = []
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential):
            layers.extend(flat_layers(child))
        else:
            layers.append((name, child))
    if not layers:
        raise ModelError(f"export: model {type(model).__name__} has no layers")
    return layers


def to_onnx_bytes(model: nn.Module, input_shape: Sequence[int], *, input_name: str = "image",
                  output_name: str = "probabilities", softmax: bool = False, graph_name: str = "model",
                  metadata: dict[str, str] | None = None) -> bytes:
    """Serialise ``model`` (eval mode) for inputs of shape (batch, *input_shape); optional final softmax."""
    layers = flat_layers(model)
    if softmax:
        layers.append(("softmax", nn.Softmax(dim=1)))
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    current = input_name
    for name, layer in layers:
        layer_nodes, layer_inits, current = _layer_nodes(name, layer, current)
        nodes.extend(layer_nodes)
        inits.extend(layer_inits)
    if not nodes:
        raise ModelError(f"export: model {graph_name!r} has no operations")
    # The last node writes the graph output directly.
    last = nodes[-1]
    last.output[0] = output_name
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            probe = model(torch.zeros((1, *input_shape), dtype=torch.float32))
    finally:
        model.train(was_training)
    output_shape = [BATCH_DIM, *probe.shape[1:]]
    graph = helper.make_graph(
        nodes, graph_name,
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [BATCH_DIM, *input_shape])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, output_shape)],
        initializer=inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name=PRODUCER, producer_version="1")
    proto.ir_version = IR_VERSION
    for key, value in sorted((metadata or {}).items()):
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), str(value)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        raise ModelError(f"export: graph {graph_name!r} fails the ONNX checker: {str(exc).splitlines()[0]}") from None
    return proto.SerializeToString(deterministic=True)


def write_onnx(data: bytes, path: Path) -> Path:
    """Write ONNX bytes atomically (temp file + os.replace)."""
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        temp.write_bytes(data)
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()
    return path
