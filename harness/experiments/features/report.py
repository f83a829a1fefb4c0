"""``report.md`` and the figure of a ``features`` run (System A), with the published figures beside ours."""
from __future__ import annotations

from pathlib import Path

from harness.analysis.figure_files import save_line_figure
from harness.analysis.published import (PUBLISHED_LATENCY_CHANGE_PCT, PUBLISHED_RAW_IMAGE_BYTES, PUBLISHED_REDUCTION_PCT,
                               PUBLISHED_TRAFFIC_CHANGE_PCT, PUBLISHED_TRAINING_FASTER_PCT)


def _f(x, digits: int = 1) -> str:
    if x in (None, ""):
        return "-"
    return f"{float(x):,.{digits}f}"


def _figure(run_dir: Path, accuracy_rows: list[dict]) -> str | None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for method, style in (("pca", "o-"), ("autoencoder", "s-")):
        sel = [r for r in accuracy_rows if r["method"] == method]
        if sel:
            ax.plot([r["feature_dim"] for r in sel], [100 * r["accuracy"] for r in sel], style, label=method)
    raw = next((r for r in accuracy_rows if r["method"] == "raw"), None)
    if raw:
        ax.axhline(100 * raw["accuracy"], ls="--", color="grey", label="raw inputs (same classifier)")
    ax.set_xscale("log", base=2)
    return save_line_figure(fig, ax, "feature dimension", "test accuracy (%)", run_dir / "accuracy_by_dim.png")


def write_features_report(run_dir: Path, record: dict, spec, analysis: dict) -> Path:
    lines = [f"# features: System A, raw upload vs edge features ({record.get('status')})", "",
             f"Data set `{analysis['dataset']}`; link backend `{record['environment']['link_backend']}`; live feature "
             f"dimension {record.get('live_feature_dim')} (the model cache's encoders); {spec.images} held-out images "
             f"per access x path, open loop at {spec.rate_hz:g}/s.", "",
             "## Bytes on the WAN per image and end-to-end latency", "",
             "| access | path | ok/requests | median ms | p90 ms | online accuracy | image bytes | WAN bytes to cloud "
             "/ image | from cloud / image | reduction vs raw | published reduction |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in analysis["paths"]:
        published = PUBLISHED_REDUCTION_PCT.get(r["path"])
        lines.append(f"| {r['access']} | {r['path']} ({r['model']}) | {r['ok']}/{r['requests']} | "
                     f"{_f(r['median_response_ms'])} | {_f(r['p90_response_ms'])} | "
                     f"{_f(100 * float(r['online_accuracy']) if r['online_accuracy'] else None, 2)}% | "
                     f"{_f(r['mean_image_bytes'], 0)} | {_f(r['wan_to_cloud_bytes_per_image'], 0)} | "
                     f"{_f(r['wan_from_cloud_bytes_per_image'], 0)} | {_f(r['reduction_vs_raw_pct'])}% | "
                     f"{f'-{published[0]}..-{published[1]}%' if published else '-'} |")
    lines += ["", "WAN bytes are the base station's WAN port counters over each path's requests (headers, ACKs and the "
              "replies included), divided by the requests. Raw images here are the data set's 32x32 images as JPEG "
              "(about a kilobyte); the published raw images were face crops of "
              f"~{PUBLISHED_RAW_IMAGE_BYTES / 1000:.0f} KB (1,089 MB / 100,000), and our "
              f"features are {record.get('live_feature_dim')} FP32 values plus the request's HTTP and JSON header, so "
              "the reduction depends on both sizes: the payload-only figures per dimension are in the next table. "
              f"Published headline: traffic {PUBLISHED_TRAFFIC_CHANGE_PCT}%, inference latency "
              f"{PUBLISHED_LATENCY_CHANGE_PCT}% vs cloud-only (their edge also answered inference after training).",
              "", "## Accuracy vs feature dimension (the cloud's classifier on the features)", "",
              "Test accuracy: mean ± 95% CI (Student's t) over the seeds; vs raw: the per-seed difference to the "
              "classifier on the raw inputs, with a paired t-test (\"within noise\" when p >= 0.05 or one seed).", "",
              "| method | dimension | seeds | test accuracy | vs raw (points, test) | explained variance | payload bytes "
              "| vs raw FP32 tensor | vs the mean JPEG |", "|---|---:|---:|---:|---|---:|---:|---:|---:|"]
    raw_bytes = next((r["feature_bytes"] for r in analysis["accuracy"] if r["method"] == "raw"), None)
    jpegs = [float(r["mean_image_bytes"]) for r in analysis["paths"] if r.get("mean_image_bytes")]
    jpeg_bytes = sum(jpegs) / len(jpegs) if jpegs else None
    for r in analysis["accuracy"]:
        versus = [None if not base else 100 * (r["feature_bytes"] / base - 1) for base in (raw_bytes, jpeg_bytes)]
        ci = r.get("accuracy_ci")
        vs_raw = "-" if r.get("vs_raw_points") is None else (
            f"{r['vs_raw_points']:+.2f}" + ("" if r.get("vs_raw_ci_points") is None else f" ± {r['vs_raw_ci_points']:.2f}")
            + f" ({r.get('vs_raw_verdict')})")
        lines.append(f"| {r['method']} | {r['feature_dim']} | {r.get('seeds', 1)} | {100 * r['accuracy']:.2f}%"
                     f"{'' if ci is None else f' ± {100 * ci:.2f}'} | {vs_raw} | "
                     f"{_f(100 * r['explained_variance'] if r['explained_variance'] is not None else None, 2)} | "
                     f"{r['feature_bytes']:,} | {_f(versus[0])}% | "
                     f"{_f(versus[1]) + '%' if r['method'] != 'raw' else '-'} |")
    pca = [r for r in analysis["accuracy"] if r["method"] == "pca" and r.get("explained_variance") is not None]
    lines += ["", "Published: accuracy rises with the feature dimension (compression trades against accuracy)."
              + (" Here PCA explains " + ", ".join(f"{100 * r['explained_variance']:.1f}% of the variance at "
                                                   f"{r['feature_dim']}" for r in pca) + "." if pca else "")
              + (" The data set is the embedded digits (8x8 originals upscaled to 32x32); a real data set "
                 "(--models-dir built with --data) is needed to compare the trend." if analysis["dataset"] == "digits"
                 else "")]
    raw_cnn = next((r for r in analysis["training"] if r["model"].startswith("CloudCNN")), None)
    lines += ["", "## Training time of the cloud's model: raw vs features", "",
              "| model | input values | epochs | seconds | s / epoch | test accuracy |", "|---|---:|---:|---:|---:|---:|"]
    for r in analysis["training"]:
        lines.append(f"| {r['model']} | {r['input_values']:,} | {r['epochs']} | {r['train_seconds']:.2f} | "
                     f"{r['train_seconds'] / max(1, r['epochs']):.3f} | {100 * r['accuracy']:.2f}% |")
    feats = [r for r in analysis["training"] if "PCA" in r["model"] or "AE" in r["model"]]
    if raw_cnn and feats:
        mean_s = sum(r["train_seconds"] for r in feats) / len(feats)
        lines += ["", f"Features vs CloudCNN on raw images: {100 * (mean_s / raw_cnn['train_seconds'] - 1):+.1f}% "
                  f"training time (mean over the feature models; epochs {feats[0]['epochs']} vs {raw_cnn['epochs']}). "
                  f"Published: {PUBLISHED_TRAINING_FASTER_PCT}% faster at 15 epochs and ~10 points less accurate at "
                  "60,000 images; PCA matched cloud-only accuracy at 200 epochs. Ours: small MLP classifiers on the "
                  "features against CloudCNN on the images, all trained on this machine's CPU."]
    figure = _figure(run_dir, analysis["accuracy"])
    if figure:
        lines += ["", "## Figure", "", f"![{figure}]({figure})"]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
