"""One measured figure, as every part of ``reproduce`` hands it to the scorecard.

A part (System B models, System B network, System A) returns a list of ``Measured``; the scorecard
(``harness.experiments.reproduce.scorecard``) joins them with the published catalogue by ``key`` and
decides the verdict. Parts never decide verdicts; they say what they measured, how often, and how.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

BASES = ("measured", "fitted", "predicted", "not run")


@dataclass(frozen=True)
class Measured:
    key: str                     # the published figure's key in the catalogue, e.g. "b.fashion.k3.n120.edge1"
    ours: float | None           # None only when basis == "not run"
    ci95: float | None = None    # half-width of the 95% confidence interval (None: one sample or not applicable)
    n: int = 1                   # samples behind ``ours`` (seeds, requests)
    unit: str = ""               # "%", "points", "ms", "% change"
    basis: str = "measured"      # measured | fitted (a parameter was tuned to it) | predicted | not run
    detail: str = ""             # one sentence computed from the data (or why it was not run)

    def __post_init__(self):
        if not self.key:
            raise ValueError("a measured figure needs a key")
        if self.basis not in BASES:
            raise ValueError(f"figure {self.key}: basis {self.basis!r} is not one of {', '.join(BASES)}")
        if self.basis == "not run":
            if self.ours is not None:
                raise ValueError(f"figure {self.key}: 'not run' cannot carry a value")
        elif self.ours is None or not math.isfinite(self.ours):
            raise ValueError(f"figure {self.key}: value {self.ours!r} must be a finite number")
        if self.ci95 is not None and not (math.isfinite(self.ci95) and self.ci95 >= 0):
            raise ValueError(f"figure {self.key}: ci95 {self.ci95!r} must be a finite number >= 0")
        if self.n < 0:
            raise ValueError(f"figure {self.key}: n must be >= 0")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Measured":
        return cls(**{k: data[k] for k in ("key", "ours", "ci95", "n", "unit", "basis", "detail") if k in data})
