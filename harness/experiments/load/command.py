"""``load`` as a command: every input checked before anything is built, the models found, then the run under
``run_with_lock`` and its analysis (also of what finished when it was stopped)."""
from __future__ import annotations

import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.experiments.compare.run_images import spec_images
from harness.orchestration.folder_images import check_image_folder
from harness.experiments.load.spec import LoadSpec
from harness.orchestration.model_set import models_for
from harness.orchestration.preflight import check_traces
from harness.orchestration.running import run_with_lock
from topo.commands import missing_tools
from topo.links import resolve_backend
from topo.network import require_root
from topo.profiles import load_profile


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def check_load(spec: LoadSpec) -> str:
    """What can be refused before anything is built; returns the link backend."""
    require_root("load")
    missing = missing_tools() + missing_tools(["tcpdump", "iperf3"] if spec.capture else ["iperf3"])
    if missing:
        raise HarnessError(f"missing tools: {', '.join(sorted(set(missing)))}: run 'sudo ./setup.sh'")
    if spec.scenario:  # the file is the network: a bad file, move or device count is one line
        from harness.experiments.compare.scenario_run import load_setup
        return load_setup(spec.scenario, spec.moves, spec.link_backend, max(spec.devices), spec.placements).spec.backend
    profiles = [load_profile(name) for name in (*spec.accesses, spec.wan, spec.lan)]  # unknown profile: one line
    check_traces(profiles)
    return resolve_backend(spec.link_backend, profiles)


def run_load(spec: LoadSpec) -> int:
    backend = check_load(spec)
    check_image_folder(spec.images_dir, spec.labels_file)  # a bad folder: one line before models are built
    models_dir = models_for(spec.models_dir)
    spec_images(spec, models_dir, progress=_say)  # --images: a bad folder is one line before anything is built
    from harness.experiments.load.run import execute  # late: the run's modules are not every command's

    def analyse(run_dir: Path) -> None:
        from harness.experiments.load.report import analyse_load  # late: matplotlib

        analyse_load(run_dir, progress=_say)

    return run_with_lock("load", spec.results_dir,
                         lambda run_dir: execute(spec, models_dir, run_dir, backend, progress=_say), analyse)
