"""`features`: System A -- raw upload to the cloud vs PCA / autoencoder features from the edge to the cloud."""
from __future__ import annotations

import sys
from pathlib import Path

from harness.cli.compute_options import add_compute_options, compute_settings
from harness.cli.deprecated_flags import add_deprecated
from harness.cli.help_text import add_command
from harness.cli.spec_flags import add_spec_flags, spec_flags
from harness.experiments.collaborate.spec import resolve
from harness.experiments.features.spec import FeaturesSpec

HELP = {
    "accesses": "access profiles, a comma list", "feature_dims": "feature dimensions of the accuracy sweep",
    "images": "requests per access x path", "train_epochs": "epochs of every classifier (raw and features)",
    "cnn_epochs": "epochs of CloudCNN on raw images (0: skip that baseline)", "ae_epochs": "autoencoder epochs",
    "rate_hz": "device requests per second (open loop)", "max_train_images": "training images at most (0: all)",
    "seed": "seed of the data split, arrivals and training", "link_backend": "how links are shaped",
    "wan": "bs-cloud link profile", "lan": "bs-edge link profile", "models_dir": "model cache",
    "results_dir": "where run folders go",
}


EXAMPLES = [
    "sudo python harness/run.py features",
    "sudo python harness/run.py features --access wifi --images 10 --feature-dims 16,64",
    "sudo python harness/run.py features --config features.toml --node-profile none",
]


def add_parser(sub) -> None:
    parser = add_command(
        sub, "features", summary="System A: raw images to the cloud vs edge PCA/autoencoder features",
        description="Bytes edge -> cloud per image and the reduction, end-to-end latency over each access network, "
                    "accuracy vs feature dimension, and the cloud's training time on raw inputs vs features. Writes "
                    "results/<UTC time>-features/.",
        examples=EXAMPLES)
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="TOML file of options (keys = option names with _), or a run's experiment.json; flags "
                             "override it")
    add_spec_flags(parser, FeaturesSpec, HELP, renamed={"accesses": "--access"})
    add_deprecated(parser, "--accesses", use="--access", dest="accesses")
    add_compute_options(parser)
    parser.set_defaults(func=run)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args) -> int:
    from harness.errors import HarnessError
    from topo.commands import missing_tools
    from topo.network import require_root

    flags = spec_flags(args, FeaturesSpec)
    flags["compute"] = compute_settings(args, FeaturesSpec)
    spec = resolve(FeaturesSpec, args.config, flags)
    require_root("features")
    missing = missing_tools()
    if missing:
        raise HarnessError(f"missing tools: {', '.join(sorted(set(missing)))}: run 'sudo ./setup.sh'")
    from harness.experiments.features.run import analyse_features, execute_features
    from harness.orchestration.preflight import check_traces
    from harness.orchestration.model_set import models_for
    from harness.orchestration.running import run_with_lock
    from topo.links import resolve_backend
    from topo.profiles import load_profile

    profiles = [load_profile(p) for p in (*spec.accesses, spec.wan, spec.lan)]  # refuse a bad one up front
    check_traces(profiles)
    backend = resolve_backend(spec.link_backend, profiles)
    models_dir = models_for(spec.models_dir)
    return run_with_lock("features", spec.results_dir,
                         lambda run_dir: execute_features(spec, models_dir, run_dir, backend, progress=_say),
                         lambda run_dir: analyse_features(run_dir, progress=_say),
                         analyse_when_stopped=False)  # its analysis trains classifiers: minutes, not for a Ctrl-C
