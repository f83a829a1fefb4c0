"""Model benchmark: ORT batch-1 latency, EdgeCNN1-k vs CloudCNN ratios beside the published ones, ORT vs torch
eager, file sizes, train+export time and accuracy of the default set.

    .venv/bin/python benchmarks/bench_models.py [--cache DIR] [--fresh] [--runs 200] [--threads 1]
                                                [--labelled-sizes 120,500 --repeats 2]

Writes benchmarks/results/models.json and models.md and prints a table. All models are timed round-robin
in one process, so the ratios hold even on a shared machine; absolute times depend on the load.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.collaboration import accuracy_by_labelled_size  # noqa: E402
from models.datasets import embedded_digits  # noqa: E402
from models.onnx_import import sequential_from_onnx  # noqa: E402
from models.preprocess import normalise  # noqa: E402
from models.runtime import open_session  # noqa: E402
from models.training import TrainSettings  # noqa: E402
from models.zoo import DEFAULT_CACHE_DIR, ensure_models  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PUBLISHED = {"edgecnn1-3_vs_cloudcnn_inference_reduction_pct": 37.68,
             "edgecnn1-3_vs_edgecnn1-5_2000_images_reduction_pct": 23.28,
             "edgecnn1-3_vs_edgecnn1-10_2000_images_reduction_pct": 51.87,
             "edgecnn1_vs_edgecnn0_train_time_reduction_pct_fashion_3_layers": 45.47}
LATENCY_MODELS = ["cloudcnn", "edgecnn1-3", "edgecnn1-5", "edgecnn1-10"]
EAGER_MODELS = ["cloudcnn", "edgecnn1-3", "edgecnn1-5", "edgecnn1-10", "pca-encoder", "ae-encoder",
                "pca-classifier", "ae-classifier"]


def _pct_reduction(faster: float, slower: float) -> float:
    return 100.0 * (1.0 - faster / slower)


def _stats_ms(samples_s: list[float]) -> dict:
    values = np.array(samples_s) * 1e3
    return {"median_ms": float(np.median(values)), "p90_ms": float(np.percentile(values, 90)),
            "mean_ms": float(values.mean()), "runs": len(values)}


def batch1_latency(sessions: dict, images: np.ndarray, runs: int, warmup: int = 20) -> dict:
    samples = {name: [] for name in sessions}
    for i in range(warmup + runs):
        x = images[i % len(images)][np.newaxis]
        for name, session in sessions.items():  # round-robin: load changes hit every model alike
            start = time.perf_counter()
            session.run({"image": x})
            if i >= warmup:
                samples[name].append(time.perf_counter() - start)
    return {name: _stats_ms(values) for name, values in samples.items()}


def many_images_seconds(sessions: dict, images: np.ndarray, count: int = 2000, chunk: int = 100) -> dict:
    totals = {name: 0.0 for name in sessions}
    for start in range(0, count, chunk):
        for name, session in sessions.items():
            began = time.perf_counter()
            for i in range(start, min(count, start + chunk)):
                session.run({"image": images[i % len(images)][np.newaxis]})
            totals[name] += time.perf_counter() - began
    return totals


def ort_vs_eager(cache: Path, manifest: dict, images: np.ndarray, threads: int, runs: int) -> dict:
    torch.set_num_threads(threads)
    rows = {}
    features = {}
    for name in EAGER_MODELS:
        entry = manifest["models"][name]
        data = (cache / entry["file"]).read_bytes()
        session = open_session(data, device="cpu", threads=threads)
        module = sequential_from_onnx(data, name).eval()
        input_name = session.inputs[0].name
        if input_name == "image":
            x = images[:1]
        else:
            x = features.setdefault(name, np.random.default_rng(0).normal(size=(1, session.inputs[0].shape[1]))
                                    .astype(np.float32))
        tensor = torch.from_numpy(x)
        ort_s, torch_s = [], []
        with torch.inference_mode():
            for i in range(10 + runs):
                start = time.perf_counter()
                session.run({input_name: x})
                middle = time.perf_counter()
                module(tensor)
                end = time.perf_counter()
                if i >= 10:
                    ort_s.append(middle - start)
                    torch_s.append(end - middle)
        ort_ms, torch_ms = float(np.median(ort_s)) * 1e3, float(np.median(torch_s)) * 1e3
        rows[name] = {"ort_median_ms": ort_ms, "torch_eager_median_ms": torch_ms, "speedup": torch_ms / ort_ms}
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--fresh", action="store_true", help="build the default set from scratch in a temp folder")
    parser.add_argument("--runs", type=int, default=200, help="timed batch-1 runs per model")
    parser.add_argument("--threads", type=int, default=1, help="ORT intra-op threads (and torch threads)")
    parser.add_argument("--images", type=int, default=2000, help="images for the many-images comparison")
    parser.add_argument("--labelled-sizes", default="", help="e.g. 120,500: EdgeCNN0-3 vs 1-3 accuracy by size")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    temp = tempfile.TemporaryDirectory(prefix="ect-models-") if args.fresh else None
    try:
        cache = Path(temp.name) if temp else args.cache
        build_started = time.perf_counter()
        manifest = ensure_models(cache, progress=True)
        build_wall_s = time.perf_counter() - build_started
        data = embedded_digits()
        images = normalise(data.test.images)
        sessions = {name: open_session(cache / manifest["models"][name]["file"], device="cpu", threads=args.threads)
                    for name in LATENCY_MODELS}
        latency = batch1_latency(sessions, images, args.runs)
        many = many_images_seconds({k: sessions[k] for k in ("edgecnn1-3", "edgecnn1-5", "edgecnn1-10")},
                                   images, args.images)
        eager = ort_vs_eager(cache, manifest, images, args.threads, max(50, args.runs // 2))
        collaboration = []
        if args.labelled_sizes:
            sizes = [int(v) for v in args.labelled_sizes.split(",") if v]
            cloud_bytes = (cache / manifest["models"]["cloudcnn"]["file"]).read_bytes()
            collaboration = accuracy_by_labelled_size(cloud_bytes, data, sizes, k=3, repeats=args.repeats,
                                                      settings=TrainSettings(max_epochs=30),
                                                      pool_stride=manifest["settings"]["edge_pool_stride"])
    finally:
        if temp:
            temp.cleanup()

    train_s = manifest["train_seconds"]
    ours = {
        "edgecnn1-3_vs_cloudcnn_inference_reduction_pct":
            _pct_reduction(latency["edgecnn1-3"]["median_ms"], latency["cloudcnn"]["median_ms"]),
        "edgecnn1-3_vs_edgecnn1-5_2000_images_reduction_pct": _pct_reduction(many["edgecnn1-3"], many["edgecnn1-5"]),
        "edgecnn1-3_vs_edgecnn1-10_2000_images_reduction_pct": _pct_reduction(many["edgecnn1-3"], many["edgecnn1-10"]),
        "edgecnn1_vs_edgecnn0_train_time_reduction_pct_fashion_3_layers":
            _pct_reduction(train_s["edgecnn1-3"], train_s["edgecnn0-3"]),
    }
    result = {
        "environment": {"python": platform.python_version(), "torch": torch.__version__, "onnxruntime": ort.__version__,
                        "cpu_count": __import__("os").cpu_count(), "threads": args.threads,
                        "provider": next(iter(sessions.values())).provider, "machine": platform.machine()},
        "dataset": manifest["dataset"], "settings": manifest["settings"],
        "build": {"fresh": bool(args.fresh), "wall_seconds_this_run": build_wall_s,
                  "train_export_seconds_recorded": train_s},
        "batch1_latency": latency, "many_images_seconds": {"images": args.images, **many},
        "comparison": {key: {"ours": ours[key], "published": PUBLISHED[key]} for key in PUBLISHED},
        "ort_vs_torch_eager_batch1": eager,
        "files": {name: {"bytes": e["bytes"], "role": e["role"], "accuracy": e["accuracy"]}
                  for name, e in manifest["models"].items()},
        "edge_accuracy_by_labelled_size": collaboration,
        "benchmark_seconds": time.perf_counter() - started,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "models.json").write_text(json.dumps(result, indent=2) + "\n")
    markdown = render(result)
    (args.out / "models.md").write_text(markdown)
    print(markdown)
    return 0


def render(result: dict) -> str:
    lines = ["# Model benchmark", "",
             f"ORT {result['environment']['onnxruntime']} on {result['environment']['provider']}, "
             f"{result['environment']['threads']} thread(s); data set {result['dataset']['name']} "
             f"({result['dataset']['train_images']} train / {result['dataset']['test_images']} test).", "",
             "| model | batch-1 median ms | p90 ms |", "|---|---:|---:|"]
    for name, stats in result["batch1_latency"].items():
        lines.append(f"| {name} | {stats['median_ms']:.3f} | {stats['p90_ms']:.3f} |")
    lines += ["", "| relation | ours | published |", "|---|---:|---:|"]
    for key, pair in result["comparison"].items():
        lines.append(f"| {key} | {pair['ours']:.2f}% | {pair['published']:.2f}% |")
    lines += ["", "| model | ORT ms | torch eager ms | speedup |", "|---|---:|---:|---:|"]
    for name, row in result["ort_vs_torch_eager_batch1"].items():
        lines.append(f"| {name} | {row['ort_median_ms']:.3f} | {row['torch_eager_median_ms']:.3f} | {row['speedup']:.2f}x |")
    lines += ["", "| file | role | bytes | test accuracy |", "|---|---|---:|---:|"]
    for name, row in result["files"].items():
        acc = "" if row["accuracy"] is None else f"{100 * row['accuracy']:.2f}%"
        lines.append(f"| {name} | {row['role']} | {row['bytes']:,} | {acc} |")
    train = result["build"]["train_export_seconds_recorded"]
    lines += ["", "Train+export seconds (recorded at build): " +
              ", ".join(f"{k} {v:.1f}" for k, v in train.items())]
    if result["edge_accuracy_by_labelled_size"]:
        lines += ["", "| labelled images | repeat | EdgeCNN0-3 | EdgeCNN1-3 |", "|---:|---:|---:|---:|"]
        for row in result["edge_accuracy_by_labelled_size"]:
            lines.append(f"| {row['labelled_images']} | {row['repeat']} | {100 * row['edgecnn0_accuracy']:.2f}% "
                         f"| {100 * row['edgecnn1_accuracy']:.2f}% |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
