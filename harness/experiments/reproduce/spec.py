"""The spec of ``reproduce``: which systems, quick or full, where, and whether cached parts are rerun."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from harness.experiments.reproduce.parts import SYSTEMS
from harness.orchestration.spec_resolver import check_rules


@dataclass(frozen=True)
class ReproduceSpec:
    systems: str = "all"          # system-a | system-b | all
    quick: bool = False           # the short settings of every part (< 15 min all together on 2 cores)
    force: bool = False           # rerun parts whose cached result is still valid
    results_dir: str = "results"

    def __post_init__(self):
        check_rules(self, [
            ("systems", self.systems in SYSTEMS, f"one of {', '.join(SYSTEMS)}"),
            ("results_dir", bool(str(self.results_dir).strip()), "a folder"),
        ])

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    @property
    def run_dir(self) -> Path:
        """One folder per mode, kept between runs: a rerun resumes and reuses what finished."""
        return Path(self.results_dir) / f"reproduce-{self.mode}"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
