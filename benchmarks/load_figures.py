"""The figures bench_load.py reads from its run folders (nothing here runs the testbed): the sweep's curves and
crossover, the 50-device run's rows against the devices' own schedule, the harness's cost per device, each run's
validity with the window it judged, and the host's load beside it (host_share.py)."""
from __future__ import annotations

import csv
import json
import statistics
import sys
from pathlib import Path

from harness_runs import ROOT
from host_share import HostShare

sys.path.insert(0, str(ROOT))
from nodes.arrivals import poisson_offsets_ns  # noqa: E402  (the devices' own schedule, to count what was due)

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
    record = json.loads((run_dir / "experiment.json").read_text())
    return {"run": str(run_dir), "curves": curves, "validity": _headline(record.get("validity")),
            "judged": _window_line(record.get("validity")),
            "crossovers": {r["access"]: {"load": _float(r["crossover_load"]),
                                         "estimate": _float(r["crossover_estimate"]), "finding": r["finding"]}
                           for r in _rows(run_dir / "load-summary.csv")}}


def run_share(share: HostShare | None, run_dir: Path) -> dict | None:
    """The host's load during a run: over its measured window (validity.json's, on the monitor's clock) and all."""
    if share is None:
        return None
    record = json.loads((run_dir / "experiment.json").read_text())
    window, start_s = (record.get("validity") or {}).get("window") or {}, record.get("host_monitor_start_s")
    intervals = [(start_s + b, start_s + e) for b, e in window.get("intervals_s", [])] if start_s is not None else []
    return {"measured": share.summary(intervals) if intervals else None, "run": share.summary()}


def _window_line(validity: dict | None) -> str:
    window = (validity or {}).get("window") or {}
    cpu = window.get("host_cpu") or {}
    if window.get("judged") != "measured window":
        return f"Judged: {window.get('judged', 'not recorded')}."
    inside, outside = cpu.get("inside") or {}, cpu.get("outside") or {}
    return (f"Judged: the measured window, {window['seconds']} s ({window['source']}): host CPU mean "
            f"{inside.get('mean_busy_pct')}%, longest above 95% {inside.get('longest_above_s')} s; outside it "
            f"(start-up; not judged) {outside.get('seconds')} s: mean {outside.get('mean_busy_pct')}%, longest above "
            f"95% {outside.get('longest_above_s')} s.")


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
            "validity": _headline(record.get("validity")), "judged": _window_line(record.get("validity")),
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


def cell_rows(part: str, run_dir: Path) -> list[dict]:
    return [{"part": part, **{k: r.get(k, "") for k in CELL_FIELDS if k != "part"}}
            for r in _rows(run_dir / "load.csv")]
