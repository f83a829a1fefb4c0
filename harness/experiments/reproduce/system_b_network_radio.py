"""What the radio adds to System B's network model: each access link's uplink as it delivers, measured.

The network floor (``harness.analysis.floor``) takes a radio at its peak rate with none of its access delays, so
that it stays a lower bound. The WAN fit needs the time the radio really takes instead: on the cloud path the
uplink bottleneck is the slower of the WAN and the radio *as it delivers* (LTE at 10 % BLER: HARQ
retransmissions take TTIs, so it delivers about its nominal 8 Mbit/s, not its 8.9 Mbit/s peak; WiFi: one
half-duplex medium with per-PPDU overheads), and each upload also waits for what the radio adds once per burst
(LTE: scheduling request, grant, TTI alignment, the last block's HARQ; WiFi: contention and block ACKs).

Both are measured from the calibration's edge cells, where the access link is the only shaped hop (device ->
base station -> unshaped LAN -> edge): per access, the least-squares line over the image sizes

    upload_ms(edge, size) - access one-way delay = access_ms + wire_bits(size) / delivered_bps

gives ``delivered_bps`` (the line's slope) and ``access_ms`` (its intercept). ``radio_path`` then puts them in
a request's path: uplink bottleneck min(delivered, the other hop's rate), ``access_ms`` added to the uplink's
one-way delays. What the line leaves per cell (and the radio's downlink: DRX, TTIs on the ~700-byte reply)
stays in the measured per-cell residuals of ``system_b_network_fit``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from harness.analysis.floor import PathModel, wire_bytes
from harness.errors import HarnessError
from topo.emulator.radio import peak_rate_bps
from topo.profiles import LinkProfile


@dataclass(frozen=True)
class AccessLine:
    """One access link's uplink as measured on the edge path (see the module's doc)."""
    access: str
    delivered_bps: float       # the line's slope: the rate an upload gets through the access link
    access_ms: float           # the line's intercept: what the access adds once per upload
    nominal_bps: float | None  # the profile's [up] rate
    peak_bps: float | None     # what the network floor takes (a radio's rate / (1 - BLER))
    sizes: int                 # edge cells the line was fitted over
    rms_ms: float              # the line's root-mean-square deviation from those cells

    def to_dict(self) -> dict:
        return {"access": self.access, "delivered_mbps": round(self.delivered_bps / 1e6, 4),
                "access_ms": round(self.access_ms, 3),
                "nominal_mbps": None if self.nominal_bps is None else round(self.nominal_bps / 1e6, 4),
                "peak_mbps": None if self.peak_bps is None else round(self.peak_bps / 1e6, 4),
                "sizes": self.sizes, "rms_ms": round(self.rms_ms, 3)}

    def text(self) -> str:
        peak = f", floor's peak {self.peak_bps / 1e6:.2f}" if self.peak_bps else ""
        return (f"{self.access} delivers {self.delivered_bps / 1e6:.2f} Mbit/s up (nominal "
                f"{(self.nominal_bps or 0) / 1e6:.2f}{peak}) and adds {self.access_ms:.1f} ms an upload")


def _peak(profile: LinkProfile) -> float | None:
    up = profile.up.to_dict()
    if not up.get("rate_bps"):
        return None
    if not up.get("radio_model"):
        return float(up["rate_bps"])
    return peak_rate_bps(up["radio_model"], [tuple(p) for p in up.get("radio_params") or ()], float(up["rate_bps"]))


def measure_access(access: str, profile: LinkProfile, edge_cells: list) -> AccessLine:
    """The line of ``access`` through its edge cells (``system_b_network_fit.Cell``: request payload, upload
    median); one HarnessError line when it cannot be drawn."""
    points = sorted((wire_bytes(c.request_payload_bytes) * 8.0, c.upload_ms - profile.up.delay_ms)
                    for c in edge_cells)
    if len({bits for bits, _ in points}) < 2:
        raise HarnessError(f"calibration: the {access} radio line needs edge cells at 2 sizes or more, "
                           f"got {len(points)}")
    bits = np.array([p[0] for p in points])
    ms = np.array([p[1] for p in points])
    slope, intercept = np.polyfit(bits, ms, 1)
    if not (math.isfinite(slope) and slope > 0):
        raise HarnessError(f"calibration: the {access} edge uploads do not grow with the image size "
                           f"(slope {slope:g} ms/bit): not a calibration run")
    rms = float(np.sqrt(np.mean(np.square(ms - (intercept + slope * bits)))))
    return AccessLine(access, 1000.0 / float(slope), float(intercept), profile.up.rate_bps, _peak(profile),
                      len(points), rms)


def radio_path(path: PathModel, line: AccessLine, link_up_bps: float | None) -> PathModel:
    """``path`` (the floor's) with its uplink as the access delivers it: bottleneck min(delivered, the other
    hop's uplink rate; None = unshaped), and the access's once-per-upload time added to the one-way delays."""
    up = line.delivered_bps if link_up_bps is None else min(line.delivered_bps, link_up_bps)
    return dataclasses.replace(path, up_bps=up, up_delay_ms=max(0.0, path.up_delay_ms + line.access_ms))
