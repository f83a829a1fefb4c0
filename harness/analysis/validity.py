"""Was the testbed itself a bottleneck? VALID / INVALID for a run, as MLPerf LoadGen states it.

Reads only the run folder. Each numbered constraint is met, failed, or not checked (with the
reason); the run is INVALID when any is failed, and the verdict names each failure:

1. Emulator lateness: every userspace emulator's p99 lateness (actual minus scheduled send,
   ``logs/<access>/<link>-counters.json``) <= ``emulator_lateness_p99_ms`` per direction.
2. Host CPU: the whole machine (all cores together, host-cpu.csv's ``all`` rows) is not busier
   than ``host_cpu_busy_pct`` for longer than ``host_cpu_saturated_max_s`` at a stretch. All
   cores, not any one: one busy core is the scheduler's to balance, and a single-threaded
   process pinned at 100 % (an emulator) already shows in constraint 1; when every core is
   full, every process waits, and nothing the run measured is the system under test alone.
   The busiest single core's longest stretch is reported beside it, as information.
3. Client schedule lateness: p99 of requests.csv's ``schedule_lateness_ms`` (how late each
   request left against its schedule) <= ``schedule_lateness_p99_ms``; a run without the
   column is not checked (and says so).
4. Rows lost: requests issued without a row in requests.csv <= ``rows_lost_max``; known for a
   closed-loop compare / sweep (accesses x placements x sizes x repetitions x devices) or where
   experiment.json has ``requests_expected``; otherwise not checked.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

MET, FAILED, NOT_CHECKED = "met", "failed", "not checked"


@dataclass(frozen=True)
class ValidityLimits:
    emulator_lateness_p99_ms: float = 1.0
    host_cpu_busy_pct: float = 95.0
    host_cpu_saturated_max_s: float = 5.0      # 0: no sample may be above the limit
    schedule_lateness_p99_ms: float = 10.0
    rows_lost_max: int = 0

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 or math.isnan(value):
                raise ValueError(f"validity limit {name} must be a number >= 0, got {value!r}")
        if self.host_cpu_busy_pct > 100:
            raise ValueError(f"validity limit host_cpu_busy_pct must be <= 100, got {self.host_cpu_busy_pct}")


@dataclass(frozen=True)
class Constraint:
    number: int
    name: str
    outcome: str          # met / failed / not checked
    detail: str           # the measured value against the limit, or why it was not checked

    def line(self) -> str:
        return f"{self.number}. {self.name}: {self.outcome} ({self.detail})"


@dataclass(frozen=True)
class Validity:
    constraints: list[Constraint] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return all(c.outcome != FAILED for c in self.constraints)

    @property
    def verdict(self) -> str:
        return "VALID" if self.valid else "INVALID"

    def headline(self) -> str:
        """One line: VALID, or INVALID and each failed constraint with its number."""
        failed = [f"{c.number}. {c.detail}" for c in self.constraints if c.outcome == FAILED]
        return self.verdict + (f": {'; '.join(failed)}" if failed else "")

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "constraints": [asdict(c) for c in self.constraints]}


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def emulator_lateness(run_dir: Path, limits: ValidityLimits) -> Constraint:
    name = f"emulator p99 lateness <= {limits.emulator_lateness_p99_ms:g} ms"
    worst = []
    for path in sorted(Path(run_dir).glob("logs/**/*-counters.json")):
        try:
            counters = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for side in ("uplink", "downlink"):
            p99 = ((counters.get(side) or {}).get("lateness") or {}).get("p99_ms")
            if isinstance(p99, (int, float)):
                link = path.name[: -len("-counters.json")]
                worst.append((p99, f"{path.parent.name}/{link}/{side}"))
    if not worst:
        return Constraint(1, name, NOT_CHECKED, "no emulator lateness recorded (kernel backend, unshaped links, "
                                                 "or an emulator older than issue 13)")
    p99, where = max(worst)
    if p99 > limits.emulator_lateness_p99_ms:
        return Constraint(1, name, FAILED, f"emulator p99 lateness {p99:.2f} ms > {limits.emulator_lateness_p99_ms:g} ms"
                                            f" on {where}")
    return Constraint(1, name, MET, f"worst {p99:.3f} ms on {where}, {len(worst)} directions")


def _longest_stretch_s(samples: list[tuple[float, float]], limit_pct: float) -> float:
    """The longest run of consecutive intervals above ``limit_pct`` (samples: (end t_s, busy %))."""
    longest = current = 0.0
    previous_t = None
    for t_s, busy in samples:
        interval = t_s - previous_t if previous_t is not None else 0.0
        previous_t = t_s
        current = current + interval if busy > limit_pct else 0.0
        longest = max(longest, current)
    return longest


def host_cpu(run_dir: Path, limits: ValidityLimits) -> Constraint:
    name = (f"host CPU (all cores) <= {limits.host_cpu_busy_pct:g}% or above it for at most "
            f"{limits.host_cpu_saturated_max_s:g} s")
    path = Path(run_dir) / "host-cpu.csv"
    if not path.is_file():
        return Constraint(2, name, NOT_CHECKED, "no host-cpu.csv (the run had no host monitor)")
    per_core: dict[str, list[tuple[float, float]]] = {}
    try:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                per_core.setdefault(row["core"], []).append((float(row["t_s"]), float(row["busy_pct"])))
    except (OSError, KeyError, ValueError, csv.Error) as err:
        return Constraint(2, name, NOT_CHECKED, f"{path.name} unreadable ({err})")
    if not per_core.get("all"):
        return Constraint(2, name, NOT_CHECKED, f"{path.name} has no samples")
    stretch_s = _longest_stretch_s(per_core["all"], limits.host_cpu_busy_pct)
    mean_pct = sum(b for _, b in per_core["all"]) / len(per_core["all"])
    cores = {c: _longest_stretch_s(s, limits.host_cpu_busy_pct) for c, s in per_core.items() if c != "all"}
    busiest = max(cores.items(), key=lambda kv: kv[1], default=("none", 0.0))
    info = f"mean {mean_pct:.0f}%; busiest core {busiest[0]} above {limits.host_cpu_busy_pct:g}% for {busiest[1]:.1f} s"
    if stretch_s > limits.host_cpu_saturated_max_s:
        return Constraint(2, name, FAILED, f"host CPU > {limits.host_cpu_busy_pct:g}% for {stretch_s:.1f} s ({info})")
    return Constraint(2, name, MET, f"longest stretch above {limits.host_cpu_busy_pct:g}%: {stretch_s:.1f} s; {info}")


def schedule_lateness(requests: list[dict] | None, limits: ValidityLimits) -> Constraint:
    name = f"client schedule lateness p99 <= {limits.schedule_lateness_p99_ms:g} ms"
    if not requests or "schedule_lateness_ms" not in requests[0]:
        return Constraint(3, name, NOT_CHECKED, "requests.csv has no schedule_lateness_ms column")
    values = []
    for row in requests:
        try:
            values.append(float(row["schedule_lateness_ms"]))
        except (TypeError, ValueError):
            continue
    if not values:
        return Constraint(3, name, NOT_CHECKED, "no request has a schedule_lateness_ms value")
    p99 = _percentile(values, 0.99)
    if p99 > limits.schedule_lateness_p99_ms:
        return Constraint(3, name, FAILED, f"client schedule lateness p99 {p99:.1f} ms > "
                                            f"{limits.schedule_lateness_p99_ms:g} ms ({len(values)} requests)")
    return Constraint(3, name, MET, f"p99 {p99:.2f} ms over {len(values)} requests")


def expected_rows(record: dict) -> tuple[int | None, str]:
    """How many rows the run should have, or None and why that is unknown."""
    if isinstance(record.get("requests_expected"), int):
        return record["requests_expected"], "experiment.json requests_expected"
    spec = record.get("spec") or {}
    if record.get("experiment") not in ("compare", "sweep"):
        return None, f"a {record.get('experiment', '?')} run does not say how many requests it issued"
    if spec.get("open_loop_rate_hz") or spec.get("rate_hz") or spec.get("arrival_trace"):
        return None, "an open-loop run's request count depends on its arrivals"
    accesses = spec.get("accesses") or []
    if record.get("status") != "complete":
        accesses = record.get("accesses_run") or []
    try:
        sizes = 1 if spec.get("images_dir") and spec.get("image_mode") == "as-is" else len(spec["sizes"])  # a file each
        count = (len(accesses) * len(spec["placements"]) * sizes * int(spec["repetitions"])
                 * int(spec.get("devices", 1)))
    except (KeyError, TypeError, ValueError):
        return None, "experiment.json's spec lacks placements, sizes or repetitions"
    return count, "accesses x placements x sizes x repetitions x devices"


def rows_lost(record: dict, requests: list[dict] | None, limits: ValidityLimits) -> Constraint:
    name = f"rows lost <= {limits.rows_lost_max}"
    expected, how = expected_rows(record)
    if expected is None:
        return Constraint(4, name, NOT_CHECKED, how)
    if record.get("status") == "interrupted":
        return Constraint(4, name, NOT_CHECKED, "the run was interrupted: requests cut short have no row by design")
    lost = expected - len(requests or [])
    if lost > limits.rows_lost_max:
        return Constraint(4, name, FAILED, f"{lost} rows lost of {expected} expected ({how})")
    return Constraint(4, name, MET, f"{len(requests or [])} rows of {expected} expected")


def evaluate(run_dir: Path, record: dict, requests: list[dict] | None,
             limits: ValidityLimits = ValidityLimits()) -> Validity:
    return Validity([emulator_lateness(run_dir, limits), host_cpu(run_dir, limits),
                     schedule_lateness(requests, limits), rows_lost(record, requests, limits)])


def validity_lines(validity: Validity) -> list[str]:
    """The report's first lines: the verdict, then each constraint."""
    return [f"**{validity.headline()}** (is the testbed itself the bottleneck? constraints below, "
            "harness/analysis/validity.py)", ""] + [f"- {c.line()}" for c in validity.constraints]
