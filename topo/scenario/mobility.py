"""Handovers on a running scenario network: a device leaves its cell's segment and joins another's.

A device's root-namespace veth end is a port of its cell's bridge (``ects<k>``). A handover:

1. takes the port off the bridge (``nomaster``): from now on the device sends and receives nothing;
2. during the interruption (``interruption_ms``; default and sources in topo/scenario/schema.py) re-points
   the network: with ``address = "keep"`` (an LTE core anchors the address) every router gets a /32 route
   to the device towards its new base station, which answers the device's ARP for its old gateway (proxy ARP);
   with ``address = "new"`` (WiFi roaming) the device drops its address and takes its new cell's
   ``10.<m-1>.1.<i>`` with that cell's gateway, so its open connections break;
3. puts the port on the new cell's bridge, then flushes the device's neighbour cache, so its next packet asks
   for its gateway's address on the new segment at once. (Flushed during the window, the device's first ARP
   request goes out while it is detached and is lost; Linux asks again only after ``retrans_time_ms``, 1 s,
   and every packet of the device waits in that entry's queue: a request in flight took ~1.15-1.25 s instead
   of the interruption plus one TCP retransmission timeout.)

Open TCP connections survive a keep-address handover (what was lost in the window is retransmitted) and break
on a new-address one; either way the client records the outcome. :func:`serving_node` is the edge-selection
policy after a move, :func:`path_links` the links a request then crosses.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import asdict, dataclass

from topo import commands
from topo.errors import TopoError
from topo.scenario import addressing as ad
from topo.scenario.errors import ScenarioError
from topo.scenario.routing import router_path
from topo.scenario.schema import Move

_MOVE = re.compile(r"^(?P<at>\d+(\.\d+)?):(?P<device>ue\d+):(?P<cell>[a-z][a-z0-9]{0,7})$")


def parse_move(text: str) -> Move:
    """``AT_S:DEVICE:CELL`` (``--move 10:ue5:cell2``) -> a Move; cells and devices are checked against a scenario
    by :func:`check_moves`."""
    match = _MOVE.match(text.strip())
    if not match:
        raise ScenarioError(f"--move {text!r}: expected AT_S:DEVICE:CELL, e.g. 10:ue5:cell2")
    return Move(float(match["at"]), match["device"], match["cell"])


def check_moves(spec, moves) -> None:
    cells = [c.name for c in spec.scenario.cells]
    for move in moves:
        if move.cell not in cells:
            raise ScenarioError(f"move to {move.cell!r}: not a cell of {spec.scenario.name} (cells: {', '.join(cells)})")
        if move.device not in spec.hosts or spec.host(move.device).kind != "device":
            raise ScenarioError(f"move of {move.device!r}: not a device of {spec.scenario.name} "
                                f"(ue1..ue{spec.scenario.device_count})")


@dataclass(frozen=True)
class Handover:
    """What one handover did, with its window on the machine's monotonic clock (every host shares it)."""

    device: str
    from_cell: str
    to_cell: str
    address_mode: str
    address_before: str
    address_after: str
    interruption_ms: float
    start_ns: int   # the device lost its cell
    end_ns: int     # the device is on the new cell's segment

    def record(self) -> dict:
        return asdict(self)


class Mobility:
    """Moves devices of a running network (``topo.network.EdgeCloudNetwork`` of a ScenarioNetworkSpec)."""

    def __init__(self, net, address_mode: str | None = None, interruption_ms: float | None = None):
        self.net, self.spec = net, net.spec
        settings = self.spec.scenario.mobility
        self.address_mode = address_mode or settings.address
        self.interruption_ms = settings.interruption_ms if interruption_ms is None else interruption_ms
        self.cell = {h.name: h.cell for h in self.spec.of_kind("device")}
        self.address = {h.name: h.address for h in self.spec.of_kind("device")}
        self.handovers: list[Handover] = []
        self._lock = threading.Lock()

    def _port(self, device: str) -> str:
        """The device's veth end in the root namespace (a port of its current cell's bridge)."""
        intf = self.net.host(device).intf()
        link = intf.link
        return (link.intf2 if link.intf1 is intf else link.intf1).name

    def _access_intf(self, bs: str) -> str:
        plan = self.spec.host(bs)
        node = self.net.host(bs)
        return next(i.name for i in node.intfList() if i.IP() == plan.address)

    def _run(self, host: str, script: list[str]) -> None:
        out = self.net.host(host).cmd("; ".join(f"{c} || echo 'FAILED: {c}'" for c in script))
        if "FAILED" in out:
            raise TopoError(f"handover: on {host}: {out.strip().splitlines()[0]}")

    def move(self, device: str, cell: str) -> Handover:
        """Hand ``device`` over to ``cell`` now; returns when it is attached there."""
        check_moves(self.spec, [Move(0.0, device, cell)])
        with self._lock:
            old = self.cell[device]
            if old == cell:
                now = time.monotonic_ns()
                return Handover(device, old, cell, self.address_mode, self.address[device], self.address[device],
                                0.0, now, now)
            port, k = self._port(device), self.spec.scenario.cell_index(cell)
            start_ns = time.monotonic_ns()
            commands.run(["ip", "link", "set", port, "nomaster"])
            before = self.address[device]
            intf = self.net.host(device).intf().name
            if self.address_mode == "keep":
                self._reroute(before, self.spec.bs_of(cell))
                after = before
            else:
                after = ad.device_address(k, ad.device_index(device))
                self._run(device, [f"ip addr flush dev {intf}", f"ip addr add {after}/24 dev {intf}",
                                   f"ip route replace default via {ad.gateway_address(k)}"])
            left_s = self.interruption_ms / 1000.0 - (time.monotonic_ns() - start_ns) / 1e9
            if left_s > 0:
                time.sleep(left_s)
            commands.run(["ip", "link", "set", port, "master", ad.bridge_name(k)])
            self._run(device, [f"ip neigh flush dev {intf}"])  # after the attach: see the module's doc
            end_ns = time.monotonic_ns()
            self.cell[device], self.address[device] = cell, after
            handover = Handover(device, old, cell, self.address_mode, before, after, self.interruption_ms,
                                start_ns, end_ns)
            self.handovers.append(handover)
            return handover

    def restore_routes(self) -> None:
        """Every router's routes again, and the /32 routes of the devices moved with their address (a router
        interface taken down and up again, a link-down fault, lost the routes through it)."""
        with self._lock:
            self.spec.configure_routes(getattr(self.net, "mininet", self.net))  # EdgeCloudNetwork: its Mininet
            if self.address_mode == "keep":
                for device, cell in self.cell.items():
                    if cell != self.spec.host(device).cell:
                        self._reroute(self.address[device], self.spec.bs_of(cell))

    def _reroute(self, address: str, bs: str) -> None:
        """Every router sends ``address`` towards ``bs``; ``bs`` delivers it on its access segment."""
        for router in self.spec.routers:
            if router == bs:
                self._run(router, [f"ip route replace {address}/32 dev {self._access_intf(bs)}"])
            else:
                hop = self.spec.hops[(router, bs)]
                self._run(router, [f"ip route replace {address}/32 via {hop.neighbour_address}"])


def serving_node(spec, device: str, cell: str, policy: str, home_edge: str | None = None) -> str:
    """The node that serves ``device`` while it is in ``cell``: ``keep-edge`` its first edge (``home_edge``, or
    the nearest edge to its home cell), ``new-edge`` the nearest edge to ``cell``, ``cloud`` the nearest cloud."""
    def nearest(kind: str, at_cell: str) -> str:
        bs = spec.bs_of(at_cell)
        candidates = spec.of_kind(kind)
        if not candidates:
            raise ScenarioError(f"edge policy needs a {kind} in {spec.scenario.name}, which has none")
        return min(candidates, key=lambda h: len(router_path(bs, h.router, spec.hops))).name
    if policy == "keep-edge":
        return home_edge or nearest("edge", spec.host(device).cell)
    if policy == "new-edge":
        return nearest("edge", cell)
    if policy == "cloud":
        return nearest("cloud", cell)
    raise ScenarioError(f"edge policy {policy!r} (use keep-edge, new-edge or cloud)")


def path_links(spec, device: str, cell: str, node: str) -> list[str]:
    """Names of the links a request of ``device`` in ``cell`` crosses to ``node`` ("access2+backhaul2+...")."""
    return [link.name for link in spec.route_links(device, node, src_cell=cell)]


class MoveSchedule:
    """Runs ``moves`` at their ``at_s`` after ``start()`` in a thread (as the fault runner does); ``stop()`` joins."""

    def __init__(self, mobility: Mobility, moves, on_handover=None):
        self.mobility, self.moves = mobility, sorted(moves, key=lambda m: m.at_s)
        self.on_handover = on_handover or (lambda h: None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []
        self.start_ns: int | None = None

    def start(self) -> None:
        self.start_ns = time.monotonic_ns()
        self._thread = threading.Thread(target=self._loop, name="moves", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        for move in self.moves:
            wait_s = move.at_s - (time.monotonic_ns() - self.start_ns) / 1e9
            if wait_s > 0 and self._stop.wait(wait_s):
                return
            try:
                self.on_handover(self.mobility.move(move.device, move.cell))
            except (TopoError, OSError) as err:  # recorded; the run goes on
                self.errors.append(f"{move.at_s:g}:{move.device}:{move.cell}: {err}")

    def wait_done(self, timeout_s: float) -> None:
        """Block until every move ran (or ``timeout_s``)."""
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def stop(self) -> list[Handover]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return list(self.mobility.handovers)
