"""On a machine with a GPU: is ONNX Runtime's CUDA provider (and TensorRT, where present) really used, do its
outputs match the CPU's, and what are batch-1 and batch-32 latencies of every model of the set there.

    python benchmarks/device/gpu_profile.py [--models-dir .cache/models] [--repeats 50] [--batches 1,32]
                                            [--profile-name gpu-measured] [--out benchmarks/results/gpu-profile]

Writes ``<out>.json`` (providers obtained, parity per model, latency summaries), ``<out>.md``, and the latency
profile ``nodes/latency_profiles/<profile-name>.json`` (format ``ect-latency-profile/1``, nodes/latency_profile.py)
that ``--edge-latency-profile`` / ``--cloud-latency-profile`` and the many-devices compute replay read.
Without a working CUDA provider it prints one line and exits 2, before measuring anything.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_model_latency import model_files, summary, time_round_robin  # noqa: E402

CPU, CUDA, TENSORRT = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"
FORMAT = "ect-latency-profile/1"
PARITY_RTOL, PARITY_ATOL = 1e-3, 1e-4
MAX_PROFILE_SAMPLES = 200
EXIT_NO_CUDA = 2


class NoGpu(RuntimeError):
    """No working CUDA provider: the one line says why."""


def gpu_name() -> str:
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20)
        return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else "unknown GPU"
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "unknown GPU"


def require_cuda(ort) -> list[str]:
    """The accelerated providers to measure (CUDA, and TensorRT where it loads); NoGpu when CUDA does not work."""
    from models.runtime import cuda_works

    available = ort.get_available_providers()
    if CUDA not in available:
        raise NoGpu(f"ONNX Runtime {ort.__version__} offers no CUDA provider here (available: {', '.join(available)}); "
                    "run this on the device machine with onnxruntime-gpu")
    if not cuda_works():
        raise NoGpu("ONNX Runtime lists CUDAExecutionProvider but a CUDA session cannot run here (no GPU, or its "
                    "CUDA/cuDNN libraries do not load); nothing measured")
    return [CUDA] + ([TENSORRT] if TENSORRT in available else [])


def parity(expected: list[np.ndarray], got: list[np.ndarray]) -> dict:
    """Largest absolute difference between two runs' outputs, and np.allclose at PARITY_RTOL / PARITY_ATOL."""
    diffs = [float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) if np.size(a) else 0.0
             for a, b in zip(expected, got)]
    same = len(expected) == len(got) and all(np.allclose(a, b, rtol=PARITY_RTOL, atol=PARITY_ATOL)
                                             for a, b in zip(expected, got))
    return {"max_abs_diff": max(diffs, default=0.0), "allclose": bool(same), "rtol": PARITY_RTOL, "atol": PARITY_ATOL}


def profile_document(samples_ms: dict, hardware: str, basis: str) -> dict:
    """``samples_ms``: model -> batch -> [ms] -> a latency profile nodes/latency_profile.py loads."""
    models = {model: {str(batch): [round(float(v), 4) for v in values[:MAX_PROFILE_SAMPLES]]
                      for batch, values in by_batch.items()} for model, by_batch in samples_ms.items()}
    return {"format": FORMAT, "hardware": hardware, "basis": basis,
            "sources": ["measured by benchmarks/device/gpu_profile.py"], "models": models}


def session_on(ort, path: Path, providers: list[str], threads: int = 1):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=providers)


def measure(ort, models_dir: Path, batches: list[int], repeats: int, accelerated: list[str]) -> dict:
    entries = model_files(models_dir)
    record: dict = {"models": {}, "providers_requested": accelerated}
    runs = {}
    for name, entry in entries.items():
        cpu = session_on(ort, entry["path"], [CPU])
        for provider in accelerated:
            session = session_on(ort, entry["path"], [provider, CPU])
            obtained = session.get_providers()
            cell = record["models"].setdefault(name, {"role": entry["role"], "providers": {}})
            cell["providers"][provider] = {"obtained": obtained, "engaged": obtained[0] == provider}
            if obtained[0] != provider:
                continue
            for batch in batches:
                feeds = _feeds(cpu, batch)
                check = parity(cpu.run(None, feeds), session.run(None, feeds))
                cell["providers"][provider].setdefault("parity", {})[str(batch)] = check
                runs[(name, provider, batch)] = (lambda s=session, f=feeds: s.run(None, f))
    samples = time_round_robin(runs, repeats, warmup=10)
    for (name, provider, batch), values in samples.items():
        record["models"][name]["providers"][provider].setdefault("latency", {})[str(batch)] = \
            {**summary(values), "samples_ms": [round(v, 4) for v in values]}
    return record


def _feeds(session, batch: int, seed: int = 0) -> dict:
    """Random float inputs of ``batch`` items for an ORT session (its static dims after the batch)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for arg in session.get_inputs():
        dims = list(arg.shape[1:])
        if not all(isinstance(d, int) for d in dims):
            raise ValueError(f"input {arg.name} has dynamic dimensions {arg.shape}")
        feeds[arg.name] = rng.standard_normal([batch, *dims]).astype(np.float32)
    return feeds


def write_outputs(record: dict, out: Path, profile_path: Path, hardware: str) -> None:
    samples = {}
    for name, cell in record["models"].items():
        cuda = cell["providers"].get(CUDA, {})
        if cuda.get("latency"):
            samples[name] = {int(b): v["samples_ms"] for b, v in cuda["latency"].items()}
    basis = (f"measured: ONNX Runtime CUDAExecutionProvider on {hardware}, random float inputs, "
             f"{record['repeats']} repeats per model and batch after 10 warm-up runs (round-robin)")
    profile_path.parent.mkdir(parents=True, exist_ok=True)
    profile_path.write_text(json.dumps(profile_document(samples, hardware, basis), indent=1) + "\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    lines = [f"# GPU latency and parity\n\n{hardware}; {basis}. Profile: {profile_path.name}.", "",
             "| model | provider | engaged | batch | median ms | p90 ms | parity max abs diff | allclose |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for name, cell in record["models"].items():
        for provider, result in cell["providers"].items():
            for batch, lat in result.get("latency", {}).items():
                check = result.get("parity", {}).get(batch, {})
                lines.append(f"| {name} | {provider} | {result['engaged']} | {batch} | {lat['median_ms']:.3f} | "
                             f"{lat['p90_ms']:.3f} | {check.get('max_abs_diff', float('nan')):.3g} | "
                             f"{check.get('allclose')} |")
            if not result.get("latency"):
                lines.append(f"| {name} | {provider} | {result['engaged']} (got {result['obtained'][0]}) | - | - | - "
                             "| - | - |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=REPO / ".cache" / "models")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--profile-name", default="gpu-measured")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "gpu-profile")
    parser.add_argument("--check-only", action="store_true", help="only say whether CUDA works here (exit 0 or 2)")
    args = parser.parse_args(argv)
    import onnxruntime as ort

    try:
        accelerated = require_cuda(ort)
    except NoGpu as exc:
        print(f"gpu_profile: {exc}", file=sys.stderr)
        return EXIT_NO_CUDA
    if args.check_only:
        print(f"gpu_profile: {', '.join(accelerated)} usable")
        return 0
    hardware = f"{gpu_name()} ({platform.node()})"
    started = time.time()
    record = measure(ort, args.models_dir, [int(b) for b in args.batches.split(",")], args.repeats, accelerated)
    record.update(repeats=args.repeats, hardware=hardware, onnxruntime=ort.__version__,
                  seconds=round(time.time() - started, 1))
    profile = REPO / "nodes" / "latency_profiles" / f"{args.profile_name}.json"
    write_outputs(record, args.out, profile, hardware)
    engaged = all(c["providers"].get(CUDA, {}).get("engaged") for c in record["models"].values())
    print(f"CUDA engaged for every model: {engaged}; wrote {profile} and {args.out.with_suffix('.md')}")
    return 0 if engaged else 1


if __name__ == "__main__":
    sys.exit(main())
