"""The scenario columns of a request row: ``cell``, ``served_by``, ``path`` and ``handover`` (no network needed).

- ``cell``: the device's cell when the request left (``client_send_start_ns``): its home cell, then after each
  handover the cell it was handed to. A request sent during a handover window counts in the cell being left
  (the device is attached to the new one only at the window's end).
- ``served_by``: the node whose timing records hold the request id (the edges for edge / features / split, the
  clouds for cloud); "" when no node received it (it failed on the way).
- ``path``: ``cell>bs..>router..>node``, the routers between the device's base station and the node, e.g.
  ``cell2>bs2>metro>bs1>edge1`` for a device of cell2 served by edge1 (the node it was sent to when no node
  received it).
- ``handover``: "yes" when one of the device's handover windows overlaps the request (send start to reply or
  failure), else "".
- ``node_switch``: "yes" on the first request a device sent to a node it was switched to during a workload (the
  edge policy after a move: its time holds a new connection to that node), else "".

The node a request was sent to is the one whose address its device row names (``server_url``: the device reads
its target before each send, nodes.serving_target), else the node the device was told at the workload's start.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from topo.scenario.routing import router_path

SCENARIO_FIELDS = ["cell", "served_by", "path", "handover", "node_switch"]


def path_text(spec, cell: str, node: str) -> str:
    """``cell>bs..>routers..>node`` for a request from ``cell`` to ``node`` over ``spec`` (ScenarioNetworkSpec)."""
    bs = spec.bs_of(cell)
    routers = [bs] + [hop.neighbour for hop in router_path(bs, spec.host(node).router, spec.hops)]
    return ">".join([cell, *routers, node])


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass
class CellHistory:
    """Each device's cell over time: its home cell, then one change per handover (at the window's end)."""

    home: dict[str, str]
    handovers: list[dict] = field(default_factory=list)   # Handover.record() dicts: device, to_cell, start/end_ns

    def cell_at(self, device: str, at_ns: int | None) -> str:
        cell = self.home.get(device, "")
        for h in sorted((h for h in self.handovers if h["device"] == device), key=lambda h: h["end_ns"]):
            if at_ns is not None and h["end_ns"] <= at_ns:
                cell = h["to_cell"]
        return cell

    def overlaps(self, device: str, start_ns: int | None, end_ns: int | None) -> bool:
        if start_ns is None:
            return False
        end_ns = start_ns if end_ns is None else end_ns
        return any(h["device"] == device and h["start_ns"] <= end_ns and h["end_ns"] >= start_ns
                   for h in self.handovers)


def stamp_index(stamps: dict) -> dict[str, list[str]]:
    """request id -> the nodes whose timing records hold it (``stamps``: request_rows.server_stamps)."""
    index: dict[str, list[str]] = {}
    for node, request_id in stamps:
        index.setdefault(request_id, []).append(node)
    return index


@dataclass
class ScenarioRows:
    """What collect_rows needs to fill the scenario columns of one pass (one network) of a run."""

    spec: object                     # ScenarioNetworkSpec
    history: CellHistory
    stamps: dict                     # (node, request id) -> record
    targets: dict                    # (placement, device) -> the node the device was told to use
    index: dict = field(default_factory=dict)

    def __post_init__(self):
        self.index = stamp_index(self.stamps)

    def sent_to(self, placement: str, device: str, url: str = "") -> str:
        """The node a request was sent to: the one at ``url``'s address (its device row's ``server_url``), else
        the one the device was told at the workload's start."""
        host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0] if url else ""
        by_address = {address: name for name, address in self.spec.hosts.items()}
        return by_address.get(host) or self.targets.get((placement, device), "")

    def server_of(self, placement: str, device: str, request_id: str, url: str = "") -> tuple[str, dict]:
        """(node that answered, its record), or ("", {}) when no node received the request. A request the edge
        forwarded (features, split) is also in the cloud's records: the edge answered it."""
        nodes = self.index.get(request_id, [])
        kind = "cloud" if placement == "cloud" else "edge"
        target = self.sent_to(placement, device, url)
        ranked = sorted(nodes, key=lambda n: (n != target, self.spec.host(n).kind != kind,
                                              self.stamps[(n, request_id)].get("status") != 200))
        return (ranked[0], self.stamps[(ranked[0], request_id)]) if ranked else ("", {})

    def columns(self, row: dict, placement: str, node: str, device_row: dict | None = None) -> dict:
        """The scenario columns of ``row`` (a requests.csv row; ``device_row``: the device's own, for the server it
        was sent to and whether that was a switch)."""
        device_row = device_row or {}
        device = row.get("device") or "ue1"
        sent = _int(row.get("client_send_start_ns")) or _int(row.get("scheduled_ns"))
        cell = self.history.cell_at(device, sent)
        to = node or self.sent_to(placement, device, device_row.get("server_url") or "")
        return {"cell": cell, "served_by": node, "path": path_text(self.spec, cell, to) if cell and to else "",
                "handover": "yes" if self.history.overlaps(device, sent, _int(row.get("client_reply_complete_ns")))
                else "", "node_switch": device_row.get("server_switch") or ""}
