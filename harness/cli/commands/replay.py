"""`replay`: a workload while the access link replays uplink/downlink traces."""
from __future__ import annotations

from harness.cli.experiment_options import add_experiment_options, spec_from_args
from harness.experiments.compare.command import run_experiment


def add_parser(sub) -> None:
    parser = sub.add_parser("replay", help="a workload while the access link replays real link traces",
                            description="Put --uplink and --downlink traces (Mahimahi packet-delivery files or "
                                        "time_s,rate_mbps CSV) on the access link and run a closed-loop workload for "
                                        "--seconds; the report plots response time against the link's capacity.")
    add_experiment_options(parser, accesses=False)
    parser.add_argument("--uplink", dest="uplink_trace", help="uplink trace file")
    parser.add_argument("--downlink", dest="downlink_trace", help="downlink trace file")
    parser.add_argument("--trace-base", dest="trace_base", help="profile whose delays/queues the link keeps (lte)")
    parser.add_argument("--seconds", dest="replay_seconds", type=float, help="workload duration (default: 60)")
    parser.add_argument("--placement", default=None, help="edge or cloud (default: edge)")
    parser.set_defaults(func=run)


def run(args) -> int:
    fixed = {"accesses": "trace", "placements": args.placement or args.placements or
             ("edge" if not args.config else None),
             "sizes": args.sizes or ("60K,512K" if not args.config else None)}
    return run_experiment(spec_from_args("replay", args, **fixed))
