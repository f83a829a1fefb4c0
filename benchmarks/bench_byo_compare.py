"""`compare` with a user's models (MobileNetV2 at the edge, ResNet-18 in the cloud, given as ONNX files) beside
the seeds' pair (EdgeCNN1-3 / CloudCNN), on the same network, sizes and repetitions (issue 16's figure).

    sudo .venv/bin/python benchmarks/bench_byo_compare.py [--access lte] [--sizes 60K,512K,2048K] [--repetitions 5]

Two runs of ``harness/run.py compare`` (the second with ``--edge-model FILE --cloud-model FILE``: the files take
the user's path, a model set of their own served by the cloud and downloaded by the edge); writes
benchmarks/results/byo-compare.{json,md,csv}: per pair, placement, access and size the median upload, inference
and response, and per pair the edge's response change against the cloud's.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness_runs import RESULTS_OUT, ROOT, md_table, run_harness, write_outputs  # noqa: E402

MODELS = ROOT / ".cache" / "models"
RUNS_DIR = ROOT / ".cache" / "bench-byo-runs"
PAIRS = {"seeds (EdgeCNN1-3 / CloudCNN)": [],
         "MobileNetV2 / ResNet-18 (files)": ["--edge-model", str(MODELS / "mobilenetv2.onnx"),
                                             "--cloud-model", str(MODELS / "resnet18.onnx")]}
KEPT = ("placement", "access", "size", "model", "count", "ok", "upload_ms_median", "inference_ms_median",
        "server_ms_median", "response_ms_median", "response_ms_p90")


def summary_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "summary.csv", newline="") as handle:
        return [{k: row[k] for k in KEPT} for row in csv.DictReader(handle)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--access", default="lte")
    parser.add_argument("--sizes", default="60K,512K,2048K")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS_OUT)
    args = parser.parse_args(argv)
    common = ["--access", args.access, "--sizes", args.sizes, "--repetitions", str(args.repetitions)]
    result = {"access": args.access, "sizes": args.sizes, "repetitions": args.repetitions, "runs": {}}
    rows = []
    for pair, extra in PAIRS.items():
        run_dir, wall_s = run_harness("compare", common + extra, RUNS_DIR)
        record = json.loads((run_dir / "experiment.json").read_text())
        validity = json.loads((run_dir / "validity.json").read_text()) if (run_dir / "validity.json").is_file() else {}
        result["runs"][pair] = {"run_dir": str(run_dir), "wall_s": round(wall_s, 1),
                                "edge_model": record["spec"]["edge_model"], "cloud_model": record["spec"]["cloud_model"],
                                "models_dir": record["spec"]["models_dir"], "models_byo": record.get("models_byo"),
                                "status": record.get("status"), "validity": validity.get("verdict")}
        rows += [{"pair": pair, **row} for row in summary_rows(run_dir)]
    result["rows"] = rows
    changes = []
    for pair in PAIRS:
        cells = {(r["placement"], r["access"], r["size"]): r for r in rows if r["pair"] == pair}
        for (placement, access, size), row in cells.items():
            cloud = cells.get(("cloud", access, size))
            if placement == "edge" and cloud and float(cloud["response_ms_median"]):
                change = (float(row["response_ms_median"]) / float(cloud["response_ms_median"]) - 1) * 100
                changes.append([pair, access, size, row["response_ms_median"], cloud["response_ms_median"],
                                f"{change:+.1f}%"])
    result["edge_vs_cloud_response"] = changes
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "byo-compare.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["pair", *KEPT])
        writer.writeheader()
        writer.writerows(rows)
    runs = [[pair, r["edge_model"], r["cloud_model"], r["status"], r["validity"], r["wall_s"]]
            for pair, r in result["runs"].items()]
    markdown = [f"# compare: MobileNetV2 / ResNet-18 beside the seeds' pair\n",
                f"Access {args.access}, sizes {args.sizes}, {args.repetitions} repetitions per cell, one device, "
                "written by benchmarks/bench_byo_compare.py. MobileNetV2 and ResNet-18 have random weights (their "
                "labels mean nothing; their inference time is the point), 224 x 224 inputs, ImageNet normalisation "
                "from the card inside each file.\n",
                *md_table(["pair", "edge model", "cloud model", "status", "validity", "wall s"], runs), "",
                *md_table(["pair", "placement", "access", "size", "ok", "upload ms", "inference ms", "server ms",
                           "response ms", "response p90 ms"],
                          [[r["pair"], r["placement"], r["access"], r["size"], f"{r['ok']}/{r['count']}",
                            r["upload_ms_median"], r["inference_ms_median"], r["server_ms_median"],
                            r["response_ms_median"], r["response_ms_p90"]] for r in rows]), "",
                "Edge response against the cloud's (medians):\n",
                *md_table(["pair", "access", "size", "edge ms", "cloud ms", "edge vs cloud"], changes)]
    write_outputs(args.out, "byo-compare", result, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
