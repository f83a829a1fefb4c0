"""Read a scenario TOML file into a :class:`topo.scenario.schema.Scenario`, profiles resolved.

A scenario file is told from a link profile (such as ``scenarios/system-b.toml``) by its top-level
``[scenario]`` table. Every error is one line naming the file and the key. Schema: scenarios/README.md.
"""
from __future__ import annotations

import dataclasses

import tomllib
from dataclasses import dataclass
from pathlib import Path

from topo.profiles import LinkProfile, ProfileError, load_profile
from topo.scenario.errors import ScenarioError
from topo.scenario.schema import Backhaul, Cell, Cloud, Edge, Mobility, Move, Scenario, Site

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_SCENARIO = REPO_ROOT / "scenarios" / "default.toml"

_TOP = {"scenario", "cells", "edges", "clouds", "sites", "backhaul", "mobility", "placement"}
_KEYS = {
    "scenario": {"name", "description"},
    "cells": {"name", "access", "devices"},
    "edges": {"at", "link"},
    "clouds": {"at", "wan"},
    "sites": {"name"},
    "backhaul": {"between", "profile"},
    "mobility": {"address", "interruption_ms", "edge_policy", "moves"},
    "moves": {"at_s", "device", "cell"},
}


@dataclass(frozen=True)
class LoadedScenario:
    """A scenario and the link profiles its links name, loaded (profile key as written -> LinkProfile)."""

    scenario: Scenario
    profiles: dict

    def profile(self, key: str) -> LinkProfile:
        return self.profiles[key]


def is_scenario_file(path: Path | str) -> bool:
    """True when ``path`` is TOML with a top-level [scenario] table (a link profile has none)."""
    try:
        return isinstance(tomllib.loads(Path(path).read_text()).get("scenario"), dict)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def _table(data: dict, kind: str, where: str) -> dict:
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: must be a table, got {type(data).__name__}")
    unknown = sorted(set(data) - _KEYS[kind])
    if unknown:
        raise ScenarioError(f"{where}.{unknown[0]}: unknown key (known: {', '.join(sorted(_KEYS[kind]))})")
    return data


def _items(data: dict, kind: str) -> list[tuple[str, dict]]:
    value = data.get(kind, [])
    if not isinstance(value, list):
        raise ScenarioError(f"{kind}: must be an array of tables ([[{kind}]]), got {type(value).__name__}")
    return [(f"{kind}[{i}]", _table(item, kind, f"{kind}[{i}]")) for i, item in enumerate(value, 1)]


def _build(cls, table: dict, where: str, **converted):
    fields = {**table, **converted}
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in fields
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ScenarioError(f"{where}: missing key {missing[0]!r} (give it in the file)")
    try:
        return cls(**fields)
    except ScenarioError as err:  # the dataclass names "cells.devices": say which cell
        kind = where.split("[")[0]
        raise ScenarioError(str(err).replace(f"{kind}.", f"{where}.", 1)) from None
    except TypeError as err:
        raise ScenarioError(f"{where}: {err}") from None


def parse_scenario(data: dict, source: str = "") -> Scenario:
    """A Scenario from parsed TOML (keys checked; profiles not loaded)."""
    if not isinstance(data.get("scenario"), dict):
        raise ScenarioError("scenario: missing [scenario] table (a scenario file starts with [scenario] name = ...; "
                            "a file without one is a link profile)")
    unknown = sorted(set(data) - _TOP)
    if unknown:
        raise ScenarioError(f"{unknown[0]}: unknown top-level key (known: {', '.join(sorted(_TOP))})")
    head = _table(data["scenario"], "scenario", "scenario")
    if data.get("placement"):
        raise ScenarioError("placement: reserved for placing hosts on several servers (issue 18), not supported yet: "
                            "remove the [placement] table")
    cells = tuple(_build(Cell, t, w) for w, t in _items(data, "cells"))
    sites = tuple(_build(Site, t, w) for w, t in _items(data, "sites"))
    edges = tuple(_build(Edge, t, w) for w, t in _items(data, "edges"))
    clouds = tuple(_build(Cloud, t, w) for w, t in _items(data, "clouds"))
    backhaul = tuple(_build(Backhaul, t, w, between=tuple(t.get("between", ())))
                     for w, t in _items(data, "backhaul"))
    mobility_table = _table(data.get("mobility", {}), "mobility", "mobility")
    moves = tuple(_build(Move, t, w.replace("moves", "mobility.moves"))
                  for w, t in _items(mobility_table, "moves"))
    mobility = _build(Mobility, {k: v for k, v in mobility_table.items() if k != "moves"}, "mobility", moves=moves)
    return Scenario(name=str(head.get("name", Path(source).stem if source else "scenario")), cells=cells,
                    edges=edges, clouds=clouds, sites=sites, backhaul=backhaul, mobility=mobility,
                    description=str(head.get("description", "")), source=source)


def _profile_keys(scenario: Scenario) -> list[tuple[str, str]]:
    keys = [(f"cells[{i}].access", c.access) for i, c in enumerate(scenario.cells, 1)]
    keys += [(f"edges[{i}].link", e.link) for i, e in enumerate(scenario.edges, 1)]
    keys += [(f"clouds[{i}].wan", c.wan) for i, c in enumerate(scenario.clouds, 1)]
    keys += [(f"backhaul[{i}].profile", b.profile) for i, b in enumerate(scenario.backhaul, 1)]
    return keys


def load_profiles(scenario: Scenario, base: Path) -> dict:
    """Each profile the scenario names, loaded once. A path is relative to the scenario file."""
    profiles = {}
    for key, value in _profile_keys(scenario):
        if not isinstance(value, str):
            raise ScenarioError(f"{key}: {value!r} must be a profile name or a .toml path")
        if value in profiles:
            continue
        target = str(base / value) if value.endswith(".toml") and not Path(value).is_absolute() else value
        try:
            profiles[value] = load_profile(target)
        except ProfileError as err:
            raise ScenarioError(f"{key}: {err}") from None
    return profiles


def load_scenario(path: Path | str | None = None) -> LoadedScenario:
    """Read, check and resolve a scenario file (``scenarios/default.toml`` when ``path`` is None)."""
    path = Path(path) if path is not None else DEFAULT_SCENARIO
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file (shipped ones: scenarios/*.toml)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ScenarioError(f"{path}: not valid TOML ({err})") from None
    try:
        scenario = parse_scenario(data, source=str(path))
        return LoadedScenario(scenario, load_profiles(scenario, path.resolve().parent))
    except ScenarioError as err:
        raise ScenarioError(f"{path}: {err}") from None
