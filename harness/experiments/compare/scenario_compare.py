"""compare / sweep / replay on a scenario: one network (the scenario's; replay puts the traces on every cell's
access link), every edge and cloud up, each placement's workload on the chosen devices, each told its node by
the edge policy at the workload's start and again at each of its handovers
(harness/experiments/compare/scenario_run.py), the moves running from the first workload's start.
Rows gain cell, served_by, path, handover and node_switch (scenario_rows.py)."""
from __future__ import annotations

import dataclasses

from harness.experiments.compare.device_workload import compare_workload, placement_target, run_workloads
from harness.experiments.compare.request_rows import collect_requests
from harness.experiments.compare.scenario_run import (ScenarioSetup, load_setup, scenario_network,
                                                      start_servers_and_measure)
from harness.experiments.compare.spec import ExperimentSpec, access_profile


def compare_setup(spec: ExperimentSpec) -> ScenarioSetup:
    """The scenario of ``spec`` planned (replay: its traces on every cell's access link); one line if it cannot."""
    trace = access_profile(spec, "trace") if spec.experiment == "replay" else None
    return load_setup(spec.scenario, spec.moves, spec.link_backend, spec.devices, spec.placements, trace=trace,
                      fault_texts=spec.faults)


def pass_name(spec: ExperimentSpec, setup: ScenarioSetup) -> str:
    """The ``access`` column and logs/<name> of the run's one pass: replay's "trace", else the scenario's name."""
    return "trace" if spec.experiment == "replay" else setup.spec.scenario.name


def run_scenario_pass(run, setup: ScenarioSetup, models_dir, requests, links, bar, progress) -> None:
    spec: ExperimentSpec = run.spec
    name = pass_name(spec, setup)

    def collect(session) -> None:
        collect_requests(run, name, list(spec.placements), requests, run.stopped_ns, scenario_rows=session.rows())

    with scenario_network(run, name, setup, progress, collect) as session:
        starts = run.record["link_start_ns"][name]
        if spec.experiment == "replay":  # the replay series' clock: the first cell's access link
            starts["access"] = starts.get(setup.spec.links[0].name)
        if spec.capture:
            session.start_captures(spec.capture_snaplen_bytes)
        start_servers_and_measure(session, setup, spec, models_dir, name, links, 10, progress)
        if bar.n == 0:
            bar.reset(total=bar.total)
        for placement in spec.placements:
            bar.set_description(f"{name}/{placement}")
            chosen = session.assign(placement, placement, placement_target(spec, placement)[1], spec.cloud_model)
            workload = dataclasses.replace(
                compare_workload(spec, placement, spec.replay_seconds if spec.experiment == "replay" else 0.0),
                devices=len(setup.devices), hosts=setup.devices,
                targets=tuple(chosen[d][1:] for d in setup.devices), target_files=session.target_files(setup.devices))
            done_before = bar.n
            try:
                run_workloads(session.net, workload, session.log_dir, placement, f"{name}, {placement}",
                              on_progress=lambda done: _show(bar, done_before + done), on_stop=run.mark_stopped,
                              on_start=session.start_moves)
            finally:
                session.end_workload()


def _show(bar, done: int) -> None:
    bar.n = done
    bar.refresh()
