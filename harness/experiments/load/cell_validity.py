"""VALID / INVALID per cell of a ``load`` run: the run's constraints (harness.analysis.validity) over one cell.

- 1. emulator p99 lateness: the worst of the access's emulators (their counters cover the whole access, not one
  cell: every cell of an access shares that outcome, and the detail says so);
- 2. host CPU: the cell's own longest stretch above the limit (host_load's ``host_cpu_saturated_s``), from the
  devices' shared start to the cell's end: their set-up before it (processes, images) measures nothing;
- 3. client schedule lateness p99 over the cell's rows;
- 4. rows lost: the cell's ``requests_expected`` (open loop) against its rows; a closed loop is not checked.
"""
from __future__ import annotations

from pathlib import Path

from harness.analysis.validity import (FAILED, MET, NOT_CHECKED, Constraint, Validity, ValidityLimits,
                                       counters_lateness, rows_lost, schedule_lateness)

VALIDITY_FIELDS = ["validity", "validity_failed"]


def access_emulator_lateness(run_dir: Path, access: str, limits: ValidityLimits) -> Constraint:
    name = f"emulator p99 lateness <= {limits.emulator_lateness_p99_ms:g} ms"
    worst = counters_lateness((Path(run_dir) / "logs" / access).glob("*-counters.json"))
    if not worst:
        return Constraint(1, name, NOT_CHECKED, f"no emulator lateness recorded for {access}")
    p99, where, _path, _side = max(worst)
    if p99 > limits.emulator_lateness_p99_ms:
        return Constraint(1, name, FAILED, f"emulator p99 lateness {p99:.2f} ms > {limits.emulator_lateness_p99_ms:g}"
                                           f" ms on {where} (over the whole access)")
    return Constraint(1, name, MET, f"worst {p99:.3f} ms on {where} (over the whole access)")


def cell_host_cpu(saturated_s, limits: ValidityLimits) -> Constraint:
    name = (f"host CPU (all cores) <= {limits.host_cpu_busy_pct:g}% or above it for at most "
            f"{limits.host_cpu_saturated_max_s:g} s")
    if not isinstance(saturated_s, (int, float)):
        return Constraint(2, name, NOT_CHECKED, "no host monitor samples in this cell")
    if saturated_s > limits.host_cpu_saturated_max_s:
        return Constraint(2, name, FAILED, f"host CPU > {limits.host_cpu_busy_pct:g}% for {saturated_s:.1f} s")
    return Constraint(2, name, MET, f"longest stretch above {limits.host_cpu_busy_pct:g}%: {saturated_s:.1f} s")


def cell_validity(run_dir: Path, cell: dict, rows: list[dict], saturated_s,
                  limits: ValidityLimits = ValidityLimits()) -> Validity:
    """``cell``: its record in experiment.json; ``rows``: its requests.csv rows; ``saturated_s``: its host CPU's
    longest stretch above the limit (None: no samples)."""
    expected = cell.get("requests_expected")
    record = {"requests_expected": expected, "status": cell.get("status"), "experiment": "load"}
    if not isinstance(expected, int):
        lost = Constraint(4, f"rows lost <= {limits.rows_lost_max}", NOT_CHECKED,
                          "a closed loop's request count depends on its replies")
    else:
        lost = rows_lost(record, rows, limits)
    return Validity([access_emulator_lateness(run_dir, cell["access"], limits), cell_host_cpu(saturated_s, limits),
                     schedule_lateness(rows, limits) if rows else
                     Constraint(3, f"client schedule lateness p99 <= {limits.schedule_lateness_p99_ms:g} ms",
                                NOT_CHECKED, "no rows in this cell"), lost])


def validity_columns(validity: Validity) -> dict:
    """load.csv's two columns: the verdict and each failed constraint, numbered ("" when VALID)."""
    failed = [f"{c.number}. {c.detail}" for c in validity.constraints if c.outcome == FAILED]
    return {"validity": validity.verdict, "validity_failed": "; ".join(failed)}
