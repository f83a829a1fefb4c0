"""`collaborate`: System B's initialisation and update phases over the emulated network, plus the
EdgeCNN0-k vs EdgeCNN1-k accuracy table."""
from __future__ import annotations

import sys
from pathlib import Path

from harness.cli.help_text import add_command
from harness.cli.spec_flags import add_spec_flags, spec_flags
from harness.experiments.collaborate.spec import CollabSpec, resolve

HELP = {
    "access": "access profile of the devices", "labelled_images": "N: the edge's own labelled images",
    "labels_per_update": "M: cloud labels that trigger a retrain", "updates": "retrains in the live run",
    "label_batch": "objects per upload to the cloud's labeller (<= 256)",
    "device_rate_hz": "devices' open-loop upload rate (Poisson, per second)",
    "after_update_s": "seconds the devices keep sending after the last swap",
    "idle_s": "the WAN must have been quiet this long before the edge uploads",
    "idle_rate_bytes_per_s": "below this WAN rate (both directions) counts as quiet",
    "wan_busy_s": "background WAN load at the start of the update phase, seconds (0: none)",
    "wan_busy_rate_mbps": "rate of that background load", "train_epochs": "max epochs of each edge (re)training",
    "table_sizes": "labelled-set sizes of the EdgeCNN0/1 table (comma list; '' for no table)",
    "table_depths": "k of the table (comma list of 3, 5, 10)", "table_repeats": "repeats per table cell",
    "table_epochs": "max epochs in the table", "seed": "seed of the data split, arrivals and training",
    "link_backend": "how links are shaped", "wan": "bs-cloud link profile", "lan": "bs-edge link profile",
    "models_dir": "model cache (its data set is the run's data set)",
    "results_dir": "where run folders go", "timeout_s": "the live part at most, seconds",
}


EXAMPLES = [
    "sudo python harness/run.py collaborate",
    "sudo python harness/run.py collaborate --access wifi --updates 3 --no-table",
    "sudo python harness/run.py collaborate --config collab.toml --results-dir /tmp/results",
]


def add_parser(sub) -> None:
    parser = add_command(
        sub, "collaborate", summary="System B: edge builds EdgeCNN1 from CloudCNN's layers, then learns from cloud "
                                    "labels (update phase)",
        description="Initialisation (the edge downloads CloudCNN's m lower layers over the WAN and trains EdgeCNN1-m "
                    "on N labelled images), update phase (devices upload unlabelled images, the edge uploads them to "
                    "the cloud when the WAN is idle, the cloud labels them, the edge retrains after M labels and "
                    "hot-swaps), and the EdgeCNN0-k vs EdgeCNN1-k table. Writes results/<UTC time>-collaborate/.",
        examples=EXAMPLES)
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="TOML file of options (keys = option names with _), or a run's experiment.json; flags "
                             "override it")
    add_spec_flags(parser, CollabSpec, HELP)
    parser.add_argument("--no-table", action="store_true", help="skip the EdgeCNN0/1 table (the live run only)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from harness.errors import HarnessError
    from topo.commands import missing_tools
    from topo.network import require_root

    flags = spec_flags(args, CollabSpec)
    if args.no_table:
        flags["table_sizes"] = ""
    spec = resolve(CollabSpec, args.config, flags)
    require_root("collaborate")
    missing = missing_tools() + missing_tools(["iperf3"] if spec.wan_busy_s else [])
    if missing:
        raise HarnessError(f"missing tools: {', '.join(sorted(set(missing)))}: run 'sudo ./setup.sh'")
    from harness.experiments.collaborate.analysis import analyse_collaboration
    from harness.experiments.collaborate.run import execute_collaboration
    from harness.orchestration.preflight import check_traces
    from harness.orchestration.model_set import models_for
    from harness.orchestration.running import run_with_lock
    from topo.links import resolve_backend
    from topo.profiles import load_profile

    profiles = [load_profile(p) for p in (spec.access, spec.wan, spec.lan)]  # refuse a bad one before anything
    check_traces(profiles)
    backend = resolve_backend(spec.link_backend, profiles)
    models_dir = models_for(spec.models_dir)
    return run_with_lock(
        "collaborate", spec.results_dir,
        lambda run_dir: execute_collaboration(spec, models_dir, run_dir, backend, progress=_say),
        lambda run_dir: analyse_collaboration(run_dir, progress=_say),
        incomplete_hint="the update phase did not finish (see the edge's log under logs/edge); a longer "
                        "--timeout-s or a lower --labels-per-update may help",
        analyse_when_stopped=False)  # its analysis trains the EdgeCNN0/1 table: minutes, not for a Ctrl-C


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
