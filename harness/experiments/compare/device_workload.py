"""The device workload of one placement, run from ue1 (``python -m nodes.workload``), with its progress."""
from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from tqdm import tqdm

from harness.errors import HarnessError
from harness.experiments.compare.run_record import Run
from harness.experiments.compare.spec import ExperimentSpec
from harness.orchestration.node_processes import CLOUD_URL, EDGE_URL, python_module, stop
from harness.repo_paths import REPO_ROOT
from topo.network import Terminated

WORKLOAD_STOP_TIMEOUT_S = 3.0   # SIGINT (as from a terminal) -> exit of the device workload, then SIGTERM, SIGKILL


def placement_target(spec: ExperimentSpec, placement: str) -> tuple[str, str]:
    """(server URL, model name) the device calls for ``placement``."""
    return {"edge": (EDGE_URL, spec.edge_model), "cloud": (CLOUD_URL, spec.cloud_model),
            "features": (EDGE_URL, "features-pca"), "split": (EDGE_URL, "split-3")}[placement]


def run_workload(net, spec: ExperimentSpec, run: Run, access: str, placement: str, bar: tqdm,
                 duration_s: float = 0.0) -> Path:
    """The device workload of one placement from ue1; rows stream into a CSV in the run folder."""
    url, model = placement_target(spec, placement)
    out = run.run_dir / "logs" / access / f"device-{placement}.csv"
    argv = python_module("nodes.workload", "--url", url, "--model", model, "--sizes", ",".join(spec.sizes),
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
        stop(proc, WORKLOAD_STOP_TIMEOUT_S, signals=(signal.SIGINT, signal.SIGTERM))
    return out
