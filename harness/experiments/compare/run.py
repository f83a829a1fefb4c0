"""Run an experiment (DESIGN.md, "The flow of one experiment").

For each access network: bring the network up, start the captures, start the cloud then
the edge (which fetches its models from the cloud over the emulated WAN), measure the
links, run the device workload of each placement from ``ue1``, stop everything, and join
the servers' timestamps into ``requests.csv``. Every finished row is on disk as soon as it
exists; Ctrl-C or a crash leaves them, an ``experiment.json`` that says what finished, and
a clean machine.
"""
from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from harness.experiments.compare.device_workload import compare_workload, run_workloads
from harness.experiments.compare.request_rows import collect_requests
from harness.experiments.compare.run_images import spec_images
from harness.experiments.compare.run_record import Run
from harness.experiments.compare.scenario_compare import compare_setup, run_scenario_pass
from harness.experiments.compare.spec import ExperimentSpec, access_profile
from harness.orchestration.calibration import measure_links
from harness.orchestration.capture import start_captures, stop_captures
from harness.orchestration.fault_actions import NetworkFaults, RunningNodes
from harness.orchestration.faults import FaultRunner, parse_schedule
from harness.orchestration.model_set import load_manifest, models_origin
from harness.orchestration.node_processes import (NODE_READY_TIMEOUT_S, NODE_STOP_TIMEOUT_S,
                                                  STOPPED_NODE_STOP_TIMEOUT_S, compute_records, edge_args, start_node,
                                                  start_nodes)
from harness.orchestration.results import LINK_FIELDS, REQUEST_FIELDS, environment, utc_stamp, write_json_atomically
from nodes.csv_rows import CsvRows
from nodes.launch import stop_nodes
from topo.network import Terminated, running_network
from topo.profiles import LinkProfile, load_profile
from topo.topology import TopologySpec


def timeouts_record(spec: ExperimentSpec) -> dict:
    """The timeouts and retries in force, as experiment.json records them."""
    return {"device_to_server": {"timeout_s": spec.request_timeout_s, "connect_timeout_s": 10.0,
                                 "retries": spec.request_retries, "retry_backoff_s": spec.retry_backoff_s,
                                 "retried_on": "no answer (refused, reset, timeout) or HTTP 502/503/504"},
            "edge_to_cloud": {"timeout_s": spec.edge_cloud_timeout_s, "connect_timeout_s": 5.0,
                              "retries": spec.edge_cloud_retries, "retry_backoff_s": 0.2,
                              "retried_on": "no answer or any non-200 answer; a failed sha256 check never"},
            "node_ready_timeout_s": NODE_READY_TIMEOUT_S}


def capture_points(devices: int) -> list[str]:
    """Where the packets are captured: ue1, edge and cloud; with several devices the base station (its access
    side) instead of ue1, where every device's traffic passes (one capture, not one per device; each device is
    told apart by its address, 10.0.1.<i>)."""
    return ["ue1" if devices == 1 else "bs", "edge", "cloud"]


def _show(bar: tqdm, done: int) -> None:
    bar.n = done
    bar.refresh()


def _save_windows(log_dir: Path, access: str, windows) -> None:
    """Fault windows as they change (the fault thread writes this file; experiment.json gets them at the end)."""
    write_json_atomically(log_dir / "faults.json", {"access": access, "faults": [w.record() for w in windows]})


def execute(spec: ExperimentSpec, models_dir: Path, run_dir: Path, backend: str, progress=print) -> None:
    """Run ``spec`` into ``run_dir`` (made by harness.orchestration.running.run_with_lock, which checked every input and
    resolved ``backend`` before); experiment.json says how far it got, also when this raises."""
    setup = compare_setup(spec) if spec.scenario else None
    access_profiles = {} if setup else {a: access_profile(spec, a) for a in spec.accesses}
    wan, lan = load_profile(spec.wan), load_profile(spec.lan)
    run = Run(spec, run_dir)
    manifest = load_manifest(models_dir)
    run.record = {
        "experiment": spec.experiment, "status": "running", "spec": spec.to_dict(),
        "environment": environment(backend), "started_utc": utc_stamp(), "finished_utc": None,
        "profiles": setup.profiles_record(spec.experiment == "replay") if setup else
        {p.name if a != "trace" else "trace": {"up": p.up.to_dict(), "down": p.down.to_dict()}
         for a, p in access_profiles.items()} | {"wan": {"up": wan.up.to_dict(), "down": wan.down.to_dict()},
                                                   "lan": {"up": lan.up.to_dict(), "down": lan.down.to_dict()}},
        "models": {name: {k: entry.get(k) for k in ("file", "bytes", "sha256", "role")}
                   for name, entry in manifest.get("models", {}).items()},
        "models_origin": models_origin(models_dir),
        "models_byo": manifest.get("byo") or {},  # the user's files: slot -> name, source, sha256, card
        "captures": [], "faults": [], "accesses_run": [], "model_fetch_s": {},
        "timeouts": timeouts_record(spec), "fault_clock_start_ns": {},
    }
    run.record["environment"]["onnxruntime_providers"] = {}
    run.record["images"] = spec_images(spec, models_dir, progress=lambda _: None)  # made before: the cache's
    if setup:
        run.record["scenario"] = setup.record()
    run.save()
    sizes = 1 if spec.images_dir and spec.image_mode == "as-is" else len(spec.sizes)  # as-is: one file a repetition
    total = (1 if setup else len(spec.accesses)) * len(spec.placements) * sizes * spec.repetitions * spec.devices
    requests = CsvRows(run.run_dir / "requests.csv", REQUEST_FIELDS)
    links = CsvRows(run.run_dir / "links.csv", LINK_FIELDS)
    bar = tqdm(total=total if spec.experiment != "replay" else None, unit="req", desc="requests", file=sys.stderr,
               dynamic_ncols=True)

    def accesses(_monitor) -> None:
        if setup:
            run_scenario_pass(run, setup, models_dir, requests, links, bar, progress)
            if spec.experiment != "replay" and not (spec.open_loop_rate_hz or spec.arrivals_file):
                run.record["requests_expected"] = total  # closed loop: validity's rows lost (one pass, not accesses)
        for access, profile in access_profiles.items():
            _run_access(run, access, profile, wan, lan, backend, models_dir, requests, links, bar, progress)

    run.monitored(accesses, closers=(bar, requests, links))


def _run_access(run: Run, access: str, profile: LinkProfile, wan: LinkProfile, lan: LinkProfile, backend: str,
                models_dir: Path, requests: CsvRows, links: CsvRows, bar: tqdm, progress) -> None:
    spec = run.spec
    topo_spec = TopologySpec(access=profile, wan=wan, lan=lan, ues=spec.topology_ues, backend=backend)
    log_dir = run.run_dir / "logs" / access
    log_dir.mkdir(parents=True, exist_ok=True)
    progress(f"[{access}] network up ({backend} links)")
    with running_network(topo_spec, run_dir=log_dir, log_dir=log_dir) as net:
        wires = {w.link_name: w.started_ns for w in net.wires()}
        run.record.setdefault("link_start_ns", {})[access] = wires
        watch = run.monitor.watch if getattr(run, "monitor", None) is not None else lambda *_: None
        for wire in net.wires():
            if wire.process is not None:
                watch(f"emulator:{access}:{wire.link_name}", wire.process.pid)
        captures = []
        cloud = edge = None
        try:
            if spec.capture:
                captures = start_captures(net, capture_points(spec.devices), run.run_dir / "pcaps", access,
                                          spec.capture_snaplen_bytes)
            progress(f"[{access}] starting cloud, then edge (model download over the WAN)")
            cloud, edge, fetch_s = start_nodes(net, models_dir, log_dir, edge_args(
                spec.edge_model, spec.placements, spec.edge_cloud_timeout_s, spec.edge_cloud_retries),
                compute=spec.compute)
            run.record["model_fetch_s"][access] = round(fetch_s, 3)
            for node in (cloud, edge):
                if getattr(node, "process", None) is not None:
                    watch(f"{node.kind}:{access}", node.process.pid)
            progress(f"[{access}] calibrating links")
            for row in measure_links(net, duration_s=spec.calibrate_seconds, ping_count=10, progress=lambda _: None):
                links.write({"access": access, **row.__dict__,
                             "error_pct": None if row.error_pct is None else round(row.error_pct, 2)})
            nodes = RunningNodes(start_node)
            nodes.add("cloud", cloud)
            nodes.add("edge", edge)
            actions = NetworkFaults(net, nodes)
            faults = parse_schedule(spec.faults)
            for fault in faults:
                actions.check(fault)
            runner = FaultRunner(faults, actions, on_change=lambda w: _save_windows(log_dir, access, w))
            runner.start()
            run.record["fault_clock_start_ns"][access] = runner.start_ns
            try:
                if bar.n == 0:
                    bar.reset(total=bar.total)  # the rate (and time-left) clock starts at the first request
                for placement in spec.placements:
                    bar.set_description(f"{access}/{placement}")
                    duration = spec.replay_seconds if spec.experiment == "replay" else 0.0
                    done_before = bar.n
                    run_workloads(net, compare_workload(spec, placement, duration), log_dir, placement,
                                  f"{access}, {placement}", on_progress=lambda done: _show(bar, done_before + done),
                                  on_stop=run.mark_stopped)
            finally:
                run.record["faults"] += [{"access": access, **w} for w in runner.stop()]
        except (KeyboardInterrupt, Terminated):
            run.mark_stopped()
            raise
        finally:  # the workload is gone: stop the nodes (their stamps are on disk), then join the rows
            stop_nodes([edge, cloud], NODE_STOP_TIMEOUT_S if run.stopped_ns is None else STOPPED_NODE_STOP_TIMEOUT_S)
            run.record.setdefault("compute", {})[access] = compute_records([cloud, edge], spec.compute)
            stop_captures(captures)
            run.record["captures"] += [c.record(run.run_dir, access) for c in captures]
            collect_requests(run, access, list(spec.placements), requests, run.stopped_ns)
            run.record["accesses_run"].append(access)
            run.save()
