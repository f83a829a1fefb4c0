"""A running emulator's control channel: a small JSON file plus SIGUSR1.

The harness writes ``<config>.control.json`` atomically and sends the emulator
SIGUSR1; the emulator reads it at its next loop turn (within ``MAX_WAIT_S``),
applies it and writes ``<config>.control-ack.json`` with the same ``seq``:

    {"seq": 3, "uplink_rate_bps": 2000000.0, "downlink_rate_bps": null}
    {"seq": 4, "restore": true}

A rate replaces the direction's rate service by a constant one (``null`` leaves that
direction alone); ``restore`` puts back the service of the config file. Packets queued
or in transmission are kept: the new rate applies from the next packet.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

DIRECTIONS = ("uplink", "downlink")


class ControlError(ValueError):
    """A control file the emulator cannot apply; the message names the file and field."""


@dataclass(frozen=True)
class RateControl:
    seq: int
    uplink_rate_bps: float | None = None
    downlink_rate_bps: float | None = None
    restore: bool = False

    def __post_init__(self):
        if not isinstance(self.seq, int) or isinstance(self.seq, bool) or self.seq < 0:
            raise ControlError(f"seq must be a non-negative integer, got {self.seq!r}")
        for side in DIRECTIONS:
            value = getattr(self, f"{side}_rate_bps")
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise ControlError(f"{side}_rate_bps must be a positive number or null, got {value!r}")
        if not isinstance(self.restore, bool):
            raise ControlError(f"restore must be true or false, got {self.restore!r}")

    def rate_bps(self, side: str) -> float | None:
        return getattr(self, f"{side}_rate_bps")

    def to_dict(self) -> dict:
        return {"seq": self.seq, "uplink_rate_bps": self.uplink_rate_bps,
                "downlink_rate_bps": self.downlink_rate_bps, "restore": self.restore}


def control_path(config_path) -> Path:
    config_path = Path(config_path)
    return config_path.with_name(config_path.stem + ".control.json")


def ack_path(config_path) -> Path:
    config_path = Path(config_path)
    return config_path.with_name(config_path.stem + ".control-ack.json")


def _write(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, path)


def write_control(config_path, control: RateControl) -> Path:
    path = control_path(config_path)
    _write(path, control.to_dict())
    return path


def read_control(path) -> RateControl:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ControlError(f"{path}: no control file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ControlError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ControlError(f"{path}: expected a JSON object")
    unknown = sorted(set(data) - {"seq", "uplink_rate_bps", "downlink_rate_bps", "restore"})
    if unknown:
        raise ControlError(f"{path}: unknown field {unknown[0]!r}")
    try:
        return RateControl(seq=data.get("seq", 0), uplink_rate_bps=data.get("uplink_rate_bps"),
                           downlink_rate_bps=data.get("downlink_rate_bps"), restore=data.get("restore", False))
    except ControlError as err:
        raise ControlError(f"{path}: {err}") from None


def write_ack(config_path, seq: int, applied_s: float, error: str = "") -> None:
    _write(ack_path(config_path), {"seq": seq, "applied_s": applied_s, "error": error})


def read_ack(config_path) -> dict | None:
    try:
        data = json.loads(ack_path(config_path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
