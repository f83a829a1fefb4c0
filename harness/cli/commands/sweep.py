"""`sweep`: one access x one placement over the image sizes."""
from __future__ import annotations

from harness.cli.experiment_options import add_experiment_options, spec_from_args
from harness.cli.help_text import add_command
from harness.experiments.compare.command import run_experiment

EXAMPLES = [
    "sudo python harness/run.py sweep --access wifi --placement cloud",
    "sudo python harness/run.py sweep --access lte --sizes 60K,1024K --repetitions 5",
]


def add_parser(sub) -> None:
    parser = add_command(sub, "sweep", summary="one access x one placement over the image sizes",
                         description="Like compare, for one access network and one placement.", examples=EXAMPLES)
    add_experiment_options(parser, access="one")
    parser.add_argument("--placement", default=None, metavar="PLACEMENT",
                        help="edge, cloud, features or split (default: edge)")
    parser.set_defaults(func=run)


def run(args) -> int:
    fixed = {"accesses": args.accesses or ("lte" if not (args.config or args.scenario) else None),
             "placements": args.placement or args.placements or ("edge" if not args.config else None)}
    return run_experiment(spec_from_args("sweep", args, **fixed))
