"""The WiFi model's parameters (a profile's ``[radio]`` table with ``model = "wifi"``), with sources.

Timing constants are fixed by the standard (topo/emulator/radio/wifi_airtime.py); these are the
link's own choices:

* The PHY rate is each direction's ``rate`` (``[up]``: station -> access point, ``[down]``: access
  point -> station); topo/profiles/wifi.toml uses 150 Mbit/s: 802.11n, 40 MHz, one spatial stream,
  MCS 7, short guard interval (IEEE 802.11-2016 Table 19-27). As the PHY rate it is an upper bound
  of what the link carries, so a network floor computed from it stays a lower bound.
  ``station_phy_rate`` overrides it per device, both directions: an array of
  ``["10.0.1.2", "65 Mbit/s"]`` pairs (a far station is a slow one).
* ``mpdu_error_rate`` 3 % per MPDU (rate control such as Minstrel runs a link at the fastest rate
  that still delivers most frames: a few % loss) and ``retry_limit`` 7 (dot11ShortRetryLimit,
  Annex C): a failed MPDU is resent in its queue's next TXOP, dropped after ``retry_limit`` retries.
* Aggregation: up to ``max_ampdu_mpdus`` MPDUs, ``max_ampdu_bytes`` bytes (HT: 65,535) and
  ``max_ppdu`` of airtime (aPPDUMaxTime 5,484 us). ``max_ampdu_mpdus`` = 5 is FITTED (with the
  3 % error rate): with the constants above it is the aggregate at which one saturating TCP flow
  gets the seeds' 72 Mbit/s; the standard's limit (42 full-size MPDUs in 65,535 B) would give
  ~120 Mbit/s on this PHY (the arithmetic: topo/profiles/wifi.toml).
* ``queue_limit_packets`` per device and direction (the AP's per-station queue, the station's
  own queue): the direction's ``queue_limit`` when not given here.
"""
from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field

from topo import units
from topo.emulator.radio.wifi_airtime import BLOCK_ACK_WINDOW, HT_MAX_AMPDU_BYTES, PPDU_MAX_US

MAX_AMPDU_BYTES_VHT = 1_048_575


def _ip_bytes(text: str, key: str) -> bytes:
    try:
        return ipaddress.IPv4Address(text).packed
    except (ipaddress.AddressValueError, ValueError):
        raise ValueError(f"{key}: {text!r} is not an IPv4 address (devices are named by address, "
                         "e.g. \"10.0.1.2\")") from None


def _station_rates(value) -> tuple:
    example = 'station_phy_rate = [["10.0.1.2", "65 Mbit/s"]]'
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"station_phy_rate must be an array of [address, rate] pairs ({example}), got {value!r}")
    pairs = {}
    for pair in value:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not isinstance(pair[0], str):
            raise ValueError(f"station_phy_rate: {pair!r} is not an [address, rate] pair ({example})")
        address = _ip_bytes(pair[0], "station_phy_rate")
        if address in pairs:
            raise ValueError(f"station_phy_rate: {pair[0]} is given twice")
        rate = units.parse_rate_bps(pair[1])
        if not rate > 0:
            raise ValueError(f"station_phy_rate: the rate of {pair[0]} must be > 0, got {pair[1]!r}")
        pairs[address] = rate
    return tuple(sorted(pairs.items()))


@dataclass(frozen=True)
class WifiParams:
    station_phy_rate_bps: tuple = ()       # ((4-byte address, bit/s), ...) sorted
    symbol_us: float = 3.6                 # 3.6 short guard interval, 4.0 long
    spatial_streams: int = 1
    mpdu_error_rate: float = 0.03
    retry_limit: int = 7
    max_ampdu_mpdus: int = 5
    max_ampdu_bytes: int = HT_MAX_AMPDU_BYTES
    max_ppdu_us: float = PPDU_MAX_US
    queue_limit_packets: int | None = None  # None: the direction's queue limit
    seed: int = 1
    _station_rates: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        for name in ("max_ppdu_us",):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be > 0, got {value!r}")
        if self.symbol_us not in (3.6, 4.0):
            raise ValueError(f"symbol_us must be 3.6 (short guard interval) or 4.0 (long), got {self.symbol_us!r}")
        if not isinstance(self.spatial_streams, int) or not 1 <= self.spatial_streams <= 8:
            raise ValueError(f"spatial_streams must be an integer 1..8, got {self.spatial_streams!r}")
        if isinstance(self.mpdu_error_rate, bool) or not 0.0 <= self.mpdu_error_rate < 1.0:
            raise ValueError(f"mpdu_error_rate must lie in 0..1 (exclusive of 1), got {self.mpdu_error_rate!r}")
        for name, low, high in (("retry_limit", 0, 255), ("max_ampdu_mpdus", 1, BLOCK_ACK_WINDOW),
                                ("max_ampdu_bytes", 1600, MAX_AMPDU_BYTES_VHT), ("seed", None, None)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if low is not None and not low <= value <= high:
                raise ValueError(f"{name} must lie in {low}..{high}, got {value}")
        if self.queue_limit_packets is not None and (
                isinstance(self.queue_limit_packets, bool) or not isinstance(self.queue_limit_packets, int)
                or self.queue_limit_packets < 1):
            raise ValueError(f"queue_limit_packets must be an integer >= 1, got {self.queue_limit_packets!r}")
        for address, rate in self.station_phy_rate_bps:
            if not (isinstance(address, bytes) and len(address) == 4) or not rate > 0:
                raise ValueError(f"station_phy_rate entries must be (IPv4 address, rate > 0), got {address!r}")
        object.__setattr__(self, "_station_rates", dict(self.station_phy_rate_bps))

    def phy_rate_for(self, device: bytes | None, default_bps: float) -> float:
        """The PHY rate the link to ``device`` runs at (its override, else the direction's rate)."""
        return self._station_rates.get(device, default_bps)

    def peak_rate_bps(self, rate_bps: float) -> float:
        """The most IP bit/s a direction can carry: below its PHY rate (airtime has overheads)."""
        rates = [rate for _address, rate in self.station_phy_rate_bps]
        return max([rate_bps, *rates])

    @classmethod
    def from_mapping(cls, mapping: dict) -> "WifiParams":
        """From a ``[radio]`` table: rates as "150 Mbit/s", times as "5484 us", fractions as 0.08 or "8 %"."""
        known = {"station_phy_rate", "symbol_us", "spatial_streams", "mpdu_error_rate",
                 "retry_limit", "max_ampdu_mpdus", "max_ampdu_bytes", "max_ppdu", "queue_limit_packets", "seed"}
        fields = {}
        for key, value in mapping.items():
            if key not in known:
                raise ValueError(f"unknown wifi parameter {key!r} (known: {', '.join(sorted(known))})")
            if key == "station_phy_rate":
                fields["station_phy_rate_bps"] = _station_rates(value)
            elif key == "max_ppdu":
                fields["max_ppdu_us"] = units.parse_time_ms(value, key) * 1000.0
            elif key == "mpdu_error_rate":
                fields[key] = units.parse_fraction(value, key)
            elif key == "symbol_us":
                fields[key] = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
            else:
                fields[key] = value
        try:
            return cls(**fields)
        except TypeError as err:
            raise ValueError(str(err)) from None

    def to_mapping(self) -> dict:
        """The ``[radio]`` keys that rebuild these parameters (round trip of ``from_mapping``)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        out["max_ppdu"] = f"{out.pop('max_ppdu_us')} us"
        out["station_phy_rate"] = [[str(ipaddress.IPv4Address(a)), f"{r} bit/s"]
                                   for a, r in out.pop("station_phy_rate_bps")]
        if out["queue_limit_packets"] is None:
            del out["queue_limit_packets"]
        return out
