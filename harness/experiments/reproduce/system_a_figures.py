"""System A's figures from what its network rounds and learning cells measured: ``Measured`` with a sentence each.

Network (per round, then mean and 95% CI over the rounds):
- traffic cut, PCA / autoencoder: 1 - (WAN bytes towards the cloud per image, features) / (same, raw image);
- latency change: the edge answering itself (inference after the model was pushed to it) vs cloud-only (the raw
  image to the cloud's CloudCNN), median response time;
- traffic change: WAN bytes both ways for one image trained on and answered once: edge learning (its features
  up for training, the answer from the edge) vs cloud-only (the raw image up for training and again for
  inference).
Learning (per seed, then mean and 95% CI over the seeds), at the headline dimension, edge learning = the mean of
the PCA and autoencoder classifiers: training faster (%), accuracy gap (points) at 15 epochs; PCA minus raw after
the long regime; Spearman rho of accuracy vs dimension (the mean of both extractors at each dimension).
"""
from __future__ import annotations

import statistics

from harness.analysis.published import PUBLISHED_ACCURACY_GAP_15_EPOCHS_POINTS, PUBLISHED_LATENCY_CHANGE_PCT
from harness.analysis.seed_stats import mean_ci
from harness.experiments.reproduce.measured import Measured
from harness.experiments.reproduce.system_a_dim_fit import FEATURE_BYTES_PER_VALUE, DimFit

RAW_VALUES = 3072


def _ci(values: list[float]) -> tuple[float, float | None, int]:
    ci = mean_ci(values)
    return ci.mean, ci.half_width, ci.n


def _pm(ci: float | None, digits: int = 1) -> str:
    return "" if ci is None else f" ± {ci:.{digits}f}"


def network_figures(rounds: list[list[dict]], access: str, image_bytes: int, live_dim: int | None,
                    fit: DimFit | None = None) -> list[Measured]:
    """The four network figures from ``rounds`` measured at ``live_dim``. With ``fit`` (the rounds were measured at
    its fitted dimension) the PCA cut is the fitted figure and the autoencoder cut and the traffic change are
    predicted from it; the latency change does not depend on the features."""
    by = [{r["path"]: r for r in rows} for rows in rounds]
    n_img = by[0]["raw"]["requests"]
    where = f"{len(rounds)} round(s) x {n_img} images of {image_bytes:,} B over {access} + WAN"
    to_cloud = {p: [float(b[p]["wan_to_cloud_bytes_per_image"]) for b in by] for p in by[0]}
    both = {p: [float(b[p]["wan_to_cloud_bytes_per_image"]) + float(b[p]["wan_from_cloud_bytes_per_image"])
                for b in by] for p in by[0]}
    raw_up = statistics.fmean(to_cloud["raw"])
    out = []
    for path, key, label in (("pca", "a.traffic_cut.pca", "PCA"), ("autoencoder", "a.traffic_cut.autoencoder", "AE")):
        cut, ci, n = _ci([100 * (1 - f / r) for f, r in zip(to_cloud[path], to_cloud["raw"])])
        feat_up = statistics.fmean(to_cloud[path])
        detail = (f"{label} {live_dim or '?'}-d features put {feat_up:,.0f} B per image on the WAN towards the cloud "
                  f"vs {raw_up:,.0f} B for the raw JPEG: -{cut:.1f}% ({where})")
        basis = "measured" if fit is None else "fitted" if path == "pca" else "predicted"
        if fit is not None:
            detail += f"; {fit.sentence()}" if path == "pca" else f"; predicted from the PCA cut's fitted dimension"
        elif live_dim:
            overhead = feat_up - FEATURE_BYTES_PER_VALUE * live_dim   # headers and ACKs of one request
            dims = [max(0.0, ((1 - c / 100) * raw_up - overhead) / FEATURE_BYTES_PER_VALUE) for c in (70, 60)]
            detail += (f"; at this {overhead:,.0f} B per-request overhead the published cut would need features of "
                       f"{dims[0]:,.0f}..{dims[1]:,.0f} FP32 values")
        out.append(Measured(key, round(cut, 2), _round(ci), n, "%", basis, detail + "."))
    edge_ms = [float(b["edge"]["median_response_ms"]) for b in by]
    cloud_ms = [float(b["raw"]["median_response_ms"]) for b in by]
    change, ci, n = _ci([100 * (e / c - 1) for e, c in zip(edge_ms, cloud_ms)])
    out.append(Measured("a.latency_change", round(change, 2), _round(ci), n, "% change", "measured",
                        f"the edge answered in {statistics.fmean(edge_ms):.1f} ms (median) vs "
                        f"{statistics.fmean(cloud_ms):.1f} ms for the raw image to the cloud's CloudCNN: "
                        f"{change:+.1f}%{_pm(ci)} ({where})"
                        f"{edge_needed_text(statistics.fmean(edge_ms), statistics.fmean(cloud_ms))}."))
    edge_learning = [f + e for f, e in zip(both["pca"], both["edge"])]
    cloud_only = [2 * r for r in both["raw"]]
    change, ci, n = _ci([100 * (e / c - 1) for e, c in zip(edge_learning, cloud_only)])
    out.append(Measured("a.traffic_change", round(change, 2), _round(ci), n, "% change",
                        "measured" if fit is None else "predicted",
                        f"one image trained on and answered once: edge learning "
                        f"{statistics.fmean(edge_learning):,.0f} B on the WAN both ways (PCA-{live_dim or '?'} "
                        f"features up, answer "
                        f"from the edge) vs cloud-only {statistics.fmean(cloud_only):,.0f} B (the raw image's "
                        f"request for training and again for inference): {change:+.1f}%{_pm(ci)} ({where})."))
    return out


def _round(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def _cells(cells: list[dict], method: str, dim: int, regime: str) -> dict[int, dict]:
    dim = RAW_VALUES if method == "raw" else dim
    return {c["seed"]: c for c in cells if c["method"] == method and c["feature_dim"] == dim and c["regime"] == regime}


def accuracy_table(cells: list[dict], dims: tuple[int, ...]) -> list[dict]:
    """One row per (method, dimension) of the short regime: mean accuracy, its CI, seconds, payload bytes."""
    rows = []
    for method, dim in [("raw", RAW_VALUES)] + [(m, d) for d in dims for m in ("pca", "autoencoder")]:
        sel = list(_cells(cells, method, dim, "short").values())
        if not sel:
            continue
        acc, ci, n = _ci([100 * c["accuracy"] for c in sel])
        rows.append({"method": method, "feature_dim": dim, "seeds": n, "accuracy_pct": round(acc, 3),
                     "accuracy_ci95_points": _round(ci), "train_seconds": round(statistics.fmean(
                         c["train_seconds"] for c in sel), 3), "epochs": sel[0]["epochs_run"],
                     "payload_bytes": FEATURE_BYTES_PER_VALUE * dim})
    return rows


def _spearman(x: list[float], y: list[float]) -> float:
    from scipy.stats import spearmanr

    if len(set(y)) < 2:
        return 0.0
    return float(spearmanr(x, y).statistic)


def classifier_macs(inputs: int) -> int:
    """Multiply-accumulates per image of the cloud's classifier's forward pass on ``inputs`` values (its weights)."""
    from models.encoders import FeatureClassifier

    return sum(m.weight.numel() for m in FeatureClassifier(inputs).modules() if hasattr(m, "weight"))


def arithmetic_text(dim: int) -> str:
    """What the classifier's arithmetic alone predicts for the training speed-up (training costs ~3x the forward
    on both inputs, so the ratio is the forward's)."""
    predicted = 100 * (1 - classifier_macs(dim) / classifier_macs(RAW_VALUES))
    return (f"; its arithmetic alone predicts {predicted:.1f}% ({classifier_macs(dim):,} vs "
            f"{classifier_macs(RAW_VALUES):,} multiply-accumulates an image)")


def edge_needed_text(edge_ms: float, cloud_ms: float, published: float = PUBLISHED_LATENCY_CHANGE_PCT) -> str:
    """What the published latency change would need of these times: the edge's answer at this cloud time, or the
    cloud's at this edge time."""
    ratio = 1 + published / 100
    if not 0 < ratio < 1 or cloud_ms <= 0:
        return ""
    return (f"; the published {published:+g}% would need the edge to answer in {ratio * cloud_ms:.1f} ms at this "
            f"cloud time, or the cloud in {edge_ms / ratio:.1f} ms at this edge time")


def inputs_text(cells: list[dict]) -> tuple[str, str]:
    """How the cells were trained, for the sentences: " centred" where every raw cell's inputs were centred
    (``LearningSettings.raw_centre``), and "; subnormals flushed to zero" / "; subnormals NOT flushed ..." from
    the cells' ``denormals_flushed`` (cells from before it was recorded say nothing)."""
    raw = [c for c in cells if c["method"] == "raw"]
    centred = " centred" if raw and all(c.get("centred") for c in raw) else ""
    flushed = [c["denormals_flushed"] for c in cells if "denormals_flushed" in c]
    numerics = ("" if not flushed else "; subnormals flushed to zero in every cell" if all(flushed) else
                f"; subnormals NOT flushed in {flushed.count(False)} of {len(flushed)} cells (their times include "
                "the CPU's slow path for them)")
    return centred, numerics


def gap_by_dim(cells: list[dict], dims: tuple[int, ...]) -> dict[int, float]:
    """Per dimension (short regime), the mean of the PCA and autoencoder accuracies minus raw's, in points."""
    raw = [c["accuracy"] for c in _cells(cells, "raw", RAW_VALUES, "short").values()]
    out = {}
    for d in sorted(dims):
        both = [statistics.fmean(c["accuracy"] for c in _cells(cells, m, d, "short").values())
                for m in ("pca", "autoencoder") if _cells(cells, m, d, "short")]
        if raw and len(both) == 2:
            out[d] = 100 * (statistics.fmean(both) - statistics.fmean(raw))
    return out


def gap_explanation(cells: list[dict], dims: tuple[int, ...], headline: int, pca: dict | None,
                    published: float = PUBLISHED_ACCURACY_GAP_15_EPOCHS_POINTS) -> str:
    """Why the features lose (or do not lose) accuracy here: how much of the images' variance the PCA keeps at
    ``headline`` dimensions (``pca``: ``system_a_learning.pca_kept_variance``), and the dimensions at which the gap
    reaches the published one on this data."""
    gaps = gap_by_dim(cells, dims)
    if not gaps:
        return ""
    kept = (pca or {}).get("kept") or {}
    parts = []
    if headline in kept:
        share = kept[headline]
        parts.append(f"the PCA keeps {100 * share:.2f}% of its {pca['fit_images']:,} fit images' variance at "
                     f"{headline} dimensions (those images span {pca['rank']:,} of the {RAW_VALUES:,} raw "
                     f"directions)" + (", so the features drop almost nothing the raw values hold" if share >= 0.999
                                       else ""))
    reached = [d for d, g in gaps.items() if g <= published]
    smallest = min(gaps)
    if reached:
        d = max(reached)
        parts.append(f"on this data the published {published:+g} points is reached only at {d} dimensions or fewer "
                     f"({gaps[d]:+.2f} points" + (f", {100 * kept[d]:.1f}% of the variance kept" if d in kept
                                                  else "") + ")")
    else:
        parts.append(f"none of the {len(gaps)} dimensions tried falls {abs(published):g} points below raw: the "
                     f"smallest, {smallest}, scores {gaps[smallest]:+.2f} points" +
                     (f" keeping {100 * kept[smallest]:.1f}% of the variance" if smallest in kept else ""))
    return "; " + "; ".join(parts)


def learning_figures(cells: list[dict], dims: tuple[int, ...], headline: int, what: str,
                     basis: str = "measured", pca_fit: dict | None = None) -> list[Measured]:
    """The learning figures; ``basis`` "predicted" when ``headline`` is the fitted dimension (the three figures
    measured at it; accuracy vs dimension does not depend on it); ``pca_fit``: what the PCA keeps
    (``system_a_learning.pca_kept_variance``), for the accuracy gap's explanation."""
    raw, pca, ae = (_cells(cells, m, headline, "short") for m in ("raw", "pca", "autoencoder"))
    seeds = sorted(set(raw) & set(pca) & set(ae))
    out = []
    faster = [100 * (1 - (pca[s]["train_seconds"] + ae[s]["train_seconds"]) / 2 / raw[s]["train_seconds"])
              for s in seeds]
    value, ci, n = _ci(faster)
    t = {k: statistics.fmean(c[s]["train_seconds"] for s in seeds) for k, c in (("raw", raw), ("pca", pca), ("ae", ae))}
    epochs = raw[seeds[0]]["epochs_run"]
    centred, numerics = inputs_text(cells)
    out.append(Measured("a.training_faster", round(value, 2), _round(ci), n, "%", basis,
                        f"the cloud's classifier trained {epochs} epochs on {what} in {t['pca']:.2f} s on "
                        f"PCA-{headline} "
                        f"and {t['ae']:.2f} s on autoencoder-{headline} features vs {t['raw']:.2f} s on the "
                        f"{RAW_VALUES:,}{centred} raw values: {value:.1f}%{_pm(ci)} faster over {n} seed(s)"
                        f"{arithmetic_text(headline)}{numerics}."))
    gap = [100 * ((pca[s]["accuracy"] + ae[s]["accuracy"]) / 2 - raw[s]["accuracy"]) for s in seeds]
    value, ci, n = _ci(gap)
    acc = {k: 100 * statistics.fmean(c[s]["accuracy"] for s in seeds)
           for k, c in (("raw", raw), ("pca", pca), ("ae", ae))}
    out.append(Measured("a.accuracy_gap.15_epochs", round(value, 3), _round(ci), n, "points", basis,
                        f"at {epochs} epochs on {what}: PCA-{headline} {acc['pca']:.2f}% and autoencoder-{headline} "
                        f"{acc['ae']:.2f}% vs {acc['raw']:.2f}% for the same classifier on{centred} raw inputs: "
                        f"{value:+.2f}{_pm(ci, 2)} points (mean of both extractors, {n} seed(s))"
                        f"{gap_explanation(cells, dims, headline, pca_fit)}."))
    raw_l, pca_l, ae_l = (_cells(cells, m, headline, "long") for m in ("raw", "pca", "autoencoder"))
    seeds_l = sorted(set(raw_l) & set(pca_l))
    value, ci, n = _ci([100 * (pca_l[s]["accuracy"] - raw_l[s]["accuracy"]) for s in seeds_l])
    ran = statistics.fmean(c[s]["epochs_run"] for c in (raw_l, pca_l) for s in seeds_l)
    ae_text = "" if not set(ae_l) >= set(seeds_l) else (
        f", autoencoder {100 * statistics.fmean(ae_l[s]['accuracy'] for s in seeds_l):.2f}%")
    out.append(Measured("a.pca_matches.200_epochs", round(value, 3), _round(ci), n, "points", basis,
                        f"trained until the lr schedule ended ({ran:.0f} epochs on average, at most "
                        f"{max(c['epochs_run'] for c in [*raw_l.values(), *pca_l.values()])}; the paper ran 200) on "
                        f"{what}: PCA-{headline} {100 * statistics.fmean(pca_l[s]['accuracy'] for s in seeds_l):.2f}% "
                        f"vs{centred} raw {100 * statistics.fmean(raw_l[s]['accuracy'] for s in seeds_l):.2f}%"
                        f"{ae_text}: "
                        f"{value:+.2f}{_pm(ci, 2)} points."))
    out.append(_rho(cells, dims))
    return out


def _rho(cells: list[dict], dims: tuple[int, ...]) -> Measured:
    dims = sorted(dims)
    mean = {}
    for method in ("pca", "autoencoder"):
        mean[method] = [100 * statistics.fmean(c["accuracy"] for c in _cells(cells, method, d, "short").values())
                        for d in dims]
    both = [(p + a) / 2 for p, a in zip(mean["pca"], mean["autoencoder"])]
    rho = _spearman(dims, both)
    per = {m: _spearman(dims, v) for m, v in mean.items()}
    return Measured("a.accuracy_rises_with_dim", round(rho, 3), None, len(dims), "rho", "measured",
                    f"accuracy (mean of PCA and autoencoder) goes from {both[0]:.2f}% at {dims[0]} to {both[-1]:.2f}% "
                    f"at {dims[-1]} dimensions, peak {max(both):.2f}% at {dims[both.index(max(both))]}: Spearman rho "
                    f"{rho:+.2f} over {len(dims)} dimensions (PCA {per['pca']:+.2f}, autoencoder "
                    f"{per['autoencoder']:+.2f}).")
