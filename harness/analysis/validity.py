"""Was the testbed itself a bottleneck? VALID / INVALID for a run, as MLPerf LoadGen states it.

Reads only the run folder. Each numbered constraint is met, failed, or not checked (with the
reason); the run is INVALID when any is failed, and the verdict names each failure:

1. Emulator lateness: every userspace emulator's p99 lateness (the frame handed to the kernel
   minus its scheduled release, ``logs/<access>/<link>-counters.json``) <= ``emulator_lateness_p99_ms``
   per direction. A failure names where the lateness came from, from that link's per-second
   summary (``<link>-summary.csv``): in the seconds whose p99 was above the limit, the host's vCPU
   steal (ms/s; the hypervisor ran no guest process then), the emulator's garbage-collector time,
   its worst wake-up delay and longest send; without those columns (an older emulator), the run's
   mean host steal from host-cpu.csv. The run stays INVALID either way: the link was late.
2. Host CPU: the whole machine (all cores together, host-cpu.csv's ``all`` rows) is not busier
   than ``host_cpu_busy_pct`` for longer than ``host_cpu_saturated_max_s`` at a stretch inside the
   run's measured window (harness/analysis/measured_window.py: the devices' shared start to the last
   reply, per cell or workload; the whole run where the record has no window). The start-up outside
   it (network, servers, model download, the devices' process launch) is reported, not judged. All
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

from harness.analysis.measured_window import (cpu_summary, covered_s, longest_above_s, mean_busy_pct, measured_window,
                                             split_samples)

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
    window: dict | None = None   # what constraint 2 judged (host_cpu): the measured window and the CPU around it

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
        return {"verdict": self.verdict, "constraints": [asdict(c) for c in self.constraints],
                **({"window": self.window} if self.window is not None else {})}

    def window_line(self) -> str:
        """Which part of the run constraint 2 judged, in words ("" when not known)."""
        w = self.window or {}
        if w.get("judged") == "whole run":
            return f"Host CPU judged over the whole run ({w.get('why', '')})."
        if w.get("judged") != "measured window":
            return ""
        intervals = w.get("intervals_s") or [[0, 0]]
        return (f"Host CPU judged in the measured window: {w.get('seconds', 0):g} s in {len(intervals)} interval(s), "
                f"{intervals[0][0]:g}..{intervals[-1][1]:g} s on the host monitor's clock ({w.get('source')}); "
                "the start-up outside it is reported, not judged; constraint 1 covers the emulators' whole run.")


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def counters_lateness(paths) -> list[tuple[float, str, Path, str]]:
    """(p99 ms, "<access>/<link>/<side>", counters file, side) of every direction the emulators' counters record."""
    found = []
    for path in sorted(paths):
        try:
            counters = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for side in ("uplink", "downlink"):
            p99 = ((counters.get(side) or {}).get("lateness") or {}).get("p99_ms")
            if isinstance(p99, (int, float)):
                link = path.name[: -len("-counters.json")]
                found.append((p99, f"{path.parent.name}/{link}/{side}", path, side))
    return found


def emulator_lateness(run_dir: Path, limits: ValidityLimits) -> Constraint:
    name = f"emulator p99 lateness <= {limits.emulator_lateness_p99_ms:g} ms"
    worst = counters_lateness(Path(run_dir).glob("logs/**/*-counters.json"))
    if not worst:
        return Constraint(1, name, NOT_CHECKED, "no emulator lateness recorded (kernel backend, unshaped links, "
                                                 "or an emulator older than issue 13)")
    p99, where, path, side = max(worst)
    if p99 > limits.emulator_lateness_p99_ms:
        cause = lateness_cause(path.with_name(path.name.replace("-counters.json", "-summary.csv")), side,
                               limits.emulator_lateness_p99_ms, run_dir)
        return Constraint(1, name, FAILED, f"emulator p99 lateness {p99:.2f} ms > "
                                            f"{limits.emulator_lateness_p99_ms:g} ms on {where}; {cause}")
    return Constraint(1, name, MET, f"worst {p99:.3f} ms on {where}, {len(worst)} directions")


STEAL_CAUSE_MS_PER_S = 20.0   # steal (summed over vCPUs) above which the host is named as the cause


def _float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _mean(values: list) -> float:
    return sum(values) / len(values) if values else 0.0


def host_steal_ms_per_s(run_dir: Path) -> float | None:
    """The run's mean vCPU steal from host-cpu.csv, in ms per second summed over the CPUs."""
    try:
        with open(Path(run_dir) / "host-cpu.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, csv.Error):
        return None
    steal = [v for v in (_float(r.get("steal_pct")) for r in rows if r.get("core") == "all") if v is not None]
    cpus = len({r.get("core") for r in rows if r.get("core") not in (None, "all")})
    return _mean(steal) / 100 * max(cpus, 1) * 1000 if steal else None


def lateness_cause(summary_path: Path, side: str, limit_ms: float, run_dir: Path) -> str:
    """Where a link direction's lateness came from, in words (see the module's constraint 1)."""
    try:
        with open(summary_path, newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r.get("direction") == side]
    except (OSError, csv.Error):
        rows = []
    if not rows or "steal_ms" not in rows[0]:
        steal = host_steal_ms_per_s(run_dir)
        return ("where it came from was not recorded (an emulator older than its per-second sources)" +
                (f"; host vCPU steal over the run {steal:.0f} ms/s (host-cpu.csv)" if steal is not None else ""))
    late, other = [], []
    for row in rows:
        p99_us = _float(row.get("lateness_p99_us"))
        if p99_us is not None:
            (late if p99_us > limit_ms * 1000 else other).append(row)
    if not late:
        return "no single second had a p99 above the limit (the lateness is spread over the run)"

    def column(group, name):
        return [v for v in (_float(r.get(name)) for r in group) if v is not None]
    steal_late, steal_other = _mean(column(late, "steal_ms")), _mean(column(other, "steal_ms"))
    gc_ms = _mean(column(late, "gc_ms"))
    wake_ms = max(column(late, "wake_delay_max_us"), default=0.0) / 1000
    send_ms = max(column(late, "send_max_us"), default=0.0) / 1000
    cpu = _mean(column(late, "cpu_fraction"))
    if steal_late >= STEAL_CAUSE_MS_PER_S and steal_late > 2 * steal_other:
        cause = "the host (vCPU steal), not the emulator"
    elif gc_ms >= limit_ms:
        cause = "the emulator's garbage collector"
    elif wake_ms >= limit_ms:
        cause = "the emulator not running when due (other kernel work, or steal below /proc/stat's 10 ms ticks)"
    elif send_ms >= limit_ms:
        cause = "the receivers' kernel work inside the emulator's send calls"
    elif cpu >= 0.9:
        cause = "the emulator itself (CPU-bound)"
    else:
        cause = "the emulator's own processing"
    return (f"cause: {cause} - in its {len(late)} late seconds host vCPU steal {steal_late:.0f} ms/s (other seconds "
            f"{steal_other:.0f}), GC {gc_ms:.1f} ms/s, wake-up delay up to {wake_ms:.1f} ms, longest send "
            f"{send_ms:.1f} ms, emulator CPU {cpu:.2f} core")


def _read_host(path: Path) -> dict[str, list[tuple[float, float]]]:
    """host-cpu.csv: core -> [(interval end t_s, busy %)]; raises OSError / KeyError / ValueError / csv.Error."""
    per_core: dict[str, list[tuple[float, float]]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            per_core.setdefault(row["core"], []).append((float(row["t_s"]), float(row["busy_pct"])))
    return per_core


def _outside_text(outside, limit_pct: float) -> str:
    if not covered_s(outside):
        return "nothing sampled outside it"
    return (f"outside it (start-up, set-up; reported, not judged) {covered_s(outside):.0f} s: mean "
            f"{mean_busy_pct(outside):.0f}%, longest above {limit_pct:g}% {longest_above_s(outside, limit_pct):.1f} s")


def host_cpu(run_dir: Path, limits: ValidityLimits, record: dict | None = None,
             requests: list[dict] | None = None) -> tuple[Constraint, dict]:
    """Constraint 2 over the run's measured window (harness/analysis/measured_window.py; the whole run where it has
    none), and what was judged: the window, and the host's CPU inside and outside it."""
    name = (f"host CPU (all cores) <= {limits.host_cpu_busy_pct:g}% or above it for at most "
            f"{limits.host_cpu_saturated_max_s:g} s")
    window, why = measured_window(record or {}, requests)
    judged = {"judged": "measured window" if window else "whole run", **(window.to_dict() if window else {"why": why})}
    path = Path(run_dir) / "host-cpu.csv"
    if not path.is_file():
        return Constraint(2, name, NOT_CHECKED, "no host-cpu.csv (the run had no host monitor)"), judged
    try:
        per_core = _read_host(path)
    except (OSError, KeyError, ValueError, csv.Error) as err:
        return Constraint(2, name, NOT_CHECKED, f"{path.name} unreadable ({err})"), judged
    if not per_core.get("all"):
        return Constraint(2, name, NOT_CHECKED, f"{path.name} has no samples"), judged
    limit = limits.host_cpu_busy_pct
    inside, outside = split_samples(per_core["all"], window)
    judged["host_cpu"] = {"inside": cpu_summary(inside, limit), "outside": cpu_summary(outside, limit)}
    if not covered_s(inside):
        return Constraint(2, name, NOT_CHECKED, f"no host sample inside the measured window; "
                                                f"{_outside_text(outside, limit)}"), judged
    stretch_s = longest_above_s(inside, limit)
    cores = {c: longest_above_s(split_samples(s, window)[0], limit) for c, s in per_core.items() if c != "all"}
    busiest = max(cores.items(), key=lambda kv: kv[1], default=("none", 0.0))
    where = (f"in the measured window ({covered_s(inside):.0f} s)" if window else
             f"over the whole run ({covered_s(inside):.0f} s; {why})")
    info = (f"mean {mean_busy_pct(inside):.0f}%; busiest core {busiest[0]} above {limit:g}% for {busiest[1]:.1f} s"
            + (f"; {_outside_text(outside, limit)}" if window else ""))
    if stretch_s > limits.host_cpu_saturated_max_s:
        return Constraint(2, name, FAILED, f"host CPU > {limit:g}% for {stretch_s:.1f} s {where} ({info})"), judged
    return Constraint(2, name, MET, f"longest stretch above {limit:g}% {where}: {stretch_s:.1f} s; {info}"), judged


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
    host, window = host_cpu(run_dir, limits, record, requests)
    return Validity([emulator_lateness(run_dir, limits), host,
                     schedule_lateness(requests, limits), rows_lost(record, requests, limits)], window)


def validity_lines(validity: Validity) -> list[str]:
    """The report's first lines: the verdict, then each constraint."""
    window = validity.window_line()
    return [f"**{validity.headline()}** (is the testbed itself the bottleneck? constraints below, "
            "harness/analysis/validity.py)", ""] + [f"- {c.line()}" for c in validity.constraints] + \
        (["", window] if window else [])
