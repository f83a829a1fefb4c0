"""Quantities with units, as written in profile files and on the command line.

Every parser returns a plain number in the unit its name states (``parse_rate_bps``
returns bit/s) and raises ``ValueError`` with a message naming the allowed units.
"""
from __future__ import annotations

import re

_NUMBER = r"([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
_QUANTITY = re.compile(r"^\s*" + _NUMBER + r"\s*([A-Za-z/%]*)\s*$")

RATE_UNITS_BPS = {
    "bit/s": 1.0, "bps": 1.0,
    "kbit/s": 1e3, "kbps": 1e3,
    "mbit/s": 1e6, "mbps": 1e6,
    "gbit/s": 1e9, "gbps": 1e9,
    "b/s": 8.0, "kb/s": 8e3, "mb/s": 8e6, "gb/s": 8e9,  # bytes per second
}
TIME_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3}
SIZE_UNITS_BYTES = {"b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2}


def _split(text: str, what: str) -> tuple[float, str]:
    match = _QUANTITY.match(str(text))
    if not match:
        raise ValueError(f"{what}: {text!r} is not a number with a unit")
    return float(match.group(1)), match.group(2)


def _scaled(text, units: dict, what: str, default_unit: str | None) -> float:
    if isinstance(text, bool):
        raise ValueError(f"{what}: {text!r} is not a quantity")
    if isinstance(text, (int, float)):
        if default_unit is None:
            raise ValueError(f"{what}: {text!r} needs a unit ({', '.join(units)})")
        value, unit = float(text), default_unit
    else:
        value, unit = _split(text, what)
    key = unit.lower() if unit.lower() in units else unit
    if not unit and default_unit is not None:
        key = default_unit
    if key not in units:
        raise ValueError(f"{what}: unknown unit {unit!r} in {text!r} (use one of: {', '.join(units)})")
    return value * units[key]


def parse_rate_bps(text) -> float:
    """'10.88 Mbit/s' -> 10880000.0. Case-insensitive; 'MB/s' means bytes."""
    if isinstance(text, str) and "B/s" in text and not text.strip().lower().endswith("bit/s"):
        # Bytes per second: keep the case-sensitive B so '8 MB/s' is bytes, '8 Mb/s' bits.
        value, unit = _split(text, "rate")
        scale = {"B/s": 8.0, "KB/s": 8e3, "kB/s": 8e3, "MB/s": 8e6, "GB/s": 8e9}
        if unit not in scale:
            raise ValueError(f"rate: unknown unit {unit!r} in {text!r} (use one of: {', '.join(RATE_UNITS_BPS)})")
        return value * scale[unit]
    return _scaled(text, RATE_UNITS_BPS, "rate", None)


def parse_time_ms(text, what: str = "time") -> float:
    """'20 ms' -> 20.0, '1.5 s' -> 1500.0; a bare number is milliseconds."""
    return _scaled(text, TIME_UNITS_MS, what, "ms")


def parse_size_bytes(text, what: str = "size") -> int:
    """'96 KB' -> 96000, '64 KiB' -> 65536; a bare number is bytes."""
    return int(round(_scaled(text, SIZE_UNITS_BYTES, what, "b")))


def parse_fraction(text, what: str = "loss") -> float:
    """'0.5 %' -> 0.005, 0.005 -> 0.005. Must lie in [0, 1]."""
    if isinstance(text, bool):
        raise ValueError(f"{what}: {text!r} is not a number")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        value, unit = _split(text, what)
        if unit == "%":
            value /= 100.0
        elif unit:
            raise ValueError(f"{what}: unknown unit {unit!r} in {text!r} (use a fraction or '%')")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what}: {text!r} is outside 0..1 (0%..100%)")
    return value


def format_rate(bps: float | None) -> str:
    if bps is None:
        return "unlimited"
    if bps >= 1e9:
        return f"{bps / 1e9:g} Gbit/s"
    if bps >= 1e6:
        return f"{bps / 1e6:g} Mbit/s"
    return f"{bps / 1e3:g} kbit/s"
