"""What a node (edge, cloud) is given to compute with: a CPU quota, ONNX Runtime threads, and the speed of the
hardware it stands for (a speed factor, or a recorded latency profile of faster hardware).

A budget comes from a node profile (``nodes/node_profiles/NAME.toml``: one table per node, with its sources in
comments, written by ``benchmarks/bench_compute.py``) and from settings that override it, ``KEY=VALUE`` items:
``node_profile=system-a``, ``edge.cpus=0.5``, ``cloud.threads=2``, ``edge.speed_factor=1.5``,
``cloud.latency_profile=NAME|FILE`` (later items win). ``node_profile=none``: this machine as it is.

What a node really got is recorded apart from what it was given: the cgroup (topo.cpu_cgroup) by the harness, the
threads / provider / pacing by the node itself (``compute.json``, nodes.inference_pacing).
"""
from __future__ import annotations

import hashlib
import math
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from nodes.errors import NodeConfigError
from nodes.inference_pacing import MAX_SPEED_FACTOR
from nodes.latency_profile import load_latency_profile

NODES = ("edge", "cloud")
NODE_PROFILES_DIR = Path(__file__).resolve().parent / "node_profiles"
DEFAULT_NODE_PROFILE = "system-b"   # compare reproduces System B: its edge i5-4590 and 16-core Xeon VM cloud
NO_PROFILE = "none"
BUDGET_KEYS = ("cpus", "threads", "speed_factor", "latency_profile")
MAX_CPUS = 1024.0
MAX_THREADS = 256


@dataclass(frozen=True)
class ComputeBudget:
    cpus: float = 0.0            # CPU quota in cores (cgroup); 0 = no quota
    threads: int = 0             # ONNX Runtime intra-op threads; 0 = the runtime's default
    speed_factor: float = 1.0    # >= 1: the emulated hardware is this many times slower than this machine
    latency_profile: str = ""    # faster hardware: a recorded profile (nodes/latency_profiles/NAME.json or a file)
    hardware: str = ""           # what the budget stands for (from the node profile)

    def __post_init__(self):
        if isinstance(self.cpus, bool) or not isinstance(self.cpus, (int, float)) or not math.isfinite(self.cpus) \
                or not 0 <= self.cpus <= MAX_CPUS:
            raise NodeConfigError(f"cpus {self.cpus!r} must be a number of cores > 0 (e.g. 0.5), or 0 for no quota")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or not 0 <= self.threads <= MAX_THREADS:
            raise NodeConfigError(f"threads {self.threads!r} must be an integer 1..{MAX_THREADS}, or 0 for the "
                                  "runtime's default")
        if isinstance(self.speed_factor, bool) or not isinstance(self.speed_factor, (int, float)) \
                or not math.isfinite(self.speed_factor) or not 1 <= self.speed_factor <= MAX_SPEED_FACTOR:
            raise NodeConfigError(f"speed factor {self.speed_factor!r} must be in 1..{MAX_SPEED_FACTOR:g} (1 = this "
                                  "machine; faster hardware takes a latency profile)")
        if self.latency_profile and self.speed_factor != 1:
            raise NodeConfigError(f"speed factor {self.speed_factor:g} and latency profile {self.latency_profile!r}: "
                                  "give a node one or the other")

    def node_args(self, threads_cap: int | None = None) -> list[str]:
        """The node's command-line options for this budget (the quota is the harness's: a cgroup).
        ``threads_cap``: at most this many ONNX Runtime threads (the cores the quota leaves)."""
        args = []
        threads = self.threads if threads_cap is None or not self.threads else min(self.threads, threads_cap)
        if threads:
            args += ["--threads", str(threads)]
        if self.speed_factor != 1:
            args += ["--speed-factor", f"{self.speed_factor:g}"]
        if self.latency_profile:
            args += ["--latency-profile", str(Path(load_latency_profile(self.latency_profile).path).resolve())]
        return args

    def to_dict(self) -> dict:
        return {"cpus": self.cpus, "threads": self.threads, "speed_factor": self.speed_factor,
                "latency_profile": self.latency_profile, "hardware": self.hardware}


@dataclass(frozen=True)
class NodeProfile:
    name: str
    path: str = ""
    sha256: str = ""
    budgets: dict = field(default_factory=lambda: {node: ComputeBudget() for node in NODES})

    def record(self) -> dict:
        return {"name": self.name, "path": self.path, "sha256": self.sha256}


def _profile_file(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = NODE_PROFILES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        shipped = ", ".join([NO_PROFILE, *sorted(p.stem for p in NODE_PROFILES_DIR.glob("*.toml"))])
        raise NodeConfigError(f"node profile {name_or_path!r}: no such profile (use one of {shipped}, or a .toml file)")
    return path


def _budget(where: str, table) -> ComputeBudget:
    if not isinstance(table, dict):
        raise NodeConfigError(f"{where}: must be a table of {', '.join(BUDGET_KEYS)}, hardware")
    unknown = sorted(set(table) - {*BUDGET_KEYS, "hardware", "basis"})
    if unknown:
        raise NodeConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(BUDGET_KEYS)}, hardware, basis)")
    values = {k: table[k] for k in (*BUDGET_KEYS, "hardware") if k in table}
    try:
        return ComputeBudget(**values)
    except NodeConfigError as exc:
        raise NodeConfigError(f"{where}: {exc}") from None


def load_node_profile(name_or_path: str) -> NodeProfile:
    """A shipped node profile by name, a .toml file, or ``none`` (no limits: this machine)."""
    if name_or_path == NO_PROFILE:
        return NodeProfile(NO_PROFILE)
    path = _profile_file(name_or_path)
    data = path.read_bytes()
    try:
        doc = tomllib.loads(data.decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise NodeConfigError(f"{path}: not a valid node profile ({exc})") from None
    unknown = sorted(set(doc) - {*NODES, "name", "description"})
    if unknown:
        raise NodeConfigError(f"{path}: unknown key {unknown[0]!r} (known: name, description, {', '.join(NODES)})")
    budgets = {node: _budget(f"{path} [{node}]", doc.get(node, {})) for node in NODES}
    for node, budget in budgets.items():
        if budget.latency_profile:
            load_latency_profile(budget.latency_profile)  # refused now, not when the node starts
    return NodeProfile(str(doc.get("name", path.stem)), str(path), hashlib.sha256(data).hexdigest(), budgets)


def parse_settings(settings) -> tuple[str, dict[str, dict]]:
    """``KEY=VALUE`` items -> (node profile, {node: {key: value}}); later items win."""
    profile, overrides = DEFAULT_NODE_PROFILE, {node: {} for node in NODES}
    for item in settings:
        key, sep, value = str(item).partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise NodeConfigError(f"compute setting {item!r}: must be KEY=VALUE (e.g. edge.cpus=0.5)")
        if key == "node_profile":
            profile = value
            continue
        node, _, name = key.partition(".")
        if node not in NODES or name not in BUDGET_KEYS:
            raise NodeConfigError(f"compute setting {item!r}: KEY must be node_profile or NODE.NAME with NODE in "
                                  f"{', '.join(NODES)} and NAME in {', '.join(BUDGET_KEYS)}")
        try:
            overrides[node][name] = (value if name == "latency_profile" else
                                     int(value) if name == "threads" else float(value))
        except ValueError:
            raise NodeConfigError(f"compute setting {item!r}: {value!r} is not "
                                  f"{'an integer' if name == 'threads' else 'a number'}") from None
    return profile, overrides


def resolve_budgets(settings) -> tuple[NodeProfile, dict[str, ComputeBudget]]:
    """The node profile the settings name and each node's budget: the profile's, overridden by the settings. A
    latency profile given for a node replaces the profile's speed factor, and a speed factor its latency profile."""
    name, overrides = parse_settings(settings)
    profile = load_node_profile(name)
    budgets = {}
    for node in NODES:
        changes = dict(overrides[node])
        if changes.get("latency_profile") and "speed_factor" not in changes:
            changes["speed_factor"] = 1.0
        if changes.get("speed_factor", 1.0) != 1.0 and "latency_profile" not in changes:
            changes["latency_profile"] = ""
        try:
            budgets[node] = replace(profile.budgets[node], **changes)
        except NodeConfigError as exc:
            raise NodeConfigError(f"{node}: {exc}") from None
        if budgets[node].latency_profile:
            try:
                load_latency_profile(budgets[node].latency_profile)
            except NodeConfigError as exc:
                raise NodeConfigError(f"{node}: {exc}") from None
    return profile, budgets
