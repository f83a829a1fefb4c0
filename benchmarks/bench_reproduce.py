#!/usr/bin/env python3
"""The scorecard of both seed systems and what it costs: `reproduce all --quick` (or the full one), timed per part.

    sudo .venv/bin/python benchmarks/bench_reproduce.py                 # reproduce all --quick --force (< 15 min)
    sudo .venv/bin/python benchmarks/bench_reproduce.py --full          # reproduce all (< 3 h): the committed scorecard
    .venv/bin/python benchmarks/bench_reproduce.py --from results/reproduce-quick   # re-read a finished folder

Runs ``harness/run.py reproduce all [--quick] --force --results-dir DIR`` as a subprocess (every part runs, so the
wall times are this run's; ``--reuse`` keeps valid cached parts), then reads the folder's reproduce.json and
scorecard.csv and writes benchmarks/results/reproduce-<quick|full>.{json,md,csv}: the wall time of each part and
of the whole command beside the budgets, the scorecard's summary, and the scorecard itself (CSV: every row).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from harness_runs import RESULTS_OUT, ROOT, RUN_PY, BenchError, host_fields, md_table, write_outputs

BUDGETS_S = {  # the budgets on this 2-core machine (repro contract): per part and all together
    "quick": {"system_b_models": 360, "system_b_network": 300, "system_a": 180, "total": 900},
    "full": {"system_b_models": 7200, "system_b_network": 1800, "system_a": 1500, "total": 10800},
}


def load_average() -> list[float]:
    """The 1, 5 and 15 min load averages: how busy the shared host was (2 cores: above ~0.5 it is not quiet)."""
    return [round(v, 2) for v in os.getloadavg()]


def run_reproduce(mode: str, results_dir: Path, reuse: bool) -> tuple[int, float]:
    argv = [sys.executable, str(RUN_PY), "reproduce", "all", *(["--quick"] if mode == "quick" else []),
            *([] if reuse else ["--force"]), "--results-dir", str(results_dir)]
    print("$ " + " ".join(argv[1:]), flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT)  # progress streams to our terminal as it comes
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # Ctrl-C reached reproduce too (one process group): it keeps what finished and exits
        code = proc.wait()
        print("interrupted: run this benchmark again with --reuse to resume", file=sys.stderr, flush=True)
    return code, time.monotonic() - started


def read_folder(run_dir: Path) -> tuple[dict, list[dict], str]:
    try:
        record = json.loads((run_dir / "reproduce.json").read_text())
        with open(run_dir / "scorecard.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        scorecard_md = (run_dir / "scorecard.md").read_text()
    except (OSError, ValueError) as err:
        raise BenchError(f"{run_dir} holds no finished reproduce folder ({err})") from None
    return record, rows, scorecard_md


def _models_steps_seconds(run_dir: Path) -> float | None:
    """The System B models part's steps' own wall times summed, a reused step at the time it took when it ran:
    what the part costs cold, also when this run (``--reuse``) redid only the steps whose inputs changed."""
    try:
        return float(json.loads((run_dir / "system_b_models" / "system_b_models.json").read_text())
                     ["steps_total_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _cold_estimate(part_rows: dict, steps_s: float | None) -> float | None:
    """The whole command cold: the models part at its steps' times, the other parts at their last run's."""
    if steps_s is None or any(p["wall_s"] is None for p in part_rows.values()):
        return None
    return round(steps_s + sum(p["wall_s"] for name, p in part_rows.items() if name != "system_b_models"), 1)


def figures(mode: str, run_dir: Path, record: dict, rows: list[dict], exit_code: int | None,
            wall_s: float | None, host: dict | None = None) -> dict:
    budgets = BUDGETS_S[mode]
    part_rows = {name: {"status": p["status"], "wall_s": p["wall_s"], "budget_s": budgets.get(name),
                        "within_budget": None if p["wall_s"] is None else p["wall_s"] <= budgets.get(name, 1e9),
                        "figures": p["figures"], "why": p.get("why", "")}
                 for name, p in record["parts"].items()}
    verdicts = {}
    for row in rows:
        if not row["key"].endswith("@stride1"):
            verdicts[row["verdict"]] = verdicts.get(row["verdict"], 0) + 1
    steps_s = _models_steps_seconds(run_dir)
    return {"mode": mode, "run": str(run_dir), "host": host or {}, "exit_code": exit_code,
            "models_steps_s": steps_s, "cold_estimate_s": _cold_estimate(part_rows, steps_s),
            "wall_s": None if wall_s is None else round(wall_s, 1), "budget_s": budgets["total"],
            "within_budget": None if wall_s is None else wall_s <= budgets["total"],
            "summary": record.get("summary"), "verdicts": verdicts, "parts": part_rows, "scorecard": rows}


def _cold_lines(result: dict) -> list[str]:
    steps_s, cold_s = result.get("models_steps_s"), result.get("cold_estimate_s")
    if steps_s is None or cold_s is None:
        return []
    return [f"The System B models part's steps took {steps_s:.0f} s in all, each at the time it took when it ran "
            f"(a step reused from an earlier run of the same folder at that run's time): a cold run of the whole "
            f"command is about {cold_s:.0f} s (budget {result['budget_s']} s: "
            f"{'within' if cold_s <= result['budget_s'] else 'OVER'}).", ""]


def markdown(result: dict, scorecard_md: str) -> list[str]:
    wall = "not timed (read from a folder)" if result["wall_s"] is None else \
        f"{result['wall_s']:.0f} s (budget {result['budget_s']} s: {'within' if result['within_budget'] else 'OVER'})"
    host = result.get("host") or {}
    load = (f" Host {host.get('host')} ({host.get('cpus')} CPUs), started {host.get('started')}; load average "
            f"(1/5/15 min) {host.get('load_start')} at the start, {host.get('load_end')} at the end."
            if host.get("load_start") else " Host load not recorded (read from a folder).")
    lines = [f"# reproduce all ({result['mode']}) (benchmarks/bench_reproduce.py)", "",
             f"Run folder `{result['run']}`, exit code {result['exit_code']}, wall time {wall}.{load}", "",
             *_cold_lines(result),
             f"**{result['summary']}**", "", "## Wall time per part", ""]
    lines += md_table(["part", "status", "wall s", "budget s", "figures", "note"],
                      [[name, p["status"], p["wall_s"], p["budget_s"], p["figures"], p["why"]]
                       for name, p in result["parts"].items()])
    body = scorecard_md.split("\n", 1)[1] if scorecard_md.startswith("# ") else scorecard_md
    return lines + ["", "## Scorecard", "", *body.strip().splitlines()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the full run (hours), not --quick")
    parser.add_argument("--reuse", action="store_true", help="keep the parts cached in the folder (no --force)")
    parser.add_argument("--results-dir", type=Path, default=ROOT / ".cache" / "bench-reproduce",
                        help="where reproduce writes its folder (default: .cache/bench-reproduce)")
    parser.add_argument("--from", dest="from_dir", type=Path, default=None,
                        help="read this finished reproduce-<mode> folder instead of running")
    parser.add_argument("--out", type=Path, default=RESULTS_OUT, help="where the outputs go")
    args = parser.parse_args(argv)
    mode = "full" if args.full else "quick"
    exit_code = wall_s = None
    host: dict = {}
    if args.from_dir is not None:
        run_dir = args.from_dir
        mode = "quick" if run_dir.name.endswith("quick") else "full"
    else:
        run_dir = args.results_dir / f"reproduce-{mode}"
        host = {**host_fields(), "load_start": load_average()}
        exit_code, wall_s = run_reproduce(mode, args.results_dir, args.reuse)
        host["load_end"] = load_average()
    try:
        record, rows, scorecard_md = read_folder(run_dir)
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    result = figures(mode, run_dir, record, rows, exit_code, wall_s, host)
    write_outputs(args.out, f"reproduce-{mode}", result, markdown(result, scorecard_md))
    shutil.copyfile(run_dir / "scorecard.csv", args.out / f"reproduce-{mode}.csv")
    print(f"wrote {args.out / f'reproduce-{mode}.csv'}", flush=True)
    return 0 if exit_code in (None, 0) else exit_code


if __name__ == "__main__":
    sys.exit(main())
