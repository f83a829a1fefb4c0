"""A `compare` with real labelled images (``--images DIR``): latency and accuracy of edge and cloud in one run.

The folder is made here from data the repository already has: ``--per-class`` held-out sklearn digits (the
test split the default models never trained on), as PNG files in ``DIR/<digit>/`` (labels from the folder
names), under .cache/bench-images/. The run re-encodes them to each size (``--image-mode resize``) and sends
one photo per repetition at every size to each placement, on LTE and WiFi:

    sudo python benchmarks/bench_images.py                      # 2 accesses x 2 placements x 3 sizes x 12
    sudo python benchmarks/bench_images.py --repetitions 4 --sizes 60K --models-dir .cache/models

Writes benchmarks/results/images-compare.{csv,json,md}: per access x placement x size the response and upload
medians, the accuracy with its Wilson 95% interval and n, and the resolutions and JPEG qualities used.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.harness_runs import RESULTS_OUT, ROOT, md_table, run_harness, write_outputs  # noqa: E402

IMAGES_ROOT = ROOT / ".cache" / "bench-images"


def digit_folder(root: Path, per_class: int) -> Path:
    """``root/<digit>/<i>.png``: the first ``per_class`` held-out digits of each class, 32x32 as trained on."""
    from models.datasets import embedded_digits

    test = embedded_digits().test
    for digit in range(10):
        for n, index in enumerate(np.flatnonzero(test.labels == digit)[:per_class]):
            path = root / str(digit) / f"{digit}-{n}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(test.images[index]).save(path, format="PNG")
    return root


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def cells(run_dir: Path) -> list[dict]:
    """Per access x placement x size: response / upload medians, accuracy (n, 95% CI), resolutions, qualities."""
    requests = [r for r in read_csv(run_dir / "requests.csv") if r["status"] == "ok"]
    accuracy = {(r["access"], r["placement"], r["size"]): r for r in read_csv(run_dir / "accuracy.csv")}
    summary = read_csv(run_dir / "summary.csv")
    out = []
    for row in summary:
        mine = [r for r in requests if (r["access"], r["placement"], r["size_bytes"]) ==
                (row["access"], row["placement"], row["size_bytes"])]
        acc = accuracy.get((row["access"], row["placement"], row["size"]), {})
        widths = sorted({int(r["image_width"]) for r in mine if r["image_width"]})
        out.append({"access": row["access"], "placement": row["placement"], "size": row["size"],
                    "n": len(mine), "response_ms_median": float(row["response_ms_median"]),
                    "upload_ms_median": float(row["upload_ms_median"]),
                    "preprocess_ms_median": float(row["preprocess_ms_median"] or "nan"),
                    "accuracy": float(acc["accuracy"]) if acc.get("accuracy") else None,
                    "accuracy_n": int(acc.get("judged") or 0),
                    "ci95": [float(acc["ci95_low"]), float(acc["ci95_high"])] if acc.get("ci95_low") else None,
                    "width_px_range": [widths[0], widths[-1]] if widths else None,
                    "qualities": sorted({int(r["image_quality"]) for r in mine if r["image_quality"]}),
                    "encoded_over_sent_median": statistics.median(
                        int(r["image_encoded_bytes"]) / int(r["size_bytes"]) for r in mine) if mine else None})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="60K,256K,1024K")
    parser.add_argument("--repetitions", type=int, default=12)
    parser.add_argument("--per-class", type=int, default=3, help="held-out digits per class in the folder")
    parser.add_argument("--access", default="lte,wifi")
    parser.add_argument("--models-dir", default="", help="a built model set to serve as it is (default: the "
                                                         "default set, built once)")
    parser.add_argument("--out", type=Path, default=RESULTS_OUT)
    args = parser.parse_args(argv)
    folder = digit_folder(IMAGES_ROOT / f"digits-{args.per_class}", args.per_class)
    run_dir, wall_s = run_harness("compare", ["--access", args.access, "--placements", "edge,cloud", "--sizes",
                                              args.sizes, "--repetitions", str(args.repetitions),
                                              "--calibrate-seconds", "0", "--images", str(folder),
                                              *(["--models-dir", args.models_dir] if args.models_dir else [])],
                                  ROOT / ".cache" / "bench-images" / "runs")
    record = json.loads((run_dir / "experiment.json").read_text())
    table = cells(run_dir)
    validity = json.loads((run_dir / "validity.json").read_text()) if (run_dir / "validity.json").is_file() else {}
    result = {"command": f"compare --access {args.access} --placements edge,cloud --sizes {args.sizes} "
                         f"--repetitions {args.repetitions} --images <{10 * args.per_class} held-out digits>",
              "run": run_dir.name, "wall_s": round(wall_s, 1), "status": record.get("status"),
              "validity": validity.get("verdict"), "images": record.get("images"),
              "models_origin": record.get("models_origin"), "cells": table}
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "images-compare.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[k for k in table[0] if k not in ("ci95", "width_px_range", "qualities")]
                                + ["ci95_low", "ci95_high", "width_px_min", "width_px_max", "qualities"])
        writer.writeheader()
        for cell in table:
            writer.writerow({**{k: v for k, v in cell.items() if k not in ("ci95", "width_px_range", "qualities")},
                             "ci95_low": cell["ci95"][0] if cell["ci95"] else "",
                             "ci95_high": cell["ci95"][1] if cell["ci95"] else "",
                             "width_px_min": cell["width_px_range"][0] if cell["width_px_range"] else "",
                             "width_px_max": cell["width_px_range"][1] if cell["width_px_range"] else "",
                             "qualities": "/".join(map(str, cell["qualities"]))})
    print(f"wrote {args.out / 'images-compare.csv'}")

    def pct(value):
        return "-" if value is None else f"{100 * value:.1f}%"

    markdown = [f"# compare with real labelled images ({result['command']})", "",
                f"Run {run_dir.name}: {result['status']}, {result['validity'] or '?'}, {wall_s:.0f} s. Images: "
                f"{(record.get('images') or {}).get('images')} held-out sklearn digits (PNG, 32x32), labels from "
                "the folder names, re-encoded to each size (resolution and JPEG quality found per image; the rows "
                "record both). Accuracy: of the ok requests, matched answers, Wilson 95% interval.", ""]
    markdown += md_table(["access", "placement", "size", "n", "response ms (median)", "upload ms", "decode ms",
                          "accuracy", "95% CI", "width px", "quality"],
                         [[c["access"], c["placement"], c["size"], c["n"], f"{c['response_ms_median']:.1f}",
                           f"{c['upload_ms_median']:.1f}", f"{c['preprocess_ms_median']:.1f}", pct(c["accuracy"]),
                           f"{pct(c['ci95'][0])} .. {pct(c['ci95'][1])}" if c["ci95"] else "-",
                           "-" if not c["width_px_range"] else f"{c['width_px_range'][0]}-{c['width_px_range'][1]}",
                           "/".join(map(str, c["qualities"]))] for c in table])
    write_outputs(args.out, "images-compare", result, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
