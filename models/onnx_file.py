"""A user's ONNX file: read and checked, its inputs and outputs, its model card (defaults from the graph, then
``FILE.card.toml`` next to it, then flags), and the card embedded so the served bytes carry it.

Defaults read from the graph: the one input's name; NCHW when the shape is (N, C, H, W) with C of 1 or 3, NHWC
when it is (N, H, W, C); height, width and channels from the static dimensions. What the graph leaves open (a
dynamic height, say) the card must give; a card that contradicts the graph is refused with one line.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import onnx

from models.errors import ModelError
from models.model_card import METADATA_KEY, ModelCard, read_card_toml
from models.onnx_import import parse_onnx

CARD_SUFFIX = ".card.toml"
FLOAT = onnx.TensorProto.FLOAT


@dataclass(frozen=True)
class GraphTensor:
    name: str
    shape: tuple  # ints, or None for a dynamic dimension
    elem_type: int

    @property
    def type_name(self) -> str:
        return onnx.TensorProto.DataType.Name(self.elem_type)


def _tensors(values) -> tuple[GraphTensor, ...]:
    result = []
    for value in values:
        tensor_type = value.type.tensor_type
        shape = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                      for d in tensor_type.shape.dim)
        result.append(GraphTensor(value.name, shape, tensor_type.elem_type))
    return tuple(result)


@dataclass(frozen=True)
class OnnxFile:
    path: str
    data: bytes
    inputs: tuple[GraphTensor, ...]   # the graph's real inputs (initialisers left out)
    outputs: tuple[GraphTensor, ...]
    metadata: dict

    @property
    def proto(self) -> onnx.ModelProto:
        return onnx.load_from_string(self.data)


def read_onnx_file(path: Path | str) -> OnnxFile:
    """Read and check ``path``; ModelError with one line for a missing file or bytes that are not ONNX."""
    path = Path(path)
    if path.is_dir():
        raise ModelError(f"model file {path}: is a folder, not an .onnx file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"model file {path}: cannot read ({exc.strerror or exc})") from None
    proto = parse_onnx(data, what=f"model file {path}")
    initialisers = {t.name for t in proto.graph.initializer}
    inputs = _tensors(v for v in proto.graph.input if v.name not in initialisers)
    if not inputs:
        raise ModelError(f"model file {path}: the graph has no inputs")
    return OnnxFile(str(path), data, inputs, _tensors(proto.graph.output),
                    {p.key: p.value for p in proto.metadata_props})


def card_path_for(path: Path | str) -> Path:
    """``model.onnx`` -> ``model.card.toml`` (the card that sits next to the file)."""
    path = Path(path)
    stem = path.name[:-5] if path.name.endswith(".onnx") else path.name
    return path.with_name(stem + CARD_SUFFIX)


def graph_defaults(model: OnnxFile) -> dict:
    """Card values the graph itself gives: the input name and, from static dims, layout / size / channels."""
    values: dict = {"input_name": model.inputs[0].name} if len(model.inputs) == 1 else {}
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
        return values
    _, a, b, c = model.inputs[0].shape
    if a in (1, 3) and c not in (1, 3):
        values.update(layout="NCHW", channels=a)
        values.update({k: v for k, v in (("height", b), ("width", c)) if v})
    elif c in (1, 3) and a not in (1, 3):
        values.update(layout="NHWC", channels=c)
        values.update({k: v for k, v in (("height", a), ("width", b)) if v})
    return values


def image_card(model: OnnxFile, overrides: dict | None = None, override_source: str = "flags") -> ModelCard:
    """The card of an image model: graph defaults < the embedded card < FILE.card.toml < ``overrides``,
    checked against the graph."""
    where = f"model file {model.path}"
    values = graph_defaults(model)
    sources = ["the ONNX graph"]
    if METADATA_KEY in model.metadata:
        embedded = json.loads(ModelCard.from_json(model.metadata[METADATA_KEY], f"{where}: {METADATA_KEY}").to_json())
        _layer(values, {k: v for k, v in embedded.items() if v is not None})
        sources.append("its embedded card")
    card_file = card_path_for(model.path)
    if card_file.is_file():
        _layer(values, read_card_toml(card_file))
        sources.append(str(card_file))
    if overrides:
        _layer(values, overrides)
        sources.append(override_source)
    source = " + ".join(sources)
    missing = [k for k in ("input_name", "height", "width") if k not in values]
    if missing:
        shapes = ", ".join(f"{t.name} {_shape_text(t.shape)}" for t in model.inputs)
        raise ModelError(f"{where}: its inputs ({shapes}) do not say {', '.join(missing)}; give them in "
                         f"{card_file.name} or with the card flag (e.g. height=224,width=224)")
    card = ModelCard.from_dict(values, source)
    check_card(model, card)
    return card


def _layer(values: dict, new: dict) -> None:
    """``new`` over ``values``; a normalisation given replaces the other kind (scale vs mean/std)."""
    if "scale" in new and not {"mean", "std"} & set(new):
        values.pop("mean", None), values.pop("std", None)
    if {"mean", "std"} & set(new) and "scale" not in new:
        values.pop("scale", None)
    values.update(new)


def _shape_text(shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def check_card(model: OnnxFile, card: ModelCard) -> None:
    """The card must describe the graph's one float input: its name, rank 4, and every static dimension."""
    where = f"model file {model.path}"
    names = [t.name for t in model.inputs]
    if len(model.inputs) != 1:
        raise ModelError(f"{where}: an image model needs exactly one input, it has {len(names)} ({', '.join(names)})")
    tensor = model.inputs[0]
    if card.input_name != tensor.name:
        raise ModelError(f"{where}: the card's input_name {card.input_name!r} is not an input of the graph "
                         f"(its input is {tensor.name!r})")
    if tensor.elem_type != FLOAT:
        raise ModelError(f"{where}: input {tensor.name!r} is {tensor.type_name}; only float32 image inputs are "
                         "served")
    if len(tensor.shape) != 4:
        raise ModelError(f"{where}: input {tensor.name!r} has shape {_shape_text(tensor.shape)}; an image model "
                         "needs 4 dimensions (N, C, H, W) or (N, H, W, C)")
    wanted = card.input_shape
    for axis, (have, want) in enumerate(zip(tensor.shape[1:], wanted), start=1):
        if have is not None and have != want:
            raise ModelError(f"{where}: the card says {card.layout} {list(wanted)} but input {tensor.name!r} is "
                             f"{_shape_text(tensor.shape)} (dimension {axis}: {have} != {want}); fix the card's "
                             "layout, height, width or channels")
    if card.labels and model.outputs and model.outputs[0].shape and model.outputs[0].shape[-1] not in (None, len(card.labels)):
        raise ModelError(f"{where}: the card has {len(card.labels)} labels but output {model.outputs[0].name!r} has "
                         f"{model.outputs[0].shape[-1]} classes")


def tensor_model_check(model: OnnxFile) -> None:
    """A tensor model (a split tail, a feature classifier) takes exactly one float tensor."""
    if len(model.inputs) != 1:
        names = ", ".join(t.name for t in model.inputs)
        raise ModelError(f"model file {model.path}: a tail / classifier needs exactly one input, it has "
                         f"{len(model.inputs)} ({names})")
    if model.inputs[0].elem_type != FLOAT:
        raise ModelError(f"model file {model.path}: input {model.inputs[0].name!r} is "
                         f"{model.inputs[0].type_name}; only float32 tensors are served")


def with_card(model: OnnxFile, card: ModelCard | None) -> bytes:
    """The file's bytes with ``card`` in its metadata (``ect.card``); unchanged bytes when card is None."""
    if card is None:
        return model.data
    proto = model.proto
    kept = [p for p in proto.metadata_props if p.key != METADATA_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, card.to_json()
    return proto.SerializeToString()
