"""The harness's processes in the emulated hosts: the node servers (nodes.launch.NodeProcess started through the
host's popen), their command lines, and the stop of every other child (device workloads, iperf3)."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.errors import HarnessError
from harness.repo_paths import REPO_ROOT
from nodes.launch import NodeProcess, NodeStartError
from topo.topology import LAN_EDGE, WAN_CLOUD

NODE_PORT = 8000
NODE_READY_TIMEOUT_S = 120.0
NODE_STOP_TIMEOUT_S = 5.0       # SIGTERM -> exit of a node server, then SIGKILL
STOPPED_NODE_STOP_TIMEOUT_S = 1.5  # the same after Ctrl-C: a node drains in-flight requests that will never end
EDGE_URL, CLOUD_URL = f"http://{LAN_EDGE}:{NODE_PORT}", f"http://{WAN_CLOUD}:{NODE_PORT}"
NODE_ADDRESSES = {"cloud": WAN_CLOUD, "edge": LAN_EDGE}


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def host_popen(net, host: str, what: str = "node"):
    """A ``popen`` for NodeProcess that starts inside ``host`` (registered for cleanup). mnexec already puts the
    process in its own session; asking Popen for one too would make mnexec fork away from the handle."""
    def popen(argv, start_new_session: bool = False, **kwargs):
        return net.popen(host, argv, what, cwd=REPO_ROOT, **kwargs)
    return popen


def node_in_host(net, host: str, kind: str, args: list[str], log_dir: Path,
                 ready_timeout_s: float = NODE_READY_TIMEOUT_S) -> NodeProcess:
    """A node server for ``host`` (cloud or edge) at its address and NODE_PORT, logging into ``log_dir``; not
    started yet (``start_node``)."""
    return NodeProcess(kind, args, log_dir=log_dir, host=NODE_ADDRESSES[host], port=NODE_PORT,
                       ready_timeout_s=ready_timeout_s, stop_timeout_s=NODE_STOP_TIMEOUT_S, popen=host_popen(net, host))


def start_node(node: NodeProcess, what: str) -> NodeProcess:
    """Start ``node`` and wait until it is ready; a node that is not is one line naming ``what`` and why."""
    try:
        return node.start()
    except NodeStartError:
        lines = node.output_tail().splitlines()
        reason = lines[-1] if lines and node.process.poll() is not None else f"no ready file in {node.ready_timeout_s:.0f} s"
        raise HarnessError(f"{what} did not become ready: {reason} (see {node.out_file})") from None


def cloud_args(models_dir: Path) -> list[str]:
    return ["--models", str(models_dir), "--device", "auto"]


def edge_args(edge_model: str, placements, cloud_timeout_s: float, cloud_retries: int) -> list[str]:
    """The edge of compare and features: ``edge_model`` and the placements it serves besides "edge"."""
    served = sorted({"edge", *placements} - {"cloud"})
    return ["--cloud", CLOUD_URL, "--model", edge_model, "--placements", ",".join(served),
            "--cloud-timeout-s", f"{cloud_timeout_s:g}", "--cloud-retries", str(cloud_retries), "--device", "auto"]


def start_nodes(net, models_dir: Path, log_dir: Path, edge: list[str]) -> tuple[NodeProcess, NodeProcess, float]:
    """Cloud first, then the edge (arguments ``edge``), which fetches its models from the cloud; both ready.
    Returns them and the seconds the edge took to be ready (its model download over the WAN)."""
    cloud = start_node(node_in_host(net, "cloud", "cloud", cloud_args(models_dir), log_dir / "cloud"), "the cloud server")
    try:
        started = time.monotonic()
        edge_node = start_node(node_in_host(net, "edge", "edge", edge, log_dir / "edge"), "the edge server")
    except BaseException:
        cloud.stop(NODE_STOP_TIMEOUT_S)
        raise
    return cloud, edge_node, time.monotonic() - started


def stop(proc: subprocess.Popen | None, timeout_s: float = 10.0, signals=(signal.SIGTERM,)) -> None:
    """Each of ``signals`` in turn, ``timeout_s`` for each, then SIGKILL."""
    stop_all([proc], timeout_s, signals)


def stop_all(procs, timeout_s: float = 5.0, signals=(signal.SIGTERM,)) -> None:
    """Stop several processes at once (the waits overlap, not one after the other)."""
    live = [p for p in procs if p is not None and p.poll() is None]
    for signum in (*signals, signal.SIGKILL):
        for proc in live:
            if proc.poll() is None:
                proc.send_signal(signum)
        deadline = time.monotonic() + timeout_s
        for proc in live:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()) if signum != signal.SIGKILL else None)
            except subprocess.TimeoutExpired:
                pass
        live = [p for p in live if p.poll() is None]
        if not live:
            return
