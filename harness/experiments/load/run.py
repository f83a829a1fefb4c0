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
from pathlib import Path

from tqdm import tqdm

from harness.experiments.compare.run_images import spec_images
from harness.experiments.compare.run import capture_points
from harness.experiments.compare.run_record import Run
from harness.experiments.compare.scenario_run import load_setup
from harness.experiments.load.cells import expected_requests, plan_cells
from harness.experiments.load.cell_run import collect_cells, run_cell
from harness.experiments.load.scenario_load import run_scenario_load
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
    setup = load_setup(spec.scenario, spec.moves, spec.link_backend, max(spec.devices), spec.placements) \
        if spec.scenario else None
    profiles = {} if setup else {a: load_profile(a) for a in spec.accesses}
    wan, lan = load_profile(spec.wan), load_profile(spec.lan)
    run = Run(spec, run_dir)
    manifest = load_manifest(models_dir)
    run.record = {
        "experiment": "load", "status": "running", "spec": spec.to_dict(), "environment": environment(backend),
        "started_utc": utc_stamp(), "finished_utc": None,
        "profiles": setup.profiles_record() if setup else
        {p.name: {"up": p.up.to_dict(), "down": p.down.to_dict()} for p in profiles.values()}
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
    if setup:
        run.record["scenario"] = setup.record()
    run.save()
    requests = CsvRows(run_dir / "requests.csv", LOAD_REQUEST_FIELDS)
    links = CsvRows(run_dir / "links.csv", LINK_FIELDS)
    cells = ([cell for access in spec.accesses for cell in plan_cells(spec, access)] if not setup
             else plan_cells(spec, setup.spec.scenario.name))
    expected = [expected_requests(spec, cell) for cell in cells]
    if None not in expected:  # open loop: every scheduled request must have its row (validity, rows lost)
        run.record["requests_expected"] = sum(expected)
    bar = tqdm(total=len(cells), unit="cell", desc="cells", file=sys.stderr, dynamic_ncols=True)

    def accesses(monitor) -> None:
        if setup:
            run_scenario_load(run, setup, models_dir, requests, links, bar, progress)
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
                run_cell(run, net, cell, {"edge": edge, "cloud": cloud}, log_dir, bar)
        except (KeyboardInterrupt, Terminated):
            run.mark_stopped()
            raise
        finally:  # the devices are stopped: stop the nodes (their stamps are on disk), then join the rows
            stop_nodes([edge, cloud], NODE_STOP_TIMEOUT_S if run.stopped_ns is None else STOPPED_NODE_STOP_TIMEOUT_S)
            run.record["compute"][access] = compute_records([cloud, edge], spec.compute)
            stop_captures(captures)
            run.record["captures"] += [c.record(run.run_dir, access) for c in captures]
            collect_cells(run, access, done, requests)
            run.record["accesses_run"].append(access)
            run.save()
