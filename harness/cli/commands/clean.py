"""`clean`: remove what crashed runs of this project left; never anything else."""
from __future__ import annotations

from topo.cleanup import clean
from topo.network import require_root


def add_parser(sub) -> None:
    parser = sub.add_parser("clean", help="remove namespaces, interfaces, bridges and processes left by a "
                                          "crashed run of this project (and only those)")
    parser.set_defaults(func=run)


def run(_args) -> int:
    require_root("clean")
    report = clean()
    for run_pid in report.active_runs:
        print(f"run {run_pid} is still active: left alone")
    if report.empty:
        print("nothing to clean")
        return 0
    for what, items in (("processes", report.processes), ("interfaces", report.interfaces),
                        ("namespaces", report.namespaces)):
        if items:
            print(f"removed {len(items)} {what}: {', '.join(items)}")
    return 0
