#!/usr/bin/env python3
"""Many devices at once (issue 13): the `load` sweep, 50 devices on one LTE cell, and the harness's cost per device.

    sudo .venv/bin/python benchmarks/bench_load.py                 # the figures (about 40 min here)
    sudo .venv/bin/python benchmarks/bench_load.py --quick         # a short version (a few minutes; test models)
    sudo .venv/bin/python benchmarks/bench_load.py --parts fifty   # one part: sweep, fifty, overhead

- sweep: ``load --access lte,wifi --devices 1,2,4,8,16,32`` closed loop, default node profiles: per access the
  crossover (the lowest load at which the cloud's median response is below the edge's) and the response curves;
- fifty: 50 devices at 1 request/s each (Poisson) on one LTE cell, edge, 8K images (50 x 60K/s would be 3 times
  the cell's 8 Mbit/s uplink: a saturated cell, not a many-devices test): the rows each device was scheduled to
  send (the same seeded schedule the devices draw, nodes.arrivals) against the rows recorded and answered, how
  late the devices left, the host CPU, and the run's VALID / INVALID where the run records it;
- overhead: wall time of a cell over the mean per-device sum of response times (1.0 = the harness costs nothing
  beyond the requests: no start-up, no gaps), at 1 and 16 devices, closed loop on WiFi.

Writes benchmarks/results/load.json + load.md (--quick: .cache/bench-quick/). Reads run folders only.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

from harness_runs import ROOT, default_out, md_table, quick_models_args, run_harness, write_outputs

sys.path.insert(0, str(ROOT))
from nodes.arrivals import poisson_offsets_ns  # noqa: E402  (the devices' own schedule, to count what was due)

FULL = {"sweep": ["--access", "lte,wifi", "--devices", "1,2,4,8,16,32", "--cell-seconds", "20"],
        "fifty": ["--access", "lte", "--devices", "50", "--rate-hz", "1", "--placements", "edge", "--sizes", "8K",
                  "--cell-seconds", "60", "--timeout", "60"],
        "overhead": ["--access", "wifi", "--devices", "1,16", "--placements", "edge", "--cell-seconds", "20"]}
QUICK = {"sweep": ["--access", "lte,wifi", "--devices", "1,4", "--cell-seconds", "5"],
         "fifty": ["--access", "lte", "--devices", "16", "--rate-hz", "1", "--placements", "edge", "--sizes", "8K",
                   "--cell-seconds", "15", "--timeout", "30"],
         "overhead": ["--access", "wifi", "--devices", "1,8", "--placements", "edge", "--cell-seconds", "8"]}


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
             "host_cpu_busy_pct_max": _float(row.get("host_cpu_busy_pct_max"))})
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
    return {"run": str(run_dir), "devices": devices, "rate_hz": rate, "due": due, "recorded": len(rows),
            "ok": len(ok), "rows_lost": due - len(rows), "failed": len(rows) - len(ok),
            "response_ms_p50": _float(load["response_ms_p50"]), "response_ms_p99": _float(load["response_ms_p99"]),
            "lateness_ms_p99": sorted(lateness)[int(0.99 * (len(lateness) - 1))] if lateness else None,
            "host_cpu_busy_pct_max": _float(load.get("host_cpu_busy_pct_max")),
            "host_cpu_busy_pct_mean": _float(load.get("host_cpu_busy_pct_mean")),
            "validity": _headline(record.get("validity"))}


def _headline(validity: dict | None) -> str:
    if not validity:
        return "not recorded by this run"
    failed = [c["detail"] for c in validity.get("constraints", []) if c.get("outcome") == "failed"]
    return validity.get("verdict", "?") + (f" ({'; '.join(failed)})" if failed else "")


def overhead_figures(run_dir: Path) -> dict:
    record = json.loads((run_dir / "experiment.json").read_text())
    rows = _rows(run_dir / "requests.csv")
    out = {}
    for cell in record["cells"]:
        mine = [r for r in rows if r["level"] == cell["level"] and r["status"] == "ok"]
        per_device = {}
        for r in mine:
            per_device[r["device"]] = per_device.get(r["device"], 0.0) + float(r["response_ms"]) / 1000
        busy_s = statistics.fmean(per_device.values()) if per_device else None
        out[str(cell["devices"])] = {"wall_s": cell.get("wall_s"),
                                     "mean_device_response_sum_s": round(busy_s, 3) if busy_s else None,
                                     "overhead": round(cell["wall_s"] / busy_s, 3) if busy_s else None,
                                     "requests": len(mine)}
    return {"run": str(run_dir), "by_devices": out}


def markdown(result: dict) -> list[str]:
    out = ["# Many devices: the load sweep, 50 devices on LTE, harness cost per device", "",
           f"Mode: {'quick (test models, short cells)' if result['quick'] else 'full'}.", ""]
    if "sweep" in result:
        out += ["## Load sweep (closed loop, default node profiles)", ""]
        out += [f"- {access}: {c['finding']}" for access, c in result["sweep"]["crossovers"].items()]
        rows = [[access, placement, p["devices"], p["p50_ms"], p["p90_ms"], p["achieved_rps"], p["queue_ms_median"],
                 p["server_cpu_cores"]] for access, by in result["sweep"]["curves"].items()
                for placement, points in by.items() for p in points]
        out += [""] + md_table(["access", "placement", "devices", "p50 ms", "p90 ms", "req/s", "queue ms",
                                "server cores"], rows) + [""]
    if "fifty" in result:
        f = result["fifty"]
        out += [f"## {f['devices']} devices at {f['rate_hz']:g} request/s on one LTE cell", "",
                f"Due {f['due']}, recorded {f['recorded']}, ok {f['ok']}: **{f['rows_lost']} rows lost**, "
                f"{f['failed']} failed; response p50 {f['response_ms_p50']} ms, p99 {f['response_ms_p99']} ms; "
                f"devices' lateness p99 {f['lateness_ms_p99']} ms; host CPU mean {f['host_cpu_busy_pct_mean']}%, "
                f"max {f['host_cpu_busy_pct_max']}%; validity: {f['validity']}.", ""]
    if "overhead" in result:
        out += ["## Harness overhead per device (cell wall time / mean per-device sum of response times)", ""]
        out += md_table(["devices", "wall s", "per-device response sum s", "overhead", "requests"],
                        [[n, v["wall_s"], v["mean_device_response_sum_s"], v["overhead"], v["requests"]]
                         for n, v in result["overhead"]["by_devices"].items()])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short cells, fewer devices, the tests' models")
    parser.add_argument("--parts", default="sweep,fifty,overhead", help="comma list of sweep, fifty, overhead")
    parser.add_argument("--out", type=Path, default=None, help="where load.json / load.md go")
    args = parser.parse_args()
    plans = QUICK if args.quick else FULL
    results_dir = ROOT / ".cache" / "bench-load-runs"
    result: dict = {"quick": args.quick}
    figures = {"sweep": sweep_figures, "fifty": fifty_figures, "overhead": overhead_figures}
    for part in [p.strip() for p in args.parts.split(",") if p.strip()]:
        run_dir, wall_s = run_harness("load", [*plans[part], *quick_models_args(args.quick)], results_dir)
        result[part] = {**figures[part](run_dir), "wall_s": round(wall_s, 1)}
    out = args.out or default_out(args.quick)
    write_outputs(out, "load", result, markdown(result))
    print("\n".join(markdown(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
