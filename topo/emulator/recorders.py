"""What the emulator writes: a per-second summary CSV and Mahimahi-format packet logs.

Summary columns beyond the byte counts: the queueing delay (arrival to departure from the
rate service) p50 / p95, the lateness (actual send minus scheduled release,
topo/emulator/measurements.py) p50 / p99 in microseconds, then the process's own columns (the
same on both directions' rows; what the lateness of that second came from): ``cpu_fraction``
(cores), ``steal_ms`` (vCPU time the hypervisor took from the VM, all CPUs), ``gc_ms`` (time in
Python's garbage collector), ``wake_delay_max_us`` (the latest a sleep of the loop ended past its
timeout: the process was not running) and ``send_max_us`` (the longest single send call).

Mahimahi's link log (mm-link --uplink-log): a ``#`` header with ``# base timestamp: T``,
then one event per line, times in integer milliseconds on the same clock as T:
``t + bytes`` arrival, ``t - bytes delay`` departure (delay = ms spent queued and in
transmission), ``t # bytes`` delivery opportunity (trace links only), ``t d bytes`` drop.
Bytes are IP-packet bytes (the frame minus its Ethernet header), as Mahimahi sees them.
"""
from __future__ import annotations

import csv
import math
from array import array
from pathlib import Path

from topo.emulator.measurements import LatenessHistogram, nearest_rank
from topo.emulator.source_bins import SourceBins, SourcesCsv

SIDES = ("uplink", "downlink")

PROCESS_COLUMNS = ["cpu_fraction", "steal_ms", "gc_ms", "wake_delay_max_us", "send_max_us"]
SUMMARY_COLUMNS = ["second", "direction", "offered_bytes", "delivered_bytes", "dropped_bytes",
                   "offered_packets", "delivered_packets", "dropped_packets",
                   "queue_delay_p50_ms", "queue_delay_p95_ms", "lateness_p50_us", "lateness_p99_us", *PROCESS_COLUMNS]


def _number(value: float | None, scale: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value * scale:.3f}"


class SecondBins:
    """Offered / delivered / dropped bytes and queueing delays of one direction, per second."""

    def __init__(self, direction: str, start_s: float):
        self.direction = direction
        self.start_s = start_s
        self._bins: dict[int, list] = {}
        self._second, self._row = None, None   # the last bin used (most packets fall in it)

    def _bin(self, time_s: float) -> list:
        second = int(time_s - self.start_s) if time_s >= self.start_s else 0
        if second == self._second:
            return self._row
        row = self._bins.get(second)
        if row is None:
            row = self._bins[second] = [0, 0, 0, 0, 0, 0, array("d"), array("d")]
        self._second, self._row = second, row
        return row

    def add_lateness(self, second: int, lateness_s) -> None:
        """The lateness of the packets sent during ``second`` (seconds since start)."""
        row = self._bins.get(second)
        if row is None:
            row = self._bins[second] = [0, 0, 0, 0, 0, 0, array("d"), array("d")]
        row[7].extend(lateness_s)

    def arrival(self, time_s: float, size_bytes: int) -> None:
        row = self._bin(time_s)
        row[0] += size_bytes
        row[3] += 1

    def departure(self, time_s: float, size_bytes: int, queue_delay_s: float) -> None:
        row = self._bin(time_s)
        row[1] += size_bytes
        row[4] += 1
        row[6].append(queue_delay_s)

    def drop(self, time_s: float, size_bytes: int) -> None:
        row = self._bin(time_s)
        row[2] += size_bytes
        row[5] += 1

    def take_rows(self, before_second: int | None = None, process_by_second: dict | None = None) -> list[list]:
        """Finished seconds (all when ``before_second`` is None) as CSV rows, removed from memory;
        ``process_by_second``: second -> the PROCESS_COLUMNS values (None: not measured)."""
        seconds = sorted(s for s in self._bins if before_second is None or s < before_second)
        rows = []
        for second in seconds:
            offered, delivered, dropped, n_off, n_del, n_drop, delays, late = self._bins.pop(second)
            if second == self._second:
                self._second, self._row = None, None
            delay_p50, delay_p95 = nearest_rank(delays, (0.5, 0.95))
            late_p50, late_p99 = nearest_rank(late, (0.5, 0.99))
            process = (process_by_second or {}).get(second) or [None] * len(PROCESS_COLUMNS)
            rows.append([second, self.direction, offered, delivered, dropped, n_off, n_del, n_drop,
                         _number(delay_p50, 1000), _number(delay_p95, 1000),
                         _number(late_p50, 1e6), _number(late_p99, 1e6),
                         *[_number(v, 1) for v in process]])
        return rows


class SummaryCsv:
    """``<name>-summary.csv``; ``flush(now_s)`` writes every second older than the last one."""

    def __init__(self, path: Path, bins: list[SecondBins], process_by_second: dict | None = None):
        self.path = Path(path)
        self._bins = bins
        self.process_by_second = process_by_second if process_by_second is not None else {}
        self._file = self.path.open("w", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(SUMMARY_COLUMNS)
        self._file.flush()

    def flush(self, now_s: float | None = None) -> None:
        before = None
        for bins in self._bins:
            before = None if now_s is None else int(now_s - bins.start_s) - 1
            self._writer.writerows(bins.take_rows(before, self.process_by_second))
        for second in [s for s in self.process_by_second if before is None or s < before]:
            del self.process_by_second[second]
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self.flush(None)
            self._file.close()


class MahimahiLog:
    """One direction's packet log in Mahimahi's mm-link log format."""

    def __init__(self, path: Path, link_name: str, source: str, start_s: float):
        self.path = Path(path)
        self._base_ms = int(start_s * 1000)
        self._start_s = start_s
        self._file = self.path.open("w", buffering=1 << 20)
        self._file.write(f"# mahimahi mm-link ({link_name}) [{source}] > {self.path}\n"
                         f"# base timestamp: {self._base_ms}\n")

    def _ms(self, time_s: float) -> int:
        return self._base_ms + int((time_s - self._start_s) * 1000)

    def arrival(self, time_s: float, size_bytes: int) -> None:
        self._file.write(f"{self._ms(time_s)} + {size_bytes}\n")

    def departure(self, time_s: float, size_bytes: int, queue_delay_s: float) -> None:
        self._file.write(f"{self._ms(time_s)} - {size_bytes} {int(round(queue_delay_s * 1000))}\n")

    def opportunity(self, time_s: float, size_bytes: int = 1500) -> None:
        self._file.write(f"{self._ms(time_s)} # {size_bytes}\n")

    def drop(self, time_s: float, size_bytes: int) -> None:
        self._file.write(f"{self._ms(time_s)} d {size_bytes}\n")

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class Fanout:
    """Several recorders seen as one (arrival / departure / drop)."""

    def __init__(self, recorders: list):
        self._recorders = recorders

    def arrival(self, time_s, size_bytes):
        for recorder in self._recorders:
            recorder.arrival(time_s, size_bytes)

    def departure(self, time_s, size_bytes, queue_delay_s):
        for recorder in self._recorders:
            recorder.departure(time_s, size_bytes, queue_delay_s)

    def drop(self, time_s, size_bytes):
        for recorder in self._recorders:
            recorder.drop(time_s, size_bytes)


class Recorders:
    """Summary CSV (always, when log_dir is set) and Mahimahi packet logs (when asked)."""

    def __init__(self, config, start_s: float):
        """``config``: the EmulatorConfig (name, log_dir, packet_log, uplink / downlink specs)."""
        self.start_s = start_s
        self.bins = {side: SecondBins(side, start_s) for side in SIDES}
        self.sources = {side: SourceBins(side) for side in SIDES}
        self.lateness = {side: LatenessHistogram() for side in SIDES}
        self.logs: dict[str, MahimahiLog] = {}
        self.summary = self.sources_csv = None
        self.log_dir = Path(config.log_dir) if config.log_dir else None
        if self.log_dir is None:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.summary = SummaryCsv(self.log_dir / f"{config.name}-summary.csv", list(self.bins.values()))
        self.sources_csv = SourcesCsv(self.log_dir / f"{config.name}-sources.csv")
        if config.packet_log:
            for side in ("uplink", "downlink"):
                spec = getattr(config, side)
                source = spec.rate_trace or spec.describe_rate()
                self.logs[side] = MahimahiLog(self.log_dir / f"{config.name}-{side}.log",
                                              f"{config.name} {side}", source, start_s)

    def recorder(self, side: str):
        if self.log_dir is None:
            return None
        if side in self.logs:
            return Fanout([self.bins[side], self.logs[side]])
        return self.bins[side]

    def opportunity_hook(self, side: str):
        log = self.logs.get(side)
        return log.opportunity if log is not None else None

    def interval(self, second: int, lateness: dict, process: list) -> None:
        """What the loop measured over the interval that ends now (``second`` since start);
        ``process``: the recorders.PROCESS_COLUMNS values (None where not measured)."""
        rows = []
        for side in SIDES:
            self.lateness[side].add_all(lateness[side])
            self.bins[side].add_lateness(second, lateness[side])
            rows += self.sources[side].take_rows(second)
        if self.summary is not None:
            self.summary.process_by_second[second] = process
        if self.sources_csv is not None and rows:
            self.sources_csv.write(rows)

    def close(self) -> None:
        if self.summary is not None:
            self.summary.close()
        if self.sources_csv is not None:
            self.sources_csv.close()
        for log in self.logs.values():
            log.close()
