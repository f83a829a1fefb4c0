#!/usr/bin/env python3
"""Many devices at once (issue 13): the `load` sweep, 50 devices on one LTE cell, and the harness's cost per device.

    sudo nice -n 5 .venv/bin/python benchmarks/bench_load.py         # the figures (about 15 min on 2 cores)
    sudo .venv/bin/python benchmarks/bench_load.py --quick           # a short version (a few minutes; test models)
    sudo .venv/bin/python benchmarks/bench_load.py --parts fifty     # one part: sweep, fifty (overhead: of the sweep)
    .venv/bin/python benchmarks/bench_load.py --reuse sweep=RUN_DIR fifty=RUN_DIR   # the outputs again from runs made

The matrix (full; --quick in brackets), default node profiles (system-b), default models:

- sweep: ``load --access lte,wifi --devices 1,2,4,8,16,32 [1,4] --placements edge,cloud``, closed loop, think 0,
  default image sizes, 20 s [5 s] per cell: 24 [8] cells, two networks. Per access the crossover (the lowest load
  at which the cloud's median response is below the edge's) and the response curves (load.png);
- fifty (twice [once], seeds 1, 2): 50 [16] devices at 1 request/s each (Poisson) on one LTE cell, edge, 8K
  images (50 x 60K/s would be 3 times the cell's 8 Mbit/s uplink: a saturated cell, not a many-devices test),
  60 s [15 s]: the rows each
  device was scheduled to send (the same seeded schedule the devices draw, nodes.arrivals) against the rows
  recorded and answered, how late the devices left, the host CPU, and VALID / INVALID with the failed constraint;
- overhead (no run of its own: the sweep's cells at 1 and 16 [1 and 4] devices, each access and placement): the
  cell's wall time (the devices' shared start to the last reply) over the mean per-device sum of response times
  (1.0 = nothing beyond the requests), and the same with the devices' set-up (process start to shared start).

Every cell is VALID or INVALID with the constraint that failed (the load analysis's per-cell validity: its own
client lateness, rows lost and host CPU; the access's emulators). Writes benchmarks/results/load.json, load.md,
load.csv (one row per cell) and load.png (the sweep's response vs load) (--quick: .cache/bench-quick/).
Reads run folders only (``--reuse``: re-makes their analysis with ``run.py report`` first, runs nothing else).
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from harness_runs import ROOT, RUN_PY, default_out, md_table, quick_models_args, run_harness, write_outputs

sys.path.insert(0, str(ROOT))
from nodes.arrivals import poisson_offsets_ns  # noqa: E402  (the devices' own schedule, to count what was due)

FULL = {"sweep": ["--access", "lte,wifi", "--devices", "1,2,4,8,16,32", "--placements", "edge,cloud",
                  "--cell-seconds", "20"],
        "fifty": ["--access", "lte", "--devices", "50", "--rate-hz", "1", "--placements", "edge", "--sizes", "8K",
                  "--cell-seconds", "60", "--timeout", "60"]}
QUICK = {"sweep": ["--access", "lte,wifi", "--devices", "1,4", "--placements", "edge,cloud", "--cell-seconds", "5"],
         "fifty": ["--access", "lte", "--devices", "16", "--rate-hz", "1", "--placements", "edge", "--sizes", "8K",
                   "--cell-seconds", "15", "--timeout", "30"]}
OVERHEAD_DEVICES = {False: (1, 16), True: (1, 4)}
CELL_FIELDS = ["part", "access", "placement", "devices", "rate_hz", "status", "requests", "ok", "failed",
               "achieved_rps", "response_ms_p50", "response_ms_p90", "response_ms_p99", "queue_ms_median",
               "schedule_lateness_ms_p99", "server_cpu_cores", "emulators_cpu_cores", "devices_cpu_cores",
               "host_cpu_busy_pct_mean", "host_cpu_busy_pct_max", "host_cpu_saturated_s", "validity",
               "validity_failed"]


def _rows(path: Path) -> list[dict]:
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def sweep_figures(run_dir: Path) -> dict:
    load = _rows(run_dir / "load.csv")
    curves = {}
    for row in load:
        curves.setdefault(row["access"], {}).setdefault(row["placement"], []).append(
            {"devices": int(row["devices"]), "p50_ms": _float(row["response_ms_p50"]),
             "p90_ms": _float(row["response_ms_p90"]), "achieved_rps": _float(row["achieved_rps"]),
             "queue_ms_median": _float(row["queue_ms_median"]), "server_cpu_cores": _float(row["server_cpu_cores"]),
             "host_cpu_busy_pct_max": _float(row.get("host_cpu_busy_pct_max")),
             "lateness_ms_p99": _float(row.get("schedule_lateness_ms_p99")),
             "validity": row.get("validity", ""), "validity_failed": row.get("validity_failed", "")})
    return {"run": str(run_dir), "curves": curves,
            "crossovers": {r["access"]: {"load": _float(r["crossover_load"]), "estimate": _float(r["crossover_estimate"]),
                                         "finding": r["finding"]} for r in _rows(run_dir / "load-summary.csv")}}


def fifty_figures(run_dir: Path) -> dict:
    record = json.loads((run_dir / "experiment.json").read_text())
    spec = record["spec"]
    (devices,), rate = spec["devices"], spec["rates_hz"][0]
    due = sum(len(poisson_offsets_ns(rate, spec["seed"] + i - 1, duration_s=spec["cell_seconds"]))
              for i in range(1, devices + 1))
    rows = _rows(run_dir / "requests.csv")
    ok = [r for r in rows if r["status"] == "ok"]
    lateness = [v for v in (_float(r["schedule_lateness_ms"]) for r in rows) if v is not None]
    (load,) = _rows(run_dir / "load.csv")
    return {"run": str(run_dir), "devices": devices, "rate_hz": rate, "seed": spec["seed"], "due": due,
            "recorded": len(rows),
            "ok": len(ok), "rows_lost": due - len(rows), "failed": len(rows) - len(ok),
            "response_ms_p50": _float(load["response_ms_p50"]), "response_ms_p99": _float(load["response_ms_p99"]),
            "lateness_ms_p99": sorted(lateness)[int(0.99 * (len(lateness) - 1))] if lateness else None,
            "host_cpu_busy_pct_max": _float(load.get("host_cpu_busy_pct_max")),
            "host_cpu_busy_pct_mean": _float(load.get("host_cpu_busy_pct_mean")),
            "host_cpu_saturated_s": _float(load.get("host_cpu_saturated_s")),
            "edge_cpu_cores": _float(load.get("server_cpu_cores")),
            "emulators_cpu_cores": _float(load.get("emulators_cpu_cores")),
            "devices_cpu_cores": _float(load.get("devices_cpu_cores")),
            "validity": _headline(record.get("validity")),
            "cell_validity": load.get("validity", ""), "cell_validity_failed": load.get("validity_failed", ""),
            "setup_s": record["cells"][0].get("setup_s"),
            "device_scheduling": record["cells"][0].get("device_scheduling"),
            "per_device_rows": _spread_per_device(rows)}


def _spread_per_device(rows: list[dict]) -> dict:
    """Rows per device: min / median / max over the devices (every device's rows are kept and named)."""
    per: dict[str, int] = {}
    for r in rows:
        per[r["device"]] = per.get(r["device"], 0) + 1
    counts = sorted(per.values())
    return {"devices": len(per), "min": counts[0], "median": statistics.median(counts), "max": counts[-1]} \
        if counts else {}


def _headline(validity: dict | None) -> str:
    if not validity:
        return "not recorded by this run"
    failed = [c["detail"] for c in validity.get("constraints", []) if c.get("outcome") == "failed"]
    return validity.get("verdict", "?") + (f" ({'; '.join(failed)})" if failed else "")


def overhead_figures(run_dir: Path, devices: tuple[int, ...]) -> dict:
    """Per access, placement and number of devices (of ``devices``): a sweep cell's wall / per-device busy time."""
    record = json.loads((run_dir / "experiment.json").read_text())
    rows = _rows(run_dir / "requests.csv")
    out = []
    for cell in record["cells"]:
        if cell["devices"] not in devices or not cell.get("wall_s"):
            continue
        mine = [r for r in rows if (r["access"], r["level"], r["placement"]) ==
                (cell["access"], cell["level"], cell["placement"]) and r["status"] == "ok"]
        per_device = {}
        for r in mine:
            per_device[r["device"]] = per_device.get(r["device"], 0.0) + float(r["response_ms"]) / 1000
        busy_s = statistics.fmean(per_device.values()) if per_device else None
        setup_s = cell.get("setup_s") or 0.0
        out.append({"access": cell["access"], "placement": cell["placement"], "devices": cell["devices"],
                    "wall_s": cell["wall_s"], "setup_s": setup_s,
                    "mean_device_response_sum_s": round(busy_s, 3) if busy_s else None,
                    "overhead": round(cell["wall_s"] / busy_s, 3) if busy_s else None,
                    "overhead_with_setup": round((cell["wall_s"] + setup_s) / busy_s, 3) if busy_s else None,
                    "requests": len(mine)})
    return {"run": str(run_dir), "cells": out}


def markdown(result: dict) -> list[str]:
    out = ["# Many devices: the load sweep, 50 devices on LTE, harness cost per device", "",
           f"Mode: {'quick (test models, short cells)' if result['quick'] else 'full'}.", ""]
    out += [f"Matrix: {result['matrix']}", ""]
    if "sweep" in result:
        out += ["## Load sweep (closed loop, default node profiles)", ""]
        out += [f"- {access}: {c['finding']}" for access, c in result["sweep"]["crossovers"].items()]
        rows = [[access, placement, p["devices"], p["p50_ms"], p["p90_ms"], p["achieved_rps"], p["queue_ms_median"],
                 p["server_cpu_cores"], p["host_cpu_busy_pct_max"], p["validity"], p["validity_failed"]]
                for access, by in result["sweep"]["curves"].items() for placement, points in by.items()
                for p in points]
        out += [""] + md_table(["access", "placement", "devices", "p50 ms", "p90 ms", "req/s", "queue ms",
                                "server cores", "host CPU max %", "validity", "failed constraint"], rows) + [""]
        out += ["![response vs load](load.png)", ""]
    for number, f in enumerate(result.get("fifty", []), 1):
        out += [f"## {f['devices']} devices at {f['rate_hz']:g} request/s on one LTE cell (run {number} of "
                f"{len(result['fifty'])}, seed {f['seed']})", "",
                f"Due {f['due']}, recorded {f['recorded']}, ok {f['ok']}: **{f['rows_lost']} rows lost**, "
                f"{f['failed']} failed; response p50 {f['response_ms_p50']} ms, p99 {f['response_ms_p99']} ms; "
                f"devices' lateness p99 {f['lateness_ms_p99']} ms; host CPU mean {f['host_cpu_busy_pct_mean']}%, "
                f"max {f['host_cpu_busy_pct_max']}%, longest above 95% {f['host_cpu_saturated_s']} s; cores used: "
                f"edge {f['edge_cpu_cores']}, emulators {f['emulators_cpu_cores']}, the devices "
                f"{f['devices_cpu_cores']} (the rest: the harness, captures, this machine's other jobs); rows per "
                f"device {f['per_device_rows']}; the devices' set-up "
                f"{f['setup_s']} s before their shared start, scheduling {f['device_scheduling']}.", "",
                f"Validity of the cell (the devices' shared start to its end; their set-up before it measures "
                f"nothing): **{f['cell_validity']}**" + (f" ({f['cell_validity_failed']})" if f["cell_validity_failed"]
                                                         else "") + ".",
                f"Validity of the whole run (also the network's and the devices' set-up): **{f['validity']}**.", ""]
    if len(result.get("fifty", [])) > 1:
        runs = result["fifty"]
        out += [f"Over the {len(runs)} runs (min..max): rows lost {min(f['rows_lost'] for f in runs)}.."
                f"{max(f['rows_lost'] for f in runs)}; lateness p99 {_range(runs, 'lateness_ms_p99')} ms; response p50 "
                f"{_range(runs, 'response_ms_p50')} ms; host CPU longest above 95% "
                f"{_range(runs, 'host_cpu_saturated_s')} s; cells VALID "
                f"{sum(f['cell_validity'] == 'VALID' for f in runs)} of {len(runs)}.", ""]
    if "overhead" in result:
        out += ["## Harness overhead per device (cell wall time / mean per-device sum of response times)", "",
                "Wall = the devices' shared start to the cell's end; with set-up = plus the devices' start-up "
                "(processes, images) before the shared start.", ""]
        out += md_table(["access", "placement", "devices", "wall s", "set-up s", "per-device response sum s",
                         "overhead", "with set-up", "requests"],
                        [[v["access"], v["placement"], v["devices"], v["wall_s"], v["setup_s"],
                          v["mean_device_response_sum_s"], v["overhead"], v["overhead_with_setup"], v["requests"]]
                         for v in result["overhead"]["cells"]])
    return out


def _recorded_wall_s(record: dict) -> float | None:
    """A run's wall time from its experiment.json stamps (UTC, whole seconds)."""
    try:
        started, finished = (datetime.strptime(record[k], "%Y%m%dT%H%M%SZ") for k in ("started_utc", "finished_utc"))
    except (KeyError, TypeError, ValueError):
        return None
    return (finished - started).total_seconds()


def _fifty_runs(repeats: int, reused: bool) -> str:
    return f" ({repeats} runs made before, seeds as their headings say)" if reused else \
        f" (x{repeats}, --seed 1..{repeats})"


def _range(runs: list[dict], key: str) -> str:
    values = [f[key] for f in runs if f.get(key) is not None]
    return f"{min(values):g}..{max(values):g}" if values else "-"


def cell_rows(part: str, run_dir: Path) -> list[dict]:
    return [{"part": part, **{k: r.get(k, "") for k in CELL_FIELDS if k != "part"}}
            for r in _rows(run_dir / "load.csv")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short cells, fewer devices, the tests' models")
    parser.add_argument("--parts", default="sweep,fifty,overhead", help="comma list of sweep, fifty, overhead")
    parser.add_argument("--out", type=Path, default=None, help="where load.json / load.md go")
    parser.add_argument("--reuse", nargs="*", default=[], metavar="PART=DIR[,DIR]",
                        help="take that part from run folders made before (their analysis re-made) instead of running")
    parser.add_argument("--fifty-repeats", type=int, default=None, help="runs of the fifty part, seeds 1, 2, ... "
                                                                        "(default 2; --quick 1)")
    args = parser.parse_args()
    reuse = dict(item.split("=", 1) for item in args.reuse)
    plans = QUICK if args.quick else FULL
    results_dir = ROOT / ".cache" / "bench-load-runs"
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if "overhead" in parts and "sweep" not in parts:
        parts.insert(0, "sweep")  # the overhead is the sweep's cells
    reused_fifty = [d for d in reuse.get("fifty", "").split(",") if d]
    repeats = len(reused_fifty) or args.fifty_repeats or (1 if args.quick else 2)
    matrix = [f"{part}: load {' '.join(plans[part])}" + (_fifty_runs(repeats, bool(reused_fifty))
                                                          if part == "fifty" else "")
              for part in plans if part in parts]
    result: dict = {"quick": args.quick, "matrix": "; ".join(matrix)}
    out = args.out or default_out(args.quick)
    cells: list[dict] = []
    for part in (p for p in parts if p in plans):
        given = [Path(d).resolve() for d in reuse.get(part, "").split(",") if d]
        for index in range(len(given) if given else (repeats if part == "fifty" else 1)):
            if given:
                run_dir = given[index]
                wall_s = _recorded_wall_s(json.loads((run_dir / "experiment.json").read_text()))
                subprocess.run([sys.executable, str(RUN_PY), "report", str(run_dir)], cwd=ROOT, check=True,
                               stdout=subprocess.DEVNULL)
            else:
                seed = ["--seed", str(index + 1)] if part == "fifty" else []
                run_dir, wall_s = run_harness("load", [*plans[part], *seed, *quick_models_args(args.quick)],
                                              results_dir)
            figures = {**(sweep_figures if part == "sweep" else fifty_figures)(run_dir),
                       "wall_s": round(wall_s, 1) if wall_s is not None else None}
            if part == "fifty":
                result.setdefault("fifty", []).append(figures)
            else:
                result[part] = figures
            cells += cell_rows(part if part == "sweep" else f"fifty-{index + 1}", run_dir)
        if part == "sweep":
            result["overhead"] = overhead_figures(run_dir, OVERHEAD_DEVICES[args.quick])
            out.mkdir(parents=True, exist_ok=True)
            if (run_dir / "response_vs_load.png").is_file():
                shutil.copyfile(run_dir / "response_vs_load.png", out / "load.png")
    write_outputs(out, "load", result, markdown(result))
    with open(out / "load.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CELL_FIELDS)
        writer.writeheader()
        writer.writerows(cells)
    print(f"wrote {out / 'load.csv'}")
    print("\n".join(markdown(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
