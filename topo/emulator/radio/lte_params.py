"""The LTE model's parameters (a profile's ``[radio]`` table with ``model = "lte"``), with sources.

Defaults, and where they come from:

* RRC (Huang et al., "A Close Examination of Performance and Power Characteristics of 4G LTE
  Networks", MobiSys 2012, Table 3, measured on a commercial LTE network): promotion
  RRC_IDLE -> RRC_CONNECTED 260 ms, tail (RRC inactivity) timer 11.576 s, paging cycle in
  RRC_IDLE 1.28 s; connected-mode DRX: inactivity timer 100 ms, short cycle 20 ms for a short
  cycle timer of 20 ms, then long cycle 40 ms, on duration 1 ms (DRX as in 3GPP TS 36.321 §5.7).
* Uplink access (3GPP TS 36.213 §10.1.5 / TS 36.321 §5.4.4): scheduling-request period 10 ms
  (sr-ConfigIndex allows 1-80 ms), grant ~4 ms after the SR (eNodeB processing), first PUSCH
  transport block 4 ms after the grant (TS 36.213 §8: subframe n+4 in FDD).
* TTI 1 ms (TS 36.211 subframe). HARQ (TS 36.321 §5.3.2/5.4.2, TS 36.213 §8.1): 8 ms round
  trip in FDD, at most 4 transmissions, block error rate 10 % (the usual link-adaptation
  target). A block lost after the last transmission is recovered by RLC ARQ (TS 36.322):
  ``rlc_recovery_ms`` later (t-Reordering 35 ms + a retransmission: 40 ms).
* ``cell_rate`` is what one saturating device gets (the profile's rate): a transport block
  carries rate * TTI / (1 - BLER) bytes, so HARQ's retransmissions cost the air time they cost.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from topo import units

_TIME_FIELDS = ("promotion_ms", "tail_ms", "paging_cycle_ms", "drx_inactivity_ms", "drx_short_cycle_ms",
                "drx_short_cycle_timer_ms", "drx_long_cycle_ms", "drx_on_duration_ms", "sr_period_ms",
                "sr_to_grant_ms", "grant_to_tx_ms", "tti_ms", "harq_rtt_ms", "rlc_recovery_ms")


@dataclass(frozen=True)
class LteParams:
    promotion_ms: float = 260.0
    tail_ms: float = 11576.0
    paging_cycle_ms: float = 1280.0
    drx: bool = True
    drx_inactivity_ms: float = 100.0
    drx_short_cycle_ms: float = 20.0
    drx_short_cycle_timer_ms: float = 20.0
    drx_long_cycle_ms: float = 40.0
    drx_on_duration_ms: float = 1.0
    sr_period_ms: float = 10.0
    sr_to_grant_ms: float = 4.0
    grant_to_tx_ms: float = 4.0
    tti_ms: float = 1.0
    bler: float = 0.1
    harq_rtt_ms: float = 8.0
    harq_max_transmissions: int = 4
    rlc_recovery_ms: float = 40.0
    start_connected: bool = False   # True: every device starts in RRC_CONNECTED (no first promotion)
    seed: int = 1

    def __post_init__(self):
        for name in _TIME_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a time >= 0, got {value!r}")
        for name in ("tti_ms", "harq_rtt_ms", "sr_period_ms", "drx_short_cycle_ms", "drx_long_cycle_ms",
                     "paging_cycle_ms"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.tti_ms > 10:
            raise ValueError(f"tti_ms must be at most 10 ms (LTE's is 1 ms), got {self.tti_ms}")
        if self.drx_on_duration_ms > self.drx_short_cycle_ms or self.drx_short_cycle_ms > self.drx_long_cycle_ms:
            raise ValueError("drx cycles must satisfy on_duration <= short cycle <= long cycle, got "
                             f"{self.drx_on_duration_ms}, {self.drx_short_cycle_ms}, {self.drx_long_cycle_ms} ms")
        if self.tail_ms < self.drx_inactivity_ms:
            raise ValueError(f"tail_ms ({self.tail_ms}) must be >= drx_inactivity_ms ({self.drx_inactivity_ms})")
        if not 0.0 <= self.bler < 1.0:
            raise ValueError(f"bler must lie in 0..1 (exclusive of 1), got {self.bler!r}")
        if not isinstance(self.harq_max_transmissions, int) or not 1 <= self.harq_max_transmissions <= 8:
            raise ValueError(f"harq_max_transmissions must be an integer 1..8, got {self.harq_max_transmissions!r}")
        for name in ("drx", "start_connected"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")

    @classmethod
    def file_keys(cls) -> list[str]:
        """The keys a ``[radio]`` table may use: times without their ``_ms`` ("promotion = '260 ms'")."""
        return sorted(name[:-3] if name in _TIME_FIELDS else name for name in (f.name for f in dataclasses.fields(cls)))

    @classmethod
    def from_mapping(cls, mapping: dict) -> "LteParams":
        """From a ``[radio]`` table (times as "260 ms"/"11.6 s" or bare ms, bler as 0.1 or "10 %")."""
        known = set(cls.file_keys())
        fields = {}
        for key, value in mapping.items():
            if key not in known:
                raise ValueError(f"unknown lte parameter {key!r} (known: {', '.join(sorted(known))})")
            if f"{key}_ms" in _TIME_FIELDS:
                if isinstance(value, str) and value.strip().startswith("-"):
                    raise ValueError(f"{key} must be a time >= 0, got {value!r}")
                fields[f"{key}_ms"] = units.parse_time_ms(value, key)
            elif key == "bler":
                fields[key] = units.parse_fraction(value, key)
            else:
                fields[key] = value
        try:
            return cls(**fields)
        except TypeError as err:
            raise ValueError(str(err)) from None

    @property
    def tti_s(self) -> float:
        return self.tti_ms / 1000.0
