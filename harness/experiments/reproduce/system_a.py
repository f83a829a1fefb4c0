"""``reproduce`` part: System A (edge learning: PCA / autoencoder features from the edge to the cloud).

Network (root): the ``features`` paths at System A's image size, ~11 KB (1,089 MB / 100,000 face crops), over
WiFi and the WAN (``system_a_network``): edge->cloud traffic cut of PCA / autoencoder features vs raw images,
inference latency and traffic of edge learning vs cloud-only. The rounds run first at the served feature
dimension (64); the dimension the seeds leave open is then fitted to the PCA cut (``system_a_dim_fit``) and the
rounds are run again at it (``network-d<dim>/``): the PCA cut is fitted, the autoencoder cut, the traffic change
and the learning figures at that dimension are predicted. Learning (``system_a_learning``) on
Fashion-MNIST: the cloud's classifier on raw inputs vs on features at 15 epochs (training time, accuracy gap), after
the long regime (PCA vs cloud-only), and accuracy vs feature dimension (``accuracy_vs_dim.csv`` / ``.png``).

Artefacts in the part's work folder: ``network/round-<r>.json`` and ``network/paths.csv`` (and the same in
``network-d<dim>/``), ``dim_fit.json``;
``learning/cells/*.json``, ``learning/cells.csv``, ``learning/pca_variance.json``, ``accuracy_vs_dim.csv``, ``accuracy_vs_dim.png``;
``system_a.json`` (settings, wall times, the figures). Everything that finished is kept and not redone.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from harness.analysis.published import PUBLISHED_RAW_IMAGE_BYTES
from harness.experiments.reproduce.measured import Measured
from harness.experiments.reproduce.system_a_dim_fit import DimFit, fit_feature_dim
from harness.experiments.reproduce.system_a_figures import accuracy_table, learning_figures, network_figures
from harness.experiments.reproduce.system_a_learning import LearningSettings, pca_kept_variance, train_cells
from harness.experiments.reproduce.system_a_network import NetworkSettings, measure_rounds
from harness.orchestration.results import write_json_atomically
from nodes.csv_rows import CsvRows

NEEDS_ROOT = True
DATASET = "fashion"
NETWORK_KEYS = ("a.traffic_cut.pca", "a.traffic_cut.autoencoder", "a.latency_change", "a.traffic_change")
LEARNING_KEYS = ("a.training_faster", "a.accuracy_gap.15_epochs", "a.pca_matches.200_epochs",
                 "a.accuracy_rises_with_dim")


@dataclass(frozen=True)
class SystemASettings:
    network: NetworkSettings = field(default_factory=NetworkSettings)
    learning: LearningSettings = field(default_factory=LearningSettings)
    fit_dim: bool = True        # fit the feature dimension to the PCA cut and measure again at it


QUICK = SystemASettings(NetworkSettings(image_bytes=PUBLISHED_RAW_IMAGE_BYTES, images_per_path=10, rounds=3),
                        LearningSettings(train_images=1_000, fit_images=1_100, feature_dims=(16, 64, 256, 1024),
                                         ae_epochs=5, seeds=3))
FULL = SystemASettings(NetworkSettings(image_bytes=PUBLISHED_RAW_IMAGE_BYTES, images_per_path=30, rounds=5),
                       LearningSettings(train_images=10_000, fit_images=4_000,
                                        feature_dims=(8, 16, 32, 64, 128, 256, 512, 1024), ae_epochs=5, seeds=3))


def _write_paths(path: Path, rounds: list[list[dict]]) -> None:
    fields = ["round", "path", "model", "requests", "ok", "median_response_ms", "mean_image_bytes",
              "wan_to_cloud_bytes_per_image", "wan_from_cloud_bytes_per_image"]
    with CsvRows(path, fields) as log:
        for index, rows in enumerate(rounds):
            for row in rows:
                log.write({"round": index, **row})


def _write_learning(work_dir: Path, cells: list[dict], table: list[dict]) -> None:
    with CsvRows(work_dir / "learning" / "cells.csv", ["method", "feature_dim", "regime", "seed", "epochs_run",
                                                      "train_seconds", "accuracy", "denormals_flushed"]) as log:
        for cell in cells:
            log.write(cell)
    with CsvRows(work_dir / "accuracy_vs_dim.csv", list(table[0])) as log:
        for row in table:
            log.write(row)
    _plot(work_dir / "accuracy_vs_dim.png", table)


def _plot(path: Path, table: list[dict]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for method, style in (("pca", "o-"), ("autoencoder", "s-")):
        sel = [r for r in table if r["method"] == method]
        ax.errorbar([r["feature_dim"] for r in sel], [r["accuracy_pct"] for r in sel],
                    yerr=[r["accuracy_ci95_points"] or 0 for r in sel], fmt=style, capsize=3, label=method)
    raw = next((r for r in table if r["method"] == "raw"), None)
    if raw:
        ax.axhline(raw["accuracy_pct"], ls="--", color="grey", label="cloud-only (raw inputs)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("feature dimension")
    ax.set_ylabel("test accuracy (%), mean ± 95% CI")
    ax.set_title("System A, Fashion-MNIST: the cloud's classifier on features", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _not_run(keys, why: str) -> list[Measured]:
    return [Measured(k, None, basis="not run", n=0, detail=why) for k in keys]


def at_fitted_dim(settings: LearningSettings, dim: int) -> LearningSettings:
    """``settings`` with the fitted dimension as the headline (added to the grid, enough images for its PCA)."""
    return replace(settings, headline_dim=dim, feature_dims=tuple(sorted({*settings.feature_dims, dim})),
                   fit_images=max(settings.fit_images, dim))


def run_learning(work_dir: Path, settings: LearningSettings, progress: Callable[[str], None],
                 data=None, basis: str = "measured") -> list[Measured]:
    """The learning figures; ``data`` (DataSplits) for tests, else Fashion-MNIST ("not run" when absent)."""
    if data is None:
        from models.datasets import load_dataset
        from models.errors import DatasetError

        try:
            data = load_dataset(DATASET)
        except DatasetError as err:
            return _not_run(LEARNING_KEYS, f"needs Fashion-MNIST: {err}")
    cells = train_cells(data, settings, work_dir / "learning", progress)
    table = accuracy_table(cells, settings.feature_dims)
    _write_learning(work_dir, cells, table)
    n = settings.train_images or len(data.train)
    what = f"{min(n, len(data.train)):,} {data.name} training images"
    pca = pca_kept_variance(data, settings)
    write_json_atomically(work_dir / "learning" / "pca_variance.json", pca)
    return learning_figures(cells, settings.feature_dims, settings.headline_dim, what, basis, pca_fit=pca)


def run_network(work_dir: Path, settings: SystemASettings, progress: Callable[[str], None]
                ) -> tuple[list[Measured], DimFit | None]:
    """The network figures: rounds at the served dimension, then (``fit_dim``) at the fitted one."""
    records = measure_rounds(work_dir / "network", settings.network, progress)
    rounds = [r["paths"] for r in records]
    _write_paths(work_dir / "network" / "paths.csv", rounds)
    dim = records[0].get("feature_dim")
    fit = None
    if settings.fit_dim and dim:
        try:
            fit = fit_feature_dim(rounds, dim)
        except ValueError as err:   # measured bytes no dimension can match: the figures stay measured at `dim`
            progress(f"system-a: feature dimension not fitted: {err}")
            return network_figures(rounds, settings.network.access, settings.network.image_bytes, dim), None
        write_json_atomically(work_dir / "dim_fit.json", fit.as_dict())
        progress(f"system-a: {fit.sentence()}")
        if fit.dim != dim:
            folder = work_dir / f"network-d{fit.dim}"
            records = measure_rounds(folder, replace(settings.network, feature_dim=fit.dim), progress)
            rounds = [r["paths"] for r in records]
            _write_paths(folder / "paths.csv", rounds)
            dim = records[0].get("feature_dim")
            if dim != fit.dim:
                raise RuntimeError(f"System A: the rounds at the fitted {fit.dim}-d were served {dim}-d features")
    return network_figures(rounds, settings.network.access, settings.network.image_bytes, dim, fit), fit


def run_settings(work_dir: Path, settings: SystemASettings, progress: Callable[[str], None], data=None,
                 network: bool = True) -> list[Measured]:
    """The part with explicit settings (``run_part`` picks QUICK or FULL; tests inject tiny ones)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    walls, figures, fit = {}, [], None
    started = time.monotonic()
    if network:
        measured, fit = run_network(work_dir, settings, progress)
        figures += measured
    else:
        figures += _not_run(NETWORK_KEYS, "network runs skipped (they need root: sudo python harness/run.py "
                                          "reproduce system-a)")
    walls["network_s"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    learning = settings.learning if fit is None else at_fitted_dim(settings.learning, fit.dim)
    figures += run_learning(work_dir, learning, progress, data, "measured" if fit is None else "predicted")
    walls["learning_s"] = round(time.monotonic() - started, 1)
    write_json_atomically(work_dir / "system_a.json", {"settings": asdict(settings), "learning": asdict(learning),
                                                       "dim_fit": fit.as_dict() if fit else None, "wall_s": walls,
                                                       "figures": [m.to_dict() for m in figures]})
    progress(f"system-a: network {walls['network_s']:.0f} s, learning {walls['learning_s']:.0f} s")
    return figures


def run_part(work_dir: Path, quick: bool, progress: Callable[[str], None]) -> list[Measured]:
    return run_settings(work_dir, QUICK if quick else FULL, progress)
