"""bench_compute.py's checks: a cgroup quota really limits a CPU-burning child; a speed factor really stretches."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from models.runtime import open_session
from nodes.inference_pacing import InferencePacer
from topo.cpu_cgroup import CgroupUnavailable, CpuCgroup, find_cpu_controller

BURN = "import time\nend = time.monotonic() + 30\nwhile time.monotonic() < end: pass\n"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def burn_in_group(cpus: float, seconds: float = 2.0) -> dict:
    """Cores a busy-looping child used over ``seconds`` inside a cgroup of ``cpus`` cores, and the group's stats."""
    controller = find_cpu_controller()
    with CpuCgroup(controller, f"bench-{cpus:g}", cpus) as group:
        child = subprocess.Popen([sys.executable, "-c", BURN])
        try:
            group.add(child.pid)
            time.sleep(0.2)
            start_cpu, start = _cpu_seconds(child.pid), time.monotonic()
            time.sleep(seconds)
            used = (_cpu_seconds(child.pid) - start_cpu) / (time.monotonic() - start)
            stats = group.stats()
        finally:
            child.kill()
            child.wait()
    return {"cpus": cpus, "used_cores": round(used, 3), "cgroup": controller.version, **stats}


def check_quota() -> list[str]:
    try:
        results = [burn_in_group(c) for c in (0.25, 0.5)]
    except CgroupUnavailable as exc:
        return [f"quota: not checked ({exc})"]
    return [f"quota {r['cpus']:g} core ({r['cgroup']}): a busy child used {r['used_cores']:.3f} core over 2 s; "
            f"{r.get('throttled_periods', '?')} of {r.get('periods', '?')} periods throttled" for r in results]


def check_speed_factor(models_dir: Path, runs: int = 40) -> list[str]:
    session = open_session(models_dir / "cloudcnn.onnx", device="cpu", threads=1)
    feeds = {session.inputs[0].name: np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)}
    lines = []
    for factor in (1.5, 2.0):
        pacer = InferencePacer(factor)
        ratios = []
        for _ in range(runs):
            stamps: dict = {}
            start = time.monotonic_ns()
            session.run(feeds)
            measured = time.monotonic_ns() - start
            pacer.pace("cloudcnn", 1, measured, stamps)
            ratios.append((time.monotonic_ns() - start) / measured)
        lines.append(f"speed factor {factor:g}: inference took {np.median(ratios):.3f}x its measured time "
                     f"(median of {runs}; p90 {np.percentile(ratios, 90):.3f}x)")
    return lines
