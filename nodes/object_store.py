"""Objects devices uploaded to the edge, kept for the update phase (System B): bounded, written atomically.

Each object is a file ``<seq>-<sha256 prefix>.jpg`` in the store's folder, written
to a temporary name and renamed, so a reader never sees half a file. When the
count or byte bound would be exceeded the oldest objects go first. Labels the
cloud returns are kept in ``labels.json`` (file name -> label), also replaced
atomically.
"""
from __future__ import annotations

import collections
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from nodes.errors import NodeConfigError


@dataclass(frozen=True)
class ObjectStoreLimits:
    """Keeping objects is opt-in: ``max_objects`` 0 (the default) keeps nothing, hashes nothing, writes nothing."""

    max_objects: int = 0
    max_bytes: int = 256 * 1024 * 1024

    @property
    def enabled(self) -> bool:
        return self.max_objects > 0 and self.max_bytes > 0

    def __post_init__(self):
        for name in ("max_objects", "max_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise NodeConfigError(f"object store {name}={value!r} must be an integer >= 0 (0 keeps nothing)")


class ObjectStore:
    """A store whose limits keep nothing (``not limits.enabled``) never touches its folder: not even to create it."""

    def __init__(self, folder: Path, limits: ObjectStoreLimits):
        self.folder = Path(folder)
        self.limits = limits
        self._lock = threading.Lock()
        self._files: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._labels: dict[str, int] = {}
        self._seq = 0
        self.total_bytes = 0
        if not limits.enabled:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.folder.glob("*.jpg")):  # objects kept by an earlier run stay
            self._files[path.name] = path.stat().st_size
            self.total_bytes += self._files[path.name]
            self._seq = max(self._seq, int(path.name.split("-", 1)[0]) if path.name[0].isdigit() else 0)
        labels_path = self.folder / "labels.json"
        if labels_path.exists():
            try:
                self._labels = {k: int(v) for k, v in json.loads(labels_path.read_text()).items()}
            except (ValueError, AttributeError):
                self._labels = {}
        for leftover in self.folder.glob(".*.tmp"):
            leftover.unlink()

    def __len__(self) -> int:
        return len(self._files)

    def keep(self, data: bytes) -> str | None:
        """Store one object (thread-safe); returns its file name, or None if it can never fit."""
        if not self.limits.enabled or len(data) > self.limits.max_bytes:
            return None
        with self._lock:
            self._seq += 1
            name = f"{self._seq:09d}-{hashlib.sha256(data).hexdigest()[:12]}.jpg"
            while self._files and (len(self._files) >= self.limits.max_objects
                                   or self.total_bytes + len(data) > self.limits.max_bytes):
                old, size = self._files.popitem(last=False)
                self.total_bytes -= size
                self._labels.pop(old, None)
                (self.folder / old).unlink(missing_ok=True)
            tmp = self.folder / f".{name}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, self.folder / name)
            self._files[name] = len(data)
            self.total_bytes += len(data)
            return name

    def unlabelled(self, limit: int) -> list[tuple[str, bytes]]:
        with self._lock:
            names = [n for n in self._files if n not in self._labels][:limit]
        return [(n, (self.folder / n).read_bytes()) for n in names]

    def set_labels(self, labels: dict[str, int]) -> None:
        if not self.limits.enabled:
            return
        with self._lock:
            self._labels.update({k: v for k, v in labels.items() if k in self._files})
            tmp = self.folder / ".labels.json.tmp"
            tmp.write_text(json.dumps(self._labels, indent=0, sort_keys=True))
            os.replace(tmp, self.folder / "labels.json")

    def labels(self) -> dict[str, int]:
        with self._lock:
            return dict(self._labels)
