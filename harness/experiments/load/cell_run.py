"""One ``load`` cell run (every device of its level at once, the servers' CPU measured over it) and the rows of
finished cells joined into requests.csv: shared by the fixed network (run.py) and scenarios (scenario_load.py)."""
from __future__ import annotations

import time
from pathlib import Path

from tqdm import tqdm

from harness.experiments.compare.device_workload import device_rows_files, read_start_record, run_workloads
from harness.experiments.compare.request_rows import collect_rows, server_stamps
from harness.experiments.compare.run_record import Run
from harness.experiments.load.cells import Cell, ServerCpu, expected_requests
from nodes.csv_rows import CsvRows
from topo.network import Terminated


def run_cell(run: Run, net, cell: Cell, nodes: dict, log_dir: Path, bar: tqdm, workload=None,
             on_start=lambda: None, cpu_record=lambda cpu: cpu.record()) -> None:
    """One cell: every device of its level at once (``workload``, default the cell's), the servers' CPU measured
    from the devices' shared start (all set up; then ``on_start()`` too) to the end; its record in experiment.json
    says how it ended, how long the devices took to set up (``setup_s``) and the scheduling they got."""
    bar.set_description(f"{cell.access}/{cell.placement} {cell.devices} dev" + (f" {cell.rate_hz:g} Hz"
                                                                                 if cell.rate_hz else ""))
    record = {"access": cell.access, "level": cell.level, "placement": cell.placement, "devices": cell.devices,
              "rate_hz": cell.rate_hz, "offered_per_device_hz": run.spec.offered_per_device_hz(cell.rate_hz),
              "requests_expected": expected_requests(run.spec, cell), "status": "running",
              "started_ns": time.monotonic_ns()}
    run.record["cells"].append(record)
    run.save()
    cpu = ServerCpu(nodes)
    cpu.start()  # again at the devices' shared start
    folder = log_dir / "cells" / cell.level

    def started() -> None:
        cpu.start()
        on_start()
    try:
        run_workloads(net, workload or cell.workload(run.spec), folder, cell.placement,
                      f"{cell.access}, {cell.level}, {cell.placement}",
                      on_progress=_Requests(bar), on_stop=run.mark_stopped, on_start=started)
        record["status"] = "complete"
    except BaseException as exc:
        record["status"] = "interrupted" if isinstance(exc, (KeyboardInterrupt, Terminated)) else "failed"
        record["error"] = str(exc) or type(exc).__name__
        raise
    finally:
        cpu.stop()
        start = read_start_record(folder, cell.placement)
        scheduling: dict[str, int] = {}
        for got in start.get("scheduling", {}).values():
            scheduling[got or "not reported"] = scheduling.get(got or "not reported", 0) + 1
        record.update(ended_ns=time.monotonic_ns(), wall_s=round(cpu.wall_s, 3), server_cpu=cpu_record(cpu),
                      setup_s=start.get("setup_s"), schedule_start_ns=start.get("start_ns"),
                      device_scheduling=scheduling, devices_cpu_s=start.get("devices_cpu_s"))
        run.save()
    bar.update(1)


class _Requests:
    """The cell bar's "N req" as the devices' requests finish, redrawn at most twice a second."""

    def __init__(self, bar: tqdm):
        self.bar, self.shown_at = bar, 0.0

    def __call__(self, done: int) -> None:
        self.bar.set_postfix_str(f"{done} req", refresh=False)
        if time.monotonic() - self.shown_at >= 0.5:
            self.shown_at = time.monotonic()
            self.bar.refresh()


def collect_cells(run: Run, access: str, cells: list[Cell], requests: CsvRows, scenario_rows=None) -> None:
    """Every cell's device rows of ``access`` with the servers' stamps, into requests.csv (``scenario_rows(cell,
    stamps)``: a scenario's columns for that cell)."""
    stamps = server_stamps(run.run_dir / "logs" / access)
    for cell in cells:
        folder = run.run_dir / "logs" / access / "cells" / cell.level
        files = [(path, cell.placement) for path in device_rows_files(folder, cell.placement)]
        collect_rows(run, access, files, stamps, requests, run.stopped_ns,
                     extra={"level": cell.level, "devices_in_cell": cell.devices, "rate_hz": cell.rate_hz},
                     scenario_rows=scenario_rows(cell, stamps) if scenario_rows else None)
