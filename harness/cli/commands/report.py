"""`report`: re-make summary.csv, flows.csv, the figures and report.md from a results folder (no root)."""
from __future__ import annotations

import sys
from pathlib import Path

from harness.cli.help_text import add_command

EXAMPLES = [
    "python harness/run.py report results/20250101T000000Z-compare",
    "python harness/run.py report results/20250101T000000Z-compare --out /tmp/report",
]


def add_parser(sub) -> None:
    parser = add_command(
        sub, "report", summary="re-make the analysis and report.md of a results folder (no root)",
        description="Read only RESULTS_DIR (experiment.json, requests.csv, links.csv, pcaps/, replay.csv) and write "
                    "summary.csv, flows.csv, PNG figures and report.md with the published figures beside ours.",
        examples=EXAMPLES)
    parser.add_argument("results_dir", metavar="RESULTS_DIR", type=Path,
                        help="a run folder, e.g. results/20250101T000000Z-compare")
    parser.add_argument("--out", metavar="DIR", type=Path, default=None,
                        help="write the outputs (not a run folder: the analysis of RESULTS_DIR) here instead of into "
                             "RESULTS_DIR")
    parser.set_defaults(func=run)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _experiment_of(results_dir: Path) -> str | None:
    import json

    try:
        return json.loads((results_dir / "experiment.json").read_text()).get("experiment")
    except (OSError, ValueError, AttributeError):
        return None


def run(args) -> int:
    experiment = _experiment_of(args.results_dir)
    if experiment == "load":  # its own analysis (issue 13)
        from harness.experiments.load.report import analyse_load
        print(analyse_load(args.results_dir, progress=_say, out_dir=args.out))
        return 0
    if experiment in ("collaborate", "features") and args.out is None:  # their own analysis (issue 7)
        if experiment == "collaborate":
            from harness.experiments.collaborate.analysis import analyse_collaboration
            analyse_collaboration(args.results_dir, progress=_say)
        else:
            from harness.experiments.features.run import analyse_features
            analyse_features(args.results_dir, progress=_say)
        print(args.results_dir / "report.md")
        return 0
    from harness.analysis.report import analyse_run  # late: matplotlib costs 0.3 s on every CLI start otherwise

    report = analyse_run(args.results_dir, progress=_say, out_dir=args.out)
    print(report)
    return 0
