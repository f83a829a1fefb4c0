"""What the machine itself did during each cell of a ``load`` run, from the host monitor's files
(harness/orchestration/host_monitor.py: the run's ``host-cpu.csv`` and ``process-cpu.csv``): the host's CPU
busy share (mean and max over the cell's samples, all cores; the longest stretch above ``SATURATED_PCT``, which the
cell's validity checks) and the link emulators' CPU (cores, mean), so a cell where the testbed, not the servers,
was the bottleneck shows."""
from __future__ import annotations

import csv
import statistics
from pathlib import Path

from harness.analysis.measured_window import load_cell_interval_ns, rows_by_cell
from harness.analysis.validity import ValidityLimits

HOST_FIELDS = ["host_cpu_busy_pct_mean", "host_cpu_busy_pct_max", "host_cpu_saturated_s", "emulators_cpu_cores"]
SATURATED_PCT = ValidityLimits().host_cpu_busy_pct


def _read(path: Path) -> list[dict]:
    try:
        with open(path, newline="") as rows:
            return list(csv.DictReader(rows))
    except (OSError, csv.Error, UnicodeDecodeError):
        return []


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def longest_above_s(samples: list[tuple[float, float]], limit_pct: float = SATURATED_PCT) -> float:
    """The longest run of consecutive sampling intervals above ``limit_pct`` (samples: (end t_s, busy %))."""
    longest = current = 0.0
    previous_t = None
    for t_s, busy in samples:
        current = current + (t_s - previous_t if previous_t is not None else 0.0) if busy > limit_pct else 0.0
        previous_t = t_s
        longest = max(longest, current)
    return longest


def host_load(run_dir: Path, record: dict, requests: list[dict] | None = None) -> dict[tuple[str, str, str], dict]:
    """(access, level, placement) -> HOST_FIELDS of that cell, over its measured part (its devices' shared start
    to its last reply among ``requests``, as the run's measured window: harness/analysis/measured_window.py);
    cells without monitor samples are left out."""
    out: dict[tuple[str, str, str], dict] = {}
    start_s = record.get("host_monitor_start_s")
    if not isinstance(start_s, (int, float)):
        return out
    host = [r for r in _read(run_dir / "host-cpu.csv") if r.get("core") == "all"]
    procs = [r for r in _read(run_dir / "process-cpu.csv") if str(r.get("name", "")).startswith("emulator:")]
    by_cell = rows_by_cell(requests or [])
    for cell in (c for c in record.get("cells") or [] if c.get("ended_ns")):
        interval = load_cell_interval_ns(
            cell, by_cell.get((cell.get("access"), cell.get("level"), cell.get("placement")), []))
        if interval is None:
            continue
        begin_s, end_s = interval[0] / 1e9 - start_s, interval[1] / 1e9 - start_s
        samples = [(t, b) for r in host if (t := _number(r.get("t_s"))) is not None and begin_s <= t <= end_s
                   and (b := _number(r.get("busy_pct"))) is not None]
        busy = [b for _, b in samples]
        if not busy:
            continue
        per_time: dict[float, float] = {}
        for r in procs:
            t, cores = _number(r.get("t_s")), _number(r.get("cpu_cores"))
            if t is not None and cores is not None and begin_s <= t <= end_s and f":{cell['access']}:" in r["name"]:
                per_time[t] = per_time.get(t, 0.0) + cores
        out[(cell["access"], cell["level"], cell["placement"])] = {
            "host_cpu_busy_pct_mean": statistics.fmean(busy), "host_cpu_busy_pct_max": max(busy),
            "host_cpu_saturated_s": longest_above_s(samples),
            "emulators_cpu_cores": statistics.fmean(per_time.values()) if per_time else None}
    return out
