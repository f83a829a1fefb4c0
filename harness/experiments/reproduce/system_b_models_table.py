"""Table 3 of System B from the part's cells: ``cells.csv`` (one row per trained cell), ``table3.csv`` (mean and
95% CI over seeds per data set x k x pool stride x labelled size) and ``accuracy_vs_labelled.png`` (read back
from table3.csv: one panel per data set and k, EdgeCNN0 vs EdgeCNN1 with CI bands, published points marked).
"""
from __future__ import annotations

import csv
from pathlib import Path

from harness.analysis.published import PUBLISHED_ACCURACY
from harness.analysis.seed_stats import mean_ci

CELL_COLUMNS = ("dataset", "k", "pool_stride", "labelled_images", "seed", "edgecnn0_accuracy", "edgecnn1_accuracy",
                "edgecnn0_train_seconds", "edgecnn1_train_seconds", "edgecnn0_epochs", "edgecnn1_epochs",
                "max_epochs", "test_images", "device", "threads")
TABLE_COLUMNS = ("dataset", "k", "pool_stride", "labelled_images", "seeds", "edgecnn0_pct", "edgecnn0_ci95",
                 "edgecnn1_pct", "edgecnn1_ci95", "gain_points", "gain_ci95", "edgecnn0_seconds", "edgecnn1_seconds",
                 "train_time_change_pct", "train_time_change_ci95", "published_edgecnn0_pct",
                 "published_edgecnn1_pct", "test_images")
DATASET_NAMES = {"fashion": "Fashion-MNIST", "mnist": "MNIST", "cifar10": "CIFAR-10"}


def published_point(dataset: str, k: int, size: int) -> tuple[float | None, float | None]:
    for name, pk, psize, edge0, edge1 in PUBLISHED_ACCURACY:
        if (name, pk, psize) == (DATASET_NAMES.get(dataset), k, size):
            return edge0, edge1
    return None, None


def _ci(values) -> tuple[float, float | None]:
    stats = mean_ci(values)
    return stats.mean, stats.half_width


def time_change_pct(cell: dict) -> float:
    """EdgeCNN1-k's training wall time relative to EdgeCNN0-k's on the same cell, in percent."""
    return 100.0 * (cell["edgecnn1_train_seconds"] - cell["edgecnn0_train_seconds"]) / cell["edgecnn0_train_seconds"]


def table_rows(cells: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = {}
    for cell in cells:
        groups.setdefault((cell["dataset"], cell["k"], cell["pool_stride"], cell["labelled_images"]), []).append(cell)
    rows = []
    for (dataset, k, stride, size), members in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1],
                                                                                         -item[0][2], item[0][3])):
        members.sort(key=lambda cell: cell["seed"])
        edge0 = _ci([100 * c["edgecnn0_accuracy"] for c in members])
        edge1 = _ci([100 * c["edgecnn1_accuracy"] for c in members])
        gain = _ci([100 * (c["edgecnn1_accuracy"] - c["edgecnn0_accuracy"]) for c in members])
        change = _ci([time_change_pct(c) for c in members])
        published0, published1 = published_point(dataset, k, size)
        rows.append({"dataset": dataset, "k": k, "pool_stride": stride, "labelled_images": size, "seeds": len(members),
                     "edgecnn0_pct": edge0[0], "edgecnn0_ci95": edge0[1], "edgecnn1_pct": edge1[0],
                     "edgecnn1_ci95": edge1[1], "gain_points": gain[0], "gain_ci95": gain[1],
                     "edgecnn0_seconds": sum(c["edgecnn0_train_seconds"] for c in members) / len(members),
                     "edgecnn1_seconds": sum(c["edgecnn1_train_seconds"] for c in members) / len(members),
                     "train_time_change_pct": change[0], "train_time_change_ci95": change[1],
                     "published_edgecnn0_pct": published0, "published_edgecnn1_pct": published1,
                     "test_images": members[0]["test_images"]})
    return rows


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: ("" if row.get(c) is None else row.get(c)) for c in columns})
    return path


def write_tables(work_dir: Path, cells: list[dict]) -> list[dict]:
    """cells.csv and table3.csv in ``work_dir``; returns table3's rows."""
    ordered = sorted(cells, key=lambda c: (c["dataset"], c["k"], -c["pool_stride"], c["labelled_images"], c["seed"]))
    _write_csv(work_dir / "cells.csv", CELL_COLUMNS, ordered)
    rows = table_rows(cells)
    _write_csv(work_dir / "table3.csv", TABLE_COLUMNS, rows)
    return rows


def _number(text: str) -> float | None:
    return float(text) if text not in ("", None) else None


def plot_table(table_csv: Path, png: Path) -> Path | None:
    """accuracy_vs_labelled.png from table3.csv (None when the CSV has no rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with table_csv.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    panels = sorted({(r["dataset"], int(r["k"])) for r in rows})
    if not panels:
        return None
    figure, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False, sharey=True)
    for ax, (dataset, k) in zip(axes[0], panels):
        for stride, line in ((2, "-"), (1, "--")):
            series = sorted((r for r in rows
                             if (r["dataset"], int(r["k"]), int(r["pool_stride"])) == (dataset, k, stride)),
                            key=lambda r: int(r["labelled_images"]))
            if not series:
                continue
            sizes = [int(r["labelled_images"]) for r in series]
            for model, colour in (("edgecnn0", "tab:blue"), ("edgecnn1", "tab:green")):
                means = [float(r[f"{model}_pct"]) for r in series]
                halves = [_number(r[f"{model}_ci95"]) or 0.0 for r in series]
                label = f"EdgeCNN{model[-1]}-{k}, stride {stride} ({series[0]['seeds']} seeds)"
                ax.plot(sizes, means, line, color=colour, marker="o", markersize=3, label=label)
                ax.fill_between(sizes, [m - h for m, h in zip(means, halves)], [m + h for m, h in zip(means, halves)],
                                color=colour, alpha=0.15 if stride == 2 else 0.07, linewidth=0)
        for size in sorted({int(r["labelled_images"]) for r in rows if (r["dataset"], int(r["k"])) == (dataset, k)}):
            for value, colour in zip(published_point(dataset, k, size), ("tab:blue", "tab:green")):
                if value is not None:
                    ax.plot([size], [value], marker="*", markersize=12, color=colour, markeredgecolor="black",
                            linestyle="none")
        ax.plot([], [], marker="*", markersize=10, color="grey", markeredgecolor="black", linestyle="none",
                label="published (System B)")
        ax.set_title(f"{DATASET_NAMES.get(dataset, dataset)}, k = {k}")
        ax.set_xlabel("labelled training images")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0][0].set_ylabel("test accuracy (%), mean ± 95% CI")
    figure.tight_layout()
    figure.savefig(png, dpi=120)
    plt.close(figure)
    return png
