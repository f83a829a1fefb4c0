"""LTE RRC and DRX state per device, computed lazily from two times (no timers, no wakeups).

A device is RRC_IDLE until data needs it; promotion then takes ``promotion_ms`` (uplink data
starts it at once; downlink data first waits for the device's paging occasion, every
``paging_cycle_ms``). RRC_CONNECTED lasts until ``tail_ms`` after the last data activity, in
either direction (one ``LteRrc`` per emulator process, in the hook's ``shared`` dict). While
connected, downlink data for a device that has been quiet longer than ``drx_inactivity_ms``
waits for its next DRX on-duration: short cycles for ``drx_short_cycle_timer_ms``, then long
cycles (3GPP TS 36.321 §5.7). Uplink data never waits for DRX (the device wakes to send its
scheduling request; topo/emulator/radio/lte_uplink.py). Sources: topo/emulator/radio/lte_params.py.
"""
from __future__ import annotations

import math
import random

from topo.emulator.radio.lte_params import LteParams

SHARED_KEY = "lte_rrc"
IDLE, PROMOTING, CONNECTED, DRX_SHORT, DRX_LONG = "idle", "promoting", "connected", "drx-short", "drx-long"


class DeviceRrc:
    __slots__ = ("connected_at_s", "last_activity_s", "paging_offset_s", "promotions")

    def __init__(self, paging_offset_s: float):
        self.connected_at_s = -math.inf   # when the current (or last) promotion completed
        self.last_activity_s = -math.inf  # the last transport block to or from the device
        self.paging_offset_s = paging_offset_s
        self.promotions = 0


class LteRrc:
    """RRC/DRX of every device on one LTE link; both directions' services share it."""

    def __init__(self, params: LteParams, start_s: float):
        self.params = params
        self.start_s = start_s
        self._promotion_s = params.promotion_ms / 1000.0
        self._tail_s = params.tail_ms / 1000.0
        self._paging_s = params.paging_cycle_ms / 1000.0
        self._inactivity_s = params.drx_inactivity_ms / 1000.0
        self._short_s = params.drx_short_cycle_ms / 1000.0
        self._long_s = params.drx_long_cycle_ms / 1000.0
        self._on_s = params.drx_on_duration_ms / 1000.0
        short_cycles = math.ceil(params.drx_short_cycle_timer_ms / params.drx_short_cycle_ms - 1e-9)
        self._short_span_s = short_cycles * self._short_s
        self._devices: dict = {}

    @classmethod
    def shared(cls, shared: dict, params: LteParams, start_s: float) -> "LteRrc":
        """The process's one LteRrc (made by whichever direction comes first)."""
        rrc = shared.get(SHARED_KEY)
        if rrc is None:
            rrc = shared[SHARED_KEY] = cls(params, start_s)
        elif rrc.params != params:
            raise ValueError("the two directions of an LTE link must have the same [radio] parameters")
        return rrc

    def device(self, device: bytes) -> DeviceRrc:
        state = self._devices.get(device)
        if state is None:
            rng = random.Random(f"{self.params.seed}:paging:{device.hex()}")
            slots = max(int(round(self.params.paging_cycle_ms)), 1)  # paging occasions are subframes
            state = self._devices[device] = DeviceRrc(rng.randrange(slots) / 1000.0 % self._paging_s)
            if self.params.start_connected:
                state.connected_at_s = state.last_activity_s = self.start_s
        return state

    def _active_until_s(self, state: DeviceRrc) -> float:
        last = state.last_activity_s if state.last_activity_s > state.connected_at_s else state.connected_at_s
        return last + self._tail_s

    def connected(self, device: bytes, t_s: float) -> bool:
        state = self.device(device)
        return state.connected_at_s <= t_s < self._active_until_s(state)

    def next_paging_s(self, state: DeviceRrc, t_s: float) -> float:
        base_s = self.start_s + state.paging_offset_s
        if t_s <= base_s:
            return base_s
        return base_s + math.ceil((t_s - base_s) / self._paging_s - 1e-12) * self._paging_s

    def access_s(self, device: bytes, t_s: float, side: str) -> tuple[float, bool]:
        """When data arriving at ``t_s`` can first be scheduled, and whether a promotion was needed.

        A promotion still under way (or just started by the other direction) counts as needed:
        the device is granted as it connects. Starts a promotion when the device is idle.
        """
        state = self.device(device)
        if state.connected_at_s > t_s:
            return state.connected_at_s, True
        if t_s < self._active_until_s(state):
            if side == "uplink":
                return t_s, False
            return self.drx_wake_s(state, t_s), False
        start_s = t_s if side == "uplink" else self.next_paging_s(state, t_s)
        state.connected_at_s = start_s + self._promotion_s
        state.last_activity_s = state.connected_at_s
        state.promotions += 1
        return state.connected_at_s, True

    def drx_wake_s(self, state: DeviceRrc, t_s: float) -> float:
        """The earliest time >= t_s at which a connected device listens for the downlink."""
        if not self.params.drx:
            return t_s
        last = state.last_activity_s if state.last_activity_s > state.connected_at_s else state.connected_at_s
        cycles_from_s = last + self._inactivity_s
        if t_s < cycles_from_s:
            return t_s
        phase_s = t_s - cycles_from_s
        if phase_s < self._short_span_s:
            cycle_s, offset_s = self._short_s, 0.0
        else:
            cycle_s, offset_s = self._long_s, self._short_span_s
        into_s = (phase_s - offset_s) % cycle_s
        if into_s < self._on_s:
            return t_s
        return t_s + (cycle_s - into_s)

    def activity(self, device: bytes, t_s: float) -> None:
        """Data went to or from ``device`` at ``t_s``: restarts its DRX inactivity and tail timers."""
        state = self.device(device)
        if t_s > state.last_activity_s:
            state.last_activity_s = t_s

    def state_at(self, device: bytes, t_s: float) -> str:
        """The device's state at ``t_s`` as far as is known now (tests, benchmarks)."""
        state = self.device(device)
        if state.connected_at_s > t_s:
            return PROMOTING if state.connected_at_s - self._promotion_s <= t_s else IDLE
        if t_s >= self._active_until_s(state):
            return IDLE
        if not self.params.drx:
            return CONNECTED
        last = state.last_activity_s if state.last_activity_s > state.connected_at_s else state.connected_at_s
        quiet_s = t_s - last - self._inactivity_s
        if quiet_s < 0:
            return CONNECTED
        return DRX_SHORT if quiet_s < self._short_span_s else DRX_LONG

    def promotions(self, device: bytes) -> int:
        return self.device(device).promotions
