"""Loss stages, applied to each arriving packet before the queue.

* ``BernoulliLoss(p)``: every packet is lost independently with probability p.
* ``GilbertElliottLoss``: a two-state Markov chain (good, bad). For each packet the
  loss is drawn with the current state's probability (``loss_good`` / ``loss_bad``),
  then the state moves (good->bad with ``p_good_bad``, bad->good with ``p_bad_good``).
  The chain starts in the good state. Mean burst (bad-state) length is 1/p_bad_good
  packets; the stationary loss rate is
  (p_bad_good*loss_good + p_good_bad*loss_bad) / (p_good_bad + p_bad_good).
"""
from __future__ import annotations

import random


class NoLoss:
    def lost(self) -> bool:
        return False


class BernoulliLoss:
    def __init__(self, probability: float, rng: random.Random):
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"loss probability must lie in 0..1, got {probability}")
        self.probability = probability
        self._random = rng.random

    def lost(self) -> bool:
        return self._random() < self.probability


class GilbertElliottLoss:
    def __init__(self, p_good_bad: float, p_bad_good: float, loss_good: float, loss_bad: float,
                 rng: random.Random):
        for name, value in (("p_good_bad", p_good_bad), ("p_bad_good", p_bad_good),
                            ("loss_good", loss_good), ("loss_bad", loss_bad)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Gilbert-Elliott {name} must lie in 0..1, got {value}")
        self.p_good_bad, self.p_bad_good = p_good_bad, p_bad_good
        self.loss_good, self.loss_bad = loss_good, loss_bad
        self.bad = False
        self._random = rng.random

    def lost(self) -> bool:
        if self.bad:
            lost = self._random() < self.loss_bad
            if self._random() < self.p_bad_good:
                self.bad = False
        else:
            lost = self._random() < self.loss_good
            if self._random() < self.p_good_bad:
                self.bad = True
        return lost

    @property
    def stationary_loss(self) -> float:
        total = self.p_good_bad + self.p_bad_good
        if total == 0:
            return self.loss_good
        return (self.p_bad_good * self.loss_good + self.p_good_bad * self.loss_bad) / total
