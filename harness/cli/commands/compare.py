"""`compare`: LTE vs WiFi x edge vs cloud x the seven image sizes -- the main job."""
from __future__ import annotations

from harness.cli.commands.cluster import add_cluster_options, run_on_cluster
from harness.cli.experiment_options import add_experiment_options, spec_from_args
from harness.cli.help_text import add_command
from harness.experiments.compare.command import run_experiment

EXAMPLES = [
    "sudo python harness/run.py compare",
    "sudo python harness/run.py compare --access lte --sizes 60K,512K --repetitions 3",
    "sudo python harness/run.py compare --config results/20250101T000000Z-compare/experiment.json",
]


def add_parser(sub) -> None:
    parser = add_command(
        sub, "compare", summary="LTE vs WiFi, edge vs cloud, per image size (the main job)",
        description="For each access x placement x image size x repetition, send images from the device ue1 and "
                    "record upload, inference and response times, with packet captures, link calibration, figures "
                    "and a report beside the published numbers. Writes results/<UTC time>-compare/.",
        examples=EXAMPLES)
    add_experiment_options(parser)
    add_cluster_options(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    return run_on_cluster(args, spec_from_args("compare", args), run_experiment)
