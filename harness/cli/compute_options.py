"""The nodes' compute budgets on the command line: a node profile and per-node overrides, folded into the spec's
``compute`` settings (KEY=VALUE items, nodes/compute_budget.py) on top of those of ``--config``.

    --node-profile system-a --edge-cpus 0.5 --cloud-threads 2 --edge-speed-factor 1.5
    --cloud-latency-profile system-a-cloud
"""
from __future__ import annotations

import argparse
import math

from harness.experiments.compare.spec import ExperimentSpec
from harness.orchestration.spec_resolver import load_spec_file
from nodes.compute_budget import DEFAULT_NODE_PROFILE, NO_PROFILE, NODE_PROFILES_DIR, NODES
from nodes.inference_pacing import MAX_SPEED_FACTOR

FLAGS = {"node_profile": "node_profile"} | {f"{node}_{key}": f"{node}.{key}" for node in NODES
                                             for key in ("cpus", "threads", "speed_factor", "latency_profile")}


def _cores(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of cores > 0 (e.g. 0.5, 2)")
    return value


def _threads(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise argparse.ArgumentTypeError(f"{text!r} is not a thread count in 1..256")
    return int(text)


def _factor(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 1 <= value <= MAX_SPEED_FACTOR):
        raise argparse.ArgumentTypeError(f"{text!r} is not a factor in 1..{MAX_SPEED_FACTOR:g} (1 = this machine; "
                                         "faster hardware: --EDGE|CLOUD-latency-profile)")
    return value


def add_compute_options(parser: argparse.ArgumentParser) -> None:
    shipped = ", ".join([NO_PROFILE, *sorted(p.stem for p in NODE_PROFILES_DIR.glob("*.toml"))])
    group = parser.add_argument_group("compute budgets of the edge and cloud servers")
    group.add_argument("--node-profile", metavar="NAME|FILE",
                       help=f"the nodes' hardware: {shipped}, or a .toml file (default: {DEFAULT_NODE_PROFILE}; "
                            f"{NO_PROFILE} = this machine, no limits)")
    for node in NODES:
        group.add_argument(f"--{node}-cpus", type=_cores, metavar="CORES",
                           help=f"{node}: CPU quota in cores (a cgroup; default: the node profile's)")
        group.add_argument(f"--{node}-threads", type=_threads, metavar="N",
                           help=f"{node}: ONNX Runtime intra-op threads (default: the node profile's)")
        group.add_argument(f"--{node}-speed-factor", type=_factor, metavar="F",
                           help=f"{node}: emulate hardware F times slower than this machine (>= 1)")
        group.add_argument(f"--{node}-latency-profile", metavar="NAME|FILE",
                           help=f"{node}: emulate faster hardware by replaying a recorded latency profile "
                                "(nodes/latency_profiles/NAME.json or a file)")


def compute_settings(args: argparse.Namespace, spec_cls=ExperimentSpec) -> tuple[str, ...] | None:
    """The flags' settings over those of ``--config`` (a ``spec_cls`` file; later items win, one item per key);
    None: no flag given."""
    given = [f"{key}={getattr(args, dest)}" for dest, key in FLAGS.items() if getattr(args, dest, None) is not None]
    if not given:
        return None
    config = getattr(args, "config", None)
    base = list(load_spec_file(spec_cls, config).get("compute", ())) if config is not None else []
    merged: dict[str, str] = {}
    for item in [*base, *given]:
        merged[item.partition("=")[0].strip()] = item
    return tuple(merged.values())
