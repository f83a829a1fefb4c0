"""Tiny image folders for the tests, made from the data the repository already has (nothing committed):
sklearn's digits as PNG / JPEG files in ``DIR/<digit>/``, and Fashion-MNIST test images (Debian's
dataset-fashion-mnist) named by their class."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def digit_folder(root: Path, per_class: int = 1, classes=range(10), fmt: str = "png") -> Path:
    """``root/<digit>/<i>.<fmt>``: held-out sklearn digits, 32x32 as the models saw them in training."""
    from models.datasets import embedded_digits

    test = embedded_digits().test
    root = Path(root)
    for digit in classes:
        for n, index in enumerate(np.flatnonzero(test.labels == digit)[:per_class]):
            path = root / str(digit) / f"{digit}-{n}.{'jpg' if fmt == 'jpeg' else fmt}"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(test.images[index]).save(path, format="JPEG" if fmt == "jpeg" else "PNG",
                                                     **({"quality": 95} if fmt == "jpeg" else {}))
    return root


def fashion_folder(root: Path, count: int = 4) -> Path | None:
    """``root/<class name>/<i>.png`` from Fashion-MNIST's test split; None where the data set is not installed."""
    from models.datasets import load_idx_folder
    from nodes.image_labels import DATASET_CLASSES

    if not FASHION_DIR.is_dir():
        return None
    test = load_idx_folder(FASHION_DIR, "fashion").test
    root = Path(root)
    for i in range(count):
        name = DATASET_CLASSES["fashion"][int(test.labels[i])].replace("/", " ")
        path = root / name / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(test.images[i]).save(path, format="PNG")
    return root
