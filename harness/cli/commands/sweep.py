"""`sweep`: one access x one placement over the image sizes."""
from __future__ import annotations

from harness.cli.experiment_options import add_experiment_options, spec_from_args
from harness.experiments.compare.command import run_experiment


def add_parser(sub) -> None:
    parser = sub.add_parser("sweep", help="one access x one placement over the image sizes",
                            description="Like compare, for one access network and one placement.")
    add_experiment_options(parser, accesses=False)
    parser.add_argument("--access", default=None, help="access profile (default: lte)")
    parser.add_argument("--placement", default=None, help="edge, cloud, features or split (default: edge)")
    parser.set_defaults(func=run)


def run(args) -> int:
    fixed = {"accesses": args.access or ("lte" if not args.config else None),
             "placements": args.placement or args.placements or ("edge" if not args.config else None)}
    return run_experiment(spec_from_args("sweep", args, **fixed))
