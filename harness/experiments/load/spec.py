"""The spec of ``load``: how many devices (and, open loop, at what rate each) x placement x access; frozen,
validated where it is built, resolved by harness/orchestration/spec_resolver.py (defaults < TOML file < flags)
and saved in experiment.json so a run can be repeated (``--config`` accepts that file too)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from harness.errors import SpecError
from harness.experiments.compare.arrivals import check_arrival_pattern, offered_rate_hz
from harness.experiments.compare.scenario_fields import check_scenario_fields
from harness.experiments.compare.spec import SIZES_BYTES
from harness.orchestration.folder_images import check_image_options
from harness.orchestration.node_processes import compute_plan
from harness.orchestration.spec_resolver import resolve_spec as resolve
from nodes.errors import NodeConfigError
from nodes.jpeg_images import parse_image_size
from topo.links import BACKENDS
from topo.topology import MAX_UES

LOAD_PLACEMENTS = ("edge", "cloud")  # the crossover is between these two


@dataclass(frozen=True)
class LoadSpec:
    accesses: tuple[str, ...] = ("lte", "wifi")
    placements: tuple[str, ...] = LOAD_PLACEMENTS
    devices: tuple[int, ...] = (1, 2, 4, 8, 16, 32)   # load levels: devices sending at once
    rates_hz: tuple[float, ...] = ()    # open loop: Poisson arrivals per second per device, one load level each
                                        # (x devices); () = closed loop (or --arrivals)
    think_ms: float = 0.0               # closed loop: pause after each reply before a device's next request
    arrivals_file: str = ""             # open loop: send times from a file (s since the start), every device
    sizes: tuple[str, ...] = ("60K",)   # images sent, in turn
    cell_seconds: float = 20.0          # how long the devices send in each cell
    seed: int = 1                       # device i uses seed + i - 1
    link_backend: str = "auto"
    wan: str = "wan"
    lan: str = "lan"
    edge_model: str = "edgecnn1-3"
    cloud_model: str = "cloudcnn"
    capture: bool = False               # tcpdump at bs, edge and cloud (pcaps only; load's analysis reads rows)
    capture_snaplen_bytes: int = 128
    calibrate_seconds: float = 0.0      # iperf3 per link direction before the cells; 0 = ping only
    request_timeout_s: float = 30.0     # device -> server, one request
    edge_cloud_timeout_s: float = 30.0
    edge_cloud_retries: int = 1
    compute: tuple[str, ...] = ()       # node compute budgets, KEY=VALUE (nodes/compute_budget.py)
    models_dir: str = ""                # "" = the default model cache (.cache/models)
    results_dir: str = "results"
    images_dir: str = ""                # the devices send the JPEG/PNG files of this folder ("": synthetic images)
    image_mode: str = "resize"          # images_dir: "resize" (re-encoded to each size) or "as-is" (the files)
    labels_file: str = ""               # images_dir: filename,label CSV ("": labels from DIR/<label>/ folders)
    scenario: str = ""                  # a scenario file (topo/scenario): the network instead of accesses/wan/lan
    moves: tuple[str, ...] = ()         # with scenario: extra handovers AT_S:DEVICE:CELL (its [[mobility.moves]] too)

    def __post_init__(self):
        for name in ("accesses", "placements", "devices", "sizes"):
            if not getattr(self, name):
                raise SpecError(f"{name} must not be empty")
        bad = [p for p in self.placements if p not in LOAD_PLACEMENTS]
        if bad:
            raise SpecError(f"load placement {bad[0]!r}: use edge and/or cloud")
        for size in self.sizes:  # the seeds' sizes, or any other the devices can make (8K for many light requests)
            try:
                parse_image_size(size)
            except NodeConfigError as err:
                raise SpecError(f"--sizes: {err} (the seeds' sizes: {', '.join(SIZES_BYTES)})") from None
        bad = [n for n in self.devices if not 1 <= n <= MAX_UES]
        if bad:
            raise SpecError(f"--devices {bad[0]}: each load level must be 1..{MAX_UES} devices")
        if len(set(self.devices)) != len(self.devices):
            raise SpecError(f"--devices {','.join(map(str, self.devices))}: a level is given twice")
        bad = [r for r in self.rates_hz if not (math.isfinite(r) and r > 0)]
        if bad:
            raise SpecError(f"--rate-hz {bad[0]:g}: each rate must be > 0 requests per second per device")
        if self.rates_hz and (self.think_ms or self.arrivals_file):
            check_arrival_pattern(self.think_ms, self.rates_hz[0], self.arrivals_file)  # says which two
        check_arrival_pattern(self.think_ms, 0.0, self.arrivals_file)
        check_image_options(self.images_dir, self.image_mode, self.labels_file)
        if not (math.isfinite(self.cell_seconds) and 2 <= self.cell_seconds <= 3600):
            raise SpecError(f"--cell-seconds {self.cell_seconds:g}: must be 2..3600")
        if self.link_backend not in BACKENDS:
            raise SpecError(f"link_backend must be one of {', '.join(BACKENDS)}, got {self.link_backend!r}")
        if self.capture_snaplen_bytes < 0 or self.calibrate_seconds < 0:
            raise SpecError("capture_snaplen_bytes and calibrate_seconds must be >= 0")
        if self.request_timeout_s <= 0 or self.edge_cloud_timeout_s <= 0 or not 0 <= self.edge_cloud_retries <= 10:
            raise SpecError("request_timeout_s and edge_cloud_timeout_s must be > 0, edge_cloud_retries 0..10")
        compute_plan(self.compute)  # an unknown node profile or a bad budget: SpecError
        check_scenario_fields(self)

    @property
    def levels(self) -> list[tuple[int, float]]:
        """The load levels in increasing order: (devices, rate per device; 0 = closed loop or the arrival file)."""
        return sorted((n, r) for n in self.devices for r in (self.rates_hz or (0.0,)))

    @property
    def pattern(self) -> str:
        if self.rates_hz:
            return "open loop, Poisson"
        if self.arrivals_file:
            return f"open loop, arrival file {Path(self.arrivals_file).name}"
        return f"closed loop, think time {self.think_ms:g} ms"

    def offered_per_device_hz(self, rate_hz: float) -> float | None:
        """Requests per second one device is asked for at a level (None: closed loop, paced by the replies)."""
        return offered_rate_hz(rate_hz, self.arrivals_file, self.cell_seconds)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def resolve_load_spec(config: Path | None, flags: dict) -> LoadSpec:
    """Defaults < config file < flags (None: not given)."""
    return resolve(LoadSpec, config, flags)
