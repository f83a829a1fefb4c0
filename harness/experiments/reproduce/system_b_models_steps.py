"""The expensive steps of the System B models part, each checkpointed in the part's work_dir.

One data set's folder (``<work_dir>/<dataset>/``) holds ``cloudcnn.onnx`` + ``cloudcnn.json`` (and its
per-epoch ``cloudcnn.pt`` while it trains), ``cells/*.json`` (one Table 3 cell: EdgeCNN0-k and EdgeCNN1-k on
one labelled subset), ``full/*.json`` (EdgeCNN1-k on the whole training split, ``*.pt`` while it trains),
``inference/*.onnx`` + ``inference.json``. A JSON is written atomically once its step has finished and carries
the key of everything it depends on (data, CloudCNN, settings), so a re-run reuses exactly what still holds,
and the step's ``wall_seconds`` (what the budget estimates are made from).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.experiments.reproduce.system_b_models_plan import ModelsPlan
from models.cnn import EDGE_POOL_STRIDE, CloudCNN, EdgeCNN
from models.collaboration import shared_block_from_full, split_frozen, stratified_subset, train_edge
from models.datasets import DataSplits, ImageSet
from models.export import to_onnx_bytes
from models.numerics import KEY as NUMERICS_KEY  # in every step's key: steps trained before the flush retrain
from models.runtime import open_session
from models.training import TrainSettings, accuracy, image_tensors, predict_logits, train_classifier

Progress = Callable[[str], None]


# The stopping rule of every EdgeCNN this part trains (EdgeCNN0 and EdgeCNN1 alike) is SEEDS.md's: the lr divided by
# 10 when validation accuracy stops improving, until it would fall below 1e-4 (or max epochs), with no early stop.
# An early stop counted in epochs ends EdgeCNN1's head on 120 labelled images (4 SGD steps an epoch, 12 validation
# images) before the lr has dropped once: 47% vs EdgeCNN0's 65% on Fashion-MNIST seed 0, 68% with this rule. The
# rule is in the keys of the cells, the full runs and the timed models, so a step trained under another is redone.
EDGE_RULE = "lr-schedule-no-early-stop"
INFERENCE_CHUNK = 50   # images a timed model runs before the next takes its turn (inference_times)
# A Table 3 cell trains EdgeCNN1 as a framework trains frozen layers: their forward on every batch (the training
# times compare like the paper's); computing it once (models.collaboration, the default) gives the same weights
# in a fraction of the time, and the 60,000-image runs and the timed inference models keep it.
CELL_FROZEN_FORWARD = "every_batch"


def edge_settings(max_epochs: int, seed: int) -> TrainSettings:
    return TrainSettings(max_epochs=max_epochs, seed=seed, early_stop_patience_epochs=0)


def _key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_step(path: Path, key: str) -> dict | None:
    """A finished step's record when it exists and was made from the same inputs (``key``), else None."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("key") == key else None


def write_step(path: Path, record: dict) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temp, path)
    return record


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temp.write_bytes(data)
    os.replace(temp, path)


@dataclass(frozen=True)
class Prepared:
    """One data set as the steps use it: the train split, the test images every accuracy is taken on."""

    name: str
    data: DataSplits
    test: ImageSet
    sha256: str

    @classmethod
    def of(cls, data: DataSplits, plan: ModelsPlan) -> "Prepared":
        test = data.test
        if plan.test_images and plan.test_images < len(test):
            test = stratified_subset(test, plan.test_images, plan.seed)
        return cls(data.name, data, test, data.describe()["sha256"])


def cloud_model(work_dir: Path, prep: Prepared, plan: ModelsPlan, progress: Progress) -> tuple[bytes, dict]:
    """CloudCNN trained on (a stratified subset of) the train split, its ONNX bytes and its record."""
    folder = work_dir / prep.name
    train = prep.data.train
    if plan.cloud_train_images and plan.cloud_train_images < len(train):
        train = stratified_subset(train, plan.cloud_train_images, plan.seed)
    epochs, final_lr = plan.cloud_epochs(len(train)), plan.cloud_final_lr(len(train))
    key = _key("cloud", prep.sha256, plan.cloud_train_images, epochs, plan.seed, len(prep.test), NUMERICS_KEY,
               *([("final_lr_epochs", final_lr)] if final_lr else []))
    record = read_step(folder / "cloudcnn.json", key)
    onnx_path = folder / "cloudcnn.onnx"
    if record and onnx_path.is_file() and hashlib.sha256(onnx_path.read_bytes()).hexdigest() == record["sha256"]:
        progress(f"{prep.name}: CloudCNN reused ({record['test_accuracy']:.4f} on {record['test_images']} images)")
        return onnx_path.read_bytes(), record
    started = time.perf_counter()
    progress(f"{prep.name}: training CloudCNN on {len(train)} images (9:1 split, max {epochs} "
             "epochs); checkpointed every epoch")
    x, y = image_tensors(train)
    model = CloudCNN(seed=plan.seed)
    report = train_classifier(model, x, y, TrainSettings(max_epochs=epochs, seed=plan.seed, final_lr_epochs=final_lr),
                              checkpoint_path=folder / "cloudcnn.pt", run_key=key, progress=False,
                              description=f"{prep.name} CloudCNN", on_progress=progress)
    del x, y
    x_test, y_test = image_tensors(prep.test)
    data = to_onnx_bytes(model, (3, 32, 32), softmax=True, graph_name="cloudcnn", metadata={"role": "full"})
    write_bytes(onnx_path, data)
    record = write_step(folder / "cloudcnn.json", {
        "key": key, "sha256": hashlib.sha256(data).hexdigest(), "train_images": len(train),
        "images_per_epoch": len(train) - round(len(train) * 0.1), "epochs_run": report.epochs_run,
        "max_epochs": epochs, "final_lr_epochs": final_lr, "stopped_because": report.stopped_because,
        "history": [{k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()} for row in report.history],
        "validation_accuracy": report.best_validation_accuracy, "train_seconds": report.seconds,
        "device": report.device, "threads": report.threads, "denormals_flushed": report.denormals_flushed,
        "test_images": len(prep.test), "test_accuracy": accuracy(model, x_test, y_test),
        "wall_seconds": time.perf_counter() - started})
    (folder / "cloudcnn.pt").unlink(missing_ok=True)
    progress(f"{prep.name}: CloudCNN test accuracy {record['test_accuracy']:.4f} after {report.epochs_run} epochs "
             f"({report.seconds:.0f} s on {report.device})")
    return data, record


class FrozenTestFeatures:
    """The test images through CloudCNN's k lower layers + the max-pool, computed once per (k, stride):
    EdgeCNN1-k's accuracy is then its head's on these (the frozen part is the same block in every cell)."""

    def __init__(self, cloud_onnx: bytes, prep: Prepared) -> None:
        self.cloud_onnx, self.prep = cloud_onnx, prep
        self.blocks: dict[int, bytes] = {}
        self._features: dict[tuple[int, int], object] = {}
        self.x_test, self.y_test = image_tensors(prep.test)

    def block(self, k: int) -> bytes:
        if k not in self.blocks:
            self.blocks[k] = shared_block_from_full(self.cloud_onnx, k)
        return self.blocks[k]

    def edge1_accuracy(self, model: EdgeCNN, stride: int) -> float:
        """Test accuracy of an EdgeCNN1-k trained on ``self.block(k)`` with max-pool stride ``stride``."""
        frozen, head = split_frozen(model)
        if frozen.pool.stride != stride:
            raise ValueError(f"EdgeCNN1-{model.k} has pool stride {frozen.pool.stride}, not {stride}")
        if (model.k, stride) not in self._features:
            self._features[(model.k, stride)] = predict_logits(frozen, self.x_test)
        return accuracy(head, self._features[(model.k, stride)], self.y_test)


def table_cell(work_dir: Path, features: FrozenTestFeatures, cloud_sha: str, plan: ModelsPlan, k: int, size: int,
               stride: int, seed: int, progress: Progress) -> dict:
    """EdgeCNN0-k (from scratch) and EdgeCNN1-k (CloudCNN's k layers, frozen) on one stratified labelled subset."""
    prep = features.prep
    path = work_dir / prep.name / "cells" / f"k{k}-n{size}-s{stride}-seed{seed}.json"
    key = _key("cell", prep.sha256, cloud_sha, k, size, stride, seed, plan.table_max_epochs, len(prep.test),
               EDGE_RULE, ("frozen_forward", CELL_FROZEN_FORWARD), NUMERICS_KEY)
    record = read_step(path, key)
    if record:
        return record
    started = time.perf_counter()
    labelled = stratified_subset(prep.data.train, size, seed)
    settings = edge_settings(plan.table_max_epochs, seed)
    scratch, scratch_report = train_edge(labelled, settings, k=k, pool_stride=stride, on_progress=progress)
    transfer, transfer_report = train_edge(labelled, settings, shared_block_onnx=features.block(k),
                                           pool_stride=stride, on_progress=progress,
                                           frozen_forward=CELL_FROZEN_FORWARD)
    record = write_step(path, {
        "key": key, "dataset": prep.name, "k": k, "labelled_images": size, "pool_stride": stride, "seed": seed,
        "edgecnn0_accuracy": accuracy(scratch, features.x_test, features.y_test),
        "edgecnn1_accuracy": features.edge1_accuracy(transfer, stride),
        "edgecnn0_train_seconds": scratch_report.seconds, "edgecnn1_train_seconds": transfer_report.seconds,
        "edgecnn0_epochs": scratch_report.epochs_run, "edgecnn1_epochs": transfer_report.epochs_run,
        "max_epochs": plan.table_max_epochs, "test_images": len(prep.test), "device": scratch_report.device,
        "edgecnn1_frozen_forward": CELL_FROZEN_FORWARD,
        "threads": scratch_report.threads, "wall_seconds": time.perf_counter() - started,
        "denormals_flushed": scratch_report.denormals_flushed and transfer_report.denormals_flushed})
    progress(f"{prep.name}: cell k={k} n={size} stride {stride} seed {seed}: EdgeCNN0 {record['edgecnn0_accuracy']:.3f}"
             f" ({scratch_report.seconds:.0f} s), EdgeCNN1 {record['edgecnn1_accuracy']:.3f} "
             f"({transfer_report.seconds:.0f} s)")
    return record


def full_run(work_dir: Path, features: FrozenTestFeatures, cloud_sha: str, plan: ModelsPlan, k: int,
             progress: Progress) -> dict:
    """EdgeCNN1-k (the default pool stride) on the whole train split (or the plan's subset of it), test accuracy."""
    prep = features.prep
    folder = work_dir / prep.name / "full"
    key = _key("full", prep.sha256, cloud_sha, k, plan.full_train_images, plan.full_max_epochs, plan.seed, EDGE_RULE,
               len(prep.test), NUMERICS_KEY)
    record = read_step(folder / f"edgecnn1-{k}.json", key)
    if record:
        return record
    started = time.perf_counter()
    train = prep.data.train
    if plan.full_train_images and plan.full_train_images < len(train):
        train = stratified_subset(train, plan.full_train_images, plan.seed)
    progress(f"{prep.name}: training EdgeCNN1-{k} on {len(train)} images (max {plan.full_max_epochs} epochs)")
    model, report = train_edge(train, edge_settings(plan.full_max_epochs, plan.seed),
                               shared_block_onnx=features.block(k), checkpoint_path=folder / f"edgecnn1-{k}-{key}.pt",
                               on_progress=progress)
    record = write_step(folder / f"edgecnn1-{k}.json", {
        "key": key, "k": k, "train_images": len(train), "epochs_run": report.epochs_run,
        "max_epochs": plan.full_max_epochs, "stopped_because": report.stopped_because,
        "train_seconds": report.seconds, "test_images": len(prep.test), "device": report.device,
        "test_accuracy": features.edge1_accuracy(model, EDGE_POOL_STRIDE),
        "wall_seconds": time.perf_counter() - started})
    (folder / f"edgecnn1-{k}-{key}.pt").unlink(missing_ok=True)
    progress(f"{prep.name}: EdgeCNN1-{k} on {len(train)} images: test accuracy {record['test_accuracy']:.4f}")
    return record


def inference_times(work_dir: Path, features: FrozenTestFeatures, cloud_sha: str, plan: ModelsPlan,
                    progress: Progress) -> dict:
    """EdgeCNN1-3/5/10 at both pool strides, each over the same ``plan.inference_images`` test images one at a
    time with ONNX Runtime (CPU, ``plan.threads`` threads), ``plan.inference_repeats`` times.

    The models take turns every ``INFERENCE_CHUNK`` images (in an order that rotates from chunk to chunk), and a
    model's time in a repeat is the sum of its chunks: a drift of the shared machine (another job, a frequency
    change) lands on every model of a repeat alike instead of on whichever ran while it lasted. Timing each
    model's 2,000 images in one go (the first two full runs) gave per-repeat ratios of +-13% (SD)."""
    prep = features.prep
    folder = work_dir / prep.name / "inference"
    n_images = min(plan.inference_images, len(prep.data.test))
    key = _key("inference", prep.sha256, cloud_sha, plan.inference_labelled, plan.inference_max_epochs, EDGE_RULE,
               n_images, plan.inference_repeats, plan.threads, plan.seed, ("interleaved", INFERENCE_CHUNK),
               NUMERICS_KEY)
    record = read_step(folder / "inference.json", key)
    if record:
        return record
    started = time.perf_counter()
    labelled = stratified_subset(prep.data.train, plan.inference_labelled, plan.seed)
    settings = edge_settings(plan.inference_max_epochs, plan.seed)
    sessions, models = {}, {}
    for stride in (2, 1):
        for k in (3, 5, 10):
            name = f"edgecnn1-{k}-s{stride}"
            model, report = train_edge(labelled, settings, shared_block_onnx=features.block(k), pool_stride=stride,
                                       on_progress=progress)
            data = to_onnx_bytes(model, (3, 32, 32), softmax=True, graph_name=name, metadata={"role": "full"})
            write_bytes(folder / f"{name}.onnx", data)
            sessions[name] = open_session(data, device="cpu", threads=plan.threads)
            models[name] = {"k": k, "pool_stride": stride, "onnx_bytes": len(data), "epochs_run": report.epochs_run}
    images = image_tensors(prep.data.test.subset(np.arange(n_images)))[0].numpy()
    labels = prep.data.test.labels[:n_images]
    names = list(sessions)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(plan.inference_repeats):
        took, outputs = dict.fromkeys(names, 0.0), {name: [] for name in names}
        for chunk, start in enumerate(range(0, n_images, INFERENCE_CHUNK)):
            turn = (repeat + chunk) % len(names)
            for name in names[turn:] + names[:turn]:
                session = sessions[name]
                input_name = session.inputs[0].name
                timed_from = time.perf_counter()
                outputs[name] += [session.run({input_name: images[i:i + 1]})[0]
                                  for i in range(start, min(start + INFERENCE_CHUNK, n_images))]
                took[name] += time.perf_counter() - timed_from
        for name in names:
            seconds[name].append(took[name])
            if repeat == 0:
                models[name]["accuracy"] = float((np.concatenate(outputs[name]).argmax(1) == labels).mean())
        progress(f"{prep.name}: inference repeat {repeat + 1}/{plan.inference_repeats}: "
                 + ", ".join(f"{n} {seconds[n][-1]:.2f} s" for n in names))
    session = sessions[names[0]]
    return write_step(folder / "inference.json", {
        "key": key, "images": n_images, "repeats": plan.inference_repeats, "batch": 1, "turns_every": INFERENCE_CHUNK,
        "provider": session.provider,
        "threads": session.threads, "labelled_images": len(labelled), "models": models, "seconds": seconds,
        "wall_seconds": time.perf_counter() - started})
