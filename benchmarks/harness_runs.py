"""What the benchmark scripts that drive ``harness/run.py`` share: running a command as a user does (a
subprocess, its progress shown), finding the run folder it made, spreads of repeated figures, and writing
``<name>.json`` + ``<name>.md`` under the output folder.

Benchmarks read results folders only; they import nothing of ``harness`` (it is run, not linked).
"""
from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN_PY = ROOT / "harness" / "run.py"
RESULTS_OUT = ROOT / "benchmarks" / "results"
QUICK_OUT = ROOT / ".cache" / "bench-quick"  # --quick validation runs: never over the committed figures
TEST_MODELS = ROOT / ".cache" / "models-test"  # the tests' 1-epoch set: quick runs only
BUSY = "another run of this testbed is active"


class BenchError(RuntimeError):
    """A benchmark step that failed; the message says which command and why."""


def default_out(quick: bool) -> Path:
    return QUICK_OUT if quick else RESULTS_OUT


def quick_models_args(quick: bool) -> list[str]:
    """--quick uses the tests' small model set when it is built (its accuracies mean nothing), else the default."""
    return ["--models-dir", str(TEST_MODELS)] if quick and (TEST_MODELS / "manifest.json").is_file() else []


def run_harness(command: str, args: list[str], results_dir: Path, *, timeout_s: float = 7200,
                busy_wait_s: float = 900) -> tuple[Path, float]:
    """``run.py COMMAND ARGS --results-dir RESULTS_DIR``; its output streams to ours. Returns (run folder, wall s).

    Waits while another run of the testbed holds the machine (the harness refuses a second run)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(RUN_PY), command, *args, "--results-dir", str(results_dir)]
    deadline = time.monotonic() + busy_wait_s
    while True:
        before = set(results_dir.iterdir())
        print("$ " + " ".join(argv[1:]), flush=True)
        started = time.monotonic()
        proc = subprocess.Popen(argv, cwd=ROOT, stderr=subprocess.PIPE)
        seen = b""
        for chunk in iter(lambda: proc.stderr.read1(4096), b""):  # as it comes: progress bars redraw with \r
            sys.stderr.buffer.write(chunk)
            sys.stderr.flush()
            seen = (seen + chunk)[-8000:]
        proc.wait(timeout=timeout_s)
        tail = [line for line in seen.decode(errors="replace").replace("\r", "\n").splitlines() if line.strip()][-20:]
        wall_s = time.monotonic() - started
        if proc.returncode != 0 and any(BUSY in line for line in tail) and time.monotonic() < deadline:
            print("  the testbed is busy: waiting 15 s", flush=True)
            time.sleep(15)
            continue
        if proc.returncode != 0:
            raise BenchError(f"run.py {command} failed (exit {proc.returncode}): {' / '.join(tail[-3:])}")
        made = sorted(set(results_dir.iterdir()) - before)
        if len(made) != 1:
            raise BenchError(f"run.py {command} made {len(made)} run folders in {results_dir}, expected 1")
        return made[0], wall_s


def spread(values) -> dict | None:
    """min / median / max / n of repeated values (Nones dropped); None when there is none."""
    values = [float(v) for v in values if v is not None]
    if not values:
        return None
    return {"min": round(min(values), 4), "median": round(statistics.median(values), 4),
            "max": round(max(values), 4), "n": len(values)}


def bootstrap_change_ci(edge: list[float], cloud: list[float], draws: int = 2000, seed: int = 0) -> list | None:
    """95% bootstrap interval of (median(edge) - median(cloud)) / median(cloud) in %, resampling each side."""
    if len(edge) < 2 or len(cloud) < 2:
        return None
    rng = random.Random(seed)
    changes = []
    for _ in range(draws):
        e = statistics.median(rng.choices(edge, k=len(edge)))
        c = statistics.median(rng.choices(cloud, k=len(cloud)))
        if c:
            changes.append((e - c) / c * 100)
    changes.sort()
    return [round(changes[int(0.025 * len(changes))], 2), round(changes[int(0.975 * len(changes)) - 1], 2)]


def write_outputs(out_dir: Path, name: str, result: dict, markdown: list[str]) -> list[Path]:
    """``out_dir/name.json`` and ``out_dir/name.md``; prints and returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{name}.json", out_dir / f"{name}.md"
    json_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    md_path.write_text("\n".join(markdown).rstrip() + "\n")
    for path in (json_path, md_path):
        print(f"wrote {path}", flush=True)
    return [json_path, md_path]


def host_fields() -> dict:
    """Where and when a benchmark ran: host name, CPUs, kernel, local start time."""
    import os
    import platform
    import time

    return {"host": platform.node(), "cpus": os.cpu_count(), "kernel": platform.release(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def print_and_write(output: Path, result: dict, report: str) -> list[Path]:
    """Print the Markdown ``report`` and write ``output`` (.json) with the .md beside it."""
    print(report)
    return write_outputs(output.parent, output.stem, result, report.splitlines())


def md_table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
