"""Per-request server timestamps: kept in memory (for ``GET /v2/timings?since=``) and appended to a JSONL file.

Every timestamp is ``time.monotonic_ns()`` of the server; all emulated hosts share
the machine's monotonic clock, so they compare directly with the client's.
``reply_sent_ns`` (reply bytes handed to the kernel) cannot travel in the reply
itself, so this log is where the harness finds it, matched by ``request_id``.
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
