"""Write traces: Mahimahi delivery traces and ``time_s,<value>`` CSVs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from traces.trace_types import DeliveryTrace


def write_mahimahi_trace(trace: DeliveryTrace, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(map(str, trace.opportunity_ms.tolist())) + "\n")
    return path


def write_two_column_csv(path, times_s, values, column: str, comment: str = "") -> Path:
    """``time_s,<column>`` with an optional leading ``#`` comment block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {line}" for line in comment.splitlines()]
    lines.append(f"time_s,{column}")
    lines += [f"{t:g},{v:.3f}" for t, v in zip(np.asarray(times_s).tolist(), np.asarray(values).tolist())]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_rate_csv(path, times_s, rates_mbps, comment: str = "") -> Path:
    return write_two_column_csv(path, times_s, rates_mbps, "rate_mbps", comment)


def write_delay_csv(path, times_s, delays_ms, comment: str = "") -> Path:
    return write_two_column_csv(path, times_s, delays_ms, "delay_ms", comment)
