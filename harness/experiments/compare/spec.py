"""The spec of compare, sweep and replay: frozen, validated where it is built.

Resolved by harness/orchestration/spec_resolver.py (defaults < TOML config file < flags, unknown keys
refused with the file and key named). The resolved spec is saved in ``experiment.json`` so a run can
be repeated exactly (``--config`` accepts that file too).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from harness.errors import SpecError
from harness.orchestration.faults import parse_schedule
from harness.orchestration.node_processes import compute_plan
from harness.orchestration.spec_resolver import resolve_spec as resolve
from harness.experiments.compare.arrivals import check_arrival_pattern
from harness.orchestration.folder_images import check_image_options
from harness.experiments.compare.scenario_fields import check_scenario_fields
from topo.links import BACKENDS
from topo.profiles import LinkProfile, load_profile, trace_profile
from topo.topology import MAX_UES

# The seeds' image sizes (SEEDS.md, System B): K = 1024 bytes.
SIZES_BYTES = {"60K": 60 * 1024, "124K": 124 * 1024, "256K": 256 * 1024, "512K": 512 * 1024,
               "1024K": 1024 * 1024, "2048K": 2048 * 1024, "4096K": 4096 * 1024}
PLACEMENTS = ("edge", "cloud", "features", "split")
EXPERIMENTS = ("compare", "sweep", "replay")


@dataclass(frozen=True)
class ExperimentSpec:
    experiment: str = "compare"
    accesses: tuple[str, ...] = ("lte", "wifi")
    placements: tuple[str, ...] = ("edge", "cloud")
    sizes: tuple[str, ...] = tuple(SIZES_BYTES)
    repetitions: int = 12
    link_backend: str = "auto"
    open_loop_rate_hz: float = 0.0      # per device: Poisson arrivals per second; 0 = closed loop (one request
                                        # at a time, as the seeds measured)
    think_ms: float = 0.0               # closed loop: pause after each reply before the next request (0: none)
    arrivals_file: str = ""             # open loop from a file, one send time (s from the start) per line
    seed: int = 1                       # device i (1..devices) uses seed + i - 1
    ues: int = 1                        # hosts on the access network (the topology has max(ues, devices))
    devices: int = 1                    # devices running the workload at once: ue1..ue<devices>
    wan: str = "wan"
    lan: str = "lan"
    uplink_trace: str = ""              # replay: access uplink trace file
    downlink_trace: str = ""
    trace_base: str = "lte-ideal"       # replay: delays and queues of this profile (a pipe's)
    replay_seconds: float = 60.0        # replay: how long the workload runs
    edge_model: str = "edgecnn1-3"
    cloud_model: str = "cloudcnn"
    capture: bool = True
    capture_snaplen_bytes: int = 128    # headers only; 0 = whole packets
    calibrate_seconds: float = 2.0      # iperf3 per direction per link at the start; 0 = ping only
    request_timeout_s: float = 120.0    # device -> server, one attempt, send start -> reply complete
    request_retries: int = 0            # device: attempts after a failed one (0: every failure is a row)
    retry_backoff_s: float = 0.5        # device: wait before a retry, doubled each time
    edge_cloud_timeout_s: float = 30.0  # edge -> cloud, one request (forwarded inference, labels, index)
    edge_cloud_retries: int = 1         # edge -> cloud: attempts after a failed one (a pooled connection
                                        # the cloud reset when it restarted fails once)
    faults: tuple[str, ...] = ()        # fault schedule, see harness/orchestration/faults.py ("10s:link-down:wan:5s")
    models_dir: str = ""                # "" = the default model cache (.cache/models)
    images_dir: str = ""                # the devices send the JPEG/PNG files of this folder ("": synthetic images)
    image_mode: str = "resize"          # images_dir: "resize" (re-encoded to each size) or "as-is" (the files)
    labels_file: str = ""               # images_dir: filename,label CSV ("": labels from DIR/<label>/ folders)
    compute: tuple[str, ...] = ()       # node compute budgets, KEY=VALUE: node_profile=system-b (the default),
                                        # edge.cpus=0.5, cloud.threads=2, ... (nodes/compute_budget.py)
    results_dir: str = "results"
    scenario: str = ""                  # a scenario file (topo/scenario): the network instead of accesses/ues/wan/lan
    moves: tuple[str, ...] = ()         # with scenario: extra handovers AT_S:DEVICE:CELL (its [[mobility.moves]] too)

    def __post_init__(self):
        if self.experiment not in EXPERIMENTS:
            raise SpecError(f"experiment must be one of {', '.join(EXPERIMENTS)}, got {self.experiment!r}")
        for name in ("accesses", "placements", "sizes"):  # faults may be empty
            if not getattr(self, name):
                raise SpecError(f"{name} must not be empty")
        bad = [p for p in self.placements if p not in PLACEMENTS]
        if bad:
            raise SpecError(f"unknown placement {bad[0]!r} (use: {', '.join(PLACEMENTS)})")
        bad = [s for s in self.sizes if s not in SIZES_BYTES]
        if bad:
            raise SpecError(f"unknown image size {bad[0]!r} (use: {', '.join(SIZES_BYTES)})")
        if self.repetitions < 1:
            raise SpecError(f"repetitions must be >= 1, got {self.repetitions}")
        if self.link_backend not in BACKENDS:
            raise SpecError(f"link_backend must be one of {', '.join(BACKENDS)}, got {self.link_backend!r}")
        if not 1 <= self.ues <= MAX_UES:
            raise SpecError(f"ues must be 1..{MAX_UES}, got {self.ues}")
        if not 1 <= self.devices <= MAX_UES:
            raise SpecError(f"devices must be 1..{MAX_UES} (ue1..ue<devices> each run the workload), "
                            f"got {self.devices}")
        check_arrival_pattern(self.think_ms, self.open_loop_rate_hz, self.arrivals_file)
        if self.capture_snaplen_bytes < 0 or self.calibrate_seconds < 0 or self.request_timeout_s <= 0:
            raise SpecError("capture_snaplen_bytes and calibrate_seconds must be >= 0, request_timeout_s > 0")
        if not (0 <= self.request_retries <= 10 and 0 <= self.edge_cloud_retries <= 10):
            raise SpecError(f"request_retries and edge_cloud_retries must be 0..10, got {self.request_retries} "
                            f"and {self.edge_cloud_retries}")
        if self.retry_backoff_s < 0 or self.edge_cloud_timeout_s <= 0:
            raise SpecError(f"retry_backoff_s must be >= 0 and edge_cloud_timeout_s > 0, got "
                            f"{self.retry_backoff_s:g} and {self.edge_cloud_timeout_s:g}")
        if self.faults:  # on a scenario its own link and node names, checked when the file is read
            parse_schedule(self.faults, *((None, None) if self.scenario else ()))
        compute_plan(self.compute)  # an unknown node profile or a bad budget: SpecError
        check_image_options(self.images_dir, self.image_mode, self.labels_file)
        check_scenario_fields(self)
        if self.experiment == "replay" and not (self.uplink_trace and self.downlink_trace):
            raise SpecError("replay needs both an uplink and a downlink trace (--uplink FILE --downlink FILE)")

    @property
    def topology_ues(self) -> int:
        """Hosts the network gets: every device, and any extra idle ues asked for."""
        return max(self.ues, self.devices)

    @property
    def sizes_bytes(self) -> list[int]:
        return [SIZES_BYTES[s] for s in self.sizes]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def resolve_spec(experiment: str, config: Path | None, flags: dict) -> ExperimentSpec:
    """Defaults < config file < flags (flags whose value is None were not given); see spec_resolver."""
    return resolve(ExperimentSpec, config, flags, fixed={"experiment": experiment})


def access_profile(spec: ExperimentSpec, access: str) -> LinkProfile:
    if access == "trace":
        return trace_profile(spec.uplink_trace, spec.downlink_trace, load_profile(spec.trace_base))
    return load_profile(access)
