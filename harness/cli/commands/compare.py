"""`compare`: LTE vs WiFi x edge vs cloud x the seven image sizes -- the main job."""
from __future__ import annotations

from harness.cli.experiment_options import add_experiment_options, spec_from_args
from harness.experiments.compare.command import run_experiment


def add_parser(sub) -> None:
    parser = sub.add_parser("compare", help="LTE vs WiFi, edge vs cloud, per image size (the main job)",
                            description="For each access x placement x image size x repetition, send images from the "
                                        "device ue1 and record upload, inference and response times, with packet "
                                        "captures, link calibration, figures and a report beside the published "
                                        "numbers. Writes results/<UTC time>-compare/.")
    add_experiment_options(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    return run_experiment(spec_from_args("compare", args))
