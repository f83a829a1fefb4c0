"""Options shared by compare, sweep and replay; each maps onto an ExperimentSpec field (None = not given)."""
from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.compute_options import add_compute_options, compute_settings
from harness.cli.deprecated_flags import add_deprecated
from harness.cli.model_options import add_model_options, model_spec_flags
from harness.cli.image_options import IMAGE_OPTION_FIELDS, add_image_options
from harness.cli.scenario_options import add_scenario_option, scenario_flags
from harness.experiments.compare.spec import PLACEMENTS, SIZES_BYTES, ExperimentSpec, resolve_spec
from topo.links import BACKENDS
from topo.topology import MAX_UES


def add_experiment_options(parser: argparse.ArgumentParser, *, access: str | None = "list") -> None:
    """The options of compare (``access="list"``: ``--access`` takes a comma list), sweep (``"one"``) and replay
    (None: the access link is the trace)."""
    d = ExperimentSpec()
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="TOML file of options (keys = the option names with _), or a run's experiment.json to "
                             "repeat it; flags override it")
    if access == "list":
        parser.add_argument("--access", dest="accesses", metavar="PROFILE[,...]",
                            help=f"access profiles, a comma list (default: {','.join(d.accesses)})")
        add_deprecated(parser, "--accesses", use="--access", dest="accesses")
    elif access == "one":
        parser.add_argument("--access", dest="accesses", metavar="PROFILE", help="access profile (default: lte)")
    parser.add_argument("--placements", metavar="PLACEMENT[,...]",
                        help=f"comma list of {', '.join(PLACEMENTS)} (default: {','.join(d.placements)})")
    parser.add_argument("--sizes", metavar="SIZE[,...]",
                        help=f"comma list of image sizes, K = 1024 (default: all: {','.join(SIZES_BYTES)})")
    parser.add_argument("--repetitions", type=int, metavar="N", help=f"requests per cell (default: {d.repetitions})")
    parser.add_argument("--link-backend", dest="link_backend", choices=BACKENDS,
                        help="kernel (HTB+netem), userspace (the project's emulator), or auto: kernel only where "
                             "sch_netem exists (default: auto)")
    add_arrival_options(parser)
    parser.add_argument("--seed", type=int, metavar="N",
                        help=f"seed of images, arrivals, loss; device i uses seed + i - 1 (default: {d.seed})")
    parser.add_argument("--devices", type=int, metavar="N",
                        help=f"devices running the workload at once, ue1..ueN, 1..{MAX_UES}, each with its own seed "
                             f"and rows; they share the access link; with --scenario: N of its devices, taken in turn from each "
                             f"cell (default: {d.devices})")
    parser.add_argument("--ues", type=int, metavar="N",
                        help=f"hosts on the access network, 1..{MAX_UES}; the network has max(--ues, --devices) "
                             f"(default: {d.ues})")
    parser.add_argument("--wan", metavar="PROFILE", help=f"bs-cloud link profile (default: {d.wan})")
    parser.add_argument("--lan", metavar="PROFILE", help=f"bs-edge link profile (default: {d.lan})")
    parser.add_argument("--capture", dest="capture", action=argparse.BooleanOptionalAction, default=None,
                        help="tcpdump on ue1 (with several devices: on bs, where all their traffic passes), edge "
                             "and cloud (default: on)")
    parser.add_argument("--snaplen", dest="capture_snaplen_bytes", type=int, metavar="BYTES",
                        help=f"bytes kept per packet, 0 = all (default: {d.capture_snaplen_bytes})")
    parser.add_argument("--calibrate-seconds", dest="calibrate_seconds", type=float, metavar="SECONDS",
                        help=f"iperf3 seconds per link direction at the start, 0 = ping only "
                             f"(default: {d.calibrate_seconds:g})")
    parser.add_argument("--timeout", dest="request_timeout_s", type=float, metavar="SECONDS",
                        help=f"device: one request's timeout (default: {d.request_timeout_s:g})")
    parser.add_argument("--retries", dest="request_retries", type=int, metavar="N",
                        help=f"device: retries of a failed request (default: {d.request_retries}: each failure is a row)")
    parser.add_argument("--retry-backoff", dest="retry_backoff_s", type=float, metavar="SECONDS",
                        help=f"device: seconds before the first retry, doubled after each (default: {d.retry_backoff_s:g})")
    parser.add_argument("--edge-cloud-timeout", dest="edge_cloud_timeout_s", type=float, metavar="SECONDS",
                        help=f"edge -> cloud: one request's timeout (default: {d.edge_cloud_timeout_s:g})")
    parser.add_argument("--edge-cloud-retries", dest="edge_cloud_retries", type=int, metavar="N",
                        help=f"edge -> cloud: retries of a failed request (default: {d.edge_cloud_retries})")
    parser.add_argument("--fault", dest="faults", action="append", metavar="AT:KIND:TARGET[:VALUE][:DURATION]",
                        help="inject a fault, counted from the start of each access network's workload; repeat for "
                             "more: 10s:link-down:wan:5s, 30s:kill:cloud:3s (restarted after 3 s), "
                             "40s:rate:access:2Mbit/s[:10s] (see docs/reliability.md)")
    parser.add_argument("--models-dir", dest="models_dir", metavar="DIR", help="model cache (default: .cache/models)")
    parser.add_argument("--results-dir", dest="results_dir", metavar="DIR",
                        help="where run folders go (default: results)")
    add_model_options(parser)
    add_image_options(parser)
    add_compute_options(parser)
    add_scenario_option(parser)


FIELDS = ("accesses", "placements", "sizes", "repetitions", "link_backend", "open_loop_rate_hz", "think_ms",
          "arrivals_file", "seed", "ues", "devices",
          "wan", "lan", "capture", "capture_snaplen_bytes", "calibrate_seconds", "request_timeout_s", "request_retries",
          "retry_backoff_s", "edge_cloud_timeout_s", "edge_cloud_retries", "faults", "models_dir",
          "results_dir", "uplink_trace", "downlink_trace", "trace_base", "replay_seconds", *IMAGE_OPTION_FIELDS)


def add_arrival_options(parser: argparse.ArgumentParser, *, rate_help: str = "") -> None:
    """How each device's requests arrive: --think-ms (closed loop), --rate-hz (Poisson) or --arrivals FILE."""
    parser.add_argument("--think-ms", dest="think_ms", type=float, metavar="MS",
                        help="closed loop (one request at a time per device): pause after each reply, 0 allowed "
                             "(default: 0)")
    parser.add_argument("--rate-hz", dest="open_loop_rate_hz", type=float, metavar="HZ",
                        help=rate_help or "open loop: Poisson arrivals per second per device (default: closed loop)")
    add_deprecated(parser, "--rate", use="--rate-hz", dest="open_loop_rate_hz", type=float)
    parser.add_argument("--arrivals", dest="arrivals_file", metavar="FILE",
                        help="open loop: send times from FILE, one per line in seconds from the start; every device "
                             "replays it (default: none)")


def spec_from_args(experiment: str, args: argparse.Namespace, **fixed) -> ExperimentSpec:
    flags = {name: getattr(args, name, None) for name in FIELDS}
    flags["compute"] = compute_settings(args)  # --node-profile, --edge-cpus, ... over --config's
    flags.update(scenario_flags(args))  # --scenario FILE, --move AT_S:DEVICE:CELL
    flags.update(model_spec_flags(args))  # --edge-model FILE.onnx ...: a model set with the files in it
    flags.update(fixed)
    return resolve_spec(experiment, args.config, flags)
