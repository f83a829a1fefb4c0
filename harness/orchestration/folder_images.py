"""``--images DIR`` for a run: the options checked, the folder read and its images re-encoded once before any
network is built (each device then reads them from the cache), and what the run records: the folder, the
labels, each placement's class names and whether accuracy can be measured (``experiment.json["images"]``).

A bad folder (empty, an unreadable image, a labels CSV naming files it lacks, a size no resolution reaches) is
one line, before anything starts. Labels that are none of a model's classes are not an error: that
placement's accuracy is "not measured", said in one line, and the run goes on.
"""
from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError, SpecError
from nodes.errors import NodeConfigError
from nodes.image_folder import IMAGE_MODES, folder_image_set, load_folder
from nodes.image_labels import NOT_IN_CLASSES, ClassMatcher, model_class_names


def check_image_options(images_dir: str, image_mode: str, labels_file: str) -> None:
    """SpecError for an image mode that does not exist, or labels without images."""
    if image_mode not in IMAGE_MODES:
        raise SpecError(f"--image-mode {image_mode!r}: use {' or '.join(IMAGE_MODES)}")
    if labels_file and not images_dir:
        raise SpecError(f"--labels {labels_file} needs --images DIR (the folder of the images it labels)")


def accuracy_note(labels: list[str], class_names) -> str:
    """"measured", or why a placement's accuracy is not (one line)."""
    if not labels:
        return "not measured: the images have no labels (give --labels FILE.csv or put them in DIR/<label>/)"
    if not class_names:
        return "not measured: the model's class names are unknown (give them as labels in its model card)"
    unmatched = ClassMatcher(class_names).unmatched(labels)
    if len(unmatched) == len(labels):
        shown = ", ".join(repr(l) for l in unmatched[:3])
        return (f"{NOT_IN_CLASSES} (labels {shown}{' ...' if len(unmatched) > 3 else ''}; classes "
                f"{', '.join(list(class_names)[:4])}{' ...' if len(class_names) > 4 else ''})")
    if unmatched:
        return f"measured on the labels among the model's classes ({len(unmatched)} label(s) are not, left out)"
    return "measured"


def check_image_folder(images_dir: str, labels_file: str) -> None:
    """HarnessError (one line) for a folder, image or labels CSV that cannot be used: before models are built."""
    if not images_dir:
        return
    try:
        load_folder(Path(images_dir), Path(labels_file) if labels_file else None)
    except NodeConfigError as exc:
        raise HarnessError(str(exc)) from None


def prepare_images(images_dir: str, image_mode: str, labels_file: str, sizes, seeds, rounds: int | None,
                   cache_dir: Path, served_models: dict[str, str], models_dir: Path, progress=print) -> dict:
    """Read the folder, re-encode the images each device (one seed each) will send into ``cache_dir``, and
    return the run's record of them. ``served_models``: placement -> the model whose classes its answers are.
    HarnessError (one line) for a folder or size that cannot be used."""
    from harness.orchestration.model_set import load_manifest

    try:
        folder = load_folder(Path(images_dir), Path(labels_file) if labels_file else None)
        progress(f"images: {len(folder.images)} files from {images_dir} ({image_mode}; labels from "
                 f"{folder.label_source})")
        for seed in seeds:
            folder_image_set(folder, sizes, image_mode, seed, len(folder.images) if rounds is None else rounds,
                             cache_dir)
    except NodeConfigError as exc:
        raise HarnessError(str(exc)) from None
    manifest = load_manifest(models_dir)
    class_names = {p: model_class_names(manifest, model) for p, model in served_models.items()}
    notes = {p: accuracy_note(folder.labels, names) for p, names in class_names.items()}
    for placement, note in notes.items():
        if note.startswith("not measured"):
            progress(f"images: {placement} accuracy {note}")
    return {**folder.describe(), "mode": image_mode, "labels_file": labels_file,
            "class_names": {p: list(n) if n else None for p, n in class_names.items()}, "accuracy": notes}


def answer_correct(images_record: dict | None, placement: str, row: dict) -> str:
    """A joined request row's ``correct``: "1" / "0" where its label is one of the placement's classes and it
    was answered, else "" (see ``nodes.image_labels.ClassMatcher.correct``)."""
    if not images_record or row.get("status") != "ok":
        return ""
    names = (images_record.get("class_names") or {}).get(placement)
    return ClassMatcher(names).correct(row.get("true_label"), row.get("predicted_class")) if names else ""
