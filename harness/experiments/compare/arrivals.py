"""How each device's requests arrive, checked before anything is built: closed loop (``think_ms`` after each
reply, 0 allowed), open loop Poisson (``rate_hz`` per device) or open loop from an arrival file (one send time
per line, seconds since the workload's start; the parser is the devices' own, ``nodes.arrivals``)."""
from __future__ import annotations

import math

from harness.errors import SpecError
from nodes.arrivals import read_arrivals
from nodes.errors import NodeConfigError


def check_arrival_pattern(think_ms: float, rate_hz: float, arrivals_file: str) -> None:
    """One line naming the option when the pattern is not one of the three, or a value is out of range."""
    for flag, value, zero in (("--think-ms", think_ms, "no think time"), ("--rate-hz", rate_hz, "closed loop")):
        if not math.isfinite(value) or value < 0:
            raise SpecError(f"{flag} {value:g}: must be >= 0 (0: {zero})")
    chosen = [flag for flag, given in (("--think-ms", think_ms > 0), ("--rate-hz", rate_hz > 0),
                                       ("--arrivals", bool(arrivals_file))) if given]
    if len(chosen) > 1:
        raise SpecError(f"{' and '.join(chosen)} together: choose one arrival pattern (--think-ms: closed loop, "
                        f"--rate-hz: Poisson, --arrivals FILE: open loop from a file)")
    if arrivals_file:
        arrival_offsets_s(arrivals_file)


def arrival_offsets_s(arrivals_file: str) -> list[float]:
    """The send times (s since the start) of an arrival file; one SpecError line naming the file and line."""
    try:
        return [int(ns) / 1e9 for ns in read_arrivals(arrivals_file)]
    except NodeConfigError as err:
        raise SpecError(f"--arrivals: {err}") from None


def offered_rate_hz(rate_hz: float, arrivals_file: str, duration_s: float = 0.0) -> float | None:
    """Requests per second one device is asked to send (None: a closed loop, paced by its replies). An arrival
    file's rate is its send times over ``duration_s`` (0: over the span from 0 to its last send time)."""
    if rate_hz > 0:
        return rate_hz
    if not arrivals_file:
        return None
    times = arrival_offsets_s(arrivals_file)
    if duration_s:
        sent = [t for t in times if t < duration_s]
        return len(sent) / duration_s
    return len(times) / times[-1] if times[-1] > 0 else None
