"""`replay`: a workload while the access link replays uplink/downlink traces."""
from __future__ import annotations

from harness.cli.deprecated_flags import add_deprecated
from harness.cli.experiment_options import add_experiment_options, spec_from_args
from harness.cli.help_text import add_command
from harness.experiments.compare.command import run_experiment

EXAMPLES = [
    "sudo python harness/run.py replay --uplink traces/lte-variable.up --downlink traces/lte-variable.down",
    "sudo python harness/run.py replay --uplink my.up --downlink my.down --duration-s 30 --placement cloud",
]


def add_parser(sub) -> None:
    parser = add_command(
        sub, "replay", summary="a workload while the access link replays real link traces",
        description="Put --uplink and --downlink traces (Mahimahi packet-delivery files or time_s,rate_mbps CSV) "
                    "on the access link and run a closed-loop workload for --duration-s; the report plots response "
                    "time against the link's capacity.",
        examples=EXAMPLES)
    add_experiment_options(parser, access=None)
    parser.add_argument("--uplink", dest="uplink_trace", metavar="FILE", help="uplink trace file")
    parser.add_argument("--downlink", dest="downlink_trace", metavar="FILE", help="downlink trace file")
    parser.add_argument("--trace-base", dest="trace_base", metavar="PROFILE",
                        help="profile whose delays and queues the trace link keeps (default: lte-ideal)")
    parser.add_argument("--duration-s", dest="replay_seconds", type=float, metavar="SECONDS",
                        help="how long the workload runs (default: 60)")
    add_deprecated(parser, "--seconds", use="--duration-s", dest="replay_seconds", type=float)
    parser.add_argument("--placement", default=None, metavar="PLACEMENT", help="edge or cloud (default: edge)")
    parser.set_defaults(func=run)


def run(args) -> int:
    fixed = {"accesses": "trace", "placements": args.placement or args.placements or
             ("edge" if not args.config else None),
             "sizes": args.sizes or ("60K,512K" if not args.config else None)}
    return run_experiment(spec_from_args("replay", args, **fixed))
