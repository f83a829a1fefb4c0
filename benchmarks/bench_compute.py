"""Compute budgets: this host's inference times, the seeds' node profiles derived from them, and checks that the
budgets do what they say (a cgroup quota really limits, a speed factor really stretches).

    .venv/bin/python benchmarks/bench_compute.py [--models DIR] [--quick] [--no-write-profiles]

1. Measures each model of the set (ONNX Runtime, CPU, 1 intra-op thread) at batch 1, 4 and 16, and one-thread
   float32 matrix multiply throughput (numpy/OpenBLAS), on this host.
2. Writes nodes/node_profiles/system-b.toml, system-a.toml and the GPU latency profiles
   nodes/latency_profiles/system-a-edge.json, system-a-cloud.json from those measurements and the cited ratios
   below (CITED): nothing in the profiles is typed by hand.
3. Checks: a CPU-burning child in a cgroup at 0.25 / 0.5 core (root and a cpu controller needed), and the speed
   factor's stretch at 1.5 and 2 on cloudcnn.
Output: benchmarks/results/compute.json and compute.md.

Where we cannot measure (no GPU here, none of the seeds' CPUs), the profiles scale this host's times:
- a CPU by the ratio of PassMark single-thread ratings (one request runs on one core at a time);
- a GPU by FP32 peak (CUDA cores x base clock x 2, NVIDIA's specifications) against this host's measured one-thread
  matrix throughput, at an assumed GPU efficiency on these small convolutions, plus a per-kernel launch floor.
Every such number is in CITED or ASSUMED with its source, and is copied into the profile files' comments.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one-thread matrix throughput: before numpy loads

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from compute_checks import check_quota, check_speed_factor  # noqa: E402
from compute_profiles import write_profiles  # noqa: E402
from models.runtime import open_session  # noqa: E402
from models.zoo import DEFAULT_CACHE_DIR  # noqa: E402

RESULTS_DIR = REPO / "benchmarks" / "results"
BATCHES = (1, 4, 16)


def host_description() -> dict:
    info = {"machine": platform.machine(), "cpus": len(os.sched_getaffinity(0)), "kernel": platform.release()}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for key in ("model name", "cpu family", "model", "bogomips"):
        for line in text.splitlines():
            if line.split(":")[0].strip() == key:
                info[key.replace(" ", "_")] = line.split(":", 1)[1].strip()
                break
    return info


def sgemm_gflops(n: int = 512, seconds: float = 1.0) -> float:
    """One-thread float32 matrix multiply throughput (OPENBLAS_NUM_THREADS=1), best of several."""
    a, b = np.random.default_rng(0).random((2, n, n), dtype=np.float32)
    a @ b
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        a @ b
        best = max(best, 2 * n ** 3 / (time.perf_counter() - start) / 1e9)
    return best


def _input(session, batch: int) -> dict:
    rng = np.random.default_rng(batch)
    return {t.name: rng.random((batch, *[d or 1 for d in t.shape[1:]]), dtype=np.float32) for t in session.inputs}


def model_times(models_dir: Path, runs: dict[int, int]) -> dict:
    """Per model and batch: the measured inference times (ms), round-robin over the models."""
    manifest = json.loads((models_dir / "manifest.json").read_text())["models"]
    sessions = {name: open_session(models_dir / entry["file"], device="cpu", threads=1)
                for name, entry in manifest.items()}
    times = {name: {} for name in sessions}
    for batch, count in runs.items():
        feeds = {name: _input(s, batch) for name, s in sessions.items()}
        for name, s in sessions.items():  # warm-up
            s.run(feeds[name])
        samples = {name: [] for name in sessions}
        for _ in range(count):
            for name, s in sessions.items():
                start = time.perf_counter_ns()
                s.run(feeds[name])
                samples[name].append((time.perf_counter_ns() - start) / 1e6)
        for name, values in samples.items():
            times[name][batch] = values
    return {"models": times, "kernels": {name: _kernels(models_dir / e["file"]) for name, e in manifest.items()}}


def _kernels(path: Path) -> int:
    """Compute nodes of the graph (Conv, Gemm, MatMul, pooling, softmax): about one GPU kernel each after fusion."""
    import onnx

    kinds = {"Conv", "Gemm", "MatMul", "MaxPool", "AveragePool", "Softmax", "Flatten", "Reshape"}
    return sum(node.op_type in kinds for node in onnx.load(str(path), load_external_data=False).graph.node)


def _stats(values) -> dict:
    v = np.asarray(values)
    return {"median_ms": round(float(np.median(v)), 4), "p90_ms": round(float(np.percentile(v, 90)), 4),
            "runs": len(v)}


def render(result: dict) -> str:
    lines = ["# Compute budgets (bench_compute.py)", "",
             f"Host: {result['host'].get('model_name', '?')} (family {result['host'].get('cpu_family', '?')}, model "
             f"{result['host'].get('model', '?')}), {result['host']['cpus']} CPUs; one-thread sgemm "
             f"{result['sgemm_gflops']:.1f} GFLOPS.", "",
             "## This host, ONNX Runtime CPU, 1 thread (median ms)", "",
             "| model | " + " | ".join(f"batch {b}" for b in result["batches"]) + " |",
             "|---|" + "---|" * len(result["batches"])]
    for name, by_batch in result["host_times"].items():
        lines.append(f"| {name} | " + " | ".join(f"{by_batch[str(b)]['median_ms']:.3f}" for b in result["batches"])
                     + " |")
    lines += ["", "## Node profiles written", ""]
    for name, nodes in result["profiles"].items():
        for node, budget in nodes.items():
            lines.append(f"- {name} {node}: {budget}")
    lines += ["", "## Checks", ""]
    for check in result["checks"]:
        lines.append(f"- {check}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=DEFAULT_CACHE_DIR, help="model set (default .cache/models)")
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test of the script)")
    parser.add_argument("--no-write-profiles", action="store_true", help="measure and check only")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if not (args.models / "manifest.json").is_file():
        print(f"error: no model set in {args.models}: run 'python harness/run.py models build' first", file=sys.stderr)
        return 2
    runs = {1: 20, 4: 8, 16: 4} if args.quick else {1: 200, 4: 60, 16: 20}
    host = host_description()
    gflops = sgemm_gflops()
    measured = model_times(args.models, runs)
    profiles = {} if args.no_write_profiles else write_profiles(host, gflops, measured)
    checks = check_quota() + check_speed_factor(args.models)
    result = {"host": host, "sgemm_gflops": round(gflops, 2), "batches": list(BATCHES), "runs": runs,
              "models_dir": str(args.models),
              "host_times": {name: {str(b): _stats(v) for b, v in by_batch.items()}
                             for name, by_batch in measured["models"].items()},
              "kernels": measured["kernels"], "profiles": profiles, "checks": checks}
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if args.quick else ""
    (args.out / f"compute{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / f"compute{suffix}.md").write_text(render(result))
    print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
