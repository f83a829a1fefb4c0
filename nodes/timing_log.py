"""Per-request server timestamps: kept in memory (for ``GET /v2/timings?since=``) and appended to a JSONL file.

Every timestamp is ``time.monotonic_ns()`` of the server; all emulated hosts share
the machine's monotonic clock, so they compare directly with the client's.
``reply_sent_ns`` (reply bytes handed to the kernel) cannot travel in the reply
itself, so this log is where the harness finds it, matched by ``request_id``.

Queueing (``nodes.http_server`` stamps it on every inference request whose body arrived, in the
record and in the reply's parameters): ``received_ns`` (body complete, = ``upload_complete_ns``),
``queue_ms`` (received -> the start of its first work: the image decode, or the inference of a
tensor request; the time it waited for a worker thread behind other requests) and
``in_progress_at_arrival`` (requests received before it and not yet answered: queued, decoding,
inferring or waiting for the cloud).
"""
from __future__ import annotations

import collections
import json
import threading
from pathlib import Path


class TimingLog:
    def __init__(self, jsonl_path: Path | None, keep_records: int = 100_000):
        self._records: collections.deque = collections.deque(maxlen=keep_records)
        self._seq = 0
        self._lock = threading.Lock()
        self._file = None
        if jsonl_path is not None:
            jsonl_path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(jsonl_path, "a", encoding="utf-8", buffering=1)  # line-buffered: whole lines only

    def add(self, record: dict) -> int:
        with self._lock:
            self._seq += 1
            record = dict(record, seq=self._seq)
            self._records.append(record)
            if self._file is not None:
                self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            return self._seq

    def since(self, seq: int, limit: int = 10_000) -> list[dict]:
        with self._lock:
            return [r for r in self._records if r["seq"] > seq][:limit]

    @property
    def last_seq(self) -> int:
        return self._seq

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def queue_ms(record: dict, stamps: dict) -> float | None:
    """``record``'s received_ns -> the first work's start in ``stamps`` (decode, else inference), in ms (3
    decimals); None when either is missing (refused before its body came, or failed before any work)."""
    started_ns = stamps.get("preprocess_start_ns", stamps.get("inference_start_ns"))
    if started_ns is None or record.get("received_ns") is None:
        return None
    return round((started_ns - record["received_ns"]) / 1e6, 3)
