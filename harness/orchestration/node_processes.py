"""The harness's processes in the emulated hosts: the node servers (nodes.launch.NodeProcess started through the
host's popen), their command lines and compute budgets, and the stop of every other child (device workloads, iperf3).

A node given a budget (nodes.compute_budget: from the node profile and the compute settings of the spec) gets its
CPU quota as a cgroup (topo.cpu_cgroup) made before it starts, its pid moved in right after the fork (before it
loads anything), the group removed when it stops (also when it failed to start); its threads, speed factor or
latency profile as options. ``compute_records`` says what each node really got."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.errors import HarnessError, SpecError
from harness.repo_paths import REPO_ROOT
from nodes.compute_budget import ComputeBudget, NodeProfile, resolve_budgets
from nodes.errors import NodeConfigError
from nodes.launch import NodeProcess, NodeStartError
from topo.cpu_cgroup import CgroupUnavailable, CpuCgroup, find_cpu_controller
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


def compute_plan(settings) -> tuple[NodeProfile, dict[str, ComputeBudget]]:
    """The node profile and each node's budget from the spec's compute settings; SpecError says what is wrong."""
    try:
        return resolve_budgets(settings)
    except NodeConfigError as exc:
        raise SpecError(f"compute: {exc}") from None


def host_cpus() -> int:
    return len(os.sched_getaffinity(0))


class BudgetedNode(NodeProcess):
    """A NodeProcess with a compute budget: its cgroup lives from ``start`` to ``stop`` (a ``kill`` keeps it for the
    restart). ``quota`` records what the quota really was, or why it was not applied."""

    def __init__(self, name: str, kind: str, args: list[str], budget: ComputeBudget, popen, **kwargs):
        self.name, self.budget = name, budget
        self.group: CpuCgroup | None = None
        self.quota: dict = {"applied": False, "why": "no CPU quota asked (cpus = 0)"}
        cpus = min(budget.cpus, host_cpus()) if budget.cpus else 0.0
        if budget.cpus > cpus:
            self.quota["capped"] = f"{budget.cpus:g} cores asked, this machine has {host_cpus()}"
        if cpus:
            try:
                self.group = CpuCgroup(find_cpu_controller(), name, cpus)
            except CgroupUnavailable as exc:
                self.quota["why"] = str(exc)
        self.threads_cap = max(1, math.ceil(cpus)) if cpus else None
        super().__init__(kind, [*args, *budget.node_args(self.threads_cap)], popen=self._into_group(popen), **kwargs)

    def _into_group(self, popen):
        def start_in_group(argv, **kwargs):
            proc = popen(argv, **kwargs)
            if self.group is not None and self.group.created:
                try:
                    self.group.add(proc.pid)
                except CgroupUnavailable as exc:
                    self.quota = {**self.quota, "applied": False, "why": str(exc)}
            return proc
        return start_in_group

    def start(self) -> "BudgetedNode":
        if self.group is not None and not self.group.created:
            try:
                self.group.create()
                self.quota = {k: v for k, v in self.quota.items() if k == "capped"} | self.group.record()
            except CgroupUnavailable as exc:
                self.quota["why"] = str(exc)
        return super().start()

    def stop(self, timeout_s: float | None = None) -> int | None:
        try:
            return super().stop(timeout_s)
        finally:
            if self.group is not None and self.group.created:
                self.quota |= self.group.stats()
                self.group.remove()
                self.group.created = False

    def compute_record(self) -> dict:
        """Given (the budget) and got: the quota (cgroup, version, throttling, or why not), and what the node says
        it got (compute.json: threads and provider per model, speed factor, latency profile and its sha256)."""
        try:
            node = json.loads((self.log_dir / "compute.json").read_text())
        except (OSError, ValueError):
            node = {"error": f"no readable {self.log_dir / 'compute.json'} (the node did not start?)"}
        return {"given": self.budget.to_dict(), "quota": dict(self.quota), "threads_cap": self.threads_cap,
                "node": node}


def compute_records(nodes, settings) -> dict:
    """The node profile of ``settings`` and what each budgeted node of ``nodes`` really got (experiment.json's
    ``compute``, per access)."""
    profile = compute_plan(settings)[0]
    return {"settings": list(settings), "node_profile": profile.record(), "host_cpus": host_cpus(),
            "nodes": {n.name: n.compute_record() for n in nodes if isinstance(n, BudgetedNode)}}


def node_in_host(net, host: str, kind: str, args: list[str], log_dir: Path,
                 ready_timeout_s: float = NODE_READY_TIMEOUT_S, budget: ComputeBudget | None = None,
                 address: str = "") -> NodeProcess:
    """A node server for ``host`` (cloud or edge) at its address (``address``, default the fixed network's) and
    NODE_PORT, logging into ``log_dir``; not started yet (``start_node``). With ``budget``: its quota, threads and
    pacing (BudgetedNode)."""
    kwargs = dict(log_dir=log_dir, host=address or NODE_ADDRESSES[host], port=NODE_PORT, ready_timeout_s=ready_timeout_s,
                  stop_timeout_s=NODE_STOP_TIMEOUT_S)
    if budget is None:
        return NodeProcess(kind, args, popen=host_popen(net, host), **kwargs)
    return BudgetedNode(host, kind, args, budget, host_popen(net, host), **kwargs)


def start_node(node: NodeProcess, what: str) -> NodeProcess:
    """Start ``node`` and wait until it is ready; a node that is not is one line naming ``what`` and why."""
    try:
        return node.start()
    except NodeStartError as err:  # the node is stopped by now: whether it exited by itself is the error's
        lines = node.output_tail().splitlines()
        reason = lines[-1] if lines and err.exited else f"no ready file in {node.ready_timeout_s:.0f} s"
        raise HarnessError(f"{what} did not become ready: {reason} (see {node.out_file})") from None


def cloud_args(models_dir: Path) -> list[str]:
    return ["--models", str(models_dir), "--device", "auto"]


def edge_args(edge_model: str, placements, cloud_timeout_s: float, cloud_retries: int) -> list[str]:
    """The edge of compare and features: ``edge_model`` and the placements it serves besides "edge"."""
    served = sorted({"edge", *placements} - {"cloud"})
    return ["--cloud", CLOUD_URL, "--model", edge_model, "--placements", ",".join(served),
            "--cloud-timeout-s", f"{cloud_timeout_s:g}", "--cloud-retries", str(cloud_retries), "--device", "auto"]


def start_nodes(net, models_dir: Path, log_dir: Path, edge: list[str],
                compute=None) -> tuple[NodeProcess, NodeProcess, float]:
    """Cloud first, then the edge (arguments ``edge``), which fetches its models from the cloud; both ready.
    Returns them and the seconds the edge took to be ready (its model download over the WAN). ``compute``: the
    spec's compute settings (None: no budgets, this machine as it is)."""
    budgets = compute_plan(compute)[1] if compute is not None else {}
    cloud = start_node(node_in_host(net, "cloud", "cloud", cloud_args(models_dir), log_dir / "cloud",
                                    budget=budgets.get("cloud")), "the cloud server")
    try:
        started = time.monotonic()
        edge_node = start_node(node_in_host(net, "edge", "edge", edge, log_dir / "edge", budget=budgets.get("edge")),
                               "the edge server")
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
