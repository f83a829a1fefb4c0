"""Split an ONNX model at one tensor into a head (inputs -> the tensor) and a tail (the tensor -> outputs) with
``onnx.utils.extract_model``, and check on random inputs that tail(head(x)) equals the whole model.

A tensor is a valid cut when it is the only value crossing it: nothing produced before it (a skip connection,
a graph input) is still needed after it. Constants (nodes without inputs, initialisers) may be on either side.
The head keeps the whole model's card (it takes the images); the tail takes the tensor. The pair is what
``--split-head`` / ``--split-tail`` serve as the ``split`` placement.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnx.utils

from models.errors import ModelError
from models.model_card import METADATA_KEY
from models.onnx_file import card_path_for, image_card, read_onnx_file
from models.runtime import open_session

RTOL, ATOL = 1e-4, 1e-5
SHOWN_CUTS = 8


@dataclass(frozen=True)
class SplitResult:
    head_path: Path
    tail_path: Path
    tensor: str
    max_abs_diff: float
    equal: bool            # np.allclose(whole, tail(head(x)), rtol=RTOL, atol=ATOL)
    cut_shape: tuple       # one image's cut tensor shape (without the batch dimension)
    cut_bytes_per_image: int


def cut_points(proto: onnx.ModelProto) -> list[str]:
    """Tensors (in graph order) at which the graph can be cut into a one-input tail."""
    graph = proto.graph
    constants = {t.name for t in graph.initializer}
    for node in graph.node:
        if all(name in constants or not name for name in node.input):
            constants.update(node.output)
    last_use: dict[str, int] = {}
    for index, node in enumerate(graph.node):
        for name in node.input:
            if name and name not in constants:
                last_use[name] = index
    end = len(graph.node)
    for output in graph.output:
        last_use[output.name] = end
    live = {v.name for v in graph.input if v.name not in constants and last_use.get(v.name, -1) >= 0}
    cuts = []
    for index, node in enumerate(graph.node):
        live = {name for name in live if last_use.get(name, -1) > index}
        live.update(name for name in node.output if name not in constants and last_use.get(name, -1) > index)
        if len(live) == 1:
            (only,) = live
            if only in node.output and last_use[only] < end:
                cuts.append(only)
    return cuts


def _resolve(proto: onnx.ModelProto, at: str, path: str) -> str:
    cuts = cut_points(proto)
    by_node = {node.name: node for node in proto.graph.node if node.name}
    tensor = at
    if at in by_node and at not in cuts:
        outputs = [o for o in by_node[at].output if o]
        tensor = outputs[0] if len(outputs) == 1 else at
    if tensor in cuts:
        return tensor
    step = max(1, len(cuts) // SHOWN_CUTS)
    shown = ", ".join(cuts[::step][:SHOWN_CUTS]) or "none: the graph has no single-tensor cut"
    known = any(at in node.output for node in proto.graph.node) or at in by_node
    why = ("is not a single-tensor cut (another value, e.g. a skip connection, crosses it)" if known
           else "is neither a tensor nor a node of the graph")
    raise ModelError(f"models split {path}: --at {at!r} {why}; valid cuts ({len(cuts)}) include: {shown}")


def _random_feeds(session, card, rng: np.random.Generator, batch: int = 2) -> dict:
    feeds = {}
    for info in session.inputs:
        shape = [batch] + [d if isinstance(d, int) else None for d in info.shape[1:]]
        if any(d is None for d in shape):
            if card is None or len(shape) != 4:
                raise ModelError(f"input {info.name!r} has dynamic dimensions {list(info.shape)}: give its size in "
                                 "a card (FILE.card.toml: height, width) to check the split")
            shape = [batch, *card.input_shape]
        feeds[info.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


def split_model(path: Path | str, at: str, out_dir: Path | str | None = None, seed: int = 0) -> SplitResult:
    """Write ``<stem>-head.onnx`` and ``<stem>-tail.onnx`` into ``out_dir`` (default: beside the file); check them."""
    model = read_onnx_file(path)
    proto = model.proto
    tensor = _resolve(proto, at, model.path)
    stem = Path(path).name[:-5] if Path(path).name.endswith(".onnx") else Path(path).name
    out = Path(out_dir) if out_dir is not None else Path(path).parent
    out.mkdir(parents=True, exist_ok=True)
    head_path, tail_path = out / f"{stem}-head.onnx", out / f"{stem}-tail.onnx"
    inputs = [t.name for t in model.inputs]
    outputs = [t.name for t in model.outputs]
    try:
        card = image_card(model) if len(inputs) == 1 else None
    except ModelError:
        card = None
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "whole.onnx"
        source.write_bytes(model.data)
        try:
            onnx.utils.extract_model(str(source), str(head_path), inputs, [tensor])
            onnx.utils.extract_model(str(source), str(tail_path), [tensor], outputs)
        except Exception as exc:  # noqa: BLE001 - onnx raises several types for a graph it cannot cut
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise ModelError(f"models split {model.path} --at {tensor}: onnx cannot extract the parts ({first})") \
                from None
    head = onnx.load(str(head_path))
    for prop in proto.metadata_props:  # the head takes the images: it keeps the card (and the rest)
        head.metadata_props.add(key=prop.key, value=prop.value)
    if card is not None and not any(p.key == METADATA_KEY for p in head.metadata_props):
        head.metadata_props.add(key=METADATA_KEY, value=card.to_json())
    onnx.save(head, str(head_path))
    side_card = card_path_for(model.path)
    if side_card.is_file():
        card_path_for(head_path).write_text(side_card.read_text(encoding="utf-8"), encoding="utf-8")

    whole_s, head_s, tail_s = (open_session(p, device="cpu", threads=1) for p in (model.data, head_path, tail_path))
    feeds = _random_feeds(whole_s, card, np.random.default_rng(seed))
    expected = whole_s.run(feeds)
    middle = head_s.run(feeds)[0]
    got = tail_s.run({tail_s.inputs[0].name: middle})
    diffs = [float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) if np.size(a) else 0.0
             for a, b in zip(expected, got)]
    equal = all(np.allclose(a, b, rtol=RTOL, atol=ATOL) for a, b in zip(expected, got))
    return SplitResult(head_path, tail_path, tensor, max(diffs, default=0.0), equal, tuple(middle.shape[1:]),
                       int(middle[0].nbytes))
