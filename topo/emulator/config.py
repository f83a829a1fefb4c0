"""The emulator process's config file (written by topo/links.py, read by ``python -m topo.emulator``).

    {"name": "access", "uplink_in": "w1-eth0", "downlink_in": "w1-eth1",
     "uplink": <DirectionSpec.to_dict()>, "downlink": <DirectionSpec.to_dict()>,
     "log_dir": "/path/or/null", "packet_log": false}

Frames arriving on ``uplink_in`` are shaped by ``uplink`` and leave on ``downlink_in``;
frames arriving on ``downlink_in`` are shaped by ``downlink`` and leave on ``uplink_in``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from topo.profiles import DirectionSpec, ProfileError

_KEYS = {"name", "uplink_in", "downlink_in", "uplink", "downlink", "log_dir", "packet_log"}
_REQUIRED = {"name", "uplink_in", "downlink_in", "uplink", "downlink"}
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_IFNAME = re.compile(r"^[^/\s]{1,15}$")


class EmulatorConfigError(ValueError):
    """A config the emulator cannot run; the message names the file and the field."""


@dataclass(frozen=True)
class EmulatorConfig:
    name: str
    uplink_in: str
    downlink_in: str
    uplink: DirectionSpec
    downlink: DirectionSpec
    log_dir: str | None = None
    packet_log: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise EmulatorConfigError(f"name must be 1-64 letters, digits, '_', '.', '-', got {self.name!r}")
        for field in ("uplink_in", "downlink_in"):
            value = getattr(self, field)
            if not isinstance(value, str) or not _IFNAME.match(value):
                raise EmulatorConfigError(f"{field} must be an interface name (1-15 characters, no '/' or "
                                          f"spaces), got {value!r}")
        if self.uplink_in == self.downlink_in:
            raise EmulatorConfigError(f"uplink_in and downlink_in must differ, both are {self.uplink_in!r}")
        if not isinstance(self.packet_log, bool):
            raise EmulatorConfigError(f"packet_log must be true or false, got {self.packet_log!r}")
        if self.log_dir is not None and not isinstance(self.log_dir, str):
            raise EmulatorConfigError(f"log_dir must be a path or null, got {self.log_dir!r}")

    def to_dict(self) -> dict:
        return {"name": self.name, "uplink_in": self.uplink_in, "downlink_in": self.downlink_in,
                "uplink": self.uplink.to_dict(), "downlink": self.downlink.to_dict(),
                "log_dir": self.log_dir, "packet_log": self.packet_log}

    @classmethod
    def from_dict(cls, data, where: str = "config") -> "EmulatorConfig":
        if not isinstance(data, dict):
            raise EmulatorConfigError(f"{where}: expected a JSON object")
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise EmulatorConfigError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
        missing = sorted(_REQUIRED - set(data))
        if missing:
            raise EmulatorConfigError(f"{where}: missing field {missing[0]!r}")
        directions = {}
        for side in ("uplink", "downlink"):
            if not isinstance(data[side], dict):
                raise EmulatorConfigError(f"{where}: {side} must be an object of DirectionSpec fields")
            try:
                directions[side] = DirectionSpec.from_dict(data[side])
            except (ProfileError, TypeError) as err:
                raise EmulatorConfigError(f"{where}: {side}: {err}") from None
        fields = {k: v for k, v in data.items() if k not in directions}
        try:
            return cls(**fields, **directions)
        except EmulatorConfigError as err:
            raise EmulatorConfigError(f"{where}: {err}") from None

    @classmethod
    def from_file(cls, path) -> "EmulatorConfig":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise EmulatorConfigError(f"{path}: no such config file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise EmulatorConfigError(f"{path}: not valid JSON ({err})") from None
        return cls.from_dict(data, str(path))

    def write(self, path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path
