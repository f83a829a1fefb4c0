"""System A's learning figures on Fashion-MNIST: the cloud's model on raw images vs on edge features.

The cloud's model is ``features``' classifier (``models.encoders.FeatureClassifier``: FC -> 256, ReLU, dropout,
FC -> 10): on the 3,072 raw values for cloud-only, on the PCA / autoencoder features for edge learning (System A:
"its input layer is sized to the extractor's output"). The recipe is ``features``' too (SGD, momentum 0.9,
batch 32, lr 0.01 divided by 10 on a validation plateau, 9:1 split). Two regimes:

- ``short``: exactly ``epochs`` epochs (15, the paper's), no early stop, so the times compare work for work;
- ``long``: up to ``long_epochs`` (200, the paper's), ended once the plateau rule would take the lr below
  ``long_min_learning_rate`` (further epochs would not move the weights).

Every trained classifier is one cell, checkpointed as ``cells/<method>-<dim>-<regime>-s<seed>.json`` (its
settings inside; a cell of other settings is trained again). Features are made only when a cell needs them:
one PCA fitted at the largest dimension on ``fit_images`` images (a lower dimension is its leading columns, exactly
what ``fit_pca`` at that dimension gives) and one autoencoder per dimension. The PCA is not whitened by default
(``pca_whiten``): an orthonormal projection, as scikit-learn's ``PCA()``. Whitening divides each component by its
standard deviation on the fit set. A 28x28 image padded to 32x32 varies in fewer than 1,024 directions, so at
1,024 dimensions the trailing components have none: whitening blew their rounding noise up to the leading
components' scale, and the classifier on PCA-1024 fell to 38.72 % against raw's 83.76 % (the first full run,
benchmarks/results/reproduce-full.md).

The raw inputs are centred by default (``raw_centre``): each pixel less its mean over the same fit images, the
shift the PCA applies before it projects. Without it the two classifiers differ in more than their inputs'
information: PCA-1024 keeps 100 % of the fit images' variance, yet beat raw by 2.19 points at 15 epochs (85.95 vs
83.76 %, the first full run), and raw centred scored 86.35 % against PCA-1024's 86.11 % (15 epochs, seed 2).

Every cell trains with subnormal floats flushed to zero (``models.numerics``): without it raw's 15 epochs took
26.3 s and with it 11.5 s, to the same accuracy (83.71 %), so the training-time figure measured the CPU's slow
path for tiny floats (raw's uncentred inputs make more of them) as much as the work.
"""
from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from harness.errors import HarnessError
from harness.orchestration.results import write_json_atomically
from models.numerics import KEY as NUMERICS_KEY  # in every cell's settings: cells trained before the flush retrain

METHODS = ("raw", "pca", "autoencoder")
REGIMES = ("short", "long")
HEARTBEAT_S = 20.0
TORCH_THREADS = 1   # the machine is shared: more threads spin-wait against the other processes and distort the times


@dataclass(frozen=True)
class LearningSettings:
    train_images: int = 1_000          # stratified subset of the training split (0: all of it)
    fit_images: int = 1_000            # images the PCA is fitted on and each autoencoder trained on
    feature_dims: tuple[int, ...] = (16, 64, 256)
    headline_dim: int = 64             # the live encoders' dimension (the model cache's feature_dim)
    epochs: int = 15
    long_epochs: int = 200
    long_min_learning_rate: float = 1e-5
    ae_epochs: int = 3
    pca_whiten: bool = False           # scale each PCA component to unit variance (see the module's docstring)
    raw_centre: bool = True            # raw inputs less the fit images' per-pixel mean, as the PCA centres
    seeds: int = 2
    seed: int = 1

    def __post_init__(self):
        for name, ok, allowed in (
                ("train_images", self.train_images == 0 or self.train_images >= 20, "0 (all) or >= 20"),
                ("fit_images", self.fit_images >= max(self.feature_dims, default=2) and self.fit_images >= 2,
                 ">= 2 and >= the largest feature dimension (PCA has at most that many components)"),
                ("feature_dims", bool(self.feature_dims) and all(1 <= d <= 3072 for d in self.feature_dims),
                 "dimensions in 1..3072"),
                ("headline_dim", self.headline_dim in self.feature_dims, "one of feature_dims"),
                ("epochs", self.epochs >= 1, ">= 1"), ("long_epochs", self.long_epochs >= self.epochs, ">= epochs"),
                ("long_min_learning_rate", 0 < self.long_min_learning_rate < 0.01, "in (0, 0.01)"),
                ("ae_epochs", self.ae_epochs >= 1, ">= 1"), ("seeds", self.seeds >= 1, ">= 1")):
            if not ok:
                raise HarnessError(f"System A learning setting {name}={getattr(self, name)!r} must be {allowed}")

    def cell_settings(self, regime: str, data_name: str, train_images: int, method: str = "") -> dict:
        """What a checkpointed cell was trained with; a cell saved with other settings is trained again."""
        keep = ("fit_images", "seed", "ae_epochs", *(("epochs",) if regime == "short" else
                                                     ("long_epochs", "long_min_learning_rate")),
                *(("pca_whiten",) if method == "pca" else ()), *(("raw_centre",) if method == "raw" else ()))
        return {"data": data_name, "train_images": train_images, "regime": regime,
                **{k: getattr(self, k) for k in keep}, "max_dim": max(self.feature_dims),
                NUMERICS_KEY[0]: NUMERICS_KEY[1]}


@contextlib.contextmanager
def torch_threads(threads: int = TORCH_THREADS):
    """torch's intra-op threads set to ``threads`` for the block, then back to what they were."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def heartbeat(progress: Callable[[str], None], what: str, every_s: float = HEARTBEAT_S):
    """``progress`` every ``every_s`` while the block runs (a training step can take minutes)."""
    stop, started = threading.Event(), time.monotonic()

    def beat():
        while not stop.wait(every_s):
            progress(f"{what}: {time.monotonic() - started:.0f} s so far")

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def fit_rows(n_images: int, settings: LearningSettings) -> np.ndarray:
    """The training rows the PCA is fitted on and each autoencoder trained on (sorted, seeded)."""
    return np.sort(np.random.default_rng([settings.seed, 7]).permutation(n_images)[:min(settings.fit_images,
                                                                                          n_images)])


def subset_for(data, settings: LearningSettings):
    """``data`` with its training split cut to ``settings.train_images`` (stratified; 0 or more: all of it)."""
    from models.collaboration import stratified_subset
    from models.datasets import DataSplits

    if settings.train_images and settings.train_images < len(data.train):
        return DataSplits(data.name, data.source, stratified_subset(data.train, settings.train_images,
                                                                    settings.seed), data.test)
    return data


def pca_kept_variance(data, settings: LearningSettings) -> dict:
    """What the PCA keeps of the fit images: ``rank``, the directions they span (singular values above 1e-6 of the
    largest), and ``kept``, per feature dimension, the share of their variance in that many leading components
    (the classifier's PCA inputs). Where ``kept`` is ~1 the features lose nothing the raw values hold."""
    import torch

    from models.training import image_tensors

    x, _ = image_tensors(subset_for(data, settings).train)
    rows = fit_rows(len(x), settings)
    flat = x[rows].reshape(len(rows), -1).double()
    singular = torch.linalg.svdvals(flat - flat.mean(0))
    variance = singular ** 2
    total = float(variance.sum())
    rank = int((singular > 1e-6 * float(singular.max())).sum()) if len(singular) else 0
    return {"rank": rank, "fit_images": len(flat),
            "kept": {d: (float(variance[:d].sum()) / total if total > 0 else 1.0) for d in settings.feature_dims}}


class Features:
    """Each method's inputs (train, test) for the cloud's classifier, made on first use."""

    def __init__(self, data, settings: LearningSettings, progress: Callable[[str], None]):
        from models.training import image_tensors

        self.settings, self.progress = settings, progress
        self.x, self.y = image_tensors(data.train)
        self.x_test, self.y_test = image_tensors(data.test)
        self.x_fit = self.x[fit_rows(len(self.x), settings)]
        if len(self.x_fit) < max(settings.feature_dims):
            raise HarnessError(f"System A: {len(self.x_fit)} training images cannot fit a PCA of "
                               f"{max(settings.feature_dims)} dimensions: give more images or smaller dimensions")
        self._pca = None
        self._ae: dict[int, tuple] = {}

    def inputs(self, method: str, dim: int):
        if method == "raw":
            train, test = self.x.reshape(len(self.x), -1), self.x_test.reshape(len(self.x_test), -1)
            if self.settings.raw_centre:
                mean = self.x_fit.reshape(len(self.x_fit), -1).mean(0)
                train, test = train - mean, test - mean
            return train, test
        if method == "pca":
            train, test = self._pca_features()
            return train[:, :dim].contiguous(), test[:, :dim].contiguous()
        return self._ae_features(dim)

    def _pca_features(self):
        if self._pca is None:
            from models.encoders import fit_pca
            from models.training import predict_logits

            dim = max(self.settings.feature_dims)
            self.progress(f"system-a: PCA fitted at {dim} dimensions on {len(self.x_fit):,} images")
            encoder = fit_pca(self.x_fit, dim, whiten=self.settings.pca_whiten)
            self._pca = predict_logits(encoder, self.x), predict_logits(encoder, self.x_test)
        return self._pca

    def _ae_features(self, dim: int):
        if dim not in self._ae:
            from models.encoders import ConvAutoencoder
            from models.reconstruction import train_autoencoder
            from models.training import predict_logits

            autoencoder = ConvAutoencoder(dim, seed=self.settings.seed)
            self.progress(f"system-a: autoencoder-{dim} trained {self.settings.ae_epochs} epochs on "
                          f"{len(self.x_fit):,} images")
            train_autoencoder(autoencoder, self.x_fit, epochs=self.settings.ae_epochs, seed=self.settings.seed,
                              progress=False)
            self._ae[dim] = (predict_logits(autoencoder.encoder, self.x),
                             predict_logits(autoencoder.encoder, self.x_test))
        return self._ae[dim]


def _train_cell(features: Features, method: str, dim: int, regime: str, seed: int, settings: LearningSettings) -> dict:
    from models.encoders import FeatureClassifier
    from models.training import TrainSettings, accuracy, train_classifier

    if regime == "short":
        recipe = TrainSettings(max_epochs=settings.epochs, seed=seed, early_stop_patience_epochs=0,
                               min_learning_rate=1e-9)
    else:
        recipe = TrainSettings(max_epochs=settings.long_epochs, seed=seed, early_stop_patience_epochs=0,
                               min_learning_rate=settings.long_min_learning_rate)
    x, x_test = features.inputs(method, dim)
    model = FeatureClassifier(x.shape[1], seed=seed)
    started = time.perf_counter()
    report = train_classifier(model, x, features.y, recipe, progress=False, description=f"{method}-{dim}")
    seconds = time.perf_counter() - started
    return {"method": method, "feature_dim": int(x.shape[1]), "regime": regime, "seed": seed,
            "epochs_run": report.epochs_run, "train_seconds": round(seconds, 4),
            "accuracy": accuracy(model, x_test, features.y_test), "denormals_flushed": report.denormals_flushed,
            **({"centred": settings.raw_centre} if method == "raw" else {})}


def planned_cells(settings: LearningSettings) -> list[tuple[str, int, str]]:
    """(method, dimension, regime) of every cell: raw and both extractors at every dimension (short), raw and
    both extractors at the headline dimension (long). The raw dimension is 0 here (3,072 values)."""
    cells = [("raw", 0, "short")]
    cells += [(m, d, "short") for d in settings.feature_dims for m in ("pca", "autoencoder")]
    cells += [("raw", 0, "long"), ("pca", settings.headline_dim, "long"),
              ("autoencoder", settings.headline_dim, "long")]
    return cells


def _cell_path(cells_dir: Path, method: str, dim: int, regime: str, seed: int) -> Path:
    return cells_dir / f"{method}-{dim}-{regime}-s{seed}.json"


def train_cells(data, settings: LearningSettings, work_dir: Path, progress: Callable[[str], None]) -> list[dict]:
    """Every cell of ``planned_cells`` x seeds, read back from its checkpoint or trained now; one dict each."""
    data = subset_for(data, settings)
    cells_dir = work_dir / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    plan = [(m, d, r, settings.seed + s) for m, d, r in planned_cells(settings) for s in range(settings.seeds)]
    features, results = None, []
    for number, (method, dim, regime, seed) in enumerate(plan, 1):
        path = _cell_path(cells_dir, method, dim, regime, seed)
        expected = settings.cell_settings(regime, data.name, len(data.train), method)
        try:
            saved = json.loads(path.read_text())
            if saved.get("settings") == expected:
                results.append(saved["cell"])
                continue
        except (OSError, ValueError, KeyError):
            pass
        if features is None:
            progress(f"system-a: {data.name}, {len(data.train):,} training / {len(data.test):,} test images")
            features = Features(data, settings, progress)
        what = f"{method}{'' if method == 'raw' else f'-{dim}'}"
        epochs = f"{settings.epochs} epochs" if regime == "short" else f"<= {settings.long_epochs} epochs"
        progress(f"system-a cell {number}/{len(plan)}: the cloud's classifier on {what}, {epochs}, seed {seed}")
        with heartbeat(progress, f"system-a cell {number}/{len(plan)} ({what}, {regime})"), torch_threads():
            cell = _train_cell(features, method, dim, regime, seed, settings)
        write_json_atomically(path, {"settings": expected, "cell": cell})
        results.append(cell)
    return results


def describe(settings: LearningSettings) -> dict:
    return asdict(settings)
