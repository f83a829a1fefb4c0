"""The CellReplay model's parameters (a profile's ``[radio]`` table with ``model = "cellreplay"``).

::

    [radio]
    model = "cellreplay"
    up_light_trace = "traces/x-up.train"     # packet trains: time_ms base_delay_ms offsets...
    up_heavy_trace = "traces/x.up"           # Mahimahi delivery trace, saturated
    down_light_trace = "traces/x-down.train"
    down_heavy_trace = "traces/x.down"
    idle_gap = "0 ms"                        # idle time after which the next packet starts a new train
    trace_mode = "loop"                      # or "once"

Paths are resolved like ``rate_trace`` (the profile's folder, then the repository root).
``idle_gap`` is CellReplay's long-to-short timer (its default: 0 ms: a packet that arrives when
the link has released everything before it starts a new light train). The traces are read
and checked here, so a malformed file fails when the profile is loaded, naming file and line.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from pathlib import Path

from topo import units
from traces.cellreplay import PacketTrainTrace, read_packet_train_trace
from traces.readers import read_mahimahi_trace
from traces.trace_types import DeliveryTrace, TraceFormatError

TRACE_KEYS = ("up_light_trace", "up_heavy_trace", "down_light_trace", "down_heavy_trace")
SIDE_PREFIX = {"uplink": "up", "downlink": "down"}


@functools.lru_cache(maxsize=16)
def _light(path: str, _mtime_ns: int) -> PacketTrainTrace:
    return read_packet_train_trace(path)


@functools.lru_cache(maxsize=16)
def _heavy(path: str, _mtime_ns: int) -> DeliveryTrace:
    return read_mahimahi_trace(path)


def _mtime_ns(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1  # the reader says what is wrong


@dataclass(frozen=True)
class CellReplayParams:
    up_light_trace: str
    up_heavy_trace: str
    down_light_trace: str
    down_heavy_trace: str
    idle_gap_ms: float = 0.0
    trace_mode: str = "loop"

    def __post_init__(self):
        for key in TRACE_KEYS:
            value = getattr(self, key)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{key} must be a trace file path, got {value!r}")
        if isinstance(self.idle_gap_ms, bool) or not isinstance(self.idle_gap_ms, (int, float)) \
                or not self.idle_gap_ms >= 0:
            raise ValueError(f"idle_gap must be a time >= 0, got {self.idle_gap_ms!r}")
        if self.trace_mode not in ("loop", "once"):
            raise ValueError(f"trace_mode must be 'loop' or 'once', got {self.trace_mode!r}")
        try:
            for side in SIDE_PREFIX:
                self.traces(side)
        except TraceFormatError as err:
            raise ValueError(str(err)) from None

    def traces(self, side: str) -> tuple[PacketTrainTrace, DeliveryTrace]:
        """(light packet-train trace, heavy delivery trace) of ``side``."""
        prefix = SIDE_PREFIX[side]
        light = getattr(self, f"{prefix}_light_trace")
        heavy = getattr(self, f"{prefix}_heavy_trace")
        return _light(light, _mtime_ns(light)), _heavy(heavy, _mtime_ns(heavy))

    @classmethod
    def from_mapping(cls, mapping: dict) -> "CellReplayParams":
        known = set(TRACE_KEYS) | {"idle_gap", "trace_mode"}
        fields = {}
        for key, value in mapping.items():
            if key not in known:
                raise ValueError(f"unknown cellreplay parameter {key!r} (known: {', '.join(sorted(known))})")
            if key == "idle_gap":
                if isinstance(value, str) and value.strip().startswith("-"):
                    raise ValueError(f"idle_gap must be a time >= 0, got {value!r}")
                fields["idle_gap_ms"] = units.parse_time_ms(value, key)
            else:
                fields[key] = str(Path(value)) if key in TRACE_KEYS and isinstance(value, str) else value
        missing = [key for key in TRACE_KEYS if key not in fields]
        if missing:
            raise ValueError(f"missing {missing[0]} (a cellreplay link needs {', '.join(TRACE_KEYS)})")
        try:
            return cls(**fields)
        except TypeError as err:
            raise ValueError(str(err)) from None

    def to_mapping(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["idle_gap"] = f"{out.pop('idle_gap_ms')} ms"
        return out
