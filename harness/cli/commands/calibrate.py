"""`calibrate`: measure every shaped link as it runs; write links.csv; print configured vs measured."""
from __future__ import annotations

import time
from pathlib import Path

from harness.analysis.tables import format_table
from harness.cli import network_options
from harness.cli.deprecated_flags import add_deprecated
from harness.cli.help_text import add_command
from harness.errors import HarnessError
from harness.orchestration.calibration import measure_links, trace_window_errors, write_links_csv
from topo.network import require_root, running_network


EXAMPLES = [
    "sudo python harness/run.py calibrate",
    "sudo python harness/run.py calibrate --access wifi --calibrate-seconds 10 --results-dir /tmp/results",
    "sudo python harness/run.py calibrate --access trace --uplink traces/lte-variable.up "
    "--downlink traces/lte-variable.down",
]


def add_parser(sub) -> None:
    parser = add_command(
        sub, "calibrate", summary="measure each shaped link: idle RTT and TCP goodput each way",
        description="Bring up the network, measure each shaped link (ping for idle RTT, iperf3 for TCP goodput in "
                    "each direction), write links.csv into results/<UTC time>-calibrate/, and print configured vs "
                    "measured with the error in %.",
        examples=EXAMPLES)
    network_options.add_network_options(parser)
    parser.add_argument("--calibrate-seconds", dest="calibrate_seconds", type=float, default=5.0, metavar="SECONDS",
                        help="iperf3 seconds per link direction (default: 5)")
    add_deprecated(parser, "--seconds", use="--calibrate-seconds", dest="calibrate_seconds", type=float)
    parser.add_argument("--packet-log", action="store_true",
                        help="also write each emulator's per-packet log (Mahimahi format) into the run folder's "
                             "emulator/")
    parser.add_argument("--results-dir", dest="results_dir", type=Path, default=Path("results"), metavar="DIR",
                        help="where run folders go: links.csv lands in DIR/<UTC time>-calibrate/ (default: results)")
    add_deprecated(parser, "--out", use="--results-dir", dest="out", type=Path,
                   hint="--out DIR wrote into DIR itself; --results-dir DIR makes the run folder inside DIR")
    parser.set_defaults(func=run, out=None)


def run(args) -> int:
    require_root("calibrate")
    if args.calibrate_seconds <= 0:
        raise HarnessError(f"--calibrate-seconds must be positive, got {args.calibrate_seconds:g}")
    spec = network_options.network_spec(args)
    out_dir = args.out or args.results_dir / (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-calibrate")
    flag = "--out" if args.out else "--results-dir"
    log_dir = out_dir / "emulator"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HarnessError(f"{flag} {args.out or args.results_dir}: cannot create {out_dir} ({err.strerror or err}); "
                           f"give a writable folder") from None
    with running_network(spec, log_dir=log_dir, packet_log=args.packet_log) as net:
        rows = measure_links(net, duration_s=args.calibrate_seconds)
    rows += trace_window_errors(rows, log_dir)  # the emulators' summaries are complete once they stopped
    write_links_csv(rows, out_dir / "links.csv")
    print(format_table(["link", "direction", "metric", "configured", "measured", "error %", "note"],
                       [[r.link, r.direction, r.metric, "-" if r.configured is None else f"{r.configured:g}",
                         "-" if r.measured is None else f"{r.measured:g}",
                         "-" if r.error_pct is None else f"{r.error_pct:+.1f}", r.note] for r in rows]))
    print(f"\nbackend: {spec.backend}; wrote {out_dir / 'links.csv'}")
    return 0
