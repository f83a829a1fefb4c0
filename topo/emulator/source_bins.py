"""Bytes per IPv4 source -> destination pair, per direction and second: each device's own traffic.

``<name>-sources.csv``: ``second,direction,source_ip,destination_ip,offered_packets,offered_bytes,
sent_packets,sent_bytes`` (offered: arrived at the emulator; sent: left it after shaping; the
difference is loss, drops and what was still in flight). Bytes are IP bytes as in the summary.
Non-IPv4 frames (ARP) are counted under source and destination ``-``. The addresses are read
from the frame only once per packet and kept as 8 raw bytes until a row is written.
"""
from __future__ import annotations

import csv
import socket
from pathlib import Path

SOURCE_COLUMNS = ["second", "direction", "source_ip", "destination_ip", "offered_packets", "offered_bytes",
                  "sent_packets", "sent_bytes"]
_IPV4 = b"\x08\x00"
_OTHER = b""


def address_key(frame: bytes) -> bytes:
    """The 8 bytes source + destination address of an IPv4 frame, b"" for anything else."""
    return frame[26:34] if frame[12:14] == _IPV4 else _OTHER


def _pair(key: bytes) -> tuple[str, str]:
    if len(key) != 8:
        return "-", "-"
    return socket.inet_ntoa(key[:4]), socket.inet_ntoa(key[4:])


class SourceBins:
    """One direction's per-pair counts for the current interval, and the run's totals."""

    def __init__(self, direction: str):
        self.direction = direction
        self._interval: dict[bytes, list] = {}
        self._totals: dict[bytes, list] = {}

    def offered(self, key: bytes, size_bytes: int) -> None:
        entry = self._interval.get(key)
        if entry is None:
            entry = self._interval[key] = [0, 0, 0, 0]
        entry[0] += 1
        entry[1] += size_bytes

    def sent(self, key: bytes, size_bytes: int) -> None:
        entry = self._interval.get(key)
        if entry is None:
            entry = self._interval[key] = [0, 0, 0, 0]
        entry[2] += 1
        entry[3] += size_bytes

    def take_rows(self, second: int) -> list[list]:
        """The interval's counts as CSV rows for ``second``, added to the totals and cleared."""
        rows = []
        for key, counts in sorted(self._interval.items()):
            total = self._totals.setdefault(key, [0, 0, 0, 0])
            for i, n in enumerate(counts):
                total[i] += n
            rows.append([second, self.direction, *_pair(key), *counts])
        self._interval = {}
        return rows

    def totals(self) -> list[dict]:
        """The run's counts per pair (after the last ``take_rows``), for the counters file."""
        return [{"source_ip": src, "destination_ip": dst, "offered_packets": c[0], "offered_bytes": c[1],
                 "sent_packets": c[2], "sent_bytes": c[3]}
                for (src, dst), c in sorted((_pair(k), c) for k, c in self._totals.items())]


class SourcesCsv:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = self.path.open("w", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(SOURCE_COLUMNS)
        self._file.flush()

    def write(self, rows: list[list]) -> None:
        self._writer.writerows(rows)
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
