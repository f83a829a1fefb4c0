"""What the System B network part writes: per-size edge vs cloud changes with bootstrap CIs (network.csv),
and the figures (response_vs_size.png, upload_vs_size.png, an LTE and a WiFi panel each)."""
from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.analysis.published import PUBLISHED
from harness.analysis.summary import size_label

BOOTSTRAP_DRAWS = 2000
BOOTSTRAP_SEED = 0
METRICS = ("response_ms", "upload_ms", "inference_ms")
NETWORK_FIELDS = ("access", "size", "size_bytes", "metric", "edge_median_ms", "cloud_median_ms", "n_edge", "n_cloud",
                  "ours_change_pct", "ci95_low_pct", "ci95_high_pct", "model_change_pct", "published_change_pct",
                  "basis", "error_points")
FITTED_KEYS = {("lte", "upload_ms", 512 * 1024), ("lte", "response_ms", 60 * 1024)}


@dataclass(frozen=True)
class Change:
    """(edge - cloud) / cloud of the medians of one access x size x metric, with a bootstrap 95% CI."""
    access: str
    size_bytes: int
    metric: str
    edge_ms: float
    cloud_ms: float
    n_edge: int
    n_cloud: int
    change_pct: float
    ci_low_pct: float | None
    ci_high_pct: float | None

    @property
    def ci_half_width(self) -> float | None:
        return None if self.ci_low_pct is None else (self.ci_high_pct - self.ci_low_pct) / 2


def values_by_cell(rows: list[dict]) -> dict[tuple[str, str, int, str], list[float]]:
    """The ok requests' times per (access, placement, size_bytes, metric)."""
    cells: dict[tuple[str, str, int, str], list[float]] = {}
    for row in rows:
        if row.get("status") != "ok":
            continue
        for metric in METRICS:
            try:
                value = float(row.get(metric) or "nan")
            except ValueError:
                continue
            if math.isfinite(value):
                cells.setdefault((row["access"], row["placement"], int(row["size_bytes"]), metric), []).append(value)
    return cells


def bootstrap_change(edge: list[float], cloud: list[float], draws: int = BOOTSTRAP_DRAWS,
                     seed: int = BOOTSTRAP_SEED) -> tuple[float | None, float | None]:
    """Percentile 95% CI of the change of the medians, resampling each side's requests; None below 2 each."""
    if len(edge) < 2 or len(cloud) < 2:
        return None, None
    rng = np.random.default_rng(seed)
    e = np.median(rng.choice(np.asarray(edge), (draws, len(edge))), axis=1)
    c = np.median(rng.choice(np.asarray(cloud), (draws, len(cloud))), axis=1)
    changes = (e - c) / c * 100.0
    return float(np.percentile(changes, 2.5)), float(np.percentile(changes, 97.5))


def changes(cells: dict) -> list[Change]:
    out = []
    for (access, placement, size, metric), edge in sorted(cells.items()):
        cloud = cells.get((access, "cloud", size, metric))
        if placement != "edge" or not cloud:
            continue
        e, c = statistics.median(edge), statistics.median(cloud)
        if c <= 0:
            continue
        low, high = bootstrap_change(edge, cloud)
        out.append(Change(access, size, metric, e, c, len(edge), len(cloud), (e - c) / c * 100.0, low, high))
    return out


def pooled_change(cells: dict, access: str, metric: str, size_bytes: int) -> Change | None:
    """One change over every size of ``access`` (for inference, which runs on the resized model input and so
    does not depend on the image size), reported at ``size_bytes``."""
    sides = {p: [v for (a, pl, _, m), values in sorted(cells.items()) if (a, pl, m) == (access, p, metric)
                 for v in values] for p in ("edge", "cloud")}
    if not sides["edge"] or not sides["cloud"]:
        return None
    e, c = statistics.median(sides["edge"]), statistics.median(sides["cloud"])
    if c <= 0:
        return None
    low, high = bootstrap_change(sides["edge"], sides["cloud"])
    return Change(access, size_bytes, metric, e, c, len(sides["edge"]), len(sides["cloud"]), (e - c) / c * 100.0,
                  low, high)


def find(found: list[Change], access: str, metric: str, size_bytes: int) -> Change | None:
    return next((c for c in found if (c.access, c.metric, c.size_bytes) == (access, metric, size_bytes)), None)


def published_change(access: str, metric: str, size_bytes: int) -> float | None:
    """The published change at this cell; the WiFi response (size not stated) is set at every size."""
    for item in PUBLISHED:
        if item.access == access and item.metric == metric and item.size_bytes in (size_bytes, None):
            return item.change_pct
    return None


def basis_of(access: str, metric: str, size_bytes: int) -> str:
    if metric == "inference_ms":
        return "measured"
    return "fitted" if (access, metric, size_bytes) in FITTED_KEYS else "predicted"


def write_network_csv(path: Path, found: list[Change], model_change) -> None:
    """network.csv; ``model_change(access, metric, size_bytes)`` is the fitted model's change or None."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=NETWORK_FIELDS)
        writer.writeheader()
        for c in found:
            published = published_change(c.access, c.metric, c.size_bytes)
            model = model_change(c.access, c.metric, c.size_bytes) if c.metric != "inference_ms" else None
            writer.writerow({
                "access": c.access, "size": size_label(c.size_bytes), "size_bytes": c.size_bytes, "metric": c.metric,
                "edge_median_ms": round(c.edge_ms, 3), "cloud_median_ms": round(c.cloud_ms, 3),
                "n_edge": c.n_edge, "n_cloud": c.n_cloud, "ours_change_pct": round(c.change_pct, 2),
                "ci95_low_pct": None if c.ci_low_pct is None else round(c.ci_low_pct, 2),
                "ci95_high_pct": None if c.ci_high_pct is None else round(c.ci_high_pct, 2),
                "model_change_pct": None if model is None else round(model, 2),
                "published_change_pct": published, "basis": basis_of(c.access, c.metric, c.size_bytes),
                "error_points": None if published is None else round(c.change_pct - published, 2)})


def write_figures(out_dir: Path, cells: dict, model_time) -> list[Path]:
    """response_vs_size.png and upload_vs_size.png: measured medians (points, with the requests' p10..p90)
    and the fitted model (dashed), per placement; ``model_time(access, placement, size, metric)`` or None."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    accesses = [a for a in ("lte", "wifi") if any(k[0] == a for k in cells)]
    for metric, name, label in (("response_ms", "response_vs_size.png", "response time"),
                                ("upload_ms", "upload_vs_size.png", "upload time")):
        fig, axes = plt.subplots(1, max(1, len(accesses)), figsize=(5.2 * max(1, len(accesses)), 4), squeeze=False)
        for ax, access in zip(axes[0], accesses):
            for placement, colour in (("edge", "tab:green"), ("cloud", "tab:blue")):
                keys = sorted(k for k in cells if k[0] == access and k[1] == placement and k[3] == metric)
                sizes = [k[2] / 1024 for k in keys]
                values = [cells[k] for k in keys]
                if not keys:
                    continue
                med = [statistics.median(v) for v in values]
                low = [m - float(np.percentile(v, 10)) for m, v in zip(med, values)]
                high = [float(np.percentile(v, 90)) - m for m, v in zip(med, values)]
                ax.errorbar(sizes, med, yerr=[low, high], fmt="o", color=colour, capsize=3,
                            label=f"{placement} (measured median, p10..p90)")
                model = [model_time(access, placement, k[2], metric) for k in keys]
                if all(m is not None for m in model):
                    ax.plot(sizes, model, "--", color=colour, label=f"{placement} (fitted model)")
            published = [item for item in PUBLISHED if item.access == access and item.metric == metric]
            note = "; ".join(f"published {p.change_pct:+.2f}% at {size_label(p.size_bytes) if p.size_bytes else 'size n/a'}"
                             for p in published)
            ax.set_title(f"{access.upper()}: {label} vs image size" + (f"\n{note}" if note else ""), fontsize=9)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("image size (KB)")
            ax.set_ylabel(f"{label} (ms)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
