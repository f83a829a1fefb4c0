"""compare, sweep and replay as commands: every input checked before anything is built, the models found,
then the run under ``run_with_lock`` and its report."""
from __future__ import annotations

import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.experiments.compare.run_images import spec_images
from harness.orchestration.folder_images import check_image_folder
from harness.experiments.compare.spec import ExperimentSpec, access_profile
from harness.orchestration.model_set import models_for
from harness.orchestration.preflight import check_faults_possible, check_traces
from harness.orchestration.running import run_with_lock
from topo.commands import missing_tools
from topo.links import resolve_backend
from topo.network import require_root
from topo.profiles import load_profile


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def check_experiment(spec: ExperimentSpec) -> str:
    """Everything about compare / sweep / replay that can be refused before anything is built; the backend."""
    require_root(spec.experiment)
    missing = missing_tools() + missing_tools(["tcpdump", "iperf3"] if spec.capture else ["iperf3"])
    if missing:
        raise HarnessError(f"missing tools: {', '.join(sorted(set(missing)))}: run 'sudo ./setup.sh'")
    if spec.scenario:  # the file is the network: a bad file, move or device count is one line
        from harness.experiments.compare.scenario_compare import compare_setup
        return compare_setup(spec).spec.backend
    accesses = [access_profile(spec, access) for access in spec.accesses]  # unknown profile: one line
    wan, lan = load_profile(spec.wan), load_profile(spec.lan)
    check_traces([*accesses, wan, lan])                                    # a trace that does not parse
    backend = resolve_backend(spec.link_backend, [*accesses, wan, lan])
    check_faults_possible(spec.faults, backend, {"access": accesses, "wan": [wan], "lan": [lan]})
    return backend


def run_experiment(spec: ExperimentSpec) -> int:
    backend = check_experiment(spec)
    check_image_folder(spec.images_dir, spec.labels_file)  # a bad folder: one line before models are built
    models_dir = models_for(spec.models_dir)
    spec_images(spec, models_dir, progress=_say)  # --images: a bad folder is one line before anything is built
    from harness.experiments.compare.run import execute  # late: the run's modules are not every command's

    def analyse(run_dir: Path) -> None:
        from harness.analysis.report import analyse_run  # late: matplotlib costs a second

        if spec.experiment == "replay":
            from harness.analysis.replay_series import write_replay_csv
            write_replay_csv(run_dir)
        analyse_run(run_dir, progress=_say)

    return run_with_lock(spec.experiment, spec.results_dir,
                         lambda run_dir: execute(spec, models_dir, run_dir, backend, progress=_say), analyse)
