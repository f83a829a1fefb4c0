"""``load`` on a scenario: one network (the scenario's), every edge and cloud up, then the cells as on the fixed
network; a level of N devices runs the scenario's first N devices taken in turn from each cell
(harness/experiments/compare/scenario_run.py), each told its node by the edge policy when the cell starts and
at each of its handovers. The moves run from the first cell's shared start. A cell's server CPU is per node,
plus ``edge`` and ``cloud``: the sum over the edges and over the clouds (what load.csv's server columns read)."""
from __future__ import annotations

import dataclasses

from harness.experiments.compare.scenario_run import ScenarioSetup, scenario_network, start_servers_and_measure
from harness.experiments.load.cells import Cell, plan_cells
from harness.experiments.load.cell_run import collect_cells, run_cell


def kind_totals(per_node: dict, kinds: dict[str, str]) -> dict:
    """``per_node`` (ServerCpu.record()) plus, per kind ("edge", "cloud"), the summed CPU seconds and cores of its
    nodes (utilisation only where the kind has one node: the quotas differ)."""
    out = dict(per_node)
    for kind in ("edge", "cloud"):
        names = [n for n, k in kinds.items() if k == kind and n in per_node]
        measured = [per_node[n] for n in names if per_node[n].get("cores") is not None]
        if not names or kind in per_node:
            continue
        if len(measured) != len(names):
            out[kind] = {"cpu_s": None, "cores": None, "utilisation": None, "of": None,
                         "note": "a server process was not running for the whole cell"}
        elif len(names) == 1:
            out[kind] = dict(per_node[names[0]])
        else:
            out[kind] = {"cpu_s": round(sum(m["cpu_s"] for m in measured), 3),
                         "cores": round(sum(m["cores"] for m in measured), 3), "utilisation": None,
                         "of": f"{len(names)} {kind} servers together"}
    return out


def run_scenario_load(run, setup: ScenarioSetup, models_dir, requests, links, bar, progress) -> None:
    spec = run.spec
    name = setup.spec.scenario.name
    done: list[Cell] = []

    def collect(session) -> None:
        collect_cells(run, name, done, requests,
                      scenario_rows=lambda cell, stamps: session.rows(f"{cell.level}/{cell.placement}", stamps))

    with scenario_network(run, name, setup, progress, collect) as session:
        if spec.capture:
            session.start_captures(spec.capture_snaplen_bytes)
        start_servers_and_measure(session, setup, spec, models_dir, name, links, 5, progress)
        kinds = {n: setup.spec.host(n).kind for n in session.nodes}
        for cell in plan_cells(spec, name):
            done.append(cell)
            model = spec.cloud_model if cell.placement == "cloud" else spec.edge_model
            chosen = session.assign(f"{cell.level}/{cell.placement}", cell.placement, model, spec.cloud_model)
            hosts = setup.devices[:cell.devices]
            workload = dataclasses.replace(cell.workload(spec), hosts=hosts,
                                           targets=tuple(chosen[d][1:] for d in hosts),
                                           target_files=session.target_files(hosts))
            try:
                run_cell(run, session.net, cell, session.nodes, session.log_dir, bar, workload=workload,
                         on_start=session.start_moves, cpu_record=lambda cpu: kind_totals(cpu.record(), kinds))
            finally:
                session.end_workload()
