#!/usr/bin/env python3
"""Harness figures: overhead (wall time of a compare / sum of its response times), fidelity (each cell's
median response over its network floor + server time), the compare's wall time, and the four figures the
report sets beside the published ones (System B), each with a 95% bootstrap interval.

    sudo .venv/bin/python benchmarks/bench_harness.py                    # runs the default compare
    sudo .venv/bin/python benchmarks/bench_harness.py --quick            # 60K + 512K, 3 repetitions (validation)
    sudo .venv/bin/python benchmarks/bench_harness.py -- --repetitions 3 # compare options after --
    .venv/bin/python benchmarks/bench_harness.py --run results/<run>     # figures of an existing run

Writes benchmarks/results/harness.json + harness.md (--quick: .cache/bench-quick/) and prints a table.
Goals: overhead <= 1.25; no cell's median response below its floor + server time ("no floor" cells are
left out), and <= 1.15 x that for images of 512K and more.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import sys
from datetime import datetime, timezone
from pathlib import Path

from harness_runs import (ROOT, BenchError, bootstrap_change_ci, default_out, md_table, quick_models_args,
                          run_harness, write_outputs)

LARGE_BYTES = 512 * 1024
QUICK_COMPARE = ["--sizes", "60K,512K", "--repetitions", "3", "--calibrate-seconds", "0"]
SECTION = "## Edge vs cloud beside the published figures"
# The cells behind the report's four published comparisons (harness/analysis/published.py; the WiFi one at 60K).
BESIDE_PUBLISHED = (("lte_response_60k", "lte", "response_ms", 60 * 1024),
                    ("lte_upload_512k", "lte", "upload_ms", 512 * 1024),
                    ("lte_inference_60k", "lte", "inference_ms", 60 * 1024),
                    ("wifi_response_60k", "wifi", "response_ms", 60 * 1024))


def _utc(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def _float(text) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def report_table(report: str) -> list[dict]:
    """The rows of the report's "beside the published figures" table, by its column names."""
    if SECTION not in report:
        return []
    lines = [line for line in report.split(SECTION, 1)[1].splitlines() if line.startswith("|")]
    if len(lines) < 2:
        return []
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append(dict(zip(header, cells)))
    return rows


def _pct(text: str | None) -> float | None:
    match = re.fullmatch(r"([+-]?[0-9.]+)%", (text or "").strip())
    return float(match.group(1)) if match else None


def beside_published(run_dir: Path, requests: list[dict]) -> list[dict]:
    """The four comparisons: ours from requests.csv (median change + bootstrap CI), checked against the report."""
    table = report_table((run_dir / "report.md").read_text()) if (run_dir / "report.md").is_file() else []
    out = []
    for (key, access, metric, size), row in zip(BESIDE_PUBLISHED, table + [{}] * (len(BESIDE_PUBLISHED) - len(table))):
        values = {p: [float(r[metric]) for r in requests if r["status"] == "ok" and r["access"] == access
                      and r["placement"] == p and int(r["size_bytes"]) == size and r[metric]]
                  for p in ("edge", "cloud")}
        edge, cloud = values["edge"], values["cloud"]
        ours = None
        if edge and cloud:
            e, c = statistics.median(edge), statistics.median(cloud)
            ours = round((e - c) / c * 100, 2) if c else None
        report_ours = _pct(row.get("ours"))
        out.append({"key": key, "figure": row.get("figure"), "access": access, "metric": metric,
                    "size": f"{size // 1024}K", "published_pct": _pct(row.get("published")),
                    "ours_pct": ours, "ours_ci95_pct": bootstrap_change_ci(edge, cloud),
                    "edge_requests": len(edge), "cloud_requests": len(cloud),
                    "report_ours_pct": report_ours,
                    "report_agrees": None if ours is None or report_ours is None else abs(ours - report_ours) < 0.02})
    return out


def figures(run_dir: Path, wall_s: float | None = None) -> dict:
    record = json.loads((run_dir / "experiment.json").read_text())
    if wall_s is None:
        wall_s = (_utc(record["finished_utc"]) - _utc(record["started_utc"])).total_seconds()
    with open(run_dir / "requests.csv", newline="") as f:
        requests = list(csv.DictReader(f))
    response_sum_s = sum(float(r["response_ms"]) for r in requests if r["response_ms"]) / 1000
    with open(run_dir / "summary.csv", newline="") as f:
        summary = list(csv.DictReader(f))
    cells = [r for r in summary if _float(r.get("response_over_floor_and_server")) is not None]
    fidelity = [{"placement": c["placement"], "access": c["access"], "size": c["size"],
                 "size_bytes": int(c["size_bytes"]), "median_response_ms": float(c["response_ms_median"]),
                 "network_floor_ms": float(c["network_floor_ms"]), "server_ms": float(c["server_ms"]),
                 "ratio": float(c["response_over_floor_and_server"]),
                 "p90_response_ms": _float(c.get("response_ms_p90"))} for c in cells]
    large = [c for c in fidelity if c["size_bytes"] >= LARGE_BYTES]
    return {
        "run": str(run_dir), "status": record["status"], "requests": len(requests),
        "failed": sum(r["status"] != "ok" for r in requests),
        "models_origin": record.get("models_origin"),
        "capture_packets_dropped_by_kernel": sum(int(c.get("packets_dropped_by_kernel") or 0)
                                                 for c in record.get("captures") or []),
        "wall_s": round(wall_s, 1), "response_sum_s": round(response_sum_s, 1),
        "overhead_wall_over_response_sum": round(wall_s / response_sum_s, 3) if response_sum_s else None,
        "cells_without_floor": [f"{r['placement']}/{r['access']}/{r['size']}" for r in summary
                                if _float(r.get("response_over_floor_and_server")) is None],
        "cells_below_floor_and_server": [c for c in fidelity if c["ratio"] < 1.0],
        "ratio_spread": {"small": _range(c["ratio"] for c in fidelity if c["size_bytes"] < LARGE_BYTES),
                         "large": _range(c["ratio"] for c in large)},
        "large_cells_max_ratio": max((c["ratio"] for c in large), default=None),
        "large_cells_over_1_15": [c for c in large if c["ratio"] > 1.15],
        "beside_published": beside_published(run_dir, requests),
        "fidelity": fidelity,
        "goals": {"overhead": 1.25, "ratio_min": 1.0, "ratio_max_large": 1.15},
    }


def _range(values) -> dict | None:
    values = list(values)
    return {"min": min(values), "median": statistics.median(values), "max": max(values)} if values else None


def markdown(result: dict) -> list[str]:
    out = ["# Harness figures (benchmarks/bench_harness.py)", "", f"Run `{result['run']}` ({result['status']})"
           + (" -- QUICK validation run, not figures" if result.get("quick") else "") + ".", "",
           f"{result['requests']} requests, {result['failed']} failed, "
           f"{result['capture_packets_dropped_by_kernel']} packets dropped by the captures; wall {result['wall_s']} s; sum of response "
           f"times {result['response_sum_s']} s; overhead {result['overhead_wall_over_response_sum']} (goal <= 1.25); "
           f"cells below floor + server: {len(result['cells_below_floor_and_server'])} (goal 0); no floor: "
           f"{', '.join(result['cells_without_floor']) or 'none'}.", ""]
    out += md_table(["placement", "access", "size", "median ms", "floor ms", "server ms", "ratio"],
                    [[c["placement"], c["access"], c["size"], f"{c['median_response_ms']:.1f}",
                      f"{c['network_floor_ms']:.1f}", f"{c['server_ms']:.1f}", f"{c['ratio']:.3f}"]
                     for c in result["fidelity"]])
    out += ["", "## Beside the published figures (edge vs cloud, change of the medians)", ""]
    out += md_table(["figure", "size", "published", "ours", "95% bootstrap CI", "requests edge / cloud",
                     "report agrees"],
                    [[b["figure"] or b["key"], b["size"], "" if b["published_pct"] is None else f"{b['published_pct']:+.2f}%",
                      "not measured" if b["ours_pct"] is None else f"{b['ours_pct']:+.2f}%",
                      "" if not b["ours_ci95_pct"] else f"{b['ours_ci95_pct'][0]:+.1f}..{b['ours_ci95_pct'][1]:+.1f}%",
                      f"{b['edge_requests']} / {b['cloud_requests']}", b["report_agrees"]]
                     for b in result["beside_published"]])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="an existing results folder (no new run)")
    parser.add_argument("--quick", action="store_true", help="a short compare (60K, 512K; 3 repetitions)")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "results", help="where the compare run goes")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default benchmarks/results; with --quick .cache/bench-quick)")
    parser.add_argument("compare_args", nargs="*", help="options passed to 'run.py compare' (after --)")
    args = parser.parse_args()
    wall_s = None
    run_dir = args.run
    try:
        if run_dir is None:
            extra = (QUICK_COMPARE + quick_models_args(True)) if args.quick else []
            print("bench_harness: compare" + (" (quick)" if args.quick else ""), flush=True)
            run_dir, wall_s = run_harness("compare", extra + args.compare_args, args.results_dir)
        # overhead counts the run itself (experiment.json's start .. finish), not the one-off model build
        result = figures(run_dir)
        result["command_wall_s"] = round(wall_s, 1) if wall_s is not None else None
    except (BenchError, OSError, KeyError, ValueError) as err:
        print(f"bench_harness: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    result["quick"] = args.quick
    for line in markdown(result):
        print(line)
    write_outputs(args.out or default_out(args.quick), "harness", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
