"""``collaborate``: System B's initialisation and update phases between the real edge and cloud processes
over the emulated network (SEEDS.md, System B; issue 7).

1. Data: the edge's N labelled images (stratified, seeded), the devices' pool (the rest of the
   training split, unlabelled as far as the edge knows), the held-out test split.
2. Network up; cloud started; the edge (``nodes.collab_edge``) downloads CloudCNN's m lower layers
   over the WAN, trains EdgeCNN1-m's head on its N images and serves it.
3. Update phase: ``ue1`` uploads pool images open loop; optionally the WAN is loaded (iperf3 edge
   host -> cloud) for ``wan_busy_s``; the edge uploads kept objects when the WAN counters (the base
   station's WAN port) have been quiet for ``idle_s``; after M labels it retrains and swaps.
4. Everything stops; ``harness.experiments.collaborate.analysis`` evaluates each model version on the test split,
   splits response times by phase, and adds the EdgeCNN0-k vs EdgeCNN1-k table.
"""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from harness.experiments.collaborate.spec import CollabSpec
from harness.orchestration.model_set import load_manifest, models_origin
from harness.orchestration.node_processes import (CLOUD_URL, EDGE_URL, NODE_READY_TIMEOUT_S, NODE_STOP_TIMEOUT_S,
                                                  cloud_args, node_in_host, python_module, start_node, stop)
from harness.orchestration.results import environment, utc_stamp, write_json_atomically
from harness.orchestration.wan_port import wan_counter_source
from harness.repo_paths import REPO_ROOT
from nodes.launch import NodeProcess, stop_nodes
from nodes.wan_counters import CounterSource
from topo.commands import wait_for_line
from topo.network import Terminated, running_network
from topo.profiles import load_profile
from topo.topology import WAN_CLOUD, TopologySpec

BUSY_PORT = 5202
POLL_S = 0.25


def prepare_data(spec: CollabSpec, manifest: dict, data_dir: Path) -> dict:
    """labelled.npz (N), pool.npz (the rest of train), and the data set's description."""
    from models.collaboration import stratified_subset
    from models.datasets import load_dataset
    from nodes.edge_update import save_labelled

    settings = manifest.get("settings", {})
    data = load_dataset(settings.get("dataset", "digits"),
                        Path(settings["data_dir"]) if settings.get("data_dir") else None)
    if spec.labelled_images >= len(data.train):
        raise HarnessError(f"--labelled-images {spec.labelled_images}: the training split has only "
                           f"{len(data.train)} images")
    labelled = stratified_subset(data.train, spec.labelled_images, spec.seed)
    taken = np.zeros(len(data.train), bool)
    taken[_indices_of(data.train, labelled)] = True
    pool_idx = np.flatnonzero(~taken)
    save_labelled(data_dir / "labelled.npz", labelled.images, labelled.labels)
    save_labelled(data_dir / "pool.npz", data.train.images[pool_idx], data.train.labels[pool_idx])
    return {"dataset": data.describe(), "labelled_images": len(labelled), "pool_images": int(len(pool_idx)),
            "test_images": len(data.test)}


def _indices_of(full, subset) -> np.ndarray:
    """Rows of ``full`` that ``subset`` took (stratified_subset keeps rows in order)."""
    keys = {full.images[i].tobytes() + bytes([int(full.labels[i])]): i for i in range(len(full))}
    return np.array([keys[subset.images[j].tobytes() + bytes([int(subset.labels[j])])] for j in range(len(subset))])


def _events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def _start_wan_load(net, spec: CollabSpec, log_dir: Path) -> list[subprocess.Popen]:
    """Other traffic on the core network: iperf3 UDP edge host -> cloud at a fixed rate for wan_busy_s."""
    server = net.popen("cloud", ["iperf3", "-s", "-1", "--forceflush", "-B", WAN_CLOUD, "-p", str(BUSY_PORT)], "iperf3",
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if not wait_for_line(server, server.stdout, "Server listening", 5.0)[0]:
        stop(server)
        raise HarnessError("background WAN load: the iperf3 server in the cloud host did not start")
    client = net.popen("edge", ["iperf3", "-c", WAN_CLOUD, "-p", str(BUSY_PORT), "-u", "-b",
                                f"{spec.wan_busy_rate_mbps:g}M", "-l", "1400", "-t", f"{spec.wan_busy_s:g}", "-J",
                                "--logfile", str(log_dir / "wan-load.json")], "iperf3",
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return [client, server]


def _edge_args(spec: CollabSpec, m: int, data_dir: Path, counters: CounterSource, pool_stride: int) -> list[str]:
    return [
        "--cloud", CLOUD_URL, "--labelled-set", str(data_dir / "labelled.npz"),
        "--shared-block", f"cloudcnn-lower-{m}", "--labels-per-update", str(spec.labels_per_update),
        "--max-updates", str(spec.updates), "--label-batch", str(spec.label_batch), "--keep-objects", "5000",
        "--train-epochs", str(spec.train_epochs), "--pool-stride", str(pool_stride), "--seed", str(spec.seed),
        "--wan-counters", str(counters), "--idle-s", f"{spec.idle_s:g}",
        "--idle-rate-bytes-per-s", f"{spec.idle_rate_bytes_per_s:g}", "--device", "auto", "--threads", "1"]


def _wait_for_updates(spec: CollabSpec, events_path: Path, nodes: dict[str, NodeProcess],
                      device: subprocess.Popen, progress) -> str:
    """Until the edge recorded ``updates`` retrains (+ after_update_s), a failure, or the timeout."""
    deadline = time.monotonic() + spec.timeout_s
    seen = 0
    while time.monotonic() < deadline:
        events = _events(events_path)
        for event in events[seen:]:
            if event["event"] == "labelled":
                progress(f"  labelled {event['labelled_total']} objects (WAN quiet {event['idle_for_s']:.1f} s)")
            elif event["event"] == "updated":
                progress(f"  update {event['version']}: retrained on {event['labelled_images']} images in "
                         f"{event['train_seconds']:.1f} s, swapped in {event['swap_ms']:.0f} ms")
        seen = len(events)
        if any(e["event"] == "update_failed" for e in events):
            return "update_failed"
        if sum(e["event"] == "updated" for e in events) >= spec.updates:
            time.sleep(spec.after_update_s)
            return "complete"
        for name, node in nodes.items():
            if not node.running():
                err = node.output_tail().splitlines()
                raise HarnessError(f"the {name} stopped early: {err[-1] if err else node.process.returncode} "
                                   f"(see {node.out_file})")
        if device.poll() is not None:
            err = device.stderr.read().decode(errors="replace").strip().splitlines()
            raise HarnessError(f"the device stopped early: {err[-1] if err else device.returncode}")
        time.sleep(POLL_S)
    return "timeout"


def execute_collaboration(spec: CollabSpec, models_dir: Path, run_dir: Path, backend: str, progress=print) -> None:
    """The live part, into ``run_dir`` (made by harness.orchestration.running.run_with_lock, which also checked the profiles
    and resolved ``backend``); ``experiment.json`` says how far it got."""
    manifest = load_manifest(models_dir)
    m = int(manifest.get("settings", {}).get("shared_layers_m", 3))
    pool_stride = int(manifest.get("settings", {}).get("edge_pool_stride", 2))
    wan, lan, access = load_profile(spec.wan), load_profile(spec.lan), load_profile(spec.access)
    record = {"experiment": "collaborate", "status": "running", "spec": spec.to_dict(),
              "environment": environment(backend), "started_utc": utc_stamp(), "finished_utc": None,
              "models_dir": str(models_dir), "models_origin": models_origin(models_dir),
              "shared_layers_m": m, "edge_pool_stride": pool_stride,
              "models": {n: {k: e.get(k) for k in ("bytes", "sha256", "role", "accuracy")}
                         for n, e in manifest["models"].items()}, "wan_counters": {}}
    save = lambda: write_json_atomically(run_dir / "experiment.json", record)  # noqa: E731
    save()
    data_dir, log_dir = run_dir / "data", run_dir / "logs"
    record["data"] = prepare_data(spec, manifest, data_dir)
    save()
    topo_spec = TopologySpec(access=access, wan=wan, lan=lan, ues=1, backend=backend)
    try:
        progress(f"[{spec.access}] network up ({backend} links)")
        with running_network(topo_spec, run_dir=log_dir, log_dir=log_dir) as net:
            counters = wan_counter_source(net)
            record["wan_counters"]["source"] = str(counters)
            nodes: dict[str, NodeProcess] = {}
            device = None
            busy: list[subprocess.Popen] = []
            try:
                nodes["cloud"] = start_node(node_in_host(net, "cloud", "cloud", cloud_args(models_dir), log_dir / "cloud"),
                                            "the cloud server")
                record["wan_counters"]["before_edge"] = counters.read().__dict__
                progress(f"[{spec.access}] initialisation: edge downloads cloudcnn-lower-{m} over the WAN, "
                         f"trains EdgeCNN1-{m} on {spec.labelled_images} labelled images")
                nodes["edge"] = start_node(node_in_host(net, "edge", "collab_edge",
                                                        _edge_args(spec, m, data_dir, counters, pool_stride),
                                                        log_dir / "edge", NODE_READY_TIMEOUT_S + 120), "the edge server")
                record["wan_counters"]["edge_ready"] = counters.read().__dict__
                record["update_phase_start_ns"] = time.monotonic_ns()
                save()
                progress(f"[{spec.access}] update phase: ue1 uploads at {spec.device_rate_hz:g}/s; edge uploads to "
                         f"the cloud after {spec.idle_s:g} s of quiet WAN; retrain after {spec.labels_per_update} labels")
                if spec.wan_busy_s:
                    busy = _start_wan_load(net, spec, log_dir)
                    record["wan_busy_start_ns"] = time.monotonic_ns()
                device = net.popen("ue1", python_module(
                    "nodes.collab_device", "--url", EDGE_URL, "--pool", str(data_dir / "pool.npz"),
                    "--rate", f"{spec.device_rate_hz:g}", "--seed", str(spec.seed),
                    "--out", str(log_dir / "device.csv")), "device",
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO_ROOT)
                record["status"] = _wait_for_updates(spec, log_dir / "edge" / "collab.jsonl", nodes, device, progress)
            finally:
                for proc in (device, *busy):
                    stop(proc)
                stop_nodes([nodes.get("edge"), nodes.get("cloud")], NODE_STOP_TIMEOUT_S)
                try:
                    record["wan_counters"]["end"] = counters.read().__dict__
                except Exception:  # noqa: BLE001 - the namespace may be gone already
                    pass
    except BaseException as exc:
        record["status"] = "interrupted" if isinstance(exc, (KeyboardInterrupt, Terminated)) else "failed"
        record["error"] = str(exc) or type(exc).__name__
        raise
    finally:
        record["finished_utc"] = utc_stamp()
        save()
