"""One compare / sweep / replay / load run as it goes: its spec, its folder, its experiment.json record, and when a
stop signal reached it."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.orchestration.results import write_json_atomically


@dataclass
class Run:
    spec: Any                       # the experiment's frozen spec (ExperimentSpec, LoadSpec)
    run_dir: Path
    record: dict = field(default_factory=dict)
    stopped_ns: int | None = None   # when Ctrl-C / SIGTERM reached the harness (monotonic, as every stamp)
    monitor: Any = None             # the run's HostMonitor while it runs (harness/orchestration/host_monitor.py)

    def mark_stopped(self) -> None:
        self.stopped_ns = self.stopped_ns or time.monotonic_ns()

    def save(self) -> None:
        write_json_atomically(self.run_dir / "experiment.json", self.record)
