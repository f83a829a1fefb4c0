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
- crossover: the sweep's placements on WiFi, devices 1,2,4,8,16 [1,4], 10 s [5 s] per cell, with both nodes' CPU
  quotas scaled by one factor so the cloud's fits in this host (cloud 0.8 core, edge 0.8 x its profile's cores /
  the cloud's: the profile's edge : cloud core ratio kept, 3.35 : 11.61 for system-b). The default sweep cannot
  show the cloud's 16 cores on a 2-core host: both quotas are capped at the host's 2 cores there, and per core the
  Xeon VM is slower than the i5 (speed factors 1.378 vs 1.193), so the edge answers faster at any load. Scaled,
  the load axis is in units of the scaled nodes (x 1 / the factor for the real ones);
- overhead (no run of its own: the sweep's cells at 1 and 16 [1 and 4] devices, each access and placement): the
  cell's wall time (the devices' shared start to the last reply) over the mean per-device sum of response times
  (1.0 = nothing beyond the requests), and the same with the devices' set-up (process start to shared start).

Each run's host load is recorded beside it (host_share.py, once a second from /proc): the host's busy cores and
vCPU steal, this run's processes, kernel threads and every other process (other jobs sharing the machine), as means
over the run's measured window (validity.json) and over the whole run.

Every cell is VALID or INVALID with the constraint that failed (the load analysis's per-cell validity: its own
client lateness, rows lost and host CPU; the access's emulators). Writes benchmarks/results/load.json, load.md,
load.csv (one row per cell), load.png (the sweep's response vs load) and load-crossover.png (the scaled sweep's)
(--quick: .cache/bench-quick/).
Reads run folders only (``--reuse``: re-makes their analysis with ``run.py report`` first, runs nothing else).
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tomllib
from datetime import datetime
from pathlib import Path

from harness_runs import ROOT, RUN_PY, default_out, host_fields, md_table, quick_models_args, run_harness, write_outputs
from host_share import HostShare
from load_figures import (CELL_FIELDS, cell_rows, fifty_figures, overhead_figures, run_share, sweep_figures)


FULL = {"sweep": ["--access", "lte,wifi", "--devices", "1,2,4,8,16,32", "--placements", "edge,cloud",
                  "--cell-seconds", "20"],
        "fifty": ["--access", "lte", "--devices", "50", "--rate-hz", "1", "--placements", "edge", "--sizes", "8K",
                  "--cell-seconds", "60", "--timeout", "60"],
        "crossover": ["--access", "wifi", "--devices", "1,2,4,8,16", "--placements", "edge,cloud",
                      "--cell-seconds", "10"]}
QUICK = {"sweep": ["--access", "lte,wifi", "--devices", "1,4", "--placements", "edge,cloud", "--cell-seconds", "5"],
         "fifty": ["--access", "lte", "--devices", "16", "--rate-hz", "1", "--placements", "edge", "--sizes", "8K",
                   "--cell-seconds", "15", "--timeout", "30"],
         "crossover": ["--access", "wifi", "--devices", "1,4", "--placements", "edge,cloud", "--cell-seconds", "5"]}
SCALED_CLOUD_CPUS = 0.8   # crossover: the cloud's quota; the edge's keeps the node profile's edge : cloud ratio

SHARE_FILE = "host-share.json"   # written into each run folder: the host's load while it ran
OVERHEAD_DEVICES = {False: (1, 16), True: (1, 4)}


def scaled_budgets(profile: str = "system-b") -> tuple[list[str], dict]:
    """The crossover part's quota flags: the cloud SCALED_CLOUD_CPUS, the edge the profile's ratio of it."""
    doc = tomllib.loads((ROOT / "nodes" / "node_profiles" / f"{profile}.toml").read_text())
    factor = SCALED_CLOUD_CPUS / doc["cloud"]["cpus"]
    edge = round(doc["edge"]["cpus"] * factor, 3)
    return (["--edge-cpus", f"{edge:g}", "--cloud-cpus", f"{SCALED_CLOUD_CPUS:g}"],
            {"profile": profile, "factor": round(factor, 4), "edge_cpus": edge, "cloud_cpus": SCALED_CLOUD_CPUS,
             "profile_edge_cpus": doc["edge"]["cpus"], "profile_cloud_cpus": doc["cloud"]["cpus"]})


def _share_line(share: dict | None, cpus: int) -> str:
    if not share:
        return "Host load: not recorded (a reused run)."

    def part(s: dict | None) -> str:
        if not s or not s.get("samples"):
            return "no samples"
        return (f"busy {s['busy_cores']} of {cpus} cores (max {s['busy_cores_max']}), vCPU steal "
                f"{s['steal_ms_per_s']:.0f} ms/s (max {s['steal_ms_per_s_max']:.0f}); this run's processes "
                f"{s['ours_cores']}, kernel threads {s['kernel_cores']}, other processes {s['others_cores']} "
                f"(max {s['others_cores_max']})")
    return (f"Host load (host_share.py, per second): in the measured window {part(share['measured'])}; over the whole "
            f"run {part(share['run'])}; other processes' CPU by name {share['run']['top_others_cpu_s']}.")


def markdown(result: dict) -> list[str]:
    out = ["# Many devices: the load sweep, 50 devices on LTE, harness cost per device", "",
           f"Mode: {'quick (test models, short cells)' if result['quick'] else 'full'}.", ""]
    out += [f"Matrix: {result['matrix']}", ""]
    if "sweep" in result:
        out += _sweep_section("## Load sweep (closed loop, default node profiles)", result["sweep"], "load.png",
                              result["host"]["cpus"])
    if "crossover" in result:
        c = result["crossover"]["scaled"]
        out += _sweep_section(
            f"## Crossover: WiFi with scaled budgets (edge {c['edge_cpus']:g} core, cloud {c['cloud_cpus']:g}: the "
            f"{c['profile']} profile's {c['profile_edge_cpus']:g} : {c['profile_cloud_cpus']:g} cores x "
            f"{c['factor']:g})",
            result["crossover"], "load-crossover.png", result["host"]["cpus"])
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
                f"Validity of the whole run: **{f['validity']}**. {f['judged']}", "",
                _share_line(f.get("host_share"), result["host"]["cpus"]), ""]
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


def _sweep_section(title: str, sweep: dict, figure: str, cpus: int) -> list[str]:
    out = [title, ""] + [f"- {access}: {c['finding']}" for access, c in sweep["crossovers"].items()]
    for access, by in sweep["curves"].items():  # how far from a crossover at the highest load
        edge, cloud = by.get("edge") or [], by.get("cloud") or []
        if edge and cloud and edge[-1]["p50_ms"] and cloud[-1]["p50_ms"]:
            out.append(f"- {access} at {edge[-1]['devices']} devices: edge p50 {edge[-1]['p50_ms']:.0f} ms, cloud "
                       f"{cloud[-1]['p50_ms']:.0f} ms (cloud / edge {cloud[-1]['p50_ms'] / edge[-1]['p50_ms']:.2f}); "
                       f"edge queue median {edge[0]['queue_ms_median']} ms at {edge[0]['devices']} device(s) -> "
                       f"{edge[-1]['queue_ms_median']} ms, cloud {cloud[0]['queue_ms_median']} -> "
                       f"{cloud[-1]['queue_ms_median']} ms")
    rows = [[access, placement, p["devices"], p["p50_ms"], p["p90_ms"], p["achieved_rps"], p["queue_ms_median"],
             p["server_cpu_cores"], p["host_cpu_busy_pct_max"], p["validity"], p["validity_failed"]]
            for access, by in sweep["curves"].items() for placement, points in by.items() for p in points]
    out += [""] + md_table(["access", "placement", "devices", "p50 ms", "p90 ms", "req/s", "queue ms",
                            "server cores", "host CPU max %", "validity", "failed constraint"], rows) + [""]
    return out + [f"Run: **{sweep['validity']}**. {sweep['judged']}", "", _share_line(sweep.get("host_share"), cpus),
                  "", f"![response vs load]({figure})", ""]


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short cells, fewer devices, the tests' models")
    parser.add_argument("--parts", default="sweep,fifty,crossover,overhead",
                        help="comma list of sweep, fifty, crossover, overhead")
    parser.add_argument("--out", type=Path, default=None, help="where load.json / load.md go")
    parser.add_argument("--reuse", nargs="*", default=[], metavar="PART=DIR[,DIR]",
                        help="take that part from run folders made before (their analysis re-made) instead of running")
    parser.add_argument("--fifty-repeats", type=int, default=None, help="runs of the fifty part, seeds 1, 2, ... "
                                                                        "(default 2; --quick 1)")
    args = parser.parse_args()
    reuse = dict(item.split("=", 1) for item in args.reuse)
    scaled_args, scaled = scaled_budgets()
    plans = QUICK if args.quick else FULL
    plans = {**plans, "crossover": [*plans["crossover"], *scaled_args]}
    results_dir = ROOT / ".cache" / "bench-load-runs"
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if "overhead" in parts and "sweep" not in parts:
        parts.insert(0, "sweep")  # the overhead is the sweep's cells
    reused_fifty = [d for d in reuse.get("fifty", "").split(",") if d]
    repeats = len(reused_fifty) or args.fifty_repeats or (1 if args.quick else 2)
    matrix = [f"{part}: load {' '.join(plans[part])}" + (_fifty_runs(repeats, bool(reused_fifty))
                                                          if part == "fifty" else "")
              for part in plans if part in parts]
    result: dict = {"quick": args.quick, "matrix": "; ".join(matrix), "host": host_fields()}
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
                share = HostShare.load(run_dir / SHARE_FILE)
            else:
                seed = ["--seed", str(index + 1)] if part == "fifty" else []
                share = HostShare()
                share.start()
                try:
                    run_dir, wall_s = run_harness("load", [*plans[part], *seed, *quick_models_args(args.quick)],
                                                  results_dir)
                finally:
                    share.stop()
                share.save(run_dir / SHARE_FILE)
            figures = {**(fifty_figures if part == "fifty" else sweep_figures)(run_dir),
                       "wall_s": round(wall_s, 1) if wall_s is not None else None,
                       "host_share": run_share(share, run_dir)}
            if part == "crossover":
                figures["scaled"] = scaled
            if part == "fifty":
                result.setdefault("fifty", []).append(figures)
            else:
                result[part] = figures
            cells += cell_rows(part if part != "fifty" else f"fifty-{index + 1}", run_dir)
        if part == "sweep":
            result["overhead"] = overhead_figures(run_dir, OVERHEAD_DEVICES[args.quick])
        if part in ("sweep", "crossover") and (run_dir / "response_vs_load.png").is_file():
            out.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run_dir / "response_vs_load.png", out / ("load.png" if part == "sweep" else
                                                                     "load-crossover.png"))
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
