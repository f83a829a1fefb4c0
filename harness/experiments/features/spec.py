"""The spec of ``features`` (System A): frozen, validated here (options resolved as collaborate's are)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from harness.experiments.collaborate.spec import CollabSpecError
from harness.errors import SpecError
from harness.orchestration.node_processes import compute_plan
from harness.orchestration.spec_resolver import check_rules
from topo.links import BACKENDS


@dataclass(frozen=True)
class FeaturesSpec:
    accesses: tuple[str, ...] = ("lte", "wifi")
    feature_dims: tuple[int, ...] = (16, 32, 64, 128)
    images: int = 30                    # requests per access x path (dataset images as JPEG)
    train_epochs: int = 15              # epochs of every classifier (raw inputs and features alike)
    cnn_epochs: int = 5                 # epochs of CloudCNN on raw images (the cloud-centric deep model)
    ae_epochs: int = 5
    rate_hz: float = 5.0                # device requests per second (open loop, light load)
    max_train_images: int = 0           # 0: the whole training split
    accuracy_repeats: int = 5           # seeds of the accuracy-vs-dimension table (mean, 95% CI, paired test)
    seed: int = 1
    link_backend: str = "auto"
    wan: str = "wan"
    lan: str = "lan"
    models_dir: str = ""
    results_dir: str = "results"
    compute: tuple[str, ...] = ()       # node compute budgets, KEY=VALUE (--node-profile, --edge-cpus, ...)

    def __post_init__(self):
        check_rules(self, [
            ("accesses", bool(self.accesses), "a non-empty list of access profiles (empty: nothing to run)"),
            ("feature_dims", bool(self.feature_dims) and all(1 <= d <= 512 for d in self.feature_dims),
             "dimensions in 1..512"),
            ("images", self.images >= 1, "an integer >= 1"),
            ("train_epochs", self.train_epochs >= 1, "an integer >= 1"),
            ("ae_epochs", self.ae_epochs >= 1, "an integer >= 1"),
            ("cnn_epochs", self.cnn_epochs >= 0, "an integer >= 0 (0: no CloudCNN baseline)"),
            ("rate_hz", 0 < self.rate_hz <= 500, "in (0, 500]"),
            ("accuracy_repeats", self.accuracy_repeats >= 1, "an integer >= 1"),
            ("max_train_images", self.max_train_images >= 0, "an integer >= 0 (0: all)"),
            ("link_backend", self.link_backend in BACKENDS, f"one of {', '.join(BACKENDS)}"),
        ], CollabSpecError)
        try:
            compute_plan(self.compute)  # an unknown node profile or a bad budget: one line
        except SpecError as exc:
            raise CollabSpecError(str(exc)) from None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
