"""`calibrate`: measure every shaped link as it runs; write links.csv; print configured vs measured."""
from __future__ import annotations

import time
from pathlib import Path

from harness.analysis.tables import format_table
from harness.cli import network_options
from harness.errors import HarnessError
from harness.orchestration.calibration import measure_links, trace_window_errors, write_links_csv
from topo.network import require_root, running_network


def add_parser(sub) -> None:
    parser = sub.add_parser("calibrate", help="measure each shaped link: idle RTT and TCP goodput each way",
                            description="Bring up the network, measure each shaped link (ping for idle RTT, iperf3 "
                                        "for TCP goodput in each direction), write links.csv, and print configured "
                                        "vs measured with the error in %%.")
    network_options.add_network_options(parser)
    parser.add_argument("--seconds", type=float, default=5.0, help="iperf3 duration per direction (default: 5)")
    parser.add_argument("--packet-log", action="store_true",
                        help="also write each emulator's per-packet log (Mahimahi format) into OUT/emulator/")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for links.csv (default: results/<UTC time>-calibrate)")
    parser.set_defaults(func=run)


def run(args) -> int:
    require_root("calibrate")
    if args.seconds <= 0:
        raise HarnessError(f"--seconds must be positive, got {args.seconds}")
    spec = network_options.network_spec(args)
    out_dir = args.out or Path("results") / (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-calibrate")
    log_dir = out_dir / "emulator"
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HarnessError(f"--out {out_dir}: cannot create it ({err.strerror or err}); give a writable folder") from None
    with running_network(spec, log_dir=log_dir, packet_log=args.packet_log) as net:
        rows = measure_links(net, duration_s=args.seconds)
    rows += trace_window_errors(rows, log_dir)  # the emulators' summaries are complete once they stopped
    write_links_csv(rows, out_dir / "links.csv")
    print(format_table(["link", "direction", "metric", "configured", "measured", "error %", "note"],
                       [[r.link, r.direction, r.metric, "-" if r.configured is None else f"{r.configured:g}",
                         "-" if r.measured is None else f"{r.measured:g}",
                         "-" if r.error_pct is None else f"{r.error_pct:+.1f}", r.note] for r in rows]))
    print(f"\nbackend: {spec.backend}; wrote {out_dir / 'links.csv'}")
    return 0
