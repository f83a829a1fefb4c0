"""Turn a piecewise-constant rate into Mahimahi delivery opportunities (1 ms resolution)."""
from __future__ import annotations

import numpy as np

from traces.trace_types import OPPORTUNITY_BYTES, TraceFormatError


def opportunities_from_rates(step_start_s, rate_bps, end_s: float, source: str = "<memory>") -> np.ndarray:
    """Opportunity times in ms for a rate that is ``rate_bps[i]`` from ``step_start_s[i]`` to the next start.

    An opportunity is placed at the first whole millisecond by which the rate has
    accumulated another 1500 bytes. The last opportunity is moved to ``end_s`` so the
    trace's period (its last timestamp, as Mahimahi loops) equals the intended duration.
    """
    starts = np.asarray(step_start_s, dtype=np.float64)
    rates = np.asarray(rate_bps, dtype=np.float64)
    end_ms = int(round(end_s * 1000))
    if end_ms <= 0:
        raise TraceFormatError(f"{source}: the trace lasts {end_s} s; it must last at least 1 ms")
    ms_grid = np.arange(end_ms, dtype=np.float64)  # start of each millisecond
    step = np.searchsorted(starts, (ms_grid + 0.5) / 1000.0, side="right") - 1
    bytes_per_ms = rates[np.clip(step, 0, len(rates) - 1)] / 8.0 / 1000.0
    cumulative = np.cumsum(bytes_per_ms)
    counts = np.floor(cumulative / OPPORTUNITY_BYTES + 1e-9).astype(np.int64)
    per_ms = np.diff(np.concatenate(([0], counts)))
    times = np.repeat(np.arange(1, end_ms + 1, dtype=np.int64), per_ms)
    if times.size == 0:
        raise TraceFormatError(f"{source}: the rates deliver less than one 1500-byte packet in {end_s} s")
    times[-1] = end_ms
    return times
