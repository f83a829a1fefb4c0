#!/usr/bin/env python3
"""Harness figures: overhead (wall time of a compare / sum of its response times), fidelity (each cell's
median response time / its analytic lower bound) and the compare's wall time.

    sudo .venv/bin/python benchmarks/bench_harness.py                    # runs the default compare
    sudo .venv/bin/python benchmarks/bench_harness.py -- --repetitions 3 # compare options after --
    .venv/bin/python benchmarks/bench_harness.py --run results/<run>     # figures of an existing run

Writes benchmarks/results/harness.json and prints a table. Goals: overhead <= 1.25; every cell's
median response >= its bound, and <= 1.15 x the bound for images of 512K and more.
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LARGE_BYTES = 512 * 1024


def _utc(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def figures(run_dir: Path, wall_s: float | None = None) -> dict:
    record = json.loads((run_dir / "experiment.json").read_text())
    if wall_s is None:
        wall_s = (_utc(record["finished_utc"]) - _utc(record["started_utc"])).total_seconds()
    with open(run_dir / "requests.csv", newline="") as f:
        requests = list(csv.DictReader(f))
    response_sum_s = sum(float(r["response_ms"]) for r in requests if r["response_ms"]) / 1000
    with open(run_dir / "summary.csv", newline="") as f:
        cells = [r for r in csv.DictReader(f) if r["response_over_floor_and_server"]]  # summary.csv (issue 11)
    fidelity = [{"placement": c["placement"], "access": c["access"], "size": c["size"],
                 "median_response_ms": float(c["response_ms_median"]),
                 "bound_ms": float(c["network_floor_ms"]) + float(c["server_ms"]),  # network floor + server time
                 "ratio": float(c["response_over_floor_and_server"])} for c in cells]
    large = [c for c in fidelity if int(next(r["size_bytes"] for r in cells if r["size"] == c["size"])) >= LARGE_BYTES]
    return {
        "run": str(run_dir), "status": record["status"], "requests": len(requests),
        "failed": sum(r["status"] != "ok" for r in requests),
        "wall_s": round(wall_s, 1), "response_sum_s": round(response_sum_s, 1),
        "overhead_wall_over_response_sum": round(wall_s / response_sum_s, 3) if response_sum_s else None,
        "cells_below_bound": [c for c in fidelity if c["ratio"] < 1.0],
        "large_cells_max_ratio": max((c["ratio"] for c in large), default=None),
        "large_cells_over_1_15": [c for c in large if c["ratio"] > 1.15],
        "fidelity": fidelity,
        "goals": {"overhead": 1.25, "ratio_min": 1.0, "ratio_max_large": 1.15},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="an existing results folder (no new run)")
    parser.add_argument("compare_args", nargs="*", help="options passed to 'run.py compare' (after --)")
    args = parser.parse_args()
    wall_s = None
    run_dir = args.run
    if run_dir is None:
        results = ROOT / "results"
        before = set(results.glob("*-compare*")) if results.exists() else set()
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(ROOT / "harness" / "run.py"), "compare", *args.compare_args],
                              cwd=ROOT)
        if done.returncode != 0:
            print(f"bench_harness: compare failed (exit {done.returncode}); no figures written", file=sys.stderr)
            return done.returncode
        wall_s = time.monotonic() - started
        (run_dir,) = set(results.glob("*-compare*")) - before
    result = figures(run_dir, wall_s)
    out = ROOT / "benchmarks" / "results" / "harness.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"{'placement':9} {'access':6} {'size':6} {'median ms':>10} {'bound ms':>9} {'ratio':>6}")
    for c in result["fidelity"]:
        print(f"{c['placement']:9} {c['access']:6} {c['size']:6} {c['median_response_ms']:10.1f} "
              f"{c['bound_ms']:9.1f} {c['ratio']:6.3f}")
    print(f"\nrequests {result['requests']} ({result['failed']} failed); wall {result['wall_s']} s "
          f"(command, incl. model check and analysis); sum of response times {result['response_sum_s']} s")
    print(f"overhead wall / response sum: {result['overhead_wall_over_response_sum']} (goal <= 1.25)")
    print(f"cells below the bound: {len(result['cells_below_bound'])} (goal 0); "
          f"largest ratio for >= 512K: {result['large_cells_max_ratio']} (goal <= 1.15)")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
