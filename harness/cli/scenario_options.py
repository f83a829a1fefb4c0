"""``--scenario FILE``: the network as a scenario file (topo/scenario, scenarios/README.md) instead of the flags.

With ``--scenario`` the file is the network: ``--access``, ``--uplink``/``--downlink``, ``--trace-base``,
``--ues``, ``--wan`` and ``--lan`` must be left at their defaults (one line says so otherwise);
``--link-backend`` still picks the shaping backend.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import HarnessError
from harness.orchestration.preflight import check_traces
from topo.links import resolve_backend
from topo.scenario import ScenarioNetworkSpec, load_scenario, plan_scenario
from topo.scenario.mobility import check_moves, parse_move

_NETWORK_FLAGS = ("access", "uplink", "downlink", "trace_base", "ues", "wan", "lan")


def add_scenario_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--scenario``; call after ``network_options.add_network_options`` (it records their defaults)."""
    parser.add_argument("--scenario", type=Path, default=None, metavar="FILE",
                        help="the network as a scenario file (cells, edges, clouds, backhaul, mobility), e.g. "
                             "scenarios/three-cells.toml; replaces --access/--ues/--wan/--lan")
    parser.add_argument("--move", action="append", default=[], metavar="AT_S:DEVICE:CELL",
                        help="with --scenario: hand DEVICE over to CELL AT_S seconds after the start (repeatable; "
                             "added to the scenario's [[mobility.moves]]), e.g. --move 5:ue1:cell2")
    parser.set_defaults(_network_defaults={k: parser.get_default(k) for k in _NETWORK_FLAGS
                                           if parser.get_default(k) is not None or k in ("uplink", "downlink")})


def scenario_flags(args: argparse.Namespace) -> dict:
    """The spec fields of compare / sweep / replay / load (``scenario``, ``moves``; None: not given)."""
    return {"scenario": str(args.scenario) if getattr(args, "scenario", None) else None,
            "moves": tuple(args.move) if getattr(args, "move", None) else None}


def scenario_spec(args: argparse.Namespace) -> ScenarioNetworkSpec:
    """Load ``args.scenario``, check its traces, resolve the backend over its profiles; raises ScenarioError
    (one line naming file and key), TraceFormatError, LinkBackendError or HarnessError."""
    defaults = getattr(args, "_network_defaults", {})
    changed = [k for k, v in defaults.items() if hasattr(args, k) and getattr(args, k) != v]
    if changed:
        flag = "--" + changed[0].replace("_", "-")
        raise HarnessError(f"{flag} cannot be combined with --scenario (the scenario file sets the network): "
                           f"drop {flag} or edit {args.scenario}")
    loaded = load_scenario(args.scenario)
    profiles = list(loaded.profiles.values())
    check_traces(profiles)
    return plan_scenario(loaded, resolve_backend(args.link_backend, profiles))


def scenario_moves(args: argparse.Namespace, spec: ScenarioNetworkSpec | None) -> list:
    """The scenario's moves plus ``--move``s, checked against it (``--move`` without ``--scenario`` is refused)."""
    if args.move and spec is None:
        raise HarnessError("--move needs --scenario FILE (the cells a device moves between)")
    if spec is None:
        return []
    moves = list(spec.scenario.mobility.moves) + [parse_move(text) for text in args.move]
    check_moves(spec, moves)
    return sorted(moves, key=lambda m: m.at_s)
