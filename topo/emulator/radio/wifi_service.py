"""One direction's view of the shared WiFi medium: the rate-service contract of the radio hook.

Both directions of one emulator process get a ``WifiService`` around the SAME ``WifiMedium``
(kept in the hook's ``shared`` dict), so uplink and downlink compete for one airtime.
Advancing either direction advances the medium, which departs packets of both directions to
their own shapers.
"""
from __future__ import annotations

from topo.emulator.radio.wifi_medium import WifiMedium
from topo.emulator.radio.wifi_params import WifiParams

SHARED_KEY = "wifi_medium"


def shared_medium(params: WifiParams, start_s: float, shared: dict) -> WifiMedium:
    """The process's one medium, made by whichever direction is built first."""
    medium = shared.get(SHARED_KEY)
    if medium is None:
        medium = shared[SHARED_KEY] = WifiMedium(params, start_s)
    elif medium.params != params:
        raise ValueError("both directions of a WiFi link must share one [radio] table (their "
                         "parameters differ)")
    return medium


class WifiService:
    immediate = False
    radio = True

    def __init__(self, spec, params: WifiParams, side: str, start_s: float, shared: dict, on_drop):
        self.side = side
        self.medium = shared_medium(params, start_s, shared)
        self._on_drop = on_drop
        if spec.rate_bps is None:
            raise ValueError("the wifi radio model needs each direction's rate: its PHY rate "
                             "(rate = \"150 Mbit/s\")")
        self._limits = (spec.queue_limit_packets, spec.queue_limit_bytes, spec.rate_bps)
        self._queue = None

    def _attach(self, queue, depart) -> None:
        if queue is not self._queue:
            self._queue = queue
            self.medium.attach(self.side, queue, depart, self._on_drop, *self._limits)

    def advance(self, now_s, queue, depart) -> None:
        self._attach(queue, depart)
        self.medium.advance(now_s)

    def next_event_s(self, queue) -> float:
        return self.medium.next_event_s()

    def release_transit(self):
        return None

    def set_rate(self, rate_bps, now_s) -> None:
        """A rate change: this direction's PHY rate is ``rate_bps`` from ``now_s`` (None: as configured)."""
        self.medium.advance(now_s)
        self.medium.set_phy_rate(self.side, rate_bps)

    def __len__(self) -> int:
        return self.medium.held[self.side]
