"""One compare / sweep / replay / load run as it goes: its spec, its folder, its experiment.json record, and when a
stop signal reached it."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.orchestration.host_monitor import HostMonitor
from harness.orchestration.results import utc_stamp, write_json_atomically
from topo.network import Terminated


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

    def monitored(self, body: Callable[[HostMonitor], None], closers: Iterable = ()) -> None:
        """``body(monitor)`` under the run's HostMonitor (host-cpu.csv, process-cpu.csv), then, whatever happened:
        status complete / interrupted / failed (with the error), ``closers`` closed, the monitor's record, the
        finish time, experiment.json saved. Exceptions propagate."""
        try:
            with HostMonitor(self.run_dir) as monitor:
                self.monitor = monitor
                self.record["host_monitor_start_s"] = monitor.start_s  # host-cpu.csv's t_s count from here (s)
                body(monitor)
            self.record["status"] = "complete"
        except BaseException as exc:
            self.record["status"] = "interrupted" if isinstance(exc, (KeyboardInterrupt, Terminated)) else "failed"
            self.record["error"] = str(exc) or type(exc).__name__
            raise
        finally:
            for closer in closers:
                closer.close()
            if self.monitor is not None:
                self.record["host_monitor"] = self.monitor.record()
            self.record["finished_utc"] = utc_stamp()
            self.save()
