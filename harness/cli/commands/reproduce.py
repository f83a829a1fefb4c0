"""`reproduce`: run what each seed system needs and write a scorecard of every published figure beside ours."""
from __future__ import annotations

import sys

from harness.cli.help_text import add_command

EXAMPLES = [
    "sudo python harness/run.py reproduce --quick",
    "sudo python harness/run.py reproduce system-b --results-dir /tmp/results",
    "sudo python harness/run.py reproduce system-a --quick --force",
]


def add_parser(sub) -> None:
    parser = add_command(
        sub, "reproduce", summary="run both seed systems' experiments; scorecard of every published figure",
        description="Runs the parts of the chosen system (system-b: its models on Fashion-MNIST and its network "
                    "on the fitted scenario; system-a: features at ~11 KB images and accuracy vs dimension; all: "
                    "both) into DIR/reproduce-<quick|full>/, one folder per part, and writes scorecard.md and "
                    "scorecard.csv there: each SEEDS.md figure, published beside ours (± 95% CI), tolerance, "
                    "verdict, fitted / predicted / measured. A finished part is cached and not rerun while its "
                    "code and settings are unchanged; Ctrl-C keeps what finished and the same command resumes. "
                    "Only the network parts need root.",
        examples=EXAMPLES)
    parser.add_argument("systems", nargs="?", default="all", choices=["system-a", "system-b", "all"],
                        help="which seed system to reproduce (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="short settings of every part (under 15 min on 2 cores), in reproduce-quick/")
    parser.add_argument("--results-dir", metavar="DIR", default="results",
                        help="where the reproduce-<quick|full>/ folder goes (default: results)")
    parser.add_argument("--force", action="store_true", help="rerun parts whose cached result is still valid")
    parser.set_defaults(func=run)


def _say(message: str) -> None:
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def run(args) -> int:
    from harness.cli.user_errors import is_user_error
    from harness.experiments.reproduce.run import run_reproduce
    from harness.experiments.reproduce.spec import ReproduceSpec

    spec = ReproduceSpec(systems=args.systems, quick=args.quick, force=args.force, results_dir=args.results_dir)
    return run_reproduce(spec, progress=_say, is_user_error=is_user_error)
