"""The user's own models on compare, sweep, replay and load: ``--edge-model`` / ``--cloud-model`` (an .onnx file
or a model name of the set), the ``split`` and ``features`` pairs, and their cards.

Given files, the run serves a model set of its own (the base set plus the files, models/byo_set.py): the spec's
``models_dir``, ``edge_model`` and ``cloud_model`` point at it, so experiment.json repeats the run exactly.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import HarnessError

CARD_HELP = ("its model card: a TOML file, or KEY=VALUE[,...] over FILE.card.toml and the graph's defaults "
             "(keys input_name, layout=NCHW|NHWC, height, width, channels, mean, std, scale, labels; lists as "
             "a/b/c, e.g. mean=0.485/0.456/0.406)")
IMAGE_SLOTS = ("edge", "cloud", "split-head", "features-encoder")
SLOTS = ("edge", "cloud", "split-head", "split-tail", "features-encoder", "features-classifier")  # models.byo_set


def _dest(slot: str) -> str:
    return "model_" + slot.replace("-", "_")


def add_model_options(parser: argparse.ArgumentParser, *, pairs: bool = True) -> None:
    parser.add_argument("--edge-model", dest=_dest("edge"), metavar="FILE.onnx|NAME",
                        help="the edge's image model: an ONNX file (served by the cloud, downloaded by the edge "
                             "with its sha256) or a model of the set, e.g. mobilenetv2 (default: edgecnn1-3)")
    parser.add_argument("--cloud-model", dest=_dest("cloud"), metavar="FILE.onnx|NAME",
                        help="the cloud's image model: an ONNX file or a model of the set, e.g. resnet18 "
                             "(default: cloudcnn)")
    parser.add_argument("--edge-card", dest="card_edge", metavar="FILE|KEY=VALUE,...", help=f"--edge-model's card: {CARD_HELP}")
    parser.add_argument("--cloud-card", dest="card_cloud", metavar="FILE|KEY=VALUE,...", help="--cloud-model's card (as --edge-card)")
    if not pairs:
        return
    parser.add_argument("--split-head", dest=_dest("split-head"), metavar="FILE.onnx",
                        help="split placement: the edge's part (images in), e.g. from 'models split'; needs --split-tail")
    parser.add_argument("--split-tail", dest=_dest("split-tail"), metavar="FILE.onnx",
                        help="split placement: the cloud's part (the head's tensor in)")
    parser.add_argument("--split-head-card", dest="card_split_head", metavar="FILE|KEY=VALUE,...",
                        help="--split-head's card (as --edge-card)")
    parser.add_argument("--features-encoder", dest=_dest("features-encoder"), metavar="FILE.onnx",
                        help="features placement: the edge's encoder (images in); needs --features-classifier")
    parser.add_argument("--features-classifier", dest=_dest("features-classifier"), metavar="FILE.onnx",
                        help="features placement: the cloud's classifier (the features in)")
    parser.add_argument("--features-encoder-card", dest="card_features_encoder", metavar="FILE|KEY=VALUE,...",
                        help="--features-encoder's card (as --edge-card)")


def _is_name(value: str) -> bool:
    return not value.endswith(".onnx") and "/" not in value and not Path(value).exists()


def model_spec_flags(args: argparse.Namespace) -> dict:
    """Spec flags (models_dir, edge_model, cloud_model) for the model options given; {} when none is."""
    given = {slot: getattr(args, _dest(slot)) for slot in SLOTS if getattr(args, _dest(slot), None)}
    cards = {slot: getattr(args, "card_" + slot.replace("-", "_"), None) for slot in IMAGE_SLOTS}
    for slot, card in cards.items():
        if card and slot not in given:
            raise HarnessError(f"--{slot}-card needs --{slot}-model" if slot in ("edge", "cloud")
                               else f"--{slot}-card needs --{slot}")
    if not given:
        return {}  # and nothing imported: onnxruntime is not every command's (its import can print)
    from harness.orchestration.model_set import load_manifest, models_for
    from models.byo_set import UserModel, check_user_models, derive_model_set
    from models.errors import ModelError
    from models.model_card import parse_card_flag

    try:  # the files first: a bad one is one line before the base set is found (or built)
        check_user_models([UserModel(slot, value, parse_card_flag(cards[slot], f"--{slot}-card")
                                     if cards.get(slot) else {})
                           for slot, value in given.items() if not (slot in ("edge", "cloud") and _is_name(value))])
    except ModelError as exc:
        raise HarnessError(str(exc)) from None
    base_dir = models_for(getattr(args, "models_dir", None) or "")
    base = load_manifest(base_dir)["models"]
    flags: dict = {}
    files = []
    try:
        for slot, value in given.items():
            if slot in ("edge", "cloud") and _is_name(value):
                if value not in base or base[value].get("role") != "full":
                    full = sorted(n for n, e in base.items() if e.get("role") == "full")
                    raise HarnessError(f"--{slot}-model {value!r}: no such file, and not an image model of "
                                       f"{base_dir} (those are {', '.join(full)})")
                if cards.get(slot):
                    raise HarnessError(f"--{slot}-card applies to a file; {value!r} is a model of the set")
                flags[f"{slot}_model"] = value
                continue
            card_text = cards.get(slot)
            files.append(UserModel(slot, value, parse_card_flag(card_text, f"--{slot}-card") if card_text else {}))
        if files:
            derived = derive_model_set(base_dir, files)
            flags["models_dir"] = str(derived.models_dir)
            flags.update({f"{slot}_model": name for slot, name in derived.names.items() if slot in ("edge", "cloud")})
    except ModelError as exc:
        raise HarnessError(str(exc)) from None
    return flags
