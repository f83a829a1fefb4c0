#!/usr/bin/env python3
"""The README's collaboration and features figures, from `collaborate` and `features` runs on their defaults.

    sudo .venv/bin/python benchmarks/bench_collaboration.py            # both commands on their defaults
    sudo .venv/bin/python benchmarks/bench_collaboration.py --quick    # a short validation run (small settings,
                                                                       # the tests' model set; .cache/bench-quick/)
    .venv/bin/python benchmarks/bench_collaboration.py --collaborate-run results/A --features-run results/B

Runs ``harness/run.py collaborate`` and ``features`` as subprocesses (defaults: LTE, userspace links, the
default model set), then reads their results folders (analysis.json, updates.csv, paths.csv, training.csv)
and writes benchmarks/results/collaboration.json + .md: the EdgeCNN1-k over EdgeCNN0-k gains with their 95%
CI and paired test over the table's repeats, the live edge's accuracy after each update, WAN bytes of the
initialisation and of each update cycle, response times before / during / after a retrain, and System A's
edge -> cloud traffic and training time, features vs raw.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from harness_runs import (ROOT, BenchError, default_out, md_table, quick_models_args, run_harness, spread,
                          write_outputs)

QUICK_COLLABORATE = ["--labelled-images", "100", "--labels-per-update", "40", "--label-batch", "20",
                     "--train-epochs", "10", "--wan-busy-s", "2", "--idle-s", "1", "--after-update-s", "2",
                     "--updates", "1", "--table-sizes", "40", "--table-depths", "3", "--table-repeats", "2",
                     "--table-epochs", "2"]
QUICK_FEATURES = ["--access", "lte", "--images", "6", "--rate-hz", "10", "--feature-dims", "16",
                  "--train-epochs", "3", "--cnn-epochs", "1", "--ae-epochs", "3", "--max-train-images", "300"]


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _pct(value) -> float | None:
    return None if value is None else round(float(value) * 100, 2)


def collaborate_figures(run_dir: Path) -> dict:
    analysis = json.loads((run_dir / "analysis.json").read_text())
    record = json.loads((run_dir / "experiment.json").read_text())
    table = [{"k": t["k"], "labelled_images": t["labelled_images"], "repeats": t["repeats"],
              "edgecnn0_pct": t["edgecnn0"], "edgecnn0_ci_pct": t.get("edgecnn0_ci"),
              "edgecnn1_pct": t["edgecnn1"], "edgecnn1_ci_pct": t.get("edgecnn1_ci"),
              "gain_points": t["gain"], "gain_ci_points": t.get("gain_ci"), "gain_p": t.get("gain_p"),
              "gain_within_noise": t.get("gain_within_noise"), "gain_verdict": t.get("gain_verdict")}
             for t in analysis.get("table_means") or []]
    table_rows = _csv(run_dir / "accuracy_by_size.csv") if (run_dir / "accuracy_by_size.csv").is_file() else []
    for cell in table:
        seeds = [r for r in table_rows if int(r["k"]) == cell["k"] and int(r["labelled_images"]) ==
                 cell["labelled_images"]]
        cell["gain_points_spread"] = spread((float(r["edgecnn1_accuracy"]) - float(r["edgecnn0_accuracy"])) * 100
                                            for r in seeds)
    versions = analysis.get("versions") or []
    live = [{"version": v["version"], "labelled_images": v["labelled_images"], "cloud_labels": v["cloud_labels"],
             "edge_pct": _pct(v["test_accuracy"]), "edgecnn0_same_labels_pct": _pct(v["edgecnn0_test_accuracy"]),
             "train_seconds": v["train_seconds"], "swap_ms": v["swap_ms"]} for v in versions]
    block = analysis.get("block") or {}
    phases = analysis.get("phases") or {}
    return {
        "run": str(run_dir), "status": record["status"], "spec": record.get("spec"),
        "models_origin": record.get("models_origin"), "table": table, "live_edge": live,
        "init_wan": {"onnx_bytes": block.get("bytes"), "wan_rx_bytes": block.get("wan_rx_bytes"),
                     "wan_tx_bytes": block.get("wan_tx_bytes")},
        "update_cycles_wan": [{k: c[k] for k in ("update", "batches", "objects", "payload_bytes", "wan_tx_bytes",
                                                 "wan_rx_bytes")} for c in analysis.get("wan_cycles") or []],
        "response_by_phase": {name: {k: p.get(k) for k in ("count", "median_ms", "p90_ms", "errors")}
                              for name, p in phases.items()},
    }


def features_figures(run_dir: Path) -> dict:
    analysis = json.loads((run_dir / "analysis.json").read_text())
    record = json.loads((run_dir / "experiment.json").read_text())
    live_dim = record.get("live_feature_dim")
    paths = analysis.get("paths") or []
    traffic = []
    for access in sorted({p["access"] for p in paths}):
        by_path = {p["path"]: p for p in paths if p["access"] == access}
        raw = by_path.get("raw")
        for name, p in sorted(by_path.items()):
            if name == "raw" or raw is None:
                continue
            image = float(raw["mean_image_bytes"])
            traffic.append({"access": access, "path": name, "feature_dim": live_dim,
                            "wan_to_cloud_bytes_per_image": float(p["wan_to_cloud_bytes_per_image"]),
                            "raw_wan_to_cloud_bytes_per_image": float(raw["wan_to_cloud_bytes_per_image"]),
                            "reduction_vs_raw_pct": float(p["reduction_vs_raw_pct"]),
                            "payload_reduction_pct": round((1 - 4 * live_dim / image) * 100, 2) if live_dim else None,
                            "requests": int(p["requests"]), "ok": int(p["ok"])})
    training = analysis.get("training") or []
    per_epoch = {t["model"]: t["train_seconds"] / t["epochs"] for t in training if t.get("epochs")}
    raw_epoch = per_epoch.get("classifier on raw inputs")
    training_vs_raw = [{"model": name, "seconds_per_epoch": round(s, 4),
                        "vs_raw_pct": round((s - raw_epoch) / raw_epoch * 100, 1) if raw_epoch else None}
                       for name, s in per_epoch.items() if name.startswith("classifier on ") and "raw" not in name]
    accuracy = [{k: a.get(k) for k in ("method", "feature_dim", "accuracy", "accuracy_ci", "seeds", "vs_raw_points",
                                       "vs_raw_ci_points", "vs_raw_p", "vs_raw_verdict")}
                for a in analysis.get("accuracy") or []]
    return {"run": str(run_dir), "status": record["status"], "spec": record.get("spec"),
            "models_origin": record.get("models_origin"), "traffic": traffic,
            "training_time_per_epoch": training_vs_raw, "accuracy": accuracy}


def _n(value, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(result: dict) -> list[str]:
    c, f = result["collaborate"], result["features"]
    out = ["# Collaboration figures (benchmarks/bench_collaboration.py)", "",
           f"collaborate: `{c['run']}` ({c['status']}); features: `{f['run']}` ({f['status']})"
           + (" -- QUICK validation run: small settings, not figures" if result["quick"] else ""), "",
           "## EdgeCNN1-k over EdgeCNN0-k (same labelled images; mean over repeats, 95% CI, paired test)", ""]
    out += md_table(["k", "labelled", "repeats", "EdgeCNN0 %", "EdgeCNN1 %", "gain (points)", "95% CI", "p",
                     "verdict"],
                    [[t["k"], t["labelled_images"], t["repeats"], _n(t["edgecnn0_pct"]), _n(t["edgecnn1_pct"]),
                      _n(t["gain_points"]), _pm(t["gain_ci_points"]), _n(t["gain_p"], 3), t["gain_verdict"]]
                     for t in c["table"]])
    out += ["", "## Live edge after each update", ""]
    out += md_table(["version", "labelled", "cloud labels", "edge %", "EdgeCNN0 same labels %", "swap ms"],
                    [[v["version"], v["labelled_images"], v["cloud_labels"], _n(v["edge_pct"]),
                      _n(v["edgecnn0_same_labels_pct"]), _n(v["swap_ms"], 1)] for v in c["live_edge"]])
    init = c["init_wan"]
    out += ["", f"Initialisation over the WAN: {init['wan_rx_bytes']} B received for a {init['onnx_bytes']} B "
            "shared block.", ""]
    out += md_table(["update", "objects", "image bytes", "WAN up B", "WAN down B"],
                    [[u["update"], u["objects"], u["payload_bytes"], u["wan_tx_bytes"], u["wan_rx_bytes"]]
                     for u in c["update_cycles_wan"]])
    out += ["", "## Response time around a retrain", ""]
    out += md_table(["phase", "requests", "median ms", "p90 ms", "errors"],
                    [[name, p["count"], _n(p["median_ms"], 1), _n(p["p90_ms"], 1), p["errors"]]
                     for name, p in c["response_by_phase"].items()])
    out += ["", "## System A: features vs raw images", ""]
    out += md_table(["access", "path", "dims", "WAN B/image", "raw WAN B/image", "change %", "payload change %"],
                    [[t["access"], t["path"], t["feature_dim"], _n(t["wan_to_cloud_bytes_per_image"], 1),
                      _n(t["raw_wan_to_cloud_bytes_per_image"], 1), _n(-t["reduction_vs_raw_pct"], 1),
                      _n(-t["payload_reduction_pct"], 1) if t["payload_reduction_pct"] is not None else ""]
                     for t in f["traffic"]])
    out += [""]
    out += md_table(["classifier", "s per epoch", "vs raw inputs %"],
                    [[t["model"], _n(t["seconds_per_epoch"], 3), _n(t["vs_raw_pct"], 1)]
                     for t in f["training_time_per_epoch"]])
    out += [""]
    out += md_table(["method", "dims", "accuracy", "95% CI", "seeds", "vs raw (points)", "verdict"],
                    [[a["method"], a["feature_dim"], _n(a["accuracy"], 4), _pm(a["accuracy_ci"], 4), a["seeds"],
                      _n(a["vs_raw_points"]), a["vs_raw_verdict"]] for a in f["accuracy"]])
    return out


def _pm(half_width, digits: int = 2) -> str:
    """A 95% CI half-width as '±x'; a list/tuple (low, high) as 'low..high'; nothing when not computed."""
    if half_width is None or half_width == "":
        return ""
    if isinstance(half_width, (list, tuple)):
        return "..".join(f"{v:.{digits}f}" for v in half_width)
    return f"±{float(half_width):.{digits}f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short validation run (small settings)")
    parser.add_argument("--collaborate-run", type=Path, help="an existing collaborate folder (no new run)")
    parser.add_argument("--features-run", type=Path, help="an existing features folder (no new run)")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "results", help="where the runs go")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default benchmarks/results; with --quick .cache/bench-quick)")
    args = parser.parse_args(argv)
    out_dir = args.out or default_out(args.quick)
    models = quick_models_args(args.quick)
    try:
        collab_dir, features_dir, walls = args.collaborate_run, args.features_run, {}
        if collab_dir is None:
            print("bench_collaboration: 1/2 collaborate" + (" (quick)" if args.quick else " (defaults)"), flush=True)
            collab_dir, walls["collaborate_s"] = run_harness(
                "collaborate", (QUICK_COLLABORATE if args.quick else []) + models, args.results_dir)
        if features_dir is None:
            print("bench_collaboration: 2/2 features" + (" (quick)" if args.quick else " (defaults)"), flush=True)
            features_dir, walls["features_s"] = run_harness(
                "features", (QUICK_FEATURES if args.quick else []) + models, args.results_dir)
        result = {"quick": args.quick, "wall_s": {k: round(v, 1) for k, v in walls.items()},
                  "collaborate": collaborate_figures(collab_dir), "features": features_figures(features_dir)}
    except (BenchError, OSError, KeyError, json.JSONDecodeError) as err:
        print(f"bench_collaboration: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    write_outputs(out_dir, "collaboration", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
