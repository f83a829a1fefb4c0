"""The System B scenario file (``scenarios/system-b.toml``): a WAN link profile whose values were fitted.

The file is an ordinary link profile (``topo.profiles``), so ``compare --wan scenarios/system-b.toml`` runs
the same network the part does. Beyond what any profile must satisfy, a scenario's WAN must have a constant
uplink rate and delay (the two fitted values), the same delay both ways, and no loss or jitter (the model
it was fitted with has none). ``write_fitted`` rewrites those values in place, keeping every comment.
"""
from __future__ import annotations

import re
from pathlib import Path

from harness.errors import HarnessError
from harness.repo_paths import REPO_ROOT
from topo.profiles import LinkProfile, ProfileError, load_profile_file

SCENARIO_PATH = REPO_ROOT / "scenarios" / "system-b.toml"
FIT_MARK = "# fit:"        # the line of the file that says where its fitted values came from


def load_scenario(path: Path | str = SCENARIO_PATH) -> LinkProfile:
    """The scenario's WAN profile, checked; one HarnessError line naming the file and value otherwise."""
    path = Path(path)
    try:
        wan = load_profile_file(path)
    except ProfileError as err:
        raise HarnessError(f"scenario {err}: fix the file or re-make it with "
                           "'python -m harness.experiments.reproduce.system_b_network_fit CALIBRATION --write'") from None
    up, down = wan.up, wan.down
    problems = []
    if up.rate_bps is None or up.rate_trace is not None:
        problems.append("[up] needs a constant rate (the fitted WAN uplink rate), not unlimited or a trace")
    if up.delay_trace or down.delay_trace:
        problems.append("a delay trace is not a fitted constant delay")
    if abs(up.delay_ms - down.delay_ms) > 1e-9:
        problems.append(f"[up] delay {up.delay_ms:g} ms and [down] delay {down.delay_ms:g} ms must be equal "
                        "(the fit has one one-way delay)")
    for side, spec in (("up", up), ("down", down)):
        if spec.loss > 0 or spec.loss_model != "bernoulli" or spec.jitter_ms > 0:
            problems.append(f"[{side}] has loss or jitter, which the fitted model has not")
    if problems:
        raise HarnessError(f"scenario {path}: {problems[0]}")
    return wan


def _format_rate(rate_mbps: float) -> str:
    return f"{rate_mbps:.3f} Mbit/s"


def _format_delay(delay_ms: float) -> str:
    return f"{delay_ms:.2f} ms"


def rewrite_fitted_text(text: str, rate_mbps: float, delay_ms: float, fit_note: str) -> str:
    """``text`` (the scenario file) with [up] rate, [up] delay and [down] delay set, and its fit line."""
    out, section, seen = [], None, set()
    for line in text.splitlines():
        header = re.match(r"^\s*\[(\w+)\]\s*$", line)
        if header:
            section = header.group(1)
        key = re.match(r'^(\s*(rate|delay)\s*=\s*)"[^"]*"(.*)$', line)
        if key and section in ("up", "down") and not (section == "down" and key.group(2) == "rate"):
            value = _format_rate(rate_mbps) if key.group(2) == "rate" else _format_delay(delay_ms)
            line = f'{key.group(1)}"{value}"{key.group(3)}'
            seen.add((section, key.group(2)))
        elif line.startswith(FIT_MARK):
            line = f"{FIT_MARK} {fit_note}"
            seen.add("mark")
        out.append(line)
    wanted = {("up", "rate"), ("up", "delay"), ("down", "delay"), "mark"}
    if seen != wanted:
        missing = sorted(str(w) for w in wanted - seen)
        raise HarnessError(f"scenario file has no line for {', '.join(missing)}: cannot rewrite its fitted values")
    return "\n".join(out) + "\n"


def write_fitted(path: Path, fit, calibration: str) -> None:
    """Rewrite the fitted values of the scenario at ``path`` from ``fit`` (a system_b_network_fit.WanFit)."""
    path = Path(path)
    note = (f"uplink {_format_rate(fit.rate_mbps)}, one-way delay {_format_delay(fit.delay_ms)}; calibration "
            f"{Path(calibration).name}; target errors {', '.join(f'{e:+.3f}' for e in fit.target_errors_points)} "
            "points")
    text = rewrite_fitted_text(path.read_text(encoding="utf-8"), fit.rate_mbps, fit.delay_ms, note)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    load_scenario(path)  # what was written loads and validates


# What public measurements of campus -> public-cloud paths allow (scenarios/README.md has the sources):
# RTTs to the nearest cloud region mostly 20-60 ms, tens of ms to a same-continent one (Charyyev et al.,
# GLOBECOM 2020; Corneo et al., WWW 2021; Li et al., IMC 2010); a campus link to AWS / Azure of hundreds of
# Mbit/s (Allen, Cornell, 2016), one flow at busy hours far less (Mok et al., IMC 2021), VM bandwidth caps
# sold from 1 Mbit/s (Alibaba Cloud ECS API documentation).
PLAUSIBLE_RTT_MS = (10.0, 150.0)
CAMPUS_LINK_MBPS = 100.0
LOWEST_CAP_MBPS = 1.0


def plausibility(rate_mbps: float, delay_ms: float) -> str:
    """One clause setting the fitted WAN beside the cited measurements (computed, so an odd fit says so)."""
    rtt = 2 * delay_ms
    low, high = PLAUSIBLE_RTT_MS
    delay = (f"RTT {rtt:.0f} ms is inside the {low:.0f}-{high:.0f} ms measured to public-cloud regions"
             if low <= rtt <= high else f"RTT {rtt:.0f} ms is OUTSIDE the {low:.0f}-{high:.0f} ms measured to "
             "public-cloud regions (implausible)")
    if rate_mbps < LOWEST_CAP_MBPS:
        rate = f"an uplink of {rate_mbps:.2f} Mbit/s is below any cited cap or path (implausible)"
    elif rate_mbps < CAMPUS_LINK_MBPS:
        rate = (f"an uplink of {rate_mbps:.2f} Mbit/s is plausible only as a bandwidth-capped VM or a congested "
                f"path (a campus link to a cloud measures hundreds of Mbit/s)")
    else:
        rate = f"an uplink of {rate_mbps:.1f} Mbit/s is within a campus link's measured capacity"
    return f"{delay}; {rate}"
