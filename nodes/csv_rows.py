"""A CSV file written row by row, each row flushed at once: what a run that stops early still leaves readable.

One writer for the device workloads (nodes.workload, nodes.collab_device) and the harness's results
(requests.csv, links.csv, the analyses' tables). Opening a path starts the file afresh: a header, then rows;
columns not in ``fields`` are ignored, missing ones are empty.
"""
from __future__ import annotations

import csv
from pathlib import Path


class CsvRows:
    """``CsvRows(path, fields)``: header written (and flushed) now, every ``write(row)`` flushed; a context manager."""

    def __init__(self, path: Path, fields):
        self.path, self.fields = Path(path), list(fields)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=self.fields, extrasaction="ignore")
        self._writer.writeheader()
        self._file.flush()

    def write(self, row: dict) -> None:
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "CsvRows":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
