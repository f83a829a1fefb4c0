"""System A's feature dimension, fitted to its PCA traffic cut: the one open parameter that sets its traffic figures.

SEEDS.md gives System A's edge->cloud traffic cut (PCA 60-70 %, autoencoder 63-72 %) but not the dimension of the
features. A feature request puts ``4 d`` bytes (FP32) on the WAN plus a per-request overhead (HTTP and TCP/IP
headers, the ACKs) that the rounds at the served dimension measure. Solving ``1 - (4 d + overhead) / raw`` for the
centre of the PCA range gives ``d``; the dimension used is the power of two whose cut is nearest that centre
(extractors' output sizes are powers of two in practice; the served default is 64). The network rounds are then
measured again at that dimension: its PCA cut is FITTED, and the autoencoder cut, the traffic change and the
learning figures at that dimension are PREDICTED from it.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from harness.analysis.published import PUBLISHED_REDUCTION_PCT

FEATURE_BYTES_PER_VALUE = 4     # FP32 on the wire
MAX_DIM = 3072                  # the raw input's values: a larger feature would not compress anything


@dataclass(frozen=True)
class DimFit:
    dim: int                    # the power of two the network runs are repeated at
    exact: float                # the dimension that would put the cut at the range's centre
    target_cut_pct: float       # the centre of the published PCA range
    predicted_cut_pct: float    # the cut ``dim`` gives at the measured overhead
    overhead_bytes: float       # WAN bytes of one feature request beyond its 4 d payload
    raw_bytes: float            # WAN bytes of one raw-image request
    live_dim: int               # the dimension the overhead was measured at
    live_cut_pct: float         # the cut measured at ``live_dim``

    def as_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}

    def sentence(self) -> str:
        return (f"fitted: the feature dimension {self.dim} (the power of two nearest the {self.exact:,.0f} FP32 values "
                f"that would give the published range's centre, {self.target_cut_pct:.0f}%, at the "
                f"{self.overhead_bytes:,.0f} B per-request overhead and {self.raw_bytes:,.0f} B raw request measured "
                f"at the served {self.live_dim}-d, where the cut was {self.live_cut_pct:.1f}%; predicted "
                f"{self.predicted_cut_pct:.1f}%)")


def cut_pct(dim: float, overhead: float, raw: float) -> float:
    return 100 * (1 - (FEATURE_BYTES_PER_VALUE * dim + overhead) / raw)


def fit_feature_dim(rounds: list[list[dict]], live_dim: int, path: str = "pca") -> DimFit:
    """The fitted dimension from rounds measured at ``live_dim`` (rows as system_a_network.path_row makes them)."""
    if not rounds or not live_dim or live_dim < 1:
        raise ValueError("the dimension fit needs rounds measured at a known feature dimension")
    by = [{r["path"]: r for r in rows} for rows in rounds]
    raw = statistics.fmean(float(b["raw"]["wan_to_cloud_bytes_per_image"]) for b in by)
    feat = statistics.fmean(float(b[path]["wan_to_cloud_bytes_per_image"]) for b in by)
    overhead = max(0.0, feat - FEATURE_BYTES_PER_VALUE * live_dim)
    low, high = PUBLISHED_REDUCTION_PCT[path]
    target = (float(low) + float(high)) / 2
    exact = ((1 - target / 100) * raw - overhead) / FEATURE_BYTES_PER_VALUE
    if exact < 1:
        raise ValueError(f"no feature dimension gives a {target:.0f}% cut: the {overhead:,.0f} B overhead alone is "
                         f"over {100 - target:.0f}% of the {raw:,.0f} B raw request")
    powers = [2 ** i for i in range(int(math.log2(MAX_DIM)) + 1)]
    dim = min(powers, key=lambda d: abs(cut_pct(d, overhead, raw) - target))
    return DimFit(dim, exact, target, cut_pct(dim, overhead, raw), overhead, raw, live_dim, 100 * (1 - feat / raw))
