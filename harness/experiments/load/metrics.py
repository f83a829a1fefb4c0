"""What a ``load`` run measured, per cell, and where the cloud overtakes the edge.

Per cell (access x load level x placement), from requests.csv and experiment.json's ``cells``:

- the steady window: from the moment the last device sent its first request to the moment the first device
  sent its last one, so the devices' start-up (processes, images) and their end do not count; a cell whose
  devices never overlapped (one request each, say) uses all its rows, and says so;
- ``offered_rps``: requests sent in the window per second (open loop: also ``nominal_offered_rps`` =
  devices x rate); ``achieved_rps``: ok replies completed in the window per second;
- response p50 / p90 / p99 and server queueing (arrival to preprocess start) median / p90 of the ok
  requests sent in the window; how late the devices left against their schedule (p99);
- server CPU: the answering server's cores used on average over the cell and that over its quota; the devices'
  own CPU (their schedules' CPU seconds, as each reports at its end) in cores over the cell.

The crossover (per access and rate): the lowest load at which the cloud's median response is below the edge's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.analysis.accuracy import accuracy_fields
from harness.experiments.load.cell_validity import cell_validity, validity_columns

LOAD_FIELDS = ["access", "level", "placement", "devices", "rate_hz", "load", "load_unit", "status", "requests",
               "ok", "failed", "window_s", "window_note", "nominal_offered_rps", "offered_rps", "achieved_rps",
               "response_ms_p50", "response_ms_p90", "response_ms_p99", "queue_ms_median", "queue_ms_p90",
               "schedule_lateness_ms_p99", "server", "server_cpu_cores", "server_cpu_utilisation", "server_cpu_of",
               "other_server_cpu_cores", "host_cpu_busy_pct_mean", "host_cpu_busy_pct_max", "host_cpu_saturated_s",
               "emulators_cpu_cores", "devices_cpu_cores", "accuracy", "accuracy_n", "validity", "validity_failed"]
MIN_WINDOW_S = 1.0


def _f(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def steady_window(rows: list[dict]) -> tuple[float, float, str]:
    """(start_ns, end_ns, note) of the window in which every device of the cell was sending (see the module)."""
    sends: dict[str, list[int]] = {}
    for row in rows:
        send = _f(row.get("client_send_start_ns"))
        if send is not None:
            sends.setdefault(row.get("device") or "ue1", []).append(int(send))
    if not sends:
        return 0.0, 0.0, "no request was sent"
    start = max(min(s) for s in sends.values())
    end = min(max(s) for s in sends.values())
    if (end - start) / 1e9 >= MIN_WINDOW_S:
        return start, end, ""
    ends = [_f(r.get("client_reply_complete_ns")) for r in rows]
    first, last = min(min(s) for s in sends.values()), max([e for e in ends if e is not None] or [end])
    return first, last, "the devices never sent together for 1 s: all rows used"


def cell_metrics(cell: dict, rows: list[dict]) -> dict:
    """load.csv's row of one cell (``cell``: its record in experiment.json, with ``offered_per_device_hz``, None for
    a closed loop; ``rows``: its requests.csv rows)."""
    nominal_per_device_hz = cell.get("offered_per_device_hz")
    start, end, note = steady_window(rows)
    window_s = (end - start) / 1e9
    inside = [r for r in rows if (s := _f(r.get("client_send_start_ns"))) is not None and start <= s <= end]
    ok = [r for r in inside if r.get("status") == "ok"]
    completed = [r for r in rows if r.get("status") == "ok"
                 and (e := _f(r.get("client_reply_complete_ns"))) is not None and start <= e <= end]
    response = [v for v in (_f(r.get("response_ms")) for r in ok) if v is not None]
    queue = [v for v in (_f(r.get("queue_ms")) for r in ok) if v is not None]
    lateness = [v for v in (_f(r.get("schedule_lateness_ms")) for r in inside) if v is not None]
    server = "cloud" if cell["placement"] == "cloud" else "edge"
    cpu = cell.get("server_cpu") or {}
    mine, other = cpu.get(server) or {}, cpu.get("edge" if server == "cloud" else "cloud") or {}
    nominal = cell["devices"] * nominal_per_device_hz if nominal_per_device_hz else None
    return {
        "access": cell["access"], "level": cell["level"], "placement": cell["placement"], "devices": cell["devices"],
        "rate_hz": cell.get("rate_hz") or None, "load": nominal if nominal else cell["devices"],
        "load_unit": "offered req/s" if nominal else "devices",
        "status": cell.get("status", "?"), "requests": len(rows), "ok": sum(r.get("status") == "ok" for r in rows),
        "failed": sum(r.get("status") != "ok" for r in rows), "window_s": window_s, "window_note": note,
        "nominal_offered_rps": nominal,
        "offered_rps": len(inside) / window_s if window_s > 0 else None,
        "achieved_rps": len(completed) / window_s if window_s > 0 else None,
        "response_ms_p50": _pct(response, 50), "response_ms_p90": _pct(response, 90),
        "response_ms_p99": _pct(response, 99), "queue_ms_median": _pct(queue, 50), "queue_ms_p90": _pct(queue, 90),
        "schedule_lateness_ms_p99": _pct(lateness, 99), "server": server,
        "server_cpu_cores": mine.get("cores"), "server_cpu_utilisation": mine.get("utilisation"),
        "server_cpu_of": mine.get("of"), "other_server_cpu_cores": other.get("cores"),
        "devices_cpu_cores": (cell["devices_cpu_s"] / cell["wall_s"]
                              if isinstance(cell.get("devices_cpu_s"), (int, float)) and cell.get("wall_s") else None),
        **accuracy_fields(ok),  # --images with labels: the served answers judged (None otherwise)
    }


def load_rows(cells: list[dict], requests: list[dict], host: dict | None = None, run_dir=None) -> list[dict]:
    """load.csv: one row per cell that started, in run order; ``host``: each cell's host CPU
    (harness.experiments.load.host_load); with ``run_dir``, each cell's VALID / INVALID
    (harness.experiments.load.cell_validity)."""
    by_cell: dict[tuple[str, str, str], list[dict]] = {}
    for row in requests:
        by_cell.setdefault((row.get("access", ""), row.get("level", ""), row.get("placement", "")), []).append(row)
    out = []
    for cell in cells:
        key = (cell["access"], cell["level"], cell["placement"])
        row = {**cell_metrics(cell, by_cell.get(key, [])), **(host or {}).get(key, {})}
        if run_dir is not None:
            validity = cell_validity(run_dir, cell, by_cell.get(key, []), row.get("host_cpu_saturated_s"))
            row.update(validity_columns(validity))
        out.append(row)
    return out


@dataclass(frozen=True)
class Crossover:
    """Where the cloud's median response first drops below the edge's, along increasing load."""

    load: float | None            # the first measured load at which cloud < edge; None: none in the range
    estimate: float | None        # interpolated crossing between that load and the one before (None: no bracket)
    below: float | None           # the measured load before it (edge faster there)
    holds_above: bool             # cloud stayed faster at every higher load measured
    loads_compared: int
    text: str


def find_crossover(points: list[tuple[float, float | None, float | None]], unit: str = "devices") -> Crossover:
    """``points``: (load, edge p50, cloud p50); loads where either is missing are left out."""
    usable = sorted((x, e, c) for x, e, c in points if e is not None and c is not None)
    if not usable:
        return Crossover(None, None, None, False, 0, "not measured: no load level has both an edge and a cloud median")
    first = next((i for i, (_, e, c) in enumerate(usable) if c < e), None)
    top = usable[-1][0]
    if first is None:
        return Crossover(None, None, None, False, len(usable),
                         f"none in the range: the edge answered faster at every load measured (up to {top:g} {unit})")
    x, e, c = usable[first]
    holds = all(cc < ee for _, ee, cc in usable[first:])
    again = "" if holds else "; the edge was faster again at a higher load"
    if first == 0:
        return Crossover(x, None, None, holds, len(usable),
                         f"the cloud answered faster from the lowest load measured ({x:g} {unit}){again}")
    x0, e0, c0 = usable[first - 1]
    gap0, gap1 = e0 - c0, e - c   # <= 0 below, > 0 at the crossover
    estimate = x0 + (x - x0) * (-gap0) / (gap1 - gap0) if gap1 != gap0 else x
    return Crossover(x, estimate, x0, holds, len(usable),
                     f"between {x0:g} and {x:g} {unit} (about {estimate:.3g}, interpolated): above it the cloud "
                     f"answered faster{again}")


def crossovers(rows: list[dict]) -> list[dict]:
    """load-summary.csv: per access (and rate, open loop at several rates) the crossover of the complete cells."""
    series: dict[tuple[str, float], dict[float, dict[str, float | None]]] = {}
    units: dict[tuple[str, float], str] = {}
    for row in rows:
        if row["status"] != "complete":
            continue
        key = (row["access"], row.get("rate_hz") or 0.0)
        series.setdefault(key, {}).setdefault(row["load"], {})[row["placement"]] = row["response_ms_p50"]
        units[key] = row["load_unit"]
    out = []
    for (access, rate), by_load in series.items():
        found = find_crossover([(x, p.get("edge"), p.get("cloud")) for x, p in by_load.items()], units[(access, rate)])
        at = by_load.get(found.load, {}) if found.load is not None else {}
        out.append({"access": access, "rate_hz": rate or None, "load_unit": units[(access, rate)],
                    "crossover_load": found.load, "crossover_estimate": found.estimate, "below_load": found.below,
                    "holds_above": found.holds_above if found.load is not None else None,
                    "loads_compared": found.loads_compared, "edge_p50_ms_at": at.get("edge"),
                    "cloud_p50_ms_at": at.get("cloud"), "finding": found.text})
    return out


SUMMARY_FIELDS = ["access", "rate_hz", "load_unit", "crossover_load", "crossover_estimate", "below_load",
                  "holds_above", "loads_compared", "edge_p50_ms_at", "cloud_p50_ms_at", "finding"]
