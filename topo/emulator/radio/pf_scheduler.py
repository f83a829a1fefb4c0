"""Proportional-fair scheduling of one cell's TTIs among the devices with data.

Each TTI the device with the highest ratio of instantaneous rate to its average throughput is
served first (every device here has the same channel, so: the lowest average); ties go to the
device served longest ago. The average is an exponential moving average over
``time_constant_ttis`` TTIs (100 is common, e.g. Capozzi et al., "Downlink Packet Scheduling in
LTE Cellular Networks", IEEE Comm. Surveys 2013), decayed lazily so idle TTIs cost nothing.
N devices that always have data get 1/N of the TTIs each.
"""
from __future__ import annotations


class ProportionalFair:
    def __init__(self, time_constant_ttis: float = 100.0):
        if not time_constant_ttis >= 1:
            raise ValueError(f"time_constant_ttis must be >= 1, got {time_constant_ttis}")
        self._keep = 1.0 - 1.0 / time_constant_ttis
        self._gain = 1.0 / time_constant_ttis
        self._average: dict = {}     # device -> (average bytes per TTI, as of TTI index)
        self._last_served: dict = {}

    def average(self, device, tti: int) -> float:
        value, since = self._average.get(device, (0.0, tti))
        return value * self._keep ** (tti - since) if tti > since else value

    def order(self, devices, tti: int) -> list:
        """``devices`` in the order they are served in TTI ``tti``."""
        if len(devices) == 1:
            return list(devices)
        last = self._last_served
        return sorted(devices, key=lambda d: (self.average(d, tti), last.get(d, -1)))

    def served(self, device, size_bytes: float, tti: int) -> None:
        """``device`` got ``size_bytes`` in TTI ``tti`` (call once per served device and TTI)."""
        self._average[device] = (self.average(device, tti) * self._keep + self._gain * size_bytes, tti + 1)
        self._last_served[device] = tti
