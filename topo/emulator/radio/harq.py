"""HARQ: how many transmissions a transport block takes, and the delay that adds.

Each transmission fails independently with probability ``bler`` (no soft-combining gain: a
conservative choice); a failed block is sent again one HARQ round trip later (8 ms in LTE FDD),
up to ``max_transmissions``. A block that fails them all is recovered by RLC ARQ
``rlc_recovery_s`` after its last attempt. Sources: topo/emulator/radio/lte_params.py.
"""
from __future__ import annotations

import random


class Harq:
    def __init__(self, bler: float, rtt_s: float, max_transmissions: int, rlc_recovery_s: float,
                 rng: random.Random):
        self.bler = bler
        self.rtt_s = rtt_s
        self.max_transmissions = max_transmissions
        self.rlc_recovery_s = rlc_recovery_s
        self._rng = rng
        self.blocks = self.transmissions = self.residual = 0

    def attempt(self) -> tuple[int, float]:
        """A new block: (transmissions used, delay added after the first transmission's end)."""
        self.blocks += 1
        if self.bler <= 0.0:
            self.transmissions += 1
            return 1, 0.0
        random_ = self._rng.random
        for n in range(1, self.max_transmissions + 1):
            if random_() >= self.bler:
                self.transmissions += n
                return n, (n - 1) * self.rtt_s
        self.transmissions += self.max_transmissions
        self.residual += 1
        return self.max_transmissions, (self.max_transmissions - 1) * self.rtt_s + self.rlc_recovery_s


def added_delay_distribution(bler: float, rtt_s: float, max_transmissions: int,
                             rlc_recovery_s: float) -> list[tuple[float, float]]:
    """The analytic (added delay s, probability) pairs of one block (benchmarks compare to it)."""
    rows = [((n - 1) * rtt_s, bler ** (n - 1) * (1.0 - bler)) for n in range(1, max_transmissions + 1)]
    rows.append(((max_transmissions - 1) * rtt_s + rlc_recovery_s, bler ** max_transmissions))
    return rows
