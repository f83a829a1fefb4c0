"""The cells of a ``load`` run (access x load level x placement), the workload each runs, and the CPU the node
servers used while it ran (from /proc through psutil: user + system time of the server process and its threads)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import psutil

from harness.experiments.compare.device_workload import Workload
from harness.experiments.load.spec import LoadSpec
from harness.orchestration.node_processes import CLOUD_URL, EDGE_URL, host_cpus
from nodes.arrivals import before, poisson_offsets_ns, read_arrivals


@dataclass(frozen=True)
class Cell:
    access: str
    placement: str
    devices: int
    rate_hz: float          # per device; 0: closed loop or the arrival file

    @property
    def level(self) -> str:
        """The load level's name, as folders and request ids carry it: d8, or d8-r0.5 open loop."""
        return f"d{self.devices}" + (f"-r{self.rate_hz:g}" if self.rate_hz else "")

    @property
    def name(self) -> str:
        return f"{self.access}/{self.level}/{self.placement}"

    def workload(self, spec: LoadSpec) -> Workload:
        url, model = (EDGE_URL, spec.edge_model) if self.placement == "edge" else (CLOUD_URL, spec.cloud_model)
        return Workload(url=url, model=model, sizes=spec.sizes, tag=f"{self.level}-{self.placement}",
                        repetitions=1, seed=spec.seed, devices=self.devices, duration_s=spec.cell_seconds,
                        think_ms=spec.think_ms, rate_hz=self.rate_hz, arrivals_file=spec.arrivals_file,
                        timeout_s=spec.request_timeout_s, images=spec.images_dir, image_mode=spec.image_mode,
                        labels_file=spec.labels_file)


def expected_requests(spec: LoadSpec, cell: Cell) -> int | None:
    """The requests a cell's devices are scheduled to send (the same seeded schedules they draw,
    nodes.arrivals); None for a closed loop, whose count the replies decide."""
    if cell.rate_hz:
        return sum(len(poisson_offsets_ns(cell.rate_hz, spec.seed + i - 1, duration_s=spec.cell_seconds))
                   for i in range(1, cell.devices + 1))
    if spec.arrivals_file:
        return cell.devices * len(before(read_arrivals(spec.arrivals_file), spec.cell_seconds))
    return None


def plan_cells(spec: LoadSpec, access: str) -> list[Cell]:
    """The cells of one access in the order they run: load levels upwards, the placements side by side at each."""
    return [Cell(access, placement, devices, rate) for devices, rate in spec.levels for placement in spec.placements]


def process_cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user + system, every thread) a live process has used; None when it is gone."""
    if pid is None:
        return None
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return times.user + times.system


class ServerCpu:
    """The node servers' CPU over one cell: ``start()`` before the devices send, ``stop()`` after; ``record()``
    gives per node the CPU seconds, cores used on average, and that against its quota (or this machine's CPUs)."""

    def __init__(self, nodes: dict):
        self.nodes = {name: node for name, node in nodes.items() if node is not None}
        self.started: dict[str, float | None] = {}
        self.ended: dict[str, float | None] = {}
        self.wall_s = 0.0
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        self.started = {name: process_cpu_s(_pid(node)) for name, node in self.nodes.items()}

    def stop(self) -> None:
        self.wall_s = time.monotonic() - self._t0
        self.ended = {name: process_cpu_s(_pid(node)) for name, node in self.nodes.items()}

    def record(self) -> dict:
        out = {}
        for name, node in self.nodes.items():
            before, after = self.started.get(name), self.ended.get(name)
            if before is None or after is None or self.wall_s <= 0:
                out[name] = {"cpu_s": None, "cores": None, "utilisation": None, "of": None,
                             "note": "the server process was not running for the whole cell"}
                continue
            cores = (after - before) / self.wall_s
            quota = getattr(node, "quota", {}) or {}
            limit, of = ((float(quota["cpus"]), "its CPU quota") if quota.get("applied") and quota.get("cpus")
                         else (float(host_cpus()), "this machine's CPUs"))
            out[name] = {"cpu_s": round(after - before, 3), "cores": round(cores, 3),
                         "utilisation": round(cores / limit, 4), "of": f"{limit:g} cores ({of})"}
        return out


def _pid(node) -> int | None:
    process = getattr(node, "process", None)
    return None if process is None or process.poll() is not None else process.pid
