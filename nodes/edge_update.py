"""The edge's learning steps of System B: settings, the labelled-set files, and (re)training EdgeCNN1-k.

Training runs in a separate process (``RetrainPool``, spawn, its own torch threads) so the
edge's event loop and inference threads keep answering devices while it runs; what comes
back is ONNX bytes, swapped in through the edge's ordinary verified hot swap.

Labelled-set files are ``.npz`` with ``images`` uint8 (N, 32, 32, 3) and ``labels`` int (N,),
read without pickle.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nodes.errors import NodeConfigError


@dataclass(frozen=True)
class UpdateSettings:
    labelled_set: str                     # .npz: the edge's own N labelled images
    shared_block: str = "cloudcnn-lower-3"  # artifact (role 'lower') the edge downloads at initialisation
    labels_per_update: int = 200          # M: new cloud labels that trigger a retrain
    max_updates: int = 1                  # retrains, then the edge only serves (0: never retrain)
    label_batch: int = 50                 # objects per upload to the cloud's labeller
    train_epochs: int = 30                # max epochs of each (re)training of the head
    train_threads: int = 1                # torch threads of the training process
    pool_stride: int = 2                  # EdgeCNN max-pool stride (as models.cnn.EDGE_POOL_STRIDE)
    seed: int = 0

    def __post_init__(self):
        if not self.labelled_set:
            raise NodeConfigError("update setting labelled_set: give the .npz of the edge's labelled images")
        for name, minimum in (("labels_per_update", 1), ("max_updates", 0), ("label_batch", 1),
                              ("train_epochs", 1), ("train_threads", 1), ("seed", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise NodeConfigError(f"update setting {name}={value!r} must be an integer >= {minimum}")
        if self.label_batch > 256:
            raise NodeConfigError(f"update setting label_batch={self.label_batch} must be <= 256 (the cloud's limit)")
        if self.pool_stride not in (1, 2):
            raise NodeConfigError(f"update setting pool_stride={self.pool_stride!r} must be 1 or 2")


def save_labelled(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(tmp, images=np.asarray(images, dtype=np.uint8), labels=np.asarray(labels, dtype=np.int64))
    tmp.replace(path)


def load_labelled(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 32, 32, 3), labels int64 (N,)); NodeConfigError naming the file if it is not that."""
    try:
        with np.load(path, allow_pickle=False) as data:
            images, labels = data["images"], data["labels"].astype(np.int64)
    except (OSError, KeyError, ValueError) as exc:
        raise NodeConfigError(f"{path}: not a labelled-set .npz with 'images' and 'labels' ({exc})") from None
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3) or len(labels) != len(images):
        raise NodeConfigError(f"{path}: images must be uint8 (N, 32, 32, 3) with N labels, got {images.dtype} "
                              f"{images.shape} and {labels.shape}")
    if len(labels) < 2 or labels.min() < 0 or labels.max() > 9:
        raise NodeConfigError(f"{path}: needs >= 2 images with labels in 0..9")
    return images, labels


def object_pixels(data: bytes) -> np.ndarray:
    """A kept object (JPEG/PNG bytes) -> uint8 (32, 32, 3), the same resize as at inference."""
    from models.preprocess import decode_image

    normalised = decode_image(data)[0]  # (3, 32, 32) in [-1, 1], pixel*2/255-1
    return np.clip(np.rint((normalised.transpose(1, 2, 0) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def retrain(block_onnx: bytes, images: np.ndarray, labels: np.ndarray, max_epochs: int, seed: int,
            threads: int, pool_stride: int) -> dict:
    """EdgeCNN1-k on the frozen block, trained on (images, labels); runs in the training process."""
    import torch

    from models.collaboration import build_edge_onnx
    from models.datasets import ImageSet
    from models.training import TrainSettings

    torch.set_num_threads(threads)
    started = time.perf_counter()
    data, report = build_edge_onnx(block_onnx, ImageSet(images, labels, "edge-labelled"),
                                   TrainSettings(max_epochs=max_epochs, seed=seed), pool_stride=pool_stride)
    return {"onnx": data, "train_seconds": report.seconds, "total_seconds": time.perf_counter() - started,
            "epochs": report.epochs_run, "validation_accuracy": report.best_validation_accuracy,
            "images": int(len(labels))}


class RetrainPool:
    """One spawned training process, reused for every (re)training."""

    def __init__(self):
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

    async def train(self, block_onnx: bytes, images: np.ndarray, labels: np.ndarray,
                    settings: UpdateSettings, seed: int) -> dict:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, retrain, block_onnx, images, labels, settings.train_epochs,
                                          seed, settings.train_threads, settings.pool_stride)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
