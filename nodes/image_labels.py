"""The true label of each image of a folder, the classes a model answers with, and whether an answer matched.

Labels come from a CSV (``--labels FILE.csv``: ``filename,label`` per line, an optional header; a filename
is the path under the images folder, or its bare name where that is unique) or, without one, from folder
names: ``DIR/<label>/x.jpg`` (images directly in DIR then have no label).

A served answer is the index of the largest output (``predicted_class``); the model's class names say what
each index means: the model card's labels where the manifest entry has them (``class_labels``), else the
class names of the data set the model set was trained on (``DATASET_CLASSES``). A label matches a class when
their normalised spellings are equal (case, spaces and punctuation ignored: "t-shirt top" = "T-shirt/top"),
or when it is the class's index ("3"). Labels among none of the classes leave the accuracy "not measured",
never the run failed.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

from nodes.errors import NodeConfigError

DATASET_CLASSES = {
    "digits": tuple(str(d) for d in range(10)),
    "mnist": tuple(str(d) for d in range(10)),
    "fashion": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
}
CARD_KEYS = ("class_labels", "labels", "classes")  # where a manifest entry (a model card) may list its classes
NOT_IN_CLASSES = "not measured: labels not in the model's classes"
_HEADER_NAMES = {"filename", "file", "image", "path", "name"}


class LabelError(NodeConfigError):
    """A labels CSV that cannot be used as it is."""


def normalise(label: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", str(label).casefold())


def read_labels_csv(path: Path, relpaths: list[str]) -> dict[str, str]:
    """relpath -> label for the images ``relpaths`` (paths under the folder, '/'-separated) named in ``path``.

    LabelError (one line) for an unreadable file, a row without two columns or with an empty label, a
    filename given twice, or filenames that are not images of the folder (the first few named)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelError(f"--labels {path}: cannot read it ({getattr(exc, 'strerror', None) or exc}); give a "
                         "CSV file of filename,label lines") from None
    by_name: dict[str, list[str]] = {}
    for rel in relpaths:
        by_name.setdefault(rel.rsplit("/", 1)[-1], []).append(rel)
    known = set(relpaths)
    labels: dict[str, str] = {}
    missing: list[str] = []
    for number, row in enumerate(csv.reader(text.splitlines()), 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if number == 1 and row[0].strip().casefold() in _HEADER_NAMES:
            continue
        if len(row) < 2 or not row[1].strip():
            raise LabelError(f"--labels {path}, line {number}: expected 'filename,label', got {','.join(row)!r}")
        name, label = row[0].strip().replace("\\", "/"), row[1].strip()
        name = name[2:] if name.startswith("./") else name
        rel = name if name in known else (by_name.get(name, [None])[0] if len(by_name.get(name, [])) == 1 else None)
        if rel is None:
            missing.append(name)
            continue
        if rel in labels and labels[rel] != label:
            raise LabelError(f"--labels {path}, line {number}: {name} is labelled twice ({labels[rel]!r} and "
                             f"{label!r}); keep one line per image")
        labels[rel] = label
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise LabelError(f"--labels {path}: {len(missing)} filename(s) are not images of the folder: {shown}; "
                         "name each image by its path under the folder (or its bare name where unique)")
    if not labels:
        raise LabelError(f"--labels {path}: no 'filename,label' line; give one per image")
    return labels


def folder_labels(relpaths: list[str]) -> dict[str, str]:
    """relpath -> label from the folder each image lies in, for images in ``DIR/<label>/``; {} if none is."""
    return {rel: rel.split("/", 1)[0] for rel in relpaths if "/" in rel}


def model_class_names(manifest: dict, model: str) -> tuple[str, ...] | None:
    """The class names of ``model`` in a model set's manifest: its card's labels, else those of the data set
    the set was trained on; None when neither is known."""
    entry = (manifest.get("models") or {}).get(model) or {}
    cards = [entry] + [(slot.get("card") or {}) for slot in (manifest.get("byo") or {}).values()
                       if isinstance(slot, dict) and slot.get("name") == model]
    for card in cards:
        for key in CARD_KEYS:
            names = card.get(key)
            if isinstance(names, (list, tuple)) and names and all(isinstance(n, str) for n in names):
                return tuple(names)
    if entry.get("source") == "user file":  # a model of the user's, its card without labels: unknown
        return None
    names = DATASET_CLASSES.get((manifest.get("dataset") or {}).get("name"))
    outputs = entry.get("outputs") or []
    width = (outputs[0].get("shape") or [None])[-1] if outputs and isinstance(outputs[0], dict) else None
    if names and isinstance(width, int) and width != len(names):  # not trained on the set (MobileNetV2: 1000)
        return None
    return names


class ClassMatcher:
    """``ClassMatcher(names).index_of("3")`` -> the class index a label means, or None."""

    def __init__(self, class_names):
        self.names = tuple(class_names or ())
        self._by_name = {normalise(n): i for i, n in enumerate(self.names)}

    def index_of(self, label: str) -> int | None:
        key = normalise(label)
        if key in self._by_name:
            return self._by_name[key]
        text = str(label).strip()
        return int(text) if text.isdigit() and int(text) < len(self.names) else None

    def unmatched(self, labels) -> list[str]:
        """The labels (sorted, each once) that are none of the classes."""
        return sorted({str(l) for l in labels if l not in ("", None) and self.index_of(str(l)) is None})

    def correct(self, true_label, predicted) -> str:
        """"1" / "0" when the answer ``predicted`` (a class index) is / is not the label's class; "" when the
        label is empty or none of the classes, or there is no answer."""
        if true_label in ("", None) or predicted in ("", None):
            return ""
        wanted = self.index_of(str(true_label))
        try:
            answer = int(float(predicted))
        except (TypeError, ValueError):
            return ""
        return "" if wanted is None else ("1" if answer == wanted else "0")
