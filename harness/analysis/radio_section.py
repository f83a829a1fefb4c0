"""The report's radio section: how much of a difference the radio mechanisms make, and how much the rates.

An access whose profile has a radio model (``radio_model`` in experiment.json's profiles, e.g. ``lte``)
is paired with its pipe, the same name with ``-ideal`` (``lte-ideal``), when the run measured both.
Per placement x size, with the medians of the ok requests' response times:

- radio vs its pipe: the measured difference; the part the profiles' rates and delays predict (the
  difference of the two network floors, harness.analysis.floor: the radio's floor takes its peak rate
  and its own delay); the rest is the radio's mechanisms (promotion, DRX, grants, TTIs, HARQ, sharing);
- two radios (``lte`` vs ``wifi``) whose pipes were both measured: the difference splits into what the
  pipes give (``lte-ideal`` vs ``wifi-ideal``: rate and delay alone) and what the mechanisms add
  (the rest: (lte - lte-ideal) - (wifi - wifi-ideal)).

Each measured difference carries a 95% bootstrap interval of the difference of medians (2000
resamples of the requests, seeded: the same run gives the same text). Reads only summary rows,
requests.csv rows and experiment.json's profiles.
"""
from __future__ import annotations

import math

import numpy as np

IDEAL_SUFFIX = "-ideal"
RESAMPLES = 2000
MIN_REQUESTS = 3  # fewer ok requests in a cell: no interval


def radio_accesses(profiles: dict) -> dict[str, str]:
    """radio access -> its pipe, for the radio profiles whose ``-ideal`` pipe is in ``profiles``."""
    pairs = {}
    for name, profile in profiles.items():
        up = (profile or {}).get("up") or {}
        ideal = profiles.get(f"{name}{IDEAL_SUFFIX}") or {}
        if up.get("radio_model") and ideal and not (ideal.get("up") or {}).get("radio_model"):
            pairs[name] = f"{name}{IDEAL_SUFFIX}"
    return pairs


def _number(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _responses(requests: list[dict]) -> dict[tuple, np.ndarray]:
    cells: dict[tuple, list[float]] = {}
    for row in requests:
        value = _number(row.get("response_ms"))
        if row.get("status") == "ok" and value is not None:
            cells.setdefault((row.get("access"), row.get("placement"), str(row.get("size_bytes"))), []).append(value)
    return {key: np.asarray(values) for key, values in cells.items()}


def median_difference_ci(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[float, float] | None:
    """95% bootstrap interval of median(a) - median(b); None with too few values."""
    if len(a) < MIN_REQUESTS or len(b) < MIN_REQUESTS:
        return None
    rng = np.random.default_rng(seed)
    diffs = (np.median(rng.choice(a, (RESAMPLES, len(a))), axis=1)
             - np.median(rng.choice(b, (RESAMPLES, len(b))), axis=1))
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(low), float(high)


def _interval(ci) -> str:
    return "" if ci is None else f", 95% CI [{ci[0]:+.1f}, {ci[1]:+.1f}]"


def _share(part: float, total: float) -> str:
    """The part's share of the difference, when the parts pull the same way (a share over 100 % or under 0 %
    would only say that the other part pulls the opposite way, so that is what is said)."""
    if abs(total) < 0.5:
        return ""
    share = part / total
    if share > 1.0:
        return " (more than the whole difference: the other part pulls the opposite way)"
    if share < 0.0:
        return " (against the difference)"
    return f" ({share * 100:.0f}% of the difference)"


def _cell_sentence(radio: str, ideal: str, where: str, row_r: dict, row_i: dict, responses: dict) -> str:
    measured_r, measured_i = _number(row_r.get("response_ms_median")), _number(row_i.get("response_ms_median"))
    if measured_r is None or measured_i is None:
        return f"- {where}: not measured on both {radio} and {ideal}."
    total = measured_r - measured_i
    key = (row_r.get("placement"), str(row_r.get("size_bytes")))
    ci = median_difference_ci(responses.get((radio, *key), np.empty(0)), responses.get((ideal, *key), np.empty(0)))
    text = (f"- {where}: median response {measured_r:.1f} ms on {radio} vs {measured_i:.1f} ms on {ideal} "
            f"({total:+.1f} ms{_interval(ci)}).")
    floor_r, floor_i = _number(row_r.get("network_floor_ms")), _number(row_i.get("network_floor_ms"))
    if floor_r is None or floor_i is None:
        return text + " No network floor on both, so the difference is not split into rate and mechanisms."
    rate_part = floor_r - floor_i
    mechanisms = total - rate_part
    return (text + f" The profiles' rates and delays alone account for {rate_part:+.1f} ms (the floors' "
            f"difference); the radio mechanisms for {mechanisms:+.1f} ms{_share(mechanisms, total)}.")


def _pair_sentence(a: str, b: str, pipes: dict, where: str, rows: dict, key: tuple) -> str | None:
    cells = [rows.get((name, *key)) for name in (a, b, pipes[a], pipes[b])]
    medians = [_number(c.get("response_ms_median")) if c else None for c in cells]
    if any(m is None for m in medians):
        return None
    total, pipe_part = medians[0] - medians[1], medians[2] - medians[3]
    mechanisms = total - pipe_part
    return (f"- {where}: {a} vs {b} {total:+.1f} ms; their pipes ({pipes[a]} vs {pipes[b]}: rate and delay "
            f"alone) give {pipe_part:+.1f} ms{_share(pipe_part, total)}, the radio mechanisms "
            f"{mechanisms:+.1f} ms{_share(mechanisms, total)}.")


def radio_section(summary: list[dict], requests: list[dict], profiles: dict) -> list[str]:
    """The section's lines; nothing when the run measured no radio access beside its pipe."""
    pipes = radio_accesses(profiles)
    rows = {(r.get("access"), r.get("placement"), str(r.get("size_bytes"))): r for r in summary}
    measured = {access for access, _, _ in rows}
    pipes = {radio: ideal for radio, ideal in pipes.items() if radio in measured and ideal in measured}
    if not pipes:
        return []
    responses = _responses(requests)
    cells = sorted({(p, s) for (a, p, s) in rows if a in pipes},
                   key=lambda c: (c[0], int(c[1]) if c[1].isdigit() else 0))
    out = ["## Radio mechanisms vs rates", "",
           "Each radio access beside its pipe (the same rates with no radio mechanisms). The floors' "
           "difference is what the profiles' rates and delays predict; the rest of the measured difference "
           "comes from the mechanisms.", ""]
    for radio, ideal in sorted(pipes.items()):
        out.append(f"**{radio} vs {ideal}**")
        for placement, size in cells:
            row_r, row_i = rows.get((radio, placement, size)), rows.get((ideal, placement, size))
            if row_r and row_i:
                out.append(_cell_sentence(radio, ideal, f"{placement} {row_r.get('size') or size}", row_r, row_i,
                                          responses))
        out.append("")
    names = sorted(pipes)
    pair_lines = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            for placement, size in cells:
                label = (rows.get((a, placement, size)) or {}).get("size") or size
                line = _pair_sentence(a, b, pipes, f"{placement} {label}", rows, (placement, size))
                if line:
                    pair_lines.append(line)
    if pair_lines:
        out += ["**Between radios: pipes vs mechanisms**"] + pair_lines + [""]
    return out
