"""LTE uplink access of a connected device: scheduling request, then grant, then transmission.

A device with new data and no grant waits for its next scheduling-request occasion (every
``sr_period_ms``, at a per-device offset), the eNodeB answers with a grant ``sr_to_grant_ms``
later, and the device sends its first transport block ``grant_to_tx_ms`` after the grant
(3GPP TS 36.213 §8 / §10.1.5, TS 36.321 §5.4.4). While it keeps a backlog its buffer status
reports keep it granted, so only a burst's first block pays this. Sources: lte_params.py.
"""
from __future__ import annotations

import math
import random

from topo.emulator.radio.lte_params import LteParams


class ScheduleRequest:
    def __init__(self, params: LteParams, start_s: float):
        self._period_s = params.sr_period_ms / 1000.0
        self._after_sr_s = (params.sr_to_grant_ms + params.grant_to_tx_ms) / 1000.0
        self._start_s = start_s
        self._seed = params.seed
        self._offsets: dict = {}
        self.requests = 0

    def offset_s(self, device: bytes) -> float:
        """The device's SR occasion offset within the period (whole ms, as sr-ConfigIndex sets it)."""
        offset = self._offsets.get(device)
        if offset is None:
            slots = max(int(round(self._period_s * 1000.0)), 1)
            rng = random.Random(f"{self._seed}:sr:{device.hex()}")
            offset = self._offsets[device] = rng.randrange(slots) / 1000.0 % self._period_s
        return offset

    def next_occasion_s(self, device: bytes, t_s: float) -> float:
        base_s = self._start_s + self.offset_s(device)
        if t_s <= base_s:
            return base_s
        return base_s + math.ceil((t_s - base_s) / self._period_s - 1e-9) * self._period_s

    def first_tx_s(self, device: bytes, t_s: float) -> float:
        """When a burst whose first packet reaches the device's buffer at ``t_s`` may be sent."""
        self.requests += 1
        return self.next_occasion_s(device, t_s) + self._after_sr_s
