"""Static routes between a scenario's routers (base stations and sites): shortest paths in backhaul hops.

Every router gets a route to every subnet that is not its own, via the next router on a shortest path
(ties broken by the order of the [[backhaul]] links in the file, so routes are stable). A moved device that
keeps its address is reached through /32 routes towards its current base station (topo.scenario.mobility).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Adjacency:
    """One backhaul link seen from ``router``: the neighbour and the neighbour's address on it."""

    router: str
    neighbour: str
    neighbour_address: str
    link: str


def next_hops(routers: list[str], adjacencies: list[Adjacency]) -> dict[tuple[str, str], Adjacency]:
    """(from router, to router) -> the first backhaul hop of a shortest path, for every pair that differs."""
    by_router: dict[str, list[Adjacency]] = {r: [] for r in routers}
    for adj in adjacencies:
        by_router[adj.router].append(adj)
    hops: dict[tuple[str, str], Adjacency] = {}
    for source in routers:
        first: dict[str, Adjacency | None] = {source: None}
        queue = deque([source])
        while queue:
            here = queue.popleft()
            for adj in by_router[here]:
                if adj.neighbour not in first:
                    first[adj.neighbour] = first[here] or adj
                    queue.append(adj.neighbour)
        for target, hop in first.items():
            if hop is not None:
                hops[(source, target)] = hop
    return hops


def router_path(source: str, target: str, hops: dict[tuple[str, str], Adjacency]) -> list[Adjacency]:
    """The backhaul hops from router ``source`` to router ``target`` (empty when they are the same)."""
    path, here = [], source
    while here != target:
        hop = hops[(here, target)]
        path.append(hop)
        here = hop.neighbour
    return path


def route_commands(router: str, subnets: dict[str, tuple[str, ...]],
                   hops: dict[tuple[str, str], Adjacency]) -> list[str]:
    """``ip route`` commands for ``router``: each subnet (-> the routers it is attached to) not attached here."""
    return [f"ip route replace {subnet} via {hops[(router, owners[0])].neighbour_address}"
            for subnet, owners in subnets.items() if router not in owners]
