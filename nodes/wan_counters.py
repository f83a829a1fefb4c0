"""WAN traffic measured from interface byte counters, and "idle for T seconds" decided from them (System B).

The counters are those of one interface in one network namespace, read from
``/proc/<pid>/net/dev`` (the file shows the namespace of process ``pid``, so any
process can read the base station's WAN port, as an edge next to a base station
would poll its router's port counters). ``WanIdleDetector`` turns samples of the
byte total into "the WAN has carried less than ``idle_rate_bytes_per_s`` for
``idle_s`` seconds"; its clock and counter reader are injected, so it is tested
with a fake clock.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nodes.errors import NodeConfigError


class CounterError(RuntimeError):
    """Counters that cannot be read: the message names the file and interface."""


@dataclass(frozen=True)
class InterfaceBytes:
    rx_bytes: int
    tx_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.rx_bytes + self.tx_bytes

    def minus(self, earlier: "InterfaceBytes") -> "InterfaceBytes":
        return InterfaceBytes(self.rx_bytes - earlier.rx_bytes, self.tx_bytes - earlier.tx_bytes)


def parse_net_dev(text: str, interface: str, source: str = "net/dev") -> InterfaceBytes:
    """Receive/transmit byte counts of ``interface`` from the text of a /proc/net/dev file."""
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep or name.strip() != interface:
            continue
        fields = rest.split()
        if len(fields) < 16:
            raise CounterError(f"{source}: line of {interface} has {len(fields)} fields, expected 16")
        return InterfaceBytes(rx_bytes=int(fields[0]), tx_bytes=int(fields[8]))
    raise CounterError(f"{source}: no interface {interface!r} (is the namespace's process gone?)")


@dataclass(frozen=True)
class CounterSource:
    """``/proc/<pid>/net/dev`` + interface name, written ``PATH:IFACE`` on a command line."""

    net_dev_path: str
    interface: str

    def __post_init__(self):
        if not self.net_dev_path or not self.interface:
            raise NodeConfigError(f"counter source {self.net_dev_path!r}:{self.interface!r}: needs a net/dev file "
                                  "and an interface, e.g. /proc/1234/net/dev:bs-eth2")

    @classmethod
    def parse(cls, text: str) -> "CounterSource":
        path, sep, interface = str(text).rpartition(":")
        if not sep:
            raise NodeConfigError(f"counter source {text!r} must be PATH:INTERFACE, e.g. /proc/1234/net/dev:bs-eth2")
        return cls(path, interface)

    def __str__(self) -> str:
        return f"{self.net_dev_path}:{self.interface}"

    def read(self) -> InterfaceBytes:
        try:
            text = Path(self.net_dev_path).read_text()
        except OSError as exc:
            raise CounterError(f"{self.net_dev_path}: cannot read interface counters ({exc.strerror})") from None
        return parse_net_dev(text, self.interface, self.net_dev_path)


@dataclass(frozen=True)
class IdleSettings:
    idle_s: float = 3.0                   # the WAN must have been quiet this long
    idle_rate_bytes_per_s: float = 20_000  # below this (both directions together) counts as quiet
    poll_s: float = 0.2                   # counter sampling period

    def __post_init__(self):
        for name in ("idle_s", "idle_rate_bytes_per_s", "poll_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise NodeConfigError(f"WAN idle setting {name}={value!r} must be a number > 0")
        if self.poll_s > self.idle_s:
            raise NodeConfigError(f"WAN idle setting poll_s={self.poll_s} must be <= idle_s={self.idle_s}")


class WanIdleDetector:
    """Feed it ``sample()`` every poll; ``idle_for_s()`` says how long the WAN has been below the threshold."""

    def __init__(self, read_total_bytes: Callable[[], int], settings: IdleSettings = IdleSettings(),
                 clock: Callable[[], float] = time.monotonic):
        self.read_total_bytes, self.settings, self.clock = read_total_bytes, settings, clock
        now = clock()
        self._last_s, self._last_bytes = now, read_total_bytes()
        self._quiet_since_s: float | None = now  # nothing known against it at start
        self.last_rate_bytes_per_s = 0.0

    def sample(self) -> float:
        """Read the counters now; returns the rate over the last interval (bytes/s)."""
        now, total = self.clock(), self.read_total_bytes()
        interval_s = now - self._last_s
        if interval_s <= 0:
            return self.last_rate_bytes_per_s
        rate = max(0, total - self._last_bytes) / interval_s
        if rate >= self.settings.idle_rate_bytes_per_s:
            self._quiet_since_s = None
        elif self._quiet_since_s is None:
            self._quiet_since_s = self._last_s  # quiet over this whole interval
        self._last_s, self._last_bytes, self.last_rate_bytes_per_s = now, total, rate
        return rate

    def resync(self) -> None:
        """Take the counters as they are now without judging the interval (e.g. after our own upload)."""
        self._last_s, self._last_bytes = self.clock(), self.read_total_bytes()

    def idle_for_s(self) -> float:
        return 0.0 if self._quiet_since_s is None else self._last_s - self._quiet_since_s

    def is_idle(self) -> bool:
        return self.idle_for_s() >= self.settings.idle_s
