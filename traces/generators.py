"""Generated traces: constant rates, and LTE-like / WiFi-like variable rates.

Variable model (a seeded Markov-modulated rate process):
  * K rate levels, given as multiples of the target mean (``levels``);
  * every ``step_ms`` the level stays with probability ``p_stay``, otherwise moves one
    level up or down with equal probability (reflecting at the ends); it starts at the
    level closest to 1.0;
  * within a step the rate is the level times a log-normal factor exp(N(0, sigma^2))
    (fast fading / contention);
  * finally all rates are scaled so their time average is exactly ``mean_mbps``.
The result is a ``time_s,rate_mbps`` step function, turned into Mahimahi delivery
opportunities by ``traces.conversion`` when it is used as a link trace.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from traces.conversion import opportunities_from_rates
from traces.trace_types import DeliveryTrace, TraceFormatError


@dataclass(frozen=True)
class MarkovRateModel:
    name: str
    mean_mbps: float
    levels: tuple[float, ...]   # multiples of mean_mbps
    step_ms: int = 100
    p_stay: float = 0.9
    sigma: float = 0.15

    def __post_init__(self):
        if self.mean_mbps <= 0:
            raise ValueError(f"{self.name}: mean_mbps must be > 0, got {self.mean_mbps}")
        if len(self.levels) < 2 or min(self.levels) < 0:
            raise ValueError(f"{self.name}: levels must be >= 2 non-negative multiples, got {self.levels}")
        if self.step_ms < 1:
            raise ValueError(f"{self.name}: step_ms must be >= 1, got {self.step_ms}")
        if not 0 <= self.p_stay <= 1:
            raise ValueError(f"{self.name}: p_stay must lie in 0..1, got {self.p_stay}")
        if self.sigma < 0:
            raise ValueError(f"{self.name}: sigma must be >= 0, got {self.sigma}")


LTE_LEVELS = (0.15, 0.35, 0.6, 0.85, 1.0, 1.2, 1.45, 1.7)
WIFI_LEVELS = (0.3, 0.6, 0.85, 1.0, 1.1, 1.2)

MODELS = {
    # The seeds' prototype rates (SEEDS.md): LTE 8 Mbit/s up, 10.88 down; WiFi 72 both ways.
    "lte-up": MarkovRateModel("lte-up", 8.0, LTE_LEVELS, step_ms=100, p_stay=0.9, sigma=0.15),
    "lte-down": MarkovRateModel("lte-down", 10.88, LTE_LEVELS, step_ms=100, p_stay=0.9, sigma=0.15),
    "wifi": MarkovRateModel("wifi", 72.0, WIFI_LEVELS, step_ms=100, p_stay=0.95, sigma=0.10),
}


def constant_rate_trace(rate_bps: float, seconds: float) -> DeliveryTrace:
    if rate_bps <= 0:
        raise TraceFormatError(f"rate must be > 0 bit/s, got {rate_bps}")
    if seconds <= 0:
        raise TraceFormatError(f"seconds must be > 0, got {seconds}")
    times = opportunities_from_rates([0.0], [rate_bps], seconds, source=f"constant {rate_bps:g} bit/s")
    return DeliveryTrace(times, source=f"constant {rate_bps / 1e6:g} Mbit/s for {seconds:g} s")


def markov_rate_steps(model: MarkovRateModel, seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(step start times in s, rates in Mbit/s) of one realisation of ``model``."""
    steps = int(round(seconds * 1000 / model.step_ms))
    if steps < 2:
        raise TraceFormatError(f"seconds must cover at least two {model.step_ms} ms steps, got {seconds}")
    rng = np.random.default_rng(seed)
    levels = np.asarray(model.levels, dtype=np.float64)
    state = int(np.argmin(np.abs(levels - 1.0)))
    multiples = np.empty(steps)
    for index in range(steps):
        multiples[index] = levels[state]
        if rng.random() >= model.p_stay:
            move = 1 if rng.random() < 0.5 else -1
            if not 0 <= state + move < len(levels):
                move = -move
            state += move
    rates = multiples * np.exp(rng.normal(0.0, model.sigma, steps))
    rates *= model.mean_mbps / rates.mean()
    times = np.arange(steps) * model.step_ms / 1000.0
    return times, rates


def markov_rate_trace(model: MarkovRateModel, seconds: float, seed: int) -> DeliveryTrace:
    times, rates_mbps = markov_rate_steps(model, seconds, seed)
    end_s = times[-1] + model.step_ms / 1000.0
    source = f"{model.name} Markov model, seed {seed}"
    return DeliveryTrace(opportunities_from_rates(times, rates_mbps * 1e6, end_s, source), source=source)
