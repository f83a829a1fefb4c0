"""A device's images from a folder of real JPEG / PNG files (``--images DIR``), in a seeded order, with labels.

    folder = load_folder(Path("photos"), labels_csv=None)      # DIR/<label>/x.jpg, or --labels FILE.csv
    images = folder_image_set(folder, ["60K", "512K"], mode="resize", seed=3, rounds=12, cache_dir=...)

The images are taken in a seeded order (the sorted paths, permuted by ``seed``), cycling. A *round* is one
repetition of the workload:
- ``resize`` (default): round r re-encodes image r of that order to every requested size
  (``nodes.image_resize``: the same photo at each size, so sizes are compared on the same content);
- ``as-is``: round r sends image r as the file is (its bytes are the row's size; ``--sizes`` is not used).
``rounds`` images are prepared (at most the folder's count: beyond it they repeat). Re-encoded images are
cached in ``cache_dir`` by the source's sha256 and the size, so the harness prepares them once before a run
and each device only reads them.

The result is a list of ``SentImage`` items, ``(size_bytes, jpeg)`` pairs as the synthetic image set's (so a
workload iterates them alike) that also carry the row columns of their image (``image_fields``), and says
how many make a round (``per_round``; ``round_of`` gives round r of any image list).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from nodes.errors import NodeConfigError
from nodes.image_labels import LabelError, folder_labels, read_labels_csv
from nodes.image_resize import resize_to_size
from nodes.jpeg_images import parse_image_size

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
IMAGE_MODES = ("resize", "as-is")
IMAGE_FIELDS = ("image", "image_width", "image_height", "image_quality", "image_encoded_bytes", "true_label")
ENCODER_VERSION = 1  # part of the cache key: bump when nodes.image_resize changes what it makes


class ImageFolderError(NodeConfigError):
    """A folder of images that cannot be sent as asked (empty, unreadable files, labels that do not fit)."""


@dataclass(frozen=True)
class FolderImage:
    relpath: str        # '/'-separated path under the folder
    path: Path
    sha256: str
    width_px: int
    height_px: int
    size_bytes: int
    label: str = ""     # "" = no label


@dataclass(frozen=True)
class ImageFolder:
    root: Path
    images: tuple[FolderImage, ...]
    label_source: str   # "csv", "folders" or "none"

    def __post_init__(self):
        if not self.images:
            raise ImageFolderError(f"--images {self.root}: no image in it")
        if self.label_source not in ("csv", "folders", "none"):
            raise ValueError(f"label_source {self.label_source!r}")

    @property
    def labels(self) -> list[str]:
        return sorted({i.label for i in self.images if i.label})

    def ordered(self, seed: int) -> list[FolderImage]:
        """The images in the order ``seed`` gives (a permutation of the sorted paths)."""
        order = np.random.default_rng(seed).permutation(len(self.images))
        return [self.images[i] for i in order]

    def describe(self) -> dict:
        """What experiment.json records of the folder."""
        return {"dir": str(self.root), "images": len(self.images), "label_source": self.label_source,
                "labelled": sum(1 for i in self.images if i.label), "labels": self.labels,
                "bytes_min": min(i.size_bytes for i in self.images),
                "bytes_max": max(i.size_bytes for i in self.images)}


class SentImage(tuple):
    """``(size_bytes, jpeg)``, plus ``fields``: the row columns of the image it was made from."""

    def __new__(cls, size_bytes: int, jpeg: bytes, fields: dict):
        item = super().__new__(cls, (size_bytes, jpeg))
        item.fields = dict(fields)
        return item


class FolderImages(list):
    """A list of SentImage, ``per_round`` of them per round, round after round."""

    def __init__(self, items, per_round: int):
        super().__init__(items)
        self.per_round = per_round


def image_fields(item) -> dict:
    """The row columns of an image list's item (none for a synthetic image)."""
    return getattr(item, "fields", {})


def round_of(images, rep: int) -> list:
    """The images of round ``rep``: for a FolderImages its rep-th group (cycling); any other list is one round."""
    per_round = getattr(images, "per_round", len(images))
    if per_round >= len(images):
        return list(images)
    start = (rep * per_round) % len(images)
    return list(images[start:start + per_round])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _inspect(path: Path, relpath: str) -> tuple[int, int]:
    """(width, height) of a readable image; ImageFolderError naming the file otherwise."""
    try:
        with Image.open(path) as image:
            if image.format not in ("JPEG", "PNG"):
                raise ImageFolderError(f"--images: {relpath} is a {image.format} image; only JPEG and PNG are sent")
            image.load()
            return image.size
    except ImageFolderError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageFolderError(f"--images: {relpath} cannot be read as an image ({type(exc).__name__}: {exc}); "
                               "fix or remove it") from None


def load_folder(root: Path, labels_csv: Path | None = None) -> ImageFolder:
    """Every .jpg/.jpeg/.png under ``root`` (recursively, sorted), each opened and decoded once, with labels from
    ``labels_csv`` or the folder names. ImageFolderError (one line) for a missing or empty folder, an
    unreadable image, or a labels CSV that names files not in it."""
    root = Path(root)
    if not root.is_dir():
        raise ImageFolderError(f"--images {root}: no such folder; give a folder of .jpg/.jpeg/.png files")
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not paths:
        raise ImageFolderError(f"--images {root}: no .jpg, .jpeg or .png file in it (or its subfolders)")
    relpaths = [p.relative_to(root).as_posix() for p in paths]
    try:
        labels = read_labels_csv(labels_csv, relpaths) if labels_csv is not None else folder_labels(relpaths)
    except LabelError as exc:
        raise ImageFolderError(str(exc)) from None
    source = "csv" if labels_csv is not None else ("folders" if labels else "none")
    images = []
    for path, rel in zip(paths, relpaths):
        width, height = _inspect(path, rel)
        images.append(FolderImage(rel, path, _sha256(path), width, height, path.stat().st_size, labels.get(rel, "")))
    return ImageFolder(root, tuple(images), source)


def _cached_resize(image: FolderImage, size_bytes: int, cache_dir: Path | None) -> tuple[bytes, dict]:
    """(jpeg, its columns) of ``image`` at ``size_bytes``, from ``cache_dir`` when made before."""
    stem = f"folder-{image.sha256[:24]}-{size_bytes}-v{ENCODER_VERSION}"
    if cache_dir is not None:
        data_path, meta_path = Path(cache_dir) / f"{stem}.jpg", Path(cache_dir) / f"{stem}.json"
        if data_path.is_file() and meta_path.is_file() and data_path.stat().st_size == size_bytes:
            try:
                return data_path.read_bytes(), json.loads(meta_path.read_text())
            except (OSError, ValueError):
                pass  # a cut file: make it again
    with Image.open(image.path) as source:
        source.load()
        resized = resize_to_size(ImageOps.exif_transpose(source), size_bytes, f"--images: {image.relpath}")
    meta = {"image_width": resized.width_px, "image_height": resized.height_px, "image_quality": resized.quality,
            "image_encoded_bytes": resized.encoded_bytes}
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        for path, payload in ((data_path, resized.data), (meta_path, json.dumps(meta).encode())):
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(payload)
            tmp.replace(path)
    return resized.data, meta


def folder_image_set(folder: ImageFolder, sizes, mode: str = "resize", seed: int = 0, rounds: int = 1,
                     cache_dir: Path | None = None) -> FolderImages:
    """The images a device sends, round by round (see the module's doc). ImageSizeError (a NodeConfigError)
    when a size cannot be reached from one of them."""
    if mode not in IMAGE_MODES:
        raise ImageFolderError(f"--image-mode {mode!r}: use {' or '.join(IMAGE_MODES)}")
    if rounds < 1:
        raise ImageFolderError(f"rounds={rounds} must be >= 1")
    chosen = folder.ordered(seed)[:rounds]
    items = []
    if mode == "as-is":
        for image in chosen:
            data = image.path.read_bytes()
            items.append(SentImage(len(data), data, {"image": image.relpath, "image_width": image.width_px,
                                                      "image_height": image.height_px, "image_quality": "",
                                                      "image_encoded_bytes": len(data), "true_label": image.label}))
        return FolderImages(items, per_round=1)
    sizes_bytes = [parse_image_size(s) if isinstance(s, str) else int(s) for s in sizes]
    if not sizes_bytes:
        raise ImageFolderError("no image size to re-encode the folder's images to (e.g. --sizes 60K,512K)")
    for image in chosen:
        for size_bytes in sizes_bytes:
            data, meta = _cached_resize(image, size_bytes, cache_dir)
            items.append(SentImage(size_bytes, data, {"image": image.relpath, **meta, "true_label": image.label}))
    return FolderImages(items, per_round=len(sizes_bytes))


def per_round(images) -> int:
    """How many images make one round of an image list (all of a synthetic set)."""
    return getattr(images, "per_round", len(images))


def round_items(images, rep: int) -> list[tuple[int, bytes, dict]]:
    """Round ``rep`` as (size_bytes, jpeg, row columns) triples."""
    return [(item[0], item[1], image_fields(item)) for item in round_of(images, rep)]


def device_images(images_dir: Path, labels_csv: Path | None, mode: str, sizes, seed: int, rounds: int | None,
                  cache_dir: Path | None) -> FolderImages:
    """A device's folder images: ``rounds`` rounds (None: one per image of the folder)."""
    folder = load_folder(images_dir, labels_csv)
    return folder_image_set(folder, sizes, mode, seed, len(folder.images) if rounds is None else rounds, cache_dir)
