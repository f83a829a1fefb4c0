"""A model set with the user's own ONNX files in it: the base set (the default one, or --models-dir) plus each
file, its card embedded, under a name of its own, in ``<repo>/.cache/byo-models/<key>/``.

The cloud serves that folder as it serves any model set and the edge downloads from it over the WAN with each
file's sha256, so a user's model takes exactly today's path. Slots:

    edge, cloud                          role full: an image model (card: input, layout, size, normalisation)
    split-head, split-tail               roles lower / upper, "placement": "split" (nodes/placements.py)
    features-encoder, features-classifier  roles encoder / feature-classifier, "placement": "features"

The manifest's ``byo`` table records, per slot, the served name, the source path and sha256, and the card.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from models.errors import ModelError
from models.model_card import ModelCard
from models.onnx_file import OnnxFile, image_card, read_onnx_file, tensor_model_check, with_card
from models.runtime import open_session

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BYO_ROOT = REPO_ROOT / ".cache" / "byo-models"
# slot -> (manifest role, pair placement, takes images)
SLOTS = {"edge": ("full", "", True), "cloud": ("full", "", True),
         "split-head": ("lower", "split", True), "split-tail": ("upper", "split", False),
         "features-encoder": ("encoder", "features", True),
         "features-classifier": ("feature-classifier", "features", False)}
PAIRS = (("split-head", "split-tail"), ("features-encoder", "features-classifier"))


@dataclass(frozen=True)
class UserModel:
    slot: str
    path: str
    card_values: dict = field(default_factory=dict)  # flag overrides of the card (KEY=VALUE)

    def __post_init__(self) -> None:
        if self.slot not in SLOTS:
            raise ModelError(f"model slot {self.slot!r}: must be one of {', '.join(SLOTS)}")


@dataclass(frozen=True)
class DerivedSet:
    models_dir: Path
    names: dict  # slot -> served name


def _slug(path: str) -> str:
    stem = Path(path).name
    stem = stem[:-5] if stem.endswith(".onnx") else stem
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:100]
    return slug or "model"


def _checked(model: UserModel) -> tuple[OnnxFile, ModelCard | None, bytes]:
    onnx_file = read_onnx_file(model.path)
    takes_images = SLOTS[model.slot][2]
    if takes_images:
        card = image_card(onnx_file, model.card_values, f"--{model.slot}-card")
    else:
        if model.card_values:
            raise ModelError(f"--{model.slot}: a {model.slot} takes tensors, not images; it has no card")
        tensor_model_check(onnx_file)
        card = None
    data = with_card(onnx_file, card)
    open_session(data, device="cpu", threads=1)  # ONNX Runtime must load it here, not fail later on a node
    return onnx_file, card, data


def check_user_models(models: list[UserModel]) -> None:
    """Every file read, its card resolved and checked, and ONNX Runtime able to load it: cheap, so it runs before
    the base set is found (or built)."""
    for model in models:
        _checked(model)


def _check_pair(head: OnnxFile, tail: OnnxFile, slots: tuple[str, str]) -> None:
    if len(head.outputs) != 1:
        raise ModelError(f"--{slots[0]} {head.path}: has {len(head.outputs)} outputs; the {slots[1]} gets exactly one")
    out, inp = head.outputs[0], tail.inputs[0]
    shapes_fit = len(out.shape) == len(inp.shape) and all(a is None or b is None or a == b
                                                          for a, b in zip(out.shape[1:], inp.shape[1:]))
    if not shapes_fit or out.elem_type != inp.elem_type:
        raise ModelError(f"--{slots[0]} {head.path} outputs {out.name} {list(out.shape)} ({out.type_name}) but "
                         f"--{slots[1]} {tail.path} takes {inp.name} {list(inp.shape)} ({inp.type_name}): "
                         "not a pair (models split FILE --at TENSOR makes one)")


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def derive_model_set(base_dir: Path, models: list[UserModel], root: Path | None = None) -> DerivedSet:
    """The base set plus ``models`` in a folder of its own (reused while everything in it is unchanged)."""
    base_dir = Path(base_dir)
    base = json.loads((base_dir / "manifest.json").read_text(encoding="utf-8"))
    slots = [m.slot for m in models]
    dupes = sorted({s for s in slots if slots.count(s) > 1})
    if dupes:
        raise ModelError(f"model slot(s) {', '.join(dupes)} given twice")
    for head, tail in PAIRS:
        if (head in slots) != (tail in slots):
            given, missing = (head, tail) if head in slots else (tail, head)
            raise ModelError(f"--{given} needs --{missing} too (a pair: the edge runs one, the cloud the other)")
    checked = {m.slot: (m, *_checked(m)) for m in models}
    for head, tail in PAIRS:
        if head in checked:
            _check_pair(checked[head][1], checked[tail][1], (head, tail))

    names: dict[str, str] = {}
    entries: dict[str, dict] = {}
    byo: dict[str, dict] = {}
    taken = set(base["models"])
    for slot, (model, onnx_file, card, data) in checked.items():
        digest = hashlib.sha256(data).hexdigest()
        same = [n for n, e in entries.items() if e["sha256"] == digest and e["role"] == SLOTS[slot][0]
                and e.get("placement", "") == SLOTS[slot][1]]
        if same:  # the same file in two slots of one role (edge and cloud): one entry
            name = same[0]
        else:
            name = _slug(model.path)
            if name in taken:
                name = f"{name}-{slot}"
            if name in taken:
                name = f"{name}-{digest[:8]}"
            taken.add(name)
            entry = {"file": f"{name}.onnx", "sha256": digest, "bytes": len(data), "role": SLOTS[slot][0],
                     "accuracy": None, "source": "user file"}
            if SLOTS[slot][1]:
                entry["placement"] = SLOTS[slot][1]
            entries[name] = entry
        names[slot] = name
        byo[slot] = {"name": name, "source": str(Path(model.path).resolve()),
                     "source_sha256": hashlib.sha256(onnx_file.data).hexdigest(),
                     "card": json.loads(card.to_json()) if card else None, "card_source": card.source if card else ""}

    key = hashlib.sha256(json.dumps({"base": base.get("key"), "base_dir": str(base_dir.resolve()),
                                     "entries": entries, "names": names}, sort_keys=True).encode()).hexdigest()
    target = Path(root or DEFAULT_BYO_ROOT) / key[:16]
    manifest = {**base, "models": {**base["models"], **entries}, "byo": byo, "base_models_dir": str(base_dir)}
    if not _reusable(target, manifest):
        _write(target, base_dir, base, manifest, {n: checked_data(checked, names, n) for n in entries})
    return DerivedSet(target, names)


def checked_data(checked: dict, names: dict, name: str) -> bytes:
    slot = next(s for s, n in names.items() if n == name)
    return checked[slot][3]


def _reusable(target: Path, manifest: dict) -> bool:
    try:
        existing = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if existing.get("models") != manifest["models"]:
        return False
    return all((target / e["file"]).is_file() and (target / e["file"]).stat().st_size == e["bytes"]
               for e in manifest["models"].values())


def _write(target: Path, base_dir: Path, base: dict, manifest: dict, data_by_name: dict[str, bytes]) -> None:
    staging = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for entry in base["models"].values():
            _link_or_copy(base_dir / entry["file"], staging / entry["file"])
        for name, data in data_by_name.items():
            (staging / manifest["models"][name]["file"]).write_bytes(data)
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
