"""`load`: many devices at once, edge vs cloud, per access: throughput, response, queueing, server CPU, and the
load above which the cloud answers faster than the edge."""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli import scenario_options
from harness.cli.compute_options import add_compute_options, compute_settings
from harness.cli.help_text import add_command
from harness.cli.image_options import IMAGE_OPTION_FIELDS, add_image_options
from harness.cli.model_options import add_model_options, model_spec_flags
from harness.experiments.load.command import run_load
from harness.experiments.load.spec import LoadSpec, resolve_load_spec
from topo.links import BACKENDS
from topo.topology import MAX_UES

EXAMPLES = [
    "sudo python harness/run.py load",
    "sudo python harness/run.py load --devices 1,2,4,8,16,32 --rate-hz 1 --access lte,wifi",
    "sudo python harness/run.py load --devices 4,16 --think-ms 500 --access lte --cell-seconds 10",
]
FIELDS = ("accesses", "placements", "devices", "rates_hz", "think_ms", "arrivals_file", "sizes", "cell_seconds",
          "seed", "link_backend", "wan", "lan", "capture", "capture_snaplen_bytes", "calibrate_seconds",
          "request_timeout_s", "models_dir", "results_dir", *IMAGE_OPTION_FIELDS)


def add_parser(sub) -> None:
    d = LoadSpec()
    parser = add_command(
        sub, "load", summary="many devices at once: response vs load, edge vs cloud, and their crossover",
        description="For each access network, bring up one network with as many devices as the largest level and "
                    "one edge and one cloud server, then for each load level (devices, x rate) and placement let "
                    "every device send at once for --cell-seconds. Reports per cell offered and achieved "
                    "throughput, response p50/p90/p99, server queueing and server CPU, and per access the lowest "
                    "load at which the cloud's median response beats the edge's. Writes results/<UTC time>-load/ "
                    "(load.csv, load-summary.csv, response_vs_load.png, report.md). Not resumable: a stopped run "
                    "keeps and reports the cells it finished.",
        examples=EXAMPLES)
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="TOML file of options (keys = the option names with _), or a run's experiment.json to "
                             "repeat it; flags override it")
    parser.add_argument("--access", dest="accesses", metavar="PROFILE[,...]",
                        help=f"access profiles, a comma list (default: {','.join(d.accesses)})")
    parser.add_argument("--placements", metavar="PLACEMENT[,...]", help="edge and/or cloud (default: edge,cloud)")
    parser.add_argument("--devices", metavar="N[,...]",
                        help=f"load levels: devices sending at once, each 1..{MAX_UES} "
                             f"(default: {','.join(map(str, d.devices))})")
    parser.add_argument("--rate-hz", dest="rates_hz", metavar="HZ[,...]",
                        help="open loop: Poisson requests per second per device; several: one level each x devices "
                             "(default: closed loop)")
    parser.add_argument("--think-ms", dest="think_ms", type=float, metavar="MS",
                        help="closed loop: a device's pause after each reply, 0 allowed (default: 0)")
    parser.add_argument("--arrivals", dest="arrivals_file", metavar="FILE",
                        help="open loop: send times from FILE, one per line in seconds from the start; every device "
                             "replays it (default: none)")
    parser.add_argument("--sizes", metavar="SIZE[,...]", help=f"images sent in turn (default: {','.join(d.sizes)})")
    parser.add_argument("--cell-seconds", dest="cell_seconds", type=float, metavar="SECONDS",
                        help=f"how long the devices send in each cell (default: {d.cell_seconds:g})")
    parser.add_argument("--seed", type=int, metavar="N",
                        help=f"seed of images and arrivals; device i uses seed + i - 1 (default: {d.seed})")
    parser.add_argument("--link-backend", dest="link_backend", choices=BACKENDS,
                        help="kernel (HTB+netem), userspace (the project's emulator), or auto (default: auto)")
    parser.add_argument("--wan", metavar="PROFILE", help=f"bs-cloud link profile (default: {d.wan})")
    parser.add_argument("--lan", metavar="PROFILE", help=f"bs-edge link profile (default: {d.lan})")
    parser.add_argument("--capture", dest="capture", action=argparse.BooleanOptionalAction, default=None,
                        help="tcpdump on bs (every device's traffic), edge and cloud (default: off)")
    parser.add_argument("--snaplen", dest="capture_snaplen_bytes", type=int, metavar="BYTES",
                        help=f"bytes kept per captured packet, 0 = all (default: {d.capture_snaplen_bytes})")
    parser.add_argument("--calibrate-seconds", dest="calibrate_seconds", type=float, metavar="SECONDS",
                        help="iperf3 seconds per link direction before the cells, 0 = ping only (default: 0)")
    parser.add_argument("--timeout", dest="request_timeout_s", type=float, metavar="SECONDS",
                        help=f"device: one request's timeout (default: {d.request_timeout_s:g})")
    parser.add_argument("--models-dir", dest="models_dir", metavar="DIR", help="model cache (default: .cache/models)")
    parser.add_argument("--results-dir", dest="results_dir", metavar="DIR",
                        help="where run folders go (default: results)")
    add_model_options(parser, pairs=False)
    add_image_options(parser)
    add_compute_options(parser)
    scenario_options.add_scenario_option(parser)
    parser.set_defaults(func=run)


def spec_from_args(args: argparse.Namespace) -> LoadSpec:
    flags = {name: getattr(args, name, None) for name in FIELDS}
    flags["compute"] = compute_settings(args, LoadSpec)
    flags.update(model_spec_flags(args))  # --edge-model / --cloud-model FILE.onnx: a model set with the files
    flags.update(scenario_options.scenario_flags(args))  # --scenario FILE, --move AT_S:DEVICE:CELL
    return resolve_load_spec(args.config, flags)


def run(args) -> int:
    return run_load(spec_from_args(args))
