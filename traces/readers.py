"""Read trace files: Mahimahi delivery traces, ``time_s,rate_mbps`` and ``time_s,delay_ms`` CSVs.

Every error names the file and the line, and says what is allowed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from traces.conversion import opportunities_from_rates
from traces.trace_types import OPPORTUNITY_BYTES, DelayTrace, DeliveryTrace, TraceFormatError

MAX_OPPORTUNITIES = 50_000_000  # 1500-byte opportunities: 600 Gbit, e.g. 1 h at 166 Mbit/s


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        raise TraceFormatError(f"{path}: no such trace file") from None
    except IsADirectoryError:
        raise TraceFormatError(f"{path}: is a directory, expected a trace file") from None
    except UnicodeDecodeError:
        raise TraceFormatError(f"{path}: not a text file") from None


def read_mahimahi_trace(path) -> DeliveryTrace:
    """One integer millisecond per line, non-decreasing, last one > 0 (the trace's period)."""
    path = Path(path)
    lines = _read_lines(path)
    while lines and not lines[-1].strip():
        lines.pop()  # trailing blank lines are harmless
    if not lines:
        raise TraceFormatError(f"{path}: empty trace (expected one integer millisecond per line)")
    times = np.empty(len(lines), dtype=np.int64)
    previous = 0
    for index, line in enumerate(lines):
        text = line.strip()
        if not (text.isascii() and text.isdigit()):  # '²'.isdigit() is True, int('²') fails
            what = "an empty line" if not text else repr(text)
            raise TraceFormatError(f"{path} line {index + 1}: {what} is not a whole number of "
                                   "milliseconds (one integer >= 0 per line)")
        value = int(text)
        if value < previous:
            raise TraceFormatError(f"{path} line {index + 1}: {value} ms is earlier than the line before "
                                   f"({previous} ms); times must not decrease")
        times[index] = previous = value
    if previous == 0:
        raise TraceFormatError(f"{path} line {len(lines)}: the trace lasts 0 ms (its last time must be > 0)")
    return DeliveryTrace(times, source=str(path))


def _read_two_column_csv(path: Path, second: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``time_s,<second>``; '#' comments, blank lines and one header line allowed."""
    rows: list[tuple[float, float]] = []
    last_line = 0
    for number, line in enumerate(_read_lines(path), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        cells = [cell.strip() for cell in text.split(",")]
        if not rows and cells == ["time_s", second]:
            continue
        if len(cells) != 2:
            raise TraceFormatError(f"{path} line {number}: expected 2 columns time_s,{second}, got {len(cells)}")
        try:
            time_s, value = float(cells[0]), float(cells[1])
        except ValueError:
            raise TraceFormatError(f"{path} line {number}: {text!r} is not two numbers time_s,{second}") from None
        if not (np.isfinite(time_s) and np.isfinite(value)):
            raise TraceFormatError(f"{path} line {number}: {text!r} is not finite")
        if value < 0:
            raise TraceFormatError(f"{path} line {number}: {second} must be >= 0, got {value}")
        if rows and time_s <= rows[-1][0]:
            raise TraceFormatError(f"{path} line {number}: time_s {time_s} is not after the row before "
                                   f"({rows[-1][0]}); times must increase")
        if not rows and time_s != 0:
            raise TraceFormatError(f"{path} line {number}: the first row must be at time_s 0, got {time_s}")
        rows.append((time_s, value))
        last_line = number
    if not rows:
        raise TraceFormatError(f"{path}: empty trace (expected rows time_s,{second})")
    if len(rows) < 2:
        raise TraceFormatError(f"{path} line {last_line}: one row gives a trace of zero duration; add a "
                               "second row (each row holds until the next; the last for the same interval)")
    array = np.array(rows, dtype=np.float64)
    return array[:, 0], array[:, 1]


def read_rate_csv(path) -> DeliveryTrace:
    """``time_s,rate_mbps`` rows turned into delivery opportunities (see traces.conversion)."""
    path = Path(path)
    times, rates_mbps = _read_two_column_csv(path, "rate_mbps")
    end_s = times[-1] + (times[-1] - times[-2])
    opportunities = float(np.sum(rates_mbps * 1e6 * np.diff(np.append(times, end_s)))) / (OPPORTUNITY_BYTES * 8)
    if opportunities > MAX_OPPORTUNITIES:  # a typo in the units would otherwise allocate gigabytes
        raise TraceFormatError(f"{path}: the rates add up to {opportunities:.3g} delivery opportunities, more than "
                               f"the {MAX_OPPORTUNITIES:,} a trace may hold (rates are in Mbit/s)")
    return DeliveryTrace(opportunities_from_rates(times, rates_mbps * 1e6, end_s, str(path)), source=str(path))


def read_delay_csv(path) -> DelayTrace:
    path = Path(path)
    times, delays = _read_two_column_csv(path, "delay_ms")
    return DelayTrace(times, delays, source=str(path))


def is_csv_trace(path) -> bool:
    """A rate trace is CSV if its name ends in .csv or its first data line has a comma."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return True
    for line in _read_lines(path):
        text = line.split("#", 1)[0].strip()
        if text:
            return "," in text
    return False


def read_delivery_trace(path) -> DeliveryTrace:
    """A Mahimahi trace or a ``time_s,rate_mbps`` CSV, whichever the file is."""
    return read_rate_csv(path) if is_csv_trace(path) else read_mahimahi_trace(path)
