"""When a device sends its requests: the arrival schedules of ``nodes.workload`` (MLPerf LoadGen's scenarios).

- closed loop with a think time: each request is due ``think_ms`` after the previous reply (0: at once);
  the first is due when it is sent;
- open loop, Poisson: exponential gaps of mean ``1 / rate_hz``, seeded, whatever the replies do;
- open loop from an arrival file: one send time per line, in seconds since the workload's start (a float;
  non-decreasing; blank lines and ``#`` comments are skipped).

An open schedule is a sorted int64 array of offsets in ns from the workload's start; the workload adds the
start's ``time.monotonic_ns()`` to get each request's ``scheduled_ns``. ``schedule_lateness_ms`` is the first
attempt's send start minus ``scheduled_ns``: how late the client left, the sign of an overloaded client.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nodes.errors import NodeConfigError

MAX_ARRIVALS = 1_000_000  # per device and run: a longer schedule is a mistake (a rate in Hz read as per ms)
_NS = 1_000_000_000


@dataclass(frozen=True)
class ThinkTime:
    """Closed loop: the next request is due ``think_ms`` after the previous reply completed (0 allowed)."""
    think_ms: float = 0.0

    def __post_init__(self):
        if not isinstance(self.think_ms, (int, float)) or not math.isfinite(self.think_ms) or self.think_ms < 0:
            raise NodeConfigError(f"think time {self.think_ms!r} ms must be a number >= 0 (0: send at once after "
                                  "each reply)")

    def due_ns(self, reply_complete_ns: int) -> int:
        """When the request after a reply completed at ``reply_complete_ns`` is due."""
        return int(reply_complete_ns) + int(round(self.think_ms * 1e6))


def poisson_offsets_ns(rate_hz: float, seed: int, *, count: int | None = None,
                       duration_s: float | None = None) -> np.ndarray:
    """Poisson arrivals at ``rate_hz``: the first ``count`` of them, or every one before ``duration_s``.

    The gaps are ``numpy.random.default_rng(seed).exponential(1 / rate_hz)`` drawn in order, so a given seed
    gives the same schedule whichever of the two bounds is used (the first arrival is one gap after 0)."""
    if not isinstance(rate_hz, (int, float)) or not math.isfinite(rate_hz) or rate_hz <= 0:
        raise NodeConfigError(f"arrival rate {rate_hz!r} Hz must be a number > 0 (omit it for a closed loop)")
    if (count is None) == (duration_s is None):
        raise NodeConfigError("a Poisson schedule needs exactly one of count and duration_s")
    rng = np.random.default_rng(seed)
    if count is not None:
        if not 1 <= count <= MAX_ARRIVALS:
            raise NodeConfigError(f"{count} arrivals: must be 1..{MAX_ARRIVALS:,}")
        return _to_ns(np.cumsum(rng.exponential(1.0 / rate_hz, size=count)))
    if not math.isfinite(duration_s) or duration_s <= 0:
        raise NodeConfigError(f"duration {duration_s!r} s must be > 0")
    expected = rate_hz * duration_s
    if expected > MAX_ARRIVALS:
        raise NodeConfigError(f"{rate_hz:g} Hz for {duration_s:g} s is about {expected:,.0f} arrivals, more than "
                              f"{MAX_ARRIVALS:,}: lower the rate or the duration")
    chunk = int(expected + 10 * math.sqrt(expected) + 16)
    offsets_s = np.cumsum(rng.exponential(1.0 / rate_hz, size=chunk))
    while offsets_s[-1] < duration_s:  # rarely: more arrivals than 10 standard deviations above the mean
        more = offsets_s[-1] + np.cumsum(rng.exponential(1.0 / rate_hz, size=chunk))
        offsets_s = np.concatenate([offsets_s, more])
    return _to_ns(offsets_s[offsets_s < duration_s])


def parse_arrivals(text: str, source: str) -> np.ndarray:
    """The offsets (ns) of an arrival file's text; NodeConfigError naming ``source:line`` when it is not one."""
    times_s: list[float] = []
    for number, line in enumerate(text.splitlines(), 1):
        value_text = line.split("#", 1)[0].strip()
        if not value_text:
            continue
        where = f"{source}:{number}"
        try:
            value = float(value_text)
        except ValueError:
            raise NodeConfigError(f"{where}: {value_text[:40]!r} is not a send time in seconds (one number per "
                                  "line, seconds since the workload's start)") from None
        if not math.isfinite(value) or value < 0:
            raise NodeConfigError(f"{where}: {value_text!r}: a send time must be a finite number of seconds >= 0")
        if times_s and value < times_s[-1]:
            raise NodeConfigError(f"{where}: {value:g} s comes before {times_s[-1]:g} s on an earlier line: the "
                                  "send times must not decrease")
        times_s.append(value)
        if len(times_s) > MAX_ARRIVALS:
            raise NodeConfigError(f"{where}: more than {MAX_ARRIVALS:,} send times in one file")
    if not times_s:
        raise NodeConfigError(f"{source}: no send time in it (one time in seconds per line; '#' starts a comment)")
    return _to_ns(np.asarray(times_s, dtype=np.float64))


def read_arrivals(path: str | Path) -> np.ndarray:
    """The offsets (ns) of an arrival file; NodeConfigError naming the file (and line) when it is not one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NodeConfigError(f"arrival file {path}: cannot read it ({exc.strerror or exc}); give a text file "
                              "with one send time in seconds per line") from None
    except UnicodeDecodeError:
        raise NodeConfigError(f"arrival file {path}: not a text file (one send time in seconds per line)") from None
    return parse_arrivals(text, str(path))


def before(offsets_ns: np.ndarray, duration_s: float | None) -> np.ndarray:
    """The offsets earlier than ``duration_s`` (all of them for None or 0)."""
    if not duration_s:
        return offsets_ns
    return offsets_ns[offsets_ns < int(duration_s * _NS)]


def lateness_ms(send_start_ns, scheduled_ns) -> float | str:
    """First attempt's send start - scheduled send, in ms (3 decimals); "" when either is unknown."""
    if send_start_ns in (None, "") or scheduled_ns in (None, ""):
        return ""
    return round((int(send_start_ns) - int(scheduled_ns)) / 1e6, 3)


def _to_ns(offsets_s: np.ndarray) -> np.ndarray:
    return np.round(offsets_s * _NS).astype(np.int64)
