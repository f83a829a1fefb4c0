"""compare / sweep / replay / load on a scenario network (``--scenario FILE``): what differs from the fixed one.

- Every cloud starts first, then every edge (each fetches its models from its nearest cloud over the network).
- ``--devices N`` picks N of the scenario's devices, in turn from each cell (cell1's first, cell2's first, ...).
- Each device is told which node to use when each workload starts, and again at the end of each of its
  handovers (a target file its workload reads before every request, nodes.serving_target): for ``cloud`` its
  nearest cloud; for ``edge`` / ``features`` / ``split`` its home edge while it is in its home cell, else the
  scenario's edge policy: ``keep-edge`` its home edge (over the backhaul), ``new-edge`` the edge nearest its
  cell, ``cloud`` its nearest cloud (with the cloud's model). Requests in flight at a move keep their node; the
  next one goes to the new node (``node_switch`` in its row). Each switch is in experiment.json.
- The scenario's moves (and ``--move``s) run during the run, counted from the devices' shared start of the
  first workload.
- Captures on each base station's access side and on every edge and cloud; each shaped link measured between
  its two ends (an access link from a device of its cell; skipped, with the reason, in a cell with no device).
"""
from __future__ import annotations

import dataclasses
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.experiments.compare.scenario_links import capture_links, link_ends, routes
from harness.experiments.compare.scenario_rows import CellHistory, ScenarioRows
from harness.experiments.compare.request_rows import server_stamps
from harness.orchestration.capture import start_captures, stop_captures
from harness.orchestration.node_processes import (CLOUD_URL, NODE_PORT, NODE_STOP_TIMEOUT_S,
                                                  STOPPED_NODE_STOP_TIMEOUT_S, compute_plan, compute_records,
                                                  cloud_args, edge_args, node_in_host, start_node)
from harness.orchestration.calibration import measure_links
from harness.orchestration.fault_actions import NetworkFaults, RunningNodes
from harness.orchestration.faults import FaultError, FaultRunner, parse_schedule
from harness.orchestration.preflight import check_traces
from harness.orchestration.results import write_json_atomically
from nodes.launch import stop_nodes
from nodes.serving_target import write_target
from topo.links import resolve_backend
from topo.network import Terminated, running_network
from topo.scenario import ScenarioError, load_scenario, plan_scenario
from topo.scenario.mobility import Mobility, MoveSchedule, check_moves, parse_move, serving_node
from topo.scenario.routing import router_path


@dataclass(frozen=True)
class ScenarioSetup:
    """A scenario planned for a run: the network, the moves (file's and ``--move``s, by time), the devices."""

    spec: object                  # ScenarioNetworkSpec
    moves: tuple
    devices: tuple[str, ...]
    file: str
    faults: tuple = ()            # harness.orchestration.faults.Fault, targets among the scenario's links and nodes

    def record(self) -> dict:
        sc, mobility = self.spec.scenario, self.spec.scenario.mobility
        return {"name": sc.name, "file": self.file, "source": sc.source, "edge_policy": mobility.edge_policy,
                "address": mobility.address, "interruption_ms": mobility.interruption_ms,
                "moves": [dataclasses.asdict(m) for m in self.moves], "devices": list(self.devices),
                "home_cells": {d: self.spec.host(d).cell for d in self.devices},
                "hosts": self.spec.hosts, "kinds": {h.name: h.kind for h in self.spec.host_plans},
                "capture_links": capture_links(self.spec), "routes": routes(self.spec), "passes": {}}

    def profiles_record(self, trace: bool = False) -> dict:
        """experiment.json's profiles: each link's by its name (replay: the access links' trace also as "trace")."""
        links = {link.name: {"up": link.profile.up.to_dict(), "down": link.profile.down.to_dict()}
                 for link in self.spec.links}
        return links | ({"trace": links[self.spec.links[0].name]} if trace else {})


def spread_devices(spec, count: int) -> list[str]:
    """``count`` devices taken in turn from each cell (cell1's first, cell2's first, ..., cell1's second, ...)."""
    per_cell = [[h.name for h in spec.of_kind("device") if h.cell == c.name] for c in spec.scenario.cells]
    order = [cell[i] for i in range(max(map(len, per_cell))) for cell in per_cell if i < len(cell)]
    return order[:count]


def load_setup(path: str, move_texts, link_backend: str, devices: int, placements, trace=None,
               fault_texts=()) -> ScenarioSetup:
    """Read and plan ``path``; refuse (one line) what a run on it cannot do. ``trace``: replay's trace profile,
    put on every cell's access link; ``fault_texts``: faults naming the scenario's links and nodes."""
    try:
        loaded = load_scenario(Path(path))
        if trace is not None:
            loaded = dataclasses.replace(loaded, profiles={**loaded.profiles,
                                                           **{c.access: trace for c in loaded.scenario.cells}})
        profiles = list(loaded.profiles.values())
        check_traces(profiles)
        spec = plan_scenario(loaded, resolve_backend(link_backend, profiles))
        moves = sorted([*spec.scenario.mobility.moves, *(parse_move(t) for t in move_texts)], key=lambda m: m.at_s)
        check_moves(spec, moves)
    except ScenarioError as err:
        raise HarnessError(f"{path}: {err}" if str(path) not in str(err) else str(err)) from None
    name = spec.scenario.name
    if not spec.of_kind("cloud"):
        raise HarnessError(f"{path}: the experiments need a cloud in the scenario (edges fetch their models from "
                           f"it); {name} has none: add a [[clouds]] entry")
    if any(p != "cloud" for p in placements) and not spec.of_kind("edge"):
        raise HarnessError(f"{path}: placements {','.join(placements)} need an edge; {name} has none: "
                           f"use --placements cloud or add an [[edges]] entry")
    if devices > spec.scenario.device_count:
        raise HarnessError(f"--devices {devices}: {name} has {spec.scenario.device_count} devices "
                           f"(cells.devices in {path})")
    nodes = tuple(h.name for h in (*spec.of_kind("edge"), *spec.of_kind("cloud")))
    try:
        faults = parse_schedule(fault_texts, links=tuple(link.name for link in spec.links), nodes=nodes)
    except FaultError as err:
        raise HarnessError(f"{err} (the links and nodes of {path})") from None
    return ScenarioSetup(spec, tuple(moves), tuple(spread_devices(spec, devices)), str(path), faults)


def start_servers_and_measure(session, setup, spec, models_dir, name: str, links, ping_count: int, progress) -> None:
    """Every cloud, then every edge, started in ``session``; then each shaped link measured into ``links``."""
    progress(f"[{name}] starting every cloud, then every edge (model download over the network)")
    session.start_servers(cloud_args(models_dir), edge_args(spec.edge_model, spec.placements,
                                                            spec.edge_cloud_timeout_s, spec.edge_cloud_retries),
                          spec.compute)
    session.check_faults()  # a fault this network cannot apply: refused before any workload
    progress(f"[{name}] calibrating links")
    for row in measure_links(session.net, duration_s=spec.calibrate_seconds, ping_count=ping_count,
                             progress=lambda _: None, ends=link_ends(setup.spec)):
        links.write({"access": name, **row.__dict__,
                     "error_pct": None if row.error_pct is None else round(row.error_pct, 2)})


def node_url(spec, node: str) -> str:
    return f"http://{spec.hosts[node]}:{NODE_PORT}"


def nearest_cloud(spec, router: str) -> str:
    return min(spec.of_kind("cloud"), key=lambda h: len(router_path(router, h.router, spec.hops))).name


class ScenarioSession:
    """One running scenario network of a run: its servers, captures, mobility and which node each device used."""

    def __init__(self, run, name: str, setup: ScenarioSetup, net, log_dir: Path, watch=lambda *_: None):
        self.run, self.name, self.setup, self.net, self.log_dir = run, name, setup, net, log_dir
        self.watch = watch
        self.spec = setup.spec
        self.nodes: dict = {}
        self.captures: list = []
        self.mobility = Mobility(net)
        self.schedule: MoveSchedule | None = None
        self.targets: dict[str, dict] = {}      # key (placement, or load level) -> {(placement, device): node}
        self.home_edge = ({d: serving_node(self.spec, d, self.spec.host(d).cell, "new-edge") for d in setup.devices}
                          if self.spec.of_kind("edge") else {})
        self.record = run.record["scenario"]["passes"].setdefault(name, {})
        self.faults: FaultRunner | None = None
        self.current: tuple | None = None       # the running workload: (key, placement, its model, cloud model)
        self._lock = threading.Lock()           # assign / end_workload (main thread) vs handovers (moves thread)

    def start_captures(self, snaplen_bytes: int) -> None:
        interfaces = {}
        for bs in self.spec.of_kind("bs"):
            interfaces[bs.name] = next(i.name for i in self.net.host(bs.name).intfList() if i.IP() == bs.address)
        hosts = [*interfaces, *(h.name for h in self.spec.of_kind("edge")), *(h.name for h in self.spec.of_kind("cloud"))]
        self.captures = start_captures(self.net, hosts, self.run.run_dir / "pcaps", self.name, snaplen_bytes,
                                       interfaces=interfaces)

    def start_servers(self, cloud_argv: list[str], edge_argv: list[str], compute) -> None:
        """Every cloud, then every edge (``edge_argv``'s cloud URL replaced by its nearest cloud's)."""
        budgets = compute_plan(compute)[1] if compute is not None else {}
        fetch_s = self.record.setdefault("model_fetch_s", {})
        for kind in ("cloud", "edge"):
            for host in self.spec.of_kind(kind):
                argv = cloud_argv if kind == "cloud" else [
                    node_url(self.spec, nearest_cloud(self.spec, host.router)) if a == CLOUD_URL else a
                    for a in edge_argv]
                started = time.monotonic()
                node = node_in_host(self.net, host.name, kind, argv, self.log_dir / host.name,
                                    budget=budgets.get(kind), address=host.address)
                self.nodes[host.name] = start_node(node, f"the {kind} server {host.name}")
                if kind == "edge":
                    fetch_s[host.name] = round(time.monotonic() - started, 3)
                if getattr(node, "process", None) is not None:
                    self.watch(f"{host.name}:{self.name}", node.process.pid)

    def node_for(self, device: str, cell: str, placement: str, placement_model: str, cloud_model: str) -> tuple:
        """(node, URL, model) of ``device`` in ``cell`` for ``placement`` (the module's doc)."""
        if placement == "cloud":
            node = serving_node(self.spec, device, cell, "cloud")
        elif cell == self.spec.host(device).cell:
            node = self.home_edge[device]
        else:
            node = serving_node(self.spec, device, cell, self.spec.scenario.mobility.edge_policy,
                                home_edge=self.home_edge.get(device))
        model = cloud_model if self.spec.host(node).kind == "cloud" else placement_model
        return node, node_url(self.spec, node), model

    def target_file(self, device: str) -> Path:
        return self.log_dir / "targets" / f"{device}.target"

    def assign(self, key: str, placement: str, placement_model: str, cloud_model: str) -> dict:
        """The node, URL and model of each device for one workload (from each device's cell now), written to its
        target file; until ``end_workload()`` each handover re-points the moved device (``_on_handover``)."""
        chosen, targets = {}, self.targets.setdefault(key, {})
        with self._lock:
            for device in self.setup.devices:
                chosen[device] = self.node_for(device, self.mobility.cell[device], placement, placement_model,
                                               cloud_model)
                targets[(placement, device)] = chosen[device][0]
                write_target(self.target_file(device), *chosen[device][1:])
            self.current = (key, placement, placement_model, cloud_model)
        self.record.setdefault("targets", {})[key] = {d: n for d, (n, _, _) in chosen.items()}
        return chosen

    def target_files(self, devices) -> tuple[str, ...]:
        return tuple(str(self.target_file(d)) for d in devices)

    def end_workload(self) -> None:
        with self._lock:
            self.current = None

    def _on_handover(self, handover) -> None:
        """A device is attached to its new cell: during a workload, its next request goes to the policy's node."""
        with self._lock:
            if self.current is None or handover.device not in self.setup.devices:
                return
            key, placement, placement_model, cloud_model = self.current
            before = self.record["targets"][key][handover.device] if key in self.record.get("targets", {}) else ""
            switch = self.record.setdefault("switches", {}).setdefault(key, [])
            last = next((s["to"] for s in reversed(switch) if s["device"] == handover.device), before)
            node, url, model = self.node_for(handover.device, handover.to_cell, placement, placement_model,
                                             cloud_model)
            if node != last:
                write_target(self.target_file(handover.device), url, model)
                switch.append({"device": handover.device, "at_ns": time.monotonic_ns(), "from": last, "to": node,
                               "model": model, "cell": handover.to_cell})

    def check_faults(self) -> NetworkFaults:
        """The faults' actions on this network, every fault checked against it (before any workload)."""
        nodes = RunningNodes(start_node)
        for name, node in self.nodes.items():
            nodes.add(name, node)
        actions = NetworkFaults(self.net, nodes, after_up=self.mobility.restore_routes)
        for fault in self.setup.faults:
            actions.check(fault)
        return actions

    def start_moves(self) -> None:
        """Start the move schedule and the faults (once: at the first workload's shared start)."""
        if self.schedule is None and self.setup.moves:
            self.schedule = MoveSchedule(self.mobility, self.setup.moves, on_handover=self._on_handover)
            self.schedule.start()
            self.record["schedule_start_ns"] = self.schedule.start_ns
        if self.faults is None and self.setup.faults:
            self.faults = FaultRunner(self.setup.faults, self.check_faults(), on_change=self._save_faults)
            self.faults.start()
            self.run.record.setdefault("fault_clock_start_ns", {})[self.name] = self.faults.start_ns

    def _save_faults(self, windows) -> None:
        write_json_atomically(self.log_dir / "faults.json", {"access": self.name,
                                                             "faults": [w.record() for w in windows]})

    def stop(self) -> None:
        """Moves, servers (their stamps on disk), captures; what each did into the run's record."""
        if self.faults is not None:  # active ones end now (a link comes up, its routes come back)
            self.run.record.setdefault("faults", []).extend({"access": self.name, **w} for w in self.faults.stop())
        if self.schedule is not None:
            self.schedule.stop()
            self.record["move_errors"] = list(self.schedule.errors)
        self.record["handovers"] = [h.record() for h in self.mobility.handovers]
        stopped = self.run.stopped_ns is not None
        stop_nodes(list(self.nodes.values()), STOPPED_NODE_STOP_TIMEOUT_S if stopped else NODE_STOP_TIMEOUT_S)
        self.run.record.setdefault("compute", {})[self.name] = compute_records(list(self.nodes.values()),
                                                                              self.run.spec.compute)
        stop_captures(self.captures)
        self.run.record["captures"] += [c.record(self.run.run_dir, self.name) for c in self.captures]

    def rows(self, key: str | None = None, stamps: dict | None = None) -> ScenarioRows:
        """What collect_rows needs for this pass (``key``: one workload's targets; None: every workload's)."""
        targets = {}
        for k, chosen in self.targets.items():
            if key is None or k == key:
                targets.update(chosen)
        history = CellHistory({d: self.spec.host(d).cell for d in self.setup.devices},
                              [h.record() for h in self.mobility.handovers])
        return ScenarioRows(self.spec, history, stamps if stamps is not None else server_stamps(self.log_dir),
                            targets)


@contextmanager
def scenario_network(run, name: str, setup: ScenarioSetup, progress, collect):
    """The network of ``setup`` up for one pass of ``run`` (logs under logs/<name>); yields a ScenarioSession.
    On the way out, also after Ctrl-C or a crash: the session stopped, then ``collect(session)`` (the rows)."""
    log_dir = run.run_dir / "logs" / name
    log_dir.mkdir(parents=True, exist_ok=True)
    progress(f"[{name}] network up: scenario {setup.spec.scenario.name}, {len(setup.spec.hosts)} hosts "
             f"({setup.spec.backend} links)")
    with running_network(setup.spec, run_dir=log_dir, log_dir=log_dir) as net:
        run.record.setdefault("link_start_ns", {})[name] = {w.link_name: w.started_ns for w in net.wires()}
        watch = run.monitor.watch if getattr(run, "monitor", None) is not None else lambda *_: None
        for wire in net.wires():
            if wire.process is not None:
                watch(f"emulator:{name}:{wire.link_name}", wire.process.pid)
        session = ScenarioSession(run, name, setup, net, log_dir, watch)
        try:
            yield session
        except (KeyboardInterrupt, Terminated):
            run.mark_stopped()
            raise
        finally:
            try:
                session.stop()
            finally:
                collect(session)
                run.record["accesses_run"].append(name)
                run.save()
