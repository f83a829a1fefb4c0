"""A scenario as data: cells, edges, clouds, sites, backhaul and mobility (frozen, validated on construction).

Names of links' profiles are kept as the file gave them (a shipped profile's name or a path); the loader
(topo.scenario.loader) resolves them. Every error names the key (``cells[2].devices``) and what is allowed;
the loader adds the file. Host names and addresses are derived (topo.scenario.addressing), not written here.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from topo.scenario.errors import ScenarioError

MAX_DEVICES = 200          # devices over all cells (one /24 host number each, as today's ue1..ue200)
MAX_CELLS = 16
MAX_EDGES = 16
MAX_CLOUDS = 8
MAX_SITES = 8
MAX_BACKHAUL = 32
ADDRESS_MODES = ("keep", "new")            # keep: an LTE core anchors the address; new: WiFi roaming
EDGE_POLICIES = ("keep-edge", "new-edge", "cloud")
# LTE X2 handover user-plane interruption (the time a device sends and receives nothing). ITU-R M.2134 (IMT-Advanced
# requirements, 2008) asks at most 27.5 ms for an intra-frequency handover; X2 handovers measured on a real stack
# take tens of ms, dominated by the device's uplink synchronisation to the target cell (Alexandris, Nikaein, Knopp,
# Bonnet, "Analyzing X2 handover in LTE/LTE-A", WINMEE 2016, OpenAirInterface). The default 40 ms sits in the
# 30-60 ms commonly quoted for commercial networks; a scenario may ask 0 (ideal) up to 5 s (a radio-link failure).
DEFAULT_INTERRUPTION_MS = 40.0
INTERRUPTION_RANGE_MS = (0.0, 5000.0)

_LABEL = re.compile(r"^[a-z][a-z0-9]{0,7}$")
_DERIVED = re.compile(r"^(ue\d+|bs\d*|edge\d*|cloud\d*|ects.*|ect.*)$")


def _label(value, key: str) -> str:
    if not isinstance(value, str) or not _LABEL.match(value):
        raise ScenarioError(f"{key}: {value!r} is not a name (lower-case letter then up to 7 letters/digits)")
    return value


@dataclass(frozen=True)
class Cell:
    """One radio cell: its base station, access link profile, and the devices that start in it."""

    name: str
    access: str = "lte"
    devices: int = 1

    def __post_init__(self):
        _label(self.name, "cells.name")
        if not isinstance(self.devices, int) or isinstance(self.devices, bool) or not 0 <= self.devices <= MAX_DEVICES:
            raise ScenarioError(f"cells.devices: {self.devices!r} must be an integer 0..{MAX_DEVICES}")


@dataclass(frozen=True)
class Site:
    """A router that is not a base station (a metro aggregation point, a core site)."""

    name: str

    def __post_init__(self):
        _label(self.name, "sites.name")
        if _DERIVED.match(self.name):
            raise ScenarioError(f"sites.name: {self.name!r} looks like a derived host name (ue<i>, bs<k>, "
                                f"edge<e>, cloud<c>): choose another, e.g. 'metro'")


@dataclass(frozen=True)
class Edge:
    """An edge server attached to a cell's base station or to a site, over the ``link`` profile."""

    at: str
    link: str = "lan"


@dataclass(frozen=True)
class Cloud:
    """A cloud server attached to a cell's base station or to a site, over its ``wan`` profile."""

    at: str
    wan: str = "wan"


@dataclass(frozen=True)
class Backhaul:
    """A link between two routers (cells' base stations or sites); its uplink runs from the first to the second."""

    between: tuple[str, str]
    profile: str = "lan"

    def __post_init__(self):
        if len(self.between) != 2 or self.between[0] == self.between[1]:
            raise ScenarioError(f"backhaul.between: {list(self.between)!r} must name two different cells or sites")


@dataclass(frozen=True)
class Move:
    """At ``at_s`` seconds after the experiment starts, ``device`` is handed over to ``cell``."""

    at_s: float
    device: str
    cell: str

    def __post_init__(self):
        if not isinstance(self.at_s, (int, float)) or isinstance(self.at_s, bool) or self.at_s < 0:
            raise ScenarioError(f"mobility.moves.at_s: {self.at_s!r} must be a number of seconds >= 0")
        if not re.match(r"^ue\d+$", str(self.device)):
            raise ScenarioError(f"mobility.moves.device: {self.device!r} is not a device name (ue<i>)")


@dataclass(frozen=True)
class Mobility:
    """How handovers behave, and the schedule of moves."""

    address: str = "keep"
    interruption_ms: float = DEFAULT_INTERRUPTION_MS
    edge_policy: str = "keep-edge"
    moves: tuple[Move, ...] = ()

    def __post_init__(self):
        if self.address not in ADDRESS_MODES:
            raise ScenarioError(f"mobility.address: {self.address!r} (use one of: {', '.join(ADDRESS_MODES)})")
        if self.edge_policy not in EDGE_POLICIES:
            raise ScenarioError(f"mobility.edge_policy: {self.edge_policy!r} (use one of: {', '.join(EDGE_POLICIES)})")
        low, high = INTERRUPTION_RANGE_MS
        if not isinstance(self.interruption_ms, (int, float)) or not low <= self.interruption_ms <= high:
            raise ScenarioError(f"mobility.interruption_ms: {self.interruption_ms!r} must be {low:g}..{high:g} ms "
                                f"(LTE X2 handovers measure ~30-60 ms; default {DEFAULT_INTERRUPTION_MS:g})")


@dataclass(frozen=True)
class Scenario:
    """The whole network. ``placement`` is reserved for multi-server runs (issue 18) and must be empty today."""

    name: str
    cells: tuple[Cell, ...]
    edges: tuple[Edge, ...]
    clouds: tuple[Cloud, ...]
    sites: tuple[Site, ...] = ()
    backhaul: tuple[Backhaul, ...] = ()
    mobility: Mobility = field(default_factory=Mobility)
    description: str = ""
    source: str = ""

    def __post_init__(self):
        for key, items, most, least in (("cells", self.cells, MAX_CELLS, 1), ("edges", self.edges, MAX_EDGES, 0),
                                        ("clouds", self.clouds, MAX_CLOUDS, 0), ("sites", self.sites, MAX_SITES, 0),
                                        ("backhaul", self.backhaul, MAX_BACKHAUL, 0)):
            if not least <= len(items) <= most:
                raise ScenarioError(f"{key}: {len(items)} given, {least}..{most} allowed")
        if not self.edges and not self.clouds:
            raise ScenarioError("edges, clouds: a scenario needs at least one edge or cloud server")
        devices = sum(c.devices for c in self.cells)
        if not 1 <= devices <= MAX_DEVICES:
            raise ScenarioError(f"cells.devices: {devices} devices over all cells, 1..{MAX_DEVICES} allowed")
        routers = [c.name for c in self.cells] + [s.name for s in self.sites]
        duplicates = sorted({n for n in routers if routers.count(n) > 1})
        if duplicates:
            raise ScenarioError(f"cells.name, sites.name: {duplicates[0]!r} is used twice")
        for i, edge in enumerate(self.edges, 1):
            self._known(edge.at, f"edges[{i}].at", routers)
        for i, cloud in enumerate(self.clouds, 1):
            self._known(cloud.at, f"clouds[{i}].at", routers)
        for i, link in enumerate(self.backhaul, 1):
            for end in link.between:
                self._known(end, f"backhaul[{i}].between", routers)
        self._connected(routers)
        cells = [c.name for c in self.cells]
        for i, move in enumerate(self.mobility.moves, 1):
            self._known(move.cell, f"mobility.moves[{i}].cell", cells)
            if int(move.device[2:]) not in range(1, devices + 1):
                raise ScenarioError(f"mobility.moves[{i}].device: {move.device!r} is not one of ue1..ue{devices}")

    @staticmethod
    def _known(name: str, key: str, allowed: list[str]) -> None:
        if name not in allowed:
            raise ScenarioError(f"{key}: {name!r} is not a cell or site of this scenario (known: {', '.join(allowed)})")

    def _connected(self, routers: list[str]) -> None:
        reached, frontier = {routers[0]}, [routers[0]]
        while frontier:
            here = frontier.pop()
            for link in self.backhaul:
                if here in link.between:
                    other = link.between[1] if link.between[0] == here else link.between[0]
                    if other not in reached:
                        reached.add(other)
                        frontier.append(other)
        cut_off = [r for r in routers if r not in reached]
        if cut_off:
            raise ScenarioError(f"backhaul: {cut_off[0]!r} is not connected to {routers[0]!r}: add a [[backhaul]] "
                                f"link between them (or through a site)")

    @property
    def device_count(self) -> int:
        return sum(c.devices for c in self.cells)

    def cell_index(self, name: str) -> int:
        """1-based position of cell ``name``."""
        return [c.name for c in self.cells].index(name) + 1
