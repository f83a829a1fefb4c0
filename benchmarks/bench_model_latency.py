"""Batch-1 and batch-32 inference latency of every model of the default set on this CPU (ONNX Runtime,
CPUExecutionProvider), median and p90 over repeats, the threads recorded.

    .venv/bin/python benchmarks/bench_model_latency.py [--models-dir DIR] [--repeats 30] [--threads 1]
                                                       [--batches 1,32] [--out benchmarks/results/model-latency]

Writes ``<out>.csv`` (one row per model x batch) and ``<out>.md``. Models are timed round-robin (one repeat of
each in turn), so a load that comes and goes on this shared machine spreads over all of them. The functions here
are shared with benchmarks/device/gpu_profile.py.
"""
from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.runtime import open_session  # noqa: E402
from models.zoo import DEFAULT_CACHE_DIR, load_manifest  # noqa: E402

RESULTS_DIR = Path(__file__).resolve().parent / "results"
FIELDS = ("model", "role", "provider", "threads", "batch", "repeats", "median_ms", "p90_ms", "min_ms",
          "per_image_median_ms", "input_shape", "bytes")


def random_feeds(session, batch: int, seed: int = 0) -> dict:
    """Random float inputs of ``batch`` items for every input of ``session`` (its static dims, batch first)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for info in session.inputs:
        dims = [d if isinstance(d, int) else None for d in info.shape[1:]]
        if any(d is None for d in dims):
            raise ValueError(f"{session.name}: input {info.name} has dynamic dimensions {info.shape}")
        feeds[info.name] = rng.standard_normal([batch, *dims]).astype(np.float32)
    return feeds


def percentile_ms(samples_ms: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples_ms, np.float64), q))


def summary(samples_ms: list[float]) -> dict:
    return {"median_ms": round(percentile_ms(samples_ms, 50), 4), "p90_ms": round(percentile_ms(samples_ms, 90), 4),
            "min_ms": round(min(samples_ms), 4)}


def time_round_robin(runs: dict, repeats: int, warmup: int = 3) -> dict[str, list[float]]:
    """``runs``: key -> zero-argument callable. Each is warmed up, then timed once per round, ``repeats`` rounds."""
    for run in runs.values():
        for _ in range(warmup):
            run()
    samples: dict[str, list[float]] = {key: [] for key in runs}
    for _ in range(repeats):
        for key, run in runs.items():
            start = time.perf_counter_ns()
            run()
            samples[key].append((time.perf_counter_ns() - start) / 1e6)
    return samples


def model_files(models_dir: Path) -> dict[str, dict]:
    """name -> manifest entry (with "path") of every model of the set."""
    manifest = load_manifest(models_dir)
    return {name: {**entry, "path": Path(models_dir) / entry["file"]} for name, entry in manifest["models"].items()}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def measure(models_dir: Path, batches: list[int], repeats: int, threads: int, device: str = "cpu") -> list[dict]:
    entries = model_files(models_dir)
    sessions = {name: open_session(entry["path"], device=device, threads=threads) for name, entry in entries.items()}
    runs, meta = {}, {}
    for name, session in sessions.items():
        for batch in batches:
            feeds = random_feeds(session, batch)
            runs[(name, batch)] = (lambda s=session, f=feeds: s.run(f))
            meta[(name, batch)] = [list(f.shape) for f in feeds.values()]
    samples = time_round_robin(runs, repeats)
    rows = []
    for (name, batch), values in samples.items():
        stats = summary(values)
        rows.append({"model": name, "role": entries[name]["role"], "provider": sessions[name].provider,
                     "threads": sessions[name].threads, "batch": batch, "repeats": repeats, **stats,
                     "per_image_median_ms": round(stats["median_ms"] / batch, 4),
                     "input_shape": "x".join(str(d) for d in meta[(name, batch)][0]),
                     "bytes": entries[name]["bytes"], "samples_ms": values})
    return rows


def write_outputs(rows: list[dict], out: Path, header: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    lines = [header, "", "| model | role | batch | median ms | p90 ms | per image ms | input | file bytes |",
             "|---|---|---:|---:|---:|---:|---|---:|"]
    for row in rows:
        lines.append(f"| {row['model']} | {row['role']} | {row['batch']} | {row['median_ms']:.3f} | "
                     f"{row['p90_ms']:.3f} | {row['per_image_median_ms']:.3f} | {row['input_shape']} | "
                     f"{row['bytes']:,d} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "model-latency")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    started = time.time()
    rows = measure(args.models_dir, batches, args.repeats, args.threads)
    import onnxruntime as ort
    header = (f"# Model inference latency on CPU\n\n{cpu_name()}, {os.cpu_count()} logical CPUs (shared with the "
              f"other jobs of this machine), ONNX Runtime {ort.__version__} CPUExecutionProvider, "
              f"intra-op threads {args.threads}, {args.repeats} repeats per model and batch (round-robin, after 3 "
              f"warm-up runs), random float inputs; models from {args.models_dir} "
              f"(MobileNetV2 / ResNet-18: random weights, 224 x 224). Measured in {time.time() - started:.0f} s by "
              "benchmarks/bench_model_latency.py.")
    write_outputs(rows, args.out, header)
    for row in rows:
        print(f"{row['model']:18s} batch {row['batch']:3d}  median {row['median_ms']:9.3f} ms  p90 "
              f"{row['p90_ms']:9.3f} ms")
    print(f"wrote {args.out.with_suffix('.csv')} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
