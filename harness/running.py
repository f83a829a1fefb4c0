"""Run an experiment as a command: check requirements up front, get the models, execute, analyse."""
from __future__ import annotations

import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.spec import ExperimentSpec
from topo.commands import missing_tools
from topo.network import Terminated, require_root
from topo.run_lock import exclusive_run

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS_DIR = REPO_ROOT / ".cache" / "models"


def ensure_models(models_dir: Path, progress=print) -> Path:
    """The model set the nodes serve: built (trained + exported) once, then reused from the cache."""
    from models.zoo import ensure_models as build

    progress(f"models: {models_dir} (built once, then reused)")
    build(models_dir, progress=True)
    return models_dir


def models_for(models_dir_option: str) -> Path:
    """The user's model set as it is (``--models-dir``), or the default set, built once and cached."""
    if models_dir_option:
        models_dir = Path(models_dir_option)
        if not (models_dir / "manifest.json").is_file():
            raise HarnessError(f"--models-dir {models_dir} has no manifest.json: build one with "
                               f"'python harness/run.py models --cache {models_dir}' or leave it out")
        return models_dir
    return ensure_models(DEFAULT_MODELS_DIR, _say)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_experiment(spec: ExperimentSpec) -> int:
    require_root(spec.experiment)
    missing = missing_tools() + missing_tools(["tcpdump", "iperf3"] if spec.capture else ["iperf3"])
    if missing:
        raise HarnessError(f"missing tools: {', '.join(sorted(set(missing)))}: run 'sudo ./setup.sh'")
    from harness.experiment import access_profile, execute
    from harness.report import analyse_run

    for access in spec.accesses:  # refuse up front: unknown profile, trace that does not parse
        access_profile(spec, access)
    models_dir = models_for(spec.models_dir)
    run_dir = None
    try:
        with exclusive_run():
            run_dir = execute(spec, models_dir, progress=_say)
    except (KeyboardInterrupt, Terminated):
        _say("interrupted: keeping every finished request; writing the report of what finished")
        run_dir = _latest_run(spec)
        if run_dir:
            analyse_run(run_dir, progress=_say)
        return 130
    if spec.experiment == "replay":
        from harness.replay_series import write_replay_csv
        write_replay_csv(run_dir)
    analyse_run(run_dir, progress=_say)
    print(f"results: {run_dir}")
    print(f"report:  {run_dir / 'report.md'}")
    return 0


def _latest_run(spec: ExperimentSpec) -> Path | None:
    runs = sorted(Path(spec.results_dir).glob(f"*-{spec.experiment}*"))
    return runs[-1] if runs else None
