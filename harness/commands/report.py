"""`report`: re-make summary.csv, flows.csv, the figures and report.md from a results folder (no root)."""
from __future__ import annotations

import sys
from pathlib import Path

from harness.report import ReportError, analyse_run

__all__ = ["add_parser", "run", "analyse_run", "ReportError"]


def add_parser(sub) -> None:
    parser = sub.add_parser("report", help="re-make the analysis and report.md of a results folder (no root)",
                            description="Read only RESULTS_DIR (experiment.json, requests.csv, links.csv, pcaps/, "
                                        "replay.csv) and write summary.csv, flows.csv, PNG figures and report.md "
                                        "with the published figures beside ours.")
    parser.add_argument("results_dir", metavar="RESULTS_DIR", type=Path,
                        help="a run folder, e.g. results/20250101T000000Z-compare")
    parser.add_argument("--out", metavar="DIR", type=Path, default=None,
                        help="write the outputs here instead of into RESULTS_DIR")
    parser.set_defaults(func=run)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args) -> int:
    report = analyse_run(args.results_dir, progress=_say, out_dir=args.out)
    print(report)
    return 0
