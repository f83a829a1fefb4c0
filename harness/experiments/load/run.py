"""Run a ``load`` experiment: for each access network one network (with as many devices as the largest level),
one cloud and one edge server for all its cells, the links measured once; then the cells, load levels upwards,
edge and cloud side by side at each: every device of the level runs its workload at once for ``cell_seconds``
while the servers' CPU is measured. Rows stream to disk as they finish; at the end of each access (also after
Ctrl-C or a crash) they are joined with the servers' stamps into requests.csv, and experiment.json lists each
cell with how far it got.

Not resumable: a stopped run keeps every finished cell (its report covers them); run again for the rest.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from tqdm import tqdm

from harness.experiments.compare.device_workload import device_rows_files, read_start_record, run_workloads
from harness.experiments.compare.request_rows import collect_rows, server_stamps
from harness.experiments.compare.run_images import spec_images
from harness.experiments.compare.run import capture_points
from harness.experiments.compare.run_record import Run
from harness.experiments.load.cells import Cell, ServerCpu, expected_requests, plan_cells
from harness.experiments.load.spec import LoadSpec
from harness.orchestration.calibration import measure_links
from harness.orchestration.capture import start_captures, stop_captures
from harness.orchestration.model_set import load_manifest, models_origin
from harness.orchestration.node_processes import (NODE_STOP_TIMEOUT_S, STOPPED_NODE_STOP_TIMEOUT_S, compute_records,
                                                  edge_args, start_nodes)
from harness.orchestration.results import LINK_FIELDS, REQUEST_FIELDS, environment, utc_stamp
from nodes.csv_rows import CsvRows
from nodes.launch import stop_nodes
from topo.network import Terminated, running_network
from topo.profiles import LinkProfile, load_profile
from topo.topology import TopologySpec

LOAD_REQUEST_FIELDS = [*REQUEST_FIELDS, "level", "devices_in_cell", "rate_hz"]


def execute(spec: LoadSpec, models_dir: Path, run_dir: Path, backend: str, progress=print) -> None:
    """Run ``spec`` into ``run_dir`` (made by run_with_lock after every input was checked and ``backend``
    resolved); experiment.json says how far it got, also when this raises."""
    profiles = {a: load_profile(a) for a in spec.accesses}
    wan, lan = load_profile(spec.wan), load_profile(spec.lan)
    run = Run(spec, run_dir)
    manifest = load_manifest(models_dir)
    run.record = {
        "experiment": "load", "status": "running", "spec": spec.to_dict(), "environment": environment(backend),
        "started_utc": utc_stamp(), "finished_utc": None,
        "profiles": {p.name: {"up": p.up.to_dict(), "down": p.down.to_dict()} for p in profiles.values()}
        | {"wan": {"up": wan.up.to_dict(), "down": wan.down.to_dict()},
           "lan": {"up": lan.up.to_dict(), "down": lan.down.to_dict()}},
        "models": {name: {k: entry.get(k) for k in ("file", "bytes", "sha256", "role")}
                   for name, entry in manifest.get("models", {}).items()},
        "models_origin": models_origin(models_dir), "models_byo": manifest.get("byo") or {}, "pattern": spec.pattern,
        "cells": [], "captures": [], "accesses_run": [], "model_fetch_s": {}, "compute": {},
        "resumable": False,
    }
    run.record["environment"]["onnxruntime_providers"] = {}
    run.record["images"] = spec_images(spec, models_dir, progress=lambda _: None)  # made before: the cache's
    run.save()
    requests = CsvRows(run_dir / "requests.csv", LOAD_REQUEST_FIELDS)
    links = CsvRows(run_dir / "links.csv", LINK_FIELDS)
    cells = [cell for access in spec.accesses for cell in plan_cells(spec, access)]
    expected = [expected_requests(spec, cell) for cell in cells]
    if None not in expected:  # open loop: every scheduled request must have its row (validity, rows lost)
        run.record["requests_expected"] = sum(expected)
    bar = tqdm(total=len(cells), unit="cell", desc="cells", file=sys.stderr, dynamic_ncols=True)

    def accesses(monitor) -> None:
        run.record["host_monitor_start_s"] = monitor.start_s  # its t_s count from here (monotonic s)
        for access, profile in profiles.items():
            _run_access(run, access, profile, wan, lan, backend, models_dir, requests, links, bar, progress)

    run.monitored(accesses, closers=(bar, requests, links))


def _run_access(run: Run, access: str, profile: LinkProfile, wan: LinkProfile, lan: LinkProfile, backend: str,
                models_dir: Path, requests: CsvRows, links: CsvRows, bar: tqdm, progress) -> None:
    spec: LoadSpec = run.spec
    log_dir = run.run_dir / "logs" / access
    log_dir.mkdir(parents=True, exist_ok=True)
    topo_spec = TopologySpec(access=profile, wan=wan, lan=lan, ues=max(spec.devices), backend=backend)
    progress(f"[{access}] network up with {max(spec.devices)} devices ({backend} links)")
    monitor = run.monitor
    with running_network(topo_spec, run_dir=log_dir, log_dir=log_dir) as net:
        for wire in net.wires():
            if wire.process is not None:
                monitor.watch(f"emulator:{access}:{wire.link_name}", wire.process.pid)
        captures, cloud, edge, done = [], None, None, []
        try:
            if spec.capture:
                captures = start_captures(net, capture_points(max(spec.devices)), run.run_dir / "pcaps", access,
                                          spec.capture_snaplen_bytes)
            progress(f"[{access}] starting cloud, then edge (model download over the WAN)")
            cloud, edge, fetch_s = start_nodes(net, models_dir, log_dir, edge_args(
                spec.edge_model, spec.placements, spec.edge_cloud_timeout_s, spec.edge_cloud_retries),
                compute=spec.compute)
            run.record["model_fetch_s"][access] = round(fetch_s, 3)
            for name, node in (("cloud", cloud), ("edge", edge)):
                monitor.watch(f"{name}:{access}", node.process.pid)
            progress(f"[{access}] calibrating links")
            for row in measure_links(net, duration_s=spec.calibrate_seconds, ping_count=5, progress=lambda _: None):
                links.write({"access": access, **row.__dict__,
                             "error_pct": None if row.error_pct is None else round(row.error_pct, 2)})
            for cell in plan_cells(spec, access):
                done.append(cell)
                _run_cell(run, net, cell, {"edge": edge, "cloud": cloud}, log_dir, bar)
        except (KeyboardInterrupt, Terminated):
            run.mark_stopped()
            raise
        finally:  # the devices are stopped: stop the nodes (their stamps are on disk), then join the rows
            stop_nodes([edge, cloud], NODE_STOP_TIMEOUT_S if run.stopped_ns is None else STOPPED_NODE_STOP_TIMEOUT_S)
            run.record["compute"][access] = compute_records([cloud, edge], spec.compute)
            stop_captures(captures)
            run.record["captures"] += [c.record(run.run_dir, access) for c in captures]
            _collect(run, access, done, requests)
            run.record["accesses_run"].append(access)
            run.save()


def _run_cell(run: Run, net, cell: Cell, nodes: dict, log_dir: Path, bar: tqdm) -> None:
    """One cell: every device of its level at once, the servers' CPU measured from the devices' shared start (all
    set up) to the end; its record in experiment.json says how it ended, how long the devices took to set up
    (``setup_s``) and the scheduling they got."""
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
    try:
        run_workloads(net, cell.workload(run.spec), folder, cell.placement,
                      f"{cell.access}, {cell.level}, {cell.placement}",
                      on_progress=_Requests(bar), on_stop=run.mark_stopped, on_start=cpu.start)
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
        record.update(ended_ns=time.monotonic_ns(), wall_s=round(cpu.wall_s, 3), server_cpu=cpu.record(),
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


def _collect(run: Run, access: str, cells: list[Cell], requests: CsvRows) -> None:
    """Every cell's device rows of ``access`` with the servers' stamps, into requests.csv."""
    stamps = server_stamps(run.run_dir / "logs" / access)
    for cell in cells:
        folder = run.run_dir / "logs" / access / "cells" / cell.level
        files = [(path, cell.placement) for path in device_rows_files(folder, cell.placement)]
        collect_rows(run, access, files, stamps, requests, run.stopped_ns,
                     extra={"level": cell.level, "devices_in_cell": cell.devices, "rate_hz": cell.rate_hz})
