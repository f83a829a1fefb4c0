"""Run an experiment (DESIGN.md, "The flow of one experiment").

For each access network: bring the network up, start the captures, start the cloud then
the edge (which fetches its models from the cloud over the emulated WAN), measure the
links, run the device workload of each placement from ``ue1``, stop everything, and join
the servers' timestamps into ``requests.csv``. Every finished row is on disk as soon as it
exists; Ctrl-C or a crash leaves them, an ``experiment.json`` that says what finished, and
a clean machine.
"""
from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from harness.calibration import measure_links
from harness.fault_actions import NetworkFaults, RunningNodes
from harness.faults import FaultRunner, parse_schedule
from harness.capture import start_captures, stop_captures
from harness.errors import HarnessError
from harness.model_set import load_manifest, models_origin
from harness.processes import python_module as _python_module, stop as _stop, stop_all as _stop_all
from harness.processes import wait_ready as _wait_ready
from harness.results import LINK_FIELDS, REQUEST_FIELDS, CsvLog, environment, utc_stamp, write_json_atomically
from harness.spec import ExperimentSpec
from topo.network import Terminated, running_network
from topo.profiles import LinkProfile, load_profile, trace_profile
from topo.topology import LAN_EDGE, WAN_CLOUD, TopologySpec

NODE_PORT = 8000
NODE_READY_TIMEOUT_S = 120.0
NODE_STOP_TIMEOUT_S = 5.0       # SIGTERM -> exit of a node server, then SIGKILL
STOPPED_NODE_STOP_TIMEOUT_S = 1.5  # the same after Ctrl-C: a node drains in-flight requests that will never end
WORKLOAD_STOP_TIMEOUT_S = 3.0   # SIGINT (as from a terminal) -> exit of the device workload, then SIGTERM, SIGKILL
EDGE_URL, CLOUD_URL = f"http://{LAN_EDGE}:{NODE_PORT}", f"http://{WAN_CLOUD}:{NODE_PORT}"
REPO_ROOT = Path(__file__).resolve().parent.parent


def placement_target(spec: ExperimentSpec, placement: str) -> tuple[str, str]:
    """(server URL, model name) the device calls for ``placement``."""
    return {"edge": (EDGE_URL, spec.edge_model), "cloud": (CLOUD_URL, spec.cloud_model),
            "features": (EDGE_URL, "features-pca"), "split": (EDGE_URL, "split-3")}[placement]


def access_profile(spec: ExperimentSpec, access: str) -> LinkProfile:
    if access == "trace":
        return trace_profile(spec.uplink_trace, spec.downlink_trace, load_profile(spec.trace_base))
    return load_profile(access)


@dataclass
class Run:
    spec: ExperimentSpec
    run_dir: Path
    record: dict = field(default_factory=dict)
    stopped_ns: int | None = None   # when Ctrl-C / SIGTERM reached the harness (monotonic, as every stamp)

    def mark_stopped(self) -> None:
        self.stopped_ns = self.stopped_ns or time.monotonic_ns()

    def save(self) -> None:
        write_json_atomically(self.run_dir / "experiment.json", self.record)


def cloud_argv(models_dir: Path, log_dir: Path) -> list[str]:
    return _python_module("nodes.cloud", "--host", WAN_CLOUD, "--models", str(models_dir),
                          "--log-dir", str(log_dir / "cloud"), "--port", str(NODE_PORT), "--device", "auto")


def edge_argv(spec: ExperimentSpec, log_dir: Path) -> list[str]:
    placements = sorted({"edge", *spec.placements} - {"cloud"})
    return _python_module("nodes.edge", "--host", LAN_EDGE, "--cloud", CLOUD_URL, "--model", spec.edge_model,
                          "--placements", ",".join(placements), "--log-dir", str(log_dir / "edge"),
                          "--cloud-timeout-s", f"{spec.edge_cloud_timeout_s:g}",
                          "--cloud-retries", str(spec.edge_cloud_retries),
                          "--port", str(NODE_PORT), "--device", "auto")


def start_node(net, host: str, argv: list[str]) -> subprocess.Popen:
    return net.popen(host, argv, "node", stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT)


def start_nodes(net, spec: ExperimentSpec, models_dir: Path, log_dir: Path) -> tuple:
    """Cloud first, then the edge, which fetches its models from the cloud; both ready."""
    cloud = start_node(net, "cloud", cloud_argv(models_dir, log_dir))
    _wait_ready(cloud, "the cloud server", NODE_READY_TIMEOUT_S)
    edge = start_node(net, "edge", edge_argv(spec, log_dir))
    started = time.monotonic()
    _wait_ready(edge, "the edge server", NODE_READY_TIMEOUT_S)
    return cloud, edge, time.monotonic() - started


def timeouts_record(spec: ExperimentSpec) -> dict:
    """The timeouts and retries in force, as experiment.json records them."""
    return {"device_to_server": {"timeout_s": spec.request_timeout_s, "connect_timeout_s": 10.0,
                                 "retries": spec.request_retries, "retry_backoff_s": spec.retry_backoff_s,
                                 "retried_on": "no answer (refused, reset, timeout) or HTTP 502/503/504"},
            "edge_to_cloud": {"timeout_s": spec.edge_cloud_timeout_s, "connect_timeout_s": 5.0,
                              "retries": spec.edge_cloud_retries, "retry_backoff_s": 0.2,
                              "retried_on": "no answer or any non-200 answer; a failed sha256 check never"},
            "node_ready_timeout_s": NODE_READY_TIMEOUT_S}


def _wait_ready_node(proc: subprocess.Popen, what: str) -> None:
    _wait_ready(proc, what, NODE_READY_TIMEOUT_S)


def _save_windows(log_dir: Path, access: str, windows) -> None:
    """Fault windows as they change (the fault thread writes this file; experiment.json gets them at the end)."""
    write_json_atomically(log_dir / "faults.json", {"access": access, "faults": [w.record() for w in windows]})


def answering_node(placement: str) -> str:
    """The node that answers the device: the cloud for "cloud"; the edge for edge, features and split (which
    forwards the same request id to the cloud; the cloud's stamps reach the row only as its cloud_* fields)."""
    return "cloud" if placement == "cloud" else "edge"


def server_stamps(log_dir: Path) -> dict[tuple[str, str], dict]:
    """(node, request_id) -> that node's timing record (reply_sent_ns lives only there).

    A request id seen more than once by one node (device retries) gets its last answered (200) record,
    else its last one."""
    stamps: dict[tuple[str, str], dict] = {}
    for path in sorted(log_dir.glob("*/timings.jsonl")):
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash
            if not isinstance(record, dict) or not record.get("request_id"):
                continue
            key = (path.parent.name, str(record["request_id"]))  # logs/<access>/<node>/, as the harness named it
            if key not in stamps or record.get("status") == 200 or stamps[key].get("status") != 200:
                stamps[key] = record
    return stamps


def _ms(end, start) -> str:
    try:
        return f"{(int(end) - int(start)) / 1e6:.3f}"
    except (TypeError, ValueError):
        return ""


def request_row(row: dict, access: str, placement: str, server: dict) -> dict:
    ok = str(row.get("status")) == "200"
    cloud_leg = _ms(row.get("cloud_reply_complete_ns"), row.get("cloud_request_start_ns"))
    return {
        "request_id": f"{access}-{row['request_id']}", "access": access, "placement": placement,
        "model": row.get("model"), "size_bytes": row.get("size_bytes"), "actual_bytes": row.get("actual_bytes"),
        "repetition": row.get("repetition"), "status": "ok" if ok else "error",
        "error": "" if ok else (row.get("error") or f"HTTP {row.get('status')}"),
        "client_send_start_ns": row.get("send_start_ns"), "client_reply_complete_ns": row.get("reply_complete_ns"),
        "server_upload_complete_ns": row.get("upload_complete_ns"),
        "server_inference_start_ns": row.get("inference_start_ns"),
        "server_inference_end_ns": row.get("inference_end_ns"),
        "server_reply_sent_ns": server.get("reply_sent_ns", row.get("reply_sent_ns")),
        "server_preprocess_start_ns": row.get("preprocess_start_ns"),
        "server_preprocess_end_ns": row.get("preprocess_end_ns"),
        "upload_ms": _ms(row.get("upload_complete_ns"), row.get("send_start_ns")) if ok else "",
        "preprocess_ms": _ms(row.get("preprocess_end_ns"), row.get("preprocess_start_ns")) if ok else "",
        "inference_ms": _ms(row.get("inference_end_ns"), row.get("inference_start_ns")) if ok else "",
        "response_ms": _ms(row.get("reply_complete_ns"), row.get("send_start_ns")) if ok else "",
        "cloud_leg_ms": cloud_leg if ok else "", "predicted_class": row.get("label"),
        "attempts": row.get("attempts") or 1, "attempt_errors": row.get("attempt_errors") or "",
    }


def run_workload(net, spec: ExperimentSpec, run: Run, access: str, placement: str, bar: tqdm,
                 duration_s: float = 0.0) -> Path:
    """The device workload of one placement from ue1; rows stream into a CSV in the run folder."""
    url, model = placement_target(spec, placement)
    out = run.run_dir / "logs" / access / f"device-{placement}.csv"
    argv = _python_module("nodes.workload", "--url", url, "--model", model, "--sizes", ",".join(spec.sizes),
                          "--repetitions", str(spec.repetitions), "--seed", str(spec.seed),
                          "--tag", placement, "--timeout-s", f"{spec.request_timeout_s:g}",
                          "--retries", str(spec.request_retries), "--retry-backoff-s", f"{spec.retry_backoff_s:g}",
                          "--images-dir", str(REPO_ROOT / ".cache" / "images"), "--out", str(out))
    if duration_s:
        argv += ["--duration-s", f"{duration_s:g}"]
    if spec.open_loop_rate_hz:
        argv += ["--rate", f"{spec.open_loop_rate_hz:g}"]
    proc = net.popen("ue1", argv, "device", stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT)
    if bar.n == 0:
        bar.reset(total=bar.total)  # start the rate (and time-left) clock at the first request, not at set-up
    try:
        done_before = bar.n
        for line in proc.stdout:
            parts = line.decode(errors="replace").split()
            if len(parts) == 3 and parts[0] == "progress":
                bar.n = done_before + int(parts[1])
                bar.refresh()
        if proc.wait() != 0:
            err = proc.stderr.read().decode(errors="replace").strip().splitlines()
            raise HarnessError(f"device workload ({access}, {placement}) failed: {err[-1] if err else proc.returncode}")
    except (KeyboardInterrupt, Terminated):
        run.mark_stopped()
        raise
    finally:  # Ctrl-C: the workload runs in its own session (mnexec setsid), so it is told here, as a terminal would
        _stop(proc, WORKLOAD_STOP_TIMEOUT_S, signals=(signal.SIGINT, signal.SIGTERM))
    return out


def collect_requests(run: Run, access: str, placements: list[str], requests: CsvLog,
                     stopped_ns: int | None = None) -> int:
    """The device rows of ``access`` joined with the answering node's stamps, into requests.csv.

    ``stopped_ns``: when Ctrl-C / SIGTERM stopped the run; an error row of a request sent after it is the
    stop's doing, not a measurement, and is left out (counted in experiment.json). A row cut short by a
    killed workload (no status) is left out too."""
    stamps = server_stamps(run.run_dir / "logs" / access)
    written = dropped = 0
    for placement in placements:
        path = run.run_dir / "logs" / access / f"device-{placement}.csv"
        if not path.exists():
            continue
        with open(path, newline="") as rows:
            for row in csv.DictReader(rows):
                if not row.get("request_id") or not row.get("status"):
                    dropped += 1
                    continue
                if stopped_ns is not None and str(row["status"]) != "200" and _after(row, stopped_ns):
                    dropped += 1
                    continue
                if row.get("provider") and row.get("node"):
                    run.record["environment"]["onnxruntime_providers"][row["node"]] = row["provider"]
                server = stamps.get((answering_node(placement), str(row["request_id"])), {})
                requests.write(request_row(row, access, placement, server))
                written += 1
    if dropped:
        run.record.setdefault("rows_left_out", {})[access] = dropped
    return written


def _after(row: dict, at_ns: int) -> bool:
    """The request was sent, or ended, at or after ``at_ns``."""
    for key in ("send_start_ns", "reply_complete_ns"):
        try:
            if int(row.get(key) or 0) >= at_ns:
                return True
        except ValueError:
            return True  # a stamp that is not a number: not a finished row
    return False


def execute(spec: ExperimentSpec, models_dir: Path, run_dir: Path, backend: str, progress=print) -> None:
    """Run ``spec`` into ``run_dir`` (made by harness.running.run_with_lock, which checked every input and
    resolved ``backend`` before); experiment.json says how far it got, also when this raises."""
    access_profiles = {a: access_profile(spec, a) for a in spec.accesses}
    wan, lan = load_profile(spec.wan), load_profile(spec.lan)
    run = Run(spec, run_dir)
    manifest = load_manifest(models_dir)
    run.record = {
        "experiment": spec.experiment, "status": "running", "spec": spec.to_dict(),
        "environment": environment(backend), "started_utc": utc_stamp(), "finished_utc": None,
        "profiles": {p.name if a != "trace" else "trace": {"up": p.up.to_dict(), "down": p.down.to_dict()}
                     for a, p in access_profiles.items()} | {"wan": {"up": wan.up.to_dict(), "down": wan.down.to_dict()},
                                                               "lan": {"up": lan.up.to_dict(), "down": lan.down.to_dict()}},
        "models": {name: {k: entry.get(k) for k in ("file", "bytes", "sha256", "role")}
                   for name, entry in manifest.get("models", {}).items()},
        "models_origin": models_origin(models_dir),
        "captures": [], "faults": [], "accesses_run": [], "model_fetch_s": {},
        "timeouts": timeouts_record(spec), "fault_clock_start_ns": {},
    }
    run.record["environment"]["onnxruntime_providers"] = {}
    run.save()
    total = len(spec.accesses) * len(spec.placements) * len(spec.sizes) * spec.repetitions
    requests = CsvLog(run.run_dir / "requests.csv", REQUEST_FIELDS)
    links = CsvLog(run.run_dir / "links.csv", LINK_FIELDS)
    bar = tqdm(total=total if spec.experiment != "replay" else None, unit="req", desc="requests", file=sys.stderr,
               dynamic_ncols=True)
    try:
        for access, profile in access_profiles.items():
            _run_access(run, access, profile, wan, lan, backend, models_dir, requests, links, bar, progress)
        run.record["status"] = "complete"
    except BaseException as exc:
        run.record["status"] = "interrupted" if isinstance(exc, (KeyboardInterrupt, Terminated)) else "failed"
        run.record["error"] = str(exc) or type(exc).__name__
        raise
    finally:
        bar.close()
        requests.close()
        links.close()
        run.record["finished_utc"] = utc_stamp()
        run.save()


def _run_access(run: Run, access: str, profile: LinkProfile, wan: LinkProfile, lan: LinkProfile, backend: str,
                models_dir: Path, requests: CsvLog, links: CsvLog, bar: tqdm, progress) -> None:
    spec = run.spec
    topo_spec = TopologySpec(access=profile, wan=wan, lan=lan, ues=spec.ues, backend=backend)
    log_dir = run.run_dir / "logs" / access
    log_dir.mkdir(parents=True, exist_ok=True)
    progress(f"[{access}] network up ({backend} links)")
    with running_network(topo_spec, run_dir=log_dir, log_dir=log_dir) as net:
        wires = {w.link_name: w.started_ns for w in net.wires()}
        run.record.setdefault("link_start_ns", {})[access] = wires
        captures = []
        cloud = edge = None
        try:
            if spec.capture:
                captures = start_captures(net, ["ue1", "edge", "cloud"], run.run_dir / "pcaps", access,
                                          spec.capture_snaplen_bytes)
            progress(f"[{access}] starting cloud, then edge (model download over the WAN)")
            cloud, edge, fetch_s = start_nodes(net, spec, models_dir, log_dir)
            run.record["model_fetch_s"][access] = round(fetch_s, 3)
            progress(f"[{access}] calibrating links")
            for row in measure_links(net, duration_s=spec.calibrate_seconds, ping_count=10, progress=lambda _: None):
                links.write({"access": access, **row.__dict__,
                             "error_pct": None if row.error_pct is None else round(row.error_pct, 2)})
            nodes = RunningNodes(lambda host, argv: start_node(net, host, argv), _wait_ready_node)
            nodes.add("cloud", cloud_argv(models_dir, log_dir), cloud)
            nodes.add("edge", edge_argv(spec, log_dir), edge)
            actions = NetworkFaults(net, nodes)
            faults = parse_schedule(spec.faults)
            for fault in faults:
                actions.check(fault)
            runner = FaultRunner(faults, actions, on_change=lambda w: _save_windows(log_dir, access, w))
            runner.start()
            run.record["fault_clock_start_ns"][access] = runner.start_ns
            try:
                for placement in spec.placements:
                    bar.set_description(f"{access}/{placement}")
                    duration = spec.replay_seconds if spec.experiment == "replay" else 0.0
                    run_workload(net, spec, run, access, placement, bar, duration)
            finally:
                run.record["faults"] += [{"access": access, **w} for w in runner.stop()]
                cloud, edge = nodes.proc("cloud"), nodes.proc("edge")
        except (KeyboardInterrupt, Terminated):
            run.mark_stopped()
            raise
        finally:  # the workload is gone: stop the nodes (their stamps are on disk), then join the rows
            _stop_all([edge, cloud], NODE_STOP_TIMEOUT_S if run.stopped_ns is None else STOPPED_NODE_STOP_TIMEOUT_S)
            stop_captures(captures)
            run.record["captures"] += [c.record(run.run_dir, access) for c in captures]
            collect_requests(run, access, list(spec.placements), requests, run.stopped_ns)
            run.record["accesses_run"].append(access)
            run.save()
