"""A part that returned is kept as ``<work_dir>/measured.json``: its figures, the code version and settings
they came from, and its wall time. A later run reuses it while both are unchanged (``--force`` reruns)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.experiments.reproduce.measured import Measured
from harness.orchestration.results import utc_stamp, write_json_atomically

CACHE_FILE = "measured.json"


@dataclass(frozen=True)
class CachedPart:
    part: str
    key: str                  # parts.cache_key(version, settings)
    version: str
    settings: dict
    measured: tuple[Measured, ...]
    wall_s: float
    finished_utc: str


def write_cached(work_dir: Path, part: str, key: str, version: str, settings: dict, measured: list[Measured],
                 wall_s: float) -> CachedPart:
    cached = CachedPart(part, key, version, settings, tuple(measured), round(wall_s, 2), utc_stamp())
    write_json_atomically(Path(work_dir) / CACHE_FILE, {
        "part": part, "cache_key": key, "version": version, "settings": settings, "wall_s": cached.wall_s,
        "finished_utc": cached.finished_utc, "measured": [m.to_dict() for m in measured]})
    return cached


def read_cached(work_dir: Path) -> CachedPart | None:
    """The part's kept result, or None when there is none or it cannot be read (then it is run again)."""
    path = Path(work_dir) / CACHE_FILE
    try:
        data = json.loads(path.read_text())
        return CachedPart(data["part"], data["cache_key"], data["version"], data["settings"],
                          tuple(Measured.from_dict(m) for m in data["measured"]), float(data["wall_s"]),
                          data.get("finished_utc", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None
