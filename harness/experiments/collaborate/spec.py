"""The spec of ``collaborate`` (System B): frozen, validated here; its option error, shared with ``features``."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from harness.errors import SpecError
from harness.orchestration.spec_resolver import check_rules, resolve_spec
from topo.links import BACKENDS


class CollabSpecError(SpecError):
    """A bad option of collaborate / features; the message names it, the value and what is allowed."""


@dataclass(frozen=True)
class CollabSpec:
    access: str = "lte"
    labelled_images: int = 120          # N: the edge's own labelled set
    labels_per_update: int = 200        # M: new cloud labels per retrain
    updates: int = 2                    # retrains in the live run
    label_batch: int = 50               # objects per upload to the cloud's labeller
    device_rate_hz: float = 20.0        # devices' open-loop upload rate (Poisson)
    after_update_s: float = 5.0         # devices keep sending this long after the last swap
    idle_s: float = 2.0                 # the WAN must be quiet this long before an upload
    idle_rate_bytes_per_s: float = 20_000.0
    wan_busy_s: float = 6.0             # background WAN load when the update phase starts (0: none)
    wan_busy_rate_mbps: float = 20.0
    train_epochs: int = 30              # max epochs of each edge (re)training
    table_sizes: tuple[int, ...] = (120, 500)
    table_depths: tuple[int, ...] = (3, 10)
    table_repeats: int = 5            # seeds of the EdgeCNN0/1 table (mean, 95% CI, paired test)
    table_epochs: int = 30
    seed: int = 1
    link_backend: str = "auto"
    wan: str = "wan"
    lan: str = "lan"
    models_dir: str = ""
    results_dir: str = "results"
    timeout_s: float = 600.0            # the live part, at most

    def __post_init__(self):
        check_rules(self, [
            ("labelled_images", self.labelled_images >= 20, "an integer >= 20 (2 per class, 9:1 split)"),
            ("labels_per_update", self.labels_per_update >= 1, "an integer >= 1"),
            ("updates", self.updates >= 1, "an integer >= 1"),
            ("label_batch", 1 <= self.label_batch <= 256, "an integer in 1..256"),
            ("device_rate_hz", 0 < self.device_rate_hz <= 500, "in (0, 500] requests/s"),
            ("after_update_s", self.after_update_s >= 0, ">= 0 s"),
            ("idle_s", self.idle_s > 0, "> 0 s"),
            ("idle_rate_bytes_per_s", self.idle_rate_bytes_per_s > 0, "> 0"),
            ("wan_busy_s", self.wan_busy_s >= 0, ">= 0 s (0: no background load)"),
            ("wan_busy_rate_mbps", self.wan_busy_rate_mbps > 0, "> 0"),
            ("train_epochs", self.train_epochs >= 1, "an integer >= 1"),
            ("table_sizes", all(s >= 20 for s in self.table_sizes), "labelled-set sizes >= 20 (empty: no table)"),
            ("table_depths", all(k in (3, 5, 10) for k in self.table_depths), "depths among 3, 5, 10"),
            ("table_repeats", self.table_repeats >= 1, "an integer >= 1"),
            ("table_epochs", self.table_epochs >= 1, "an integer >= 1"),
            ("link_backend", self.link_backend in BACKENDS, f"one of {', '.join(BACKENDS)}"),
            ("timeout_s", self.timeout_s > 0, "> 0 s"),
        ], CollabSpecError)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def resolve(cls, config: Path | None, flags: dict):
    """CollabSpec or FeaturesSpec from defaults < TOML config file (keys = field names; or a run's experiment.json)
    < flags (None = not given); see spec_resolver."""
    return resolve_spec(cls, config, flags, error=CollabSpecError)
