"""CellReplay trace pairs (Sentosa et al., "CellReplay: Towards accurate record-and-replay for
cellular networks", NSDI 2025): a light-workload packet-train trace and a heavy saturated trace.

CellReplay records a cellular link with two phones at once: one sends short packet trains (the
light workload), the other saturates the link (the heavy workload, as Mahimahi's saturator).

* The heavy trace is a Mahimahi packet-delivery trace (one integer millisecond per line): read it
  with ``traces.readers.read_mahimahi_trace``.
* The light trace (``read_packet_train_trace``) has one line per recorded train, fields separated
  by spaces (CellReplay's own format)::

      time_ms base_delay_ms [pdo_offset_ms ...]

  ``time_ms`` when the train was sent (from the start of the trace; increasing); ``base_delay_ms``
  the one-way delay of its first packet; then the light packet-delivery opportunities: when each
  of the train's packets was delivered, in ms after the first one's (non-decreasing, >= 0; the
  first is normally 0). Each opportunity carries one MTU (1,500 bytes). '#' starts a comment.

Every error names the file and the line.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from traces.trace_types import TraceFormatError

MAX_TRAIN_PACKETS = 10_000


@dataclass(frozen=True, eq=False)
class PacketTrainTrace:
    """Recorded trains: when, their first packet's one-way delay, their delivery offsets (ms)."""

    time_ms: tuple
    base_delay_ms: tuple
    offsets_ms: tuple          # one tuple of non-decreasing offsets per train
    source: str = "<memory>"

    def __post_init__(self):
        rows = len(self.time_ms)
        if rows < 2 or rows != len(self.base_delay_ms) or rows != len(self.offsets_ms):
            raise TraceFormatError(f"{self.source}: a packet-train trace needs at least two rows "
                                   "(time_ms base_delay_ms [offsets...]), one per recorded train")
        for index in range(1, rows):
            if not self.time_ms[index] > self.time_ms[index - 1]:
                raise TraceFormatError(f"{self.source}: row {index + 1}: time_ms must increase from row to row")
        if min(self.base_delay_ms) < 0:
            raise TraceFormatError(f"{self.source}: base_delay_ms must be >= 0")

    @property
    def duration_ms(self) -> float:
        """The trace's period: its last train's time (it loops shifted by this, as Mahimahi's)."""
        return float(self.time_ms[-1])

    def row_at(self, relative_ms: float) -> int:
        """The train recorded last at or before ``relative_ms`` (within one period)."""
        low, high = 0, len(self.time_ms) - 1
        while low < high:  # the last index with time_ms <= relative_ms (0 before the first)
            middle = (low + high + 1) // 2
            if self.time_ms[middle] <= relative_ms:
                low = middle
            else:
                high = middle - 1
        return low

    def base_delay_at_ms(self, relative_ms: float) -> float:
        """The base delay, linearly interpolated between the trains around ``relative_ms``."""
        index = self.row_at(relative_ms)
        if index + 1 >= len(self.time_ms) or relative_ms <= self.time_ms[index]:
            return float(self.base_delay_ms[index])
        t0, t1 = self.time_ms[index], self.time_ms[index + 1]
        d0, d1 = self.base_delay_ms[index], self.base_delay_ms[index + 1]
        return d0 + (relative_ms - t0) / (t1 - t0) * (d1 - d0)


def _number(text: str, path: Path, number: int, what: str, integer: bool = False) -> float:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise TraceFormatError(f"{path} line {number}: {what} {text!r} is not {kind} of milliseconds "
                               "(each line: time_ms base_delay_ms [pdo_offset_ms ...])") from None
    if not value >= 0 or value == float("inf"):
        raise TraceFormatError(f"{path} line {number}: {what} must be a finite number >= 0, got {text!r}")
    return value


def read_packet_train_trace(path) -> PacketTrainTrace:
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise TraceFormatError(f"{path}: no such trace file") from None
    except IsADirectoryError:
        raise TraceFormatError(f"{path}: is a directory, expected a packet-train trace file") from None
    except UnicodeDecodeError:
        raise TraceFormatError(f"{path}: not a text file") from None
    times, delays, offsets = [], [], []
    last_line = 0
    for number, line in enumerate(lines, start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) < 2:
            raise TraceFormatError(f"{path} line {number}: expected time_ms base_delay_ms [pdo_offset_ms ...], "
                                   f"got {len(fields)} field")
        time_ms = _number(fields[0], path, number, "time_ms")
        if times and not time_ms > times[-1]:
            raise TraceFormatError(f"{path} line {number}: time_ms {fields[0]} is not after the line before "
                                   f"({times[-1]:g}); trains must be in time order")
        delay_ms = _number(fields[1], path, number, "base_delay_ms")
        if len(fields) - 2 > MAX_TRAIN_PACKETS:
            raise TraceFormatError(f"{path} line {number}: {len(fields) - 2} delivery offsets, more than the "
                                   f"{MAX_TRAIN_PACKETS:,} a train may have")
        train = []
        for field in fields[2:]:
            offset = _number(field, path, number, "pdo_offset_ms")
            if train and offset < train[-1]:
                raise TraceFormatError(f"{path} line {number}: delivery offset {field} ms is earlier than the "
                                       f"one before ({train[-1]:g} ms); offsets must not decrease")
            train.append(offset)
        times.append(time_ms)
        delays.append(delay_ms)
        offsets.append(tuple(train))
        last_line = number
    if not times:
        raise TraceFormatError(f"{path}: empty packet-train trace (expected lines time_ms base_delay_ms "
                               "[pdo_offset_ms ...])")
    if len(times) < 2:
        raise TraceFormatError(f"{path} line {last_line}: one train gives a trace of zero duration; a "
                               "packet-train trace needs at least two lines")
    return PacketTrainTrace(tuple(times), tuple(delays), tuple(offsets), source=str(path))


def write_packet_train_trace(path, trace: PacketTrainTrace) -> Path:
    """Write ``trace`` in the format ``read_packet_train_trace`` reads (synthetic pairs, tests)."""
    path = Path(path)
    rows = [" ".join(f"{value:g}" for value in (time_ms, delay_ms, *train))
            for time_ms, delay_ms, train in zip(trace.time_ms, trace.base_delay_ms, trace.offsets_ms)]
    path.write_text("\n".join(rows) + "\n")
    return path
