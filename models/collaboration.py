"""System B's edge side: EdgeCNN1-k from a received ONNX shared block, and EdgeCNN0 vs EdgeCNN1 accuracy
by labelled-set size.

EdgeCNN1-k's k lower layers are frozen and the max-pool above them has no parameters, so by default
(``frozen_forward="once"``) their pooled activations are computed once (in batches, on the training device) and
only the rest of the head (FC-1024, dropout, FC-10) is trained on them: same result as training the whole EdgeCNN
with those layers frozen, much less work, and a pooled activation is 4x smaller than the block's output at the
default stride 2 (what lets 60,000 images fit in memory). ``frozen_forward="every_batch"`` trains the whole
EdgeCNN1 with its lower layers frozen, as a framework does by default (Keras ``trainable=False``, PyTorch
``requires_grad=False``): their forward runs on every batch, their backward never. The two give the same weights
(the frozen layers are deterministic; the same seed shuffles the same batches); only the time differs, and a
published training time is the framework's.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from models.cnn import EDGE_POOL_STRIDE, CloudCNN, EdgeCNN
from models.datasets import DataSplits, ImageSet
from models.errors import SettingsError
from models.export import to_onnx_bytes
from models.onnx_import import sequential_from_onnx, shared_block_from_onnx
from models.training import (TrainReport, TrainSettings, accuracy, image_tensors, predict_logits, train_classifier,
                             training_device)


FROZEN_FORWARD = ("once", "every_batch")


def shared_block_bytes(cloud: CloudCNN, m: int) -> bytes:
    """What the cloud sends: CloudCNN's m lower layers as ONNX (input 'image', output 'activation')."""
    return to_onnx_bytes(cloud.lower(m), (3, 32, 32), output_name="activation", graph_name=f"cloudcnn-lower-{m}",
                         metadata={"role": "lower", "shared_layers": str(m)})


def shared_block_from_full(full_onnx: bytes, m: int) -> bytes:
    """The m lower layers cut from a full CloudCNN ONNX file (e.g. the cache's cloudcnn.onnx)."""
    layers = list(sequential_from_onnx(full_onnx, what="cloudcnn").named_children())[: 2 * m]
    if sum(isinstance(layer, nn.Conv2d) for _, layer in layers) != m:
        raise SettingsError(f"the full model has fewer than {m} leading conv layers")
    return to_onnx_bytes(nn.Sequential(OrderedDict(layers)), (3, 32, 32), output_name="activation",
                         graph_name=f"cloudcnn-lower-{m}", metadata={"role": "lower", "shared_layers": str(m)})


def _conv_count(block: nn.Sequential) -> int:
    return sum(isinstance(layer, nn.Conv2d) for layer in block.children())


def split_frozen(model: EdgeCNN) -> tuple[nn.Sequential, nn.Sequential]:
    """(the k conv layers + the max-pool, the rest of the head): EdgeCNN1-k's untrained and trained parts.
    Both share ``model``'s modules, so training the second trains ``model``."""
    children = list(model.named_children())
    return (nn.Sequential(OrderedDict(children[:2 * model.k + 1])),
            nn.Sequential(OrderedDict(children[2 * model.k + 1:])))


def train_edge(labelled: ImageSet, settings: TrainSettings, *, k: int | None = None,
               shared_block_onnx: bytes | None = None, progress: bool = False,
               checkpoint_path=None, pool_stride: int = EDGE_POOL_STRIDE,
               on_progress: Callable[[str], None] | None = None,
               frozen_forward: str = "once") -> tuple[EdgeCNN, TrainReport]:
    """EdgeCNN1-k on a received shared block (k = its conv count) or, without one, EdgeCNN0-k from scratch.
    ``frozen_forward``: "once" or "every_batch" (the module's docstring). ``on_progress``: see ``train_classifier``."""
    if frozen_forward not in FROZEN_FORWARD:
        raise SettingsError(f"train_edge: frozen_forward must be one of {', '.join(FROZEN_FORWARD)}, "
                            f"got {frozen_forward!r}")
    x, y = image_tensors(labelled)
    if shared_block_onnx is None:
        if k is None:
            raise SettingsError("train_edge: give k for EdgeCNN0-k (no shared block)")
        model = EdgeCNN(k, seed=settings.seed, pool_stride=pool_stride)
        report = train_classifier(model, x, y, settings, progress=progress, description=model.name,
                                  checkpoint_path=checkpoint_path, run_key=model.name, on_progress=on_progress)
        return model, report
    block = shared_block_from_onnx(shared_block_onnx)
    depth = _conv_count(block)
    if k is not None and k != depth:
        raise SettingsError(f"train_edge: k={k} but the shared block has {depth} conv layers")
    model = EdgeCNN(depth, block, seed=settings.seed, pool_stride=pool_stride)
    if frozen_forward == "every_batch":
        report = train_classifier(model, x, y, settings, progress=progress, description=model.name,
                                  checkpoint_path=checkpoint_path, run_key=model.name, on_progress=on_progress)
        model.eval()
        return model, report
    started = time.perf_counter()
    frozen, head = split_frozen(model)
    frozen.to(training_device(settings.device))
    try:
        activations = predict_logits(frozen, x)  # computed once, on the CPU afterwards
    finally:
        frozen.to("cpu")
    del x
    report = train_classifier(head, activations, y, settings, progress=progress, description=model.name,
                              checkpoint_path=checkpoint_path, run_key=model.name, on_progress=on_progress)
    report.seconds = time.perf_counter() - started
    model.eval()
    return model, report


def build_edge_onnx(shared_block_onnx: bytes, labelled: ImageSet, settings: TrainSettings = TrainSettings(),
                    *, progress: bool = False, pool_stride: int = EDGE_POOL_STRIDE) -> tuple[bytes, TrainReport]:
    """The edge's whole job in the initialisation (and update) phase: received shared block + labelled images
    -> EdgeCNN1-k trained with the block frozen -> ONNX bytes (input 'image', output 'probabilities')."""
    model, report = train_edge(labelled, settings, shared_block_onnx=shared_block_onnx, progress=progress,
                               pool_stride=pool_stride)
    data = to_onnx_bytes(model, (3, 32, 32), softmax=True, graph_name=model.name, metadata={"role": "full"})
    return data, report


def stratified_subset(data: ImageSet, size: int, seed: int) -> ImageSet:
    """``size`` images with classes as balanced as possible, seeded."""
    if not 2 <= size <= len(data):
        raise SettingsError(f"labelled-set size must be 2..{len(data)}, got {size}")
    rng = np.random.default_rng([seed, size])
    by_class = [rng.permutation(np.flatnonzero(data.labels == c)) for c in range(10)]
    picked: list[int] = []
    position = 0
    while len(picked) < size:
        for members in by_class:
            if position < len(members) and len(picked) < size:
                picked.append(int(members[position]))
        position += 1
    return data.subset(np.array(sorted(picked)), f"{data.name}[{size}]")


def accuracy_by_labelled_size(cloud: CloudCNN | bytes, data: DataSplits, sizes: Sequence[int] = (120, 500), k: int = 3,
                              repeats: int = 1, settings: TrainSettings = TrainSettings(max_epochs=30),
                              progress: bool = False, pool_stride: int = EDGE_POOL_STRIDE) -> list[dict]:
    """Test accuracy of EdgeCNN0-k vs EdgeCNN1-k (on CloudCNN's k lower layers) per labelled-set size.

    ``cloud`` is a CloudCNN or the bytes of a full CloudCNN ONNX file. For each size and repeat r, the same
    stratified labelled subset of ``data.train`` (seed r) trains both models; accuracy is on ``data.test``.
    """
    block = shared_block_from_full(cloud, k) if isinstance(cloud, bytes) else shared_block_bytes(cloud, k)
    x_test, y_test = image_tensors(data.test)
    rows = []
    for size in sizes:
        for repeat in range(repeats):
            labelled = stratified_subset(data.train, int(size), seed=settings.seed + repeat)
            run_settings = replace(settings, seed=settings.seed + repeat)
            scratch, scratch_report = train_edge(labelled, run_settings, k=k, progress=progress,
                                                 pool_stride=pool_stride)
            transfer, transfer_report = train_edge(labelled, run_settings, shared_block_onnx=block, progress=progress,
                                                   pool_stride=pool_stride)
            rows.append({
                "labelled_images": int(size), "k": k, "repeat": repeat,
                "edgecnn0_accuracy": accuracy(scratch, x_test, y_test),
                "edgecnn1_accuracy": accuracy(transfer, x_test, y_test),
                "edgecnn0_train_seconds": scratch_report.seconds, "edgecnn1_train_seconds": transfer_report.seconds,
                "edgecnn0_epochs": scratch_report.epochs_run, "edgecnn1_epochs": transfer_report.epochs_run,
            })
    return rows
