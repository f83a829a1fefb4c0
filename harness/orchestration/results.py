"""One folder per run, never overwritten: ``results/<UTC time>-<experiment>/``.

Rows are flushed as they come (nodes.csv_rows.CsvRows), and ``experiment.json`` is rewritten
atomically at each step, so a run that stops early leaves what it finished readable.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from harness.repo_paths import REPO_ROOT

REQUEST_FIELDS = [
    "request_id", "access", "placement", "model", "size_bytes", "actual_bytes", "repetition", "status", "error",
    "client_send_start_ns", "client_reply_complete_ns", "server_upload_complete_ns", "server_inference_start_ns",
    "server_inference_end_ns", "server_reply_sent_ns", "server_preprocess_start_ns", "server_preprocess_end_ns",
    "upload_ms", "preprocess_ms", "inference_ms", "response_ms", "cloud_leg_ms",
    "predicted_class", "attempts", "attempt_errors",
    "device", "scheduled_ns", "schedule_lateness_ms", "queue_ms", "server_in_progress_at_arrival",  # issue 13
    "image", "image_width", "image_height", "image_quality", "image_encoded_bytes", "true_label", "correct",  # --images
    "cell", "served_by", "path", "handover", "node_switch",  # --scenario (harness/experiments/compare/scenario_rows.py)
]
LINK_FIELDS = ["access", "link", "direction", "metric", "configured", "measured", "error_pct", "note"]


def utc_stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def new_run_dir(results_dir: Path, experiment: str) -> Path:
    base = results_dir / f"{utc_stamp()}-{experiment}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    (path / "pcaps").mkdir()
    (path / "logs").mkdir()
    return path


def write_json_atomically(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    os.replace(tmp, path)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def environment(link_backend: str) -> dict:
    from topo.links import netem_available

    return {
        "kernel": platform.release(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "python": platform.python_version(), "link_backend": link_backend, "netem_available": netem_available(),
        "versions": {d: _version(d) for d in ("torch", "onnxruntime-gpu", "onnxruntime", "onnx", "scapy", "aiohttp",
                                                "numpy", "mininet")},
        "git_commit": _git_commit(),
        "tcp_congestion_control": _sysctl("net/ipv4/tcp_congestion_control"),
        "tcp_slow_start_after_idle": _sysctl("net/ipv4/tcp_slow_start_after_idle"),
    }


def _sysctl(name: str) -> str | None:
    """A kernel setting the namespaces inherit (new network namespaces start from the host's values)."""
    try:
        return Path("/proc/sys", name).read_text().strip()
    except OSError:
        return None
