"""Spread over seeds: mean with a 95% confidence interval (Student's t), and a paired t-test of two methods
trained on the same seeds (the per-seed differences). scipy comes with scikit-learn (setup.cfg).

A difference is called "within noise" when the paired test's p-value is 0.05 or more, or when fewer than
two seeds leave no test at all; the text then says so beside any published figure.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

CONFIDENCE = 0.95
ALPHA = 0.05
MIN_SEEDS = 5          # fewer: the report says the spread rests on too few seeds
TEST_NAME = "paired t-test"


@dataclass(frozen=True)
class MeanCI:
    mean: float
    half_width: float | None    # None: one value, no interval
    n: int

    def text(self, digits: int = 2, scale: float = 1.0) -> str:
        if self.half_width is None:
            return f"{self.mean * scale:.{digits}f} (1 seed)"
        return f"{self.mean * scale:.{digits}f} ± {self.half_width * scale:.{digits}f}"


@dataclass(frozen=True)
class PairedTest:
    difference: MeanCI          # b - a per seed
    p_value: float | None       # None: fewer than 2 seeds

    @property
    def within_noise(self) -> bool:
        return self.p_value is None or not self.p_value < ALPHA

    def verdict(self) -> str:
        if self.p_value is None:
            return f"not tested ({self.difference.n} seed)"
        return f"{'within noise, ' if self.within_noise else ''}{TEST_NAME} p={self.p_value:.2g}"


def mean_ci(values) -> MeanCI:
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_ci needs at least one value")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return MeanCI(mean, None, 1)
    from scipy.stats import t

    half = t.ppf(0.5 + CONFIDENCE / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return MeanCI(mean, float(half), len(values))


def paired_test(a, b) -> PairedTest:
    """b against a, seed by seed (the lists are in seed order and of one length)."""
    a, b = [float(v) for v in a], [float(v) for v in b]
    if len(a) != len(b) or not a:
        raise ValueError(f"paired_test needs two equally long, non-empty lists, got {len(a)} and {len(b)}")
    differences = [y - x for x, y in zip(a, b)]
    difference = mean_ci(differences)
    if len(differences) < 2:
        return PairedTest(difference, None)
    if statistics.pstdev(differences) == 0:  # every seed moved by the same amount
        return PairedTest(difference, 1.0 if difference.mean == 0 else 0.0)
    from scipy.stats import ttest_rel

    return PairedTest(difference, float(ttest_rel(b, a).pvalue))
