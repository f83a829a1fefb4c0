"""`clean`: remove what crashed runs of this project left; never anything else."""
from __future__ import annotations

from harness.cli.help_text import add_command
from topo.cleanup import clean
from topo.network import require_root


EXAMPLES = [
    "sudo python harness/run.py clean",
    "sudo python harness/run.py clean && sudo python harness/run.py topology --check",
]


def add_parser(sub) -> None:
    parser = add_command(
        sub, "clean", summary="remove namespaces, interfaces, bridges and processes left by a crashed run of this "
                              "project (and only those)",
        description="Remove the network namespaces, interfaces, bridges and processes that a crashed run of this "
                    "project left behind, and nothing else; a run that is still active is left alone.",
        examples=EXAMPLES)
    parser.set_defaults(func=run)


def run(_args) -> int:
    require_root("clean")
    report = clean()
    for run_pid in report.active_runs:
        print(f"run {run_pid} is still active: left alone")
    if report.empty:
        print("nothing to clean")
        return 0
    for line in report.lines():
        print(line)
    return 0
