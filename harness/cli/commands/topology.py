"""`topology`: bring up the edge/cloud network, print hosts and links, optionally check and open a CLI."""
from __future__ import annotations

import signal
import sys
from pathlib import Path

from harness.analysis.tables import format_table
from harness.cli import network_options, scenario_options
from harness.cli.help_text import add_command
from harness.errors import HarnessError
from harness.orchestration.reachability import ping_all_pairs
from topo.network import require_root, running_network
from topo.profiles import DirectionSpec
from topo.scenario.mobility import Mobility, MoveSchedule
from topo.scenario.probe import network_all_pairs

DETAILED_CHECK_MAX_HOSTS = 8  # above this, --check uses the one-process ICMP probe and lists only failures


EXAMPLES = [
    "sudo python harness/run.py topology --access wifi --ues 4 --cli",
    "sudo python harness/run.py topology --link-backend userspace --log-dir /tmp/links --hold",
    "sudo python harness/run.py topology --scenario scenarios/three-cells.toml --check",
]


def add_parser(sub) -> None:
    parser = add_command(
        sub, "topology", summary="bring up the default network and print its hosts and links",
        description="Bring up ue1..ueN -- access -- bs -- LAN -- edge, bs -- WAN -- cloud, print hosts, addresses "
                    "and link profiles, then tear it all down (or keep it: --cli, --hold).",
        examples=EXAMPLES)
    network_options.add_network_options(parser)
    scenario_options.add_scenario_option(parser)
    parser.add_argument("--check", action="store_true",
                        help="ping every host pair; print measured RTTs beside the expected ones")
    parser.add_argument("--cli", action="store_true", help="open the Mininet CLI (exit it to tear down)")
    parser.add_argument("--hold", action="store_true", help="keep the network up until Ctrl-C")
    parser.add_argument("--log-dir", type=Path, default=None, metavar="DIR",
                        help="write each link emulator's per-second summary (<link>-summary.csv) here")
    parser.add_argument("--packet-log", action="store_true",
                        help="with --log-dir: also the per-packet logs in Mahimahi's format (<link>-uplink.log, ...)")
    parser.set_defaults(func=run)


def _spec_cells(spec: DirectionSpec) -> str:
    parts = [spec.describe_rate(), f"{spec.delay_ms:g} ms"]
    if spec.jitter_ms:
        parts.append(f"+-{spec.jitter_ms:g} ms {spec.jitter_distribution}")
    if spec.delay_trace:
        parts.append("delay trace")
    if spec.loss_model == "gilbert-elliott":
        parts.append("GE loss")
    elif spec.loss:
        parts.append(f"loss {spec.loss * 100:g}%")
    return ", ".join(parts)


def _role(spec, name: str) -> str:
    if not hasattr(spec, "host_plans"):
        return ("base station / router (also 10.0.2.1, 10.0.3.1)" if name == "bs"
                else {"edge": "edge server", "cloud": "cloud server"}.get(name, "mobile device"))
    plan = spec.host(name)
    return {"device": f"mobile device in {plan.cell}", "bs": f"base station of {plan.cell} / router",
            "site": "router (site)", "edge": f"edge server at {plan.router}",
            "cloud": f"cloud server at {plan.router}"}[plan.kind]


def describe(spec) -> str:
    hosts = format_table(["host", "address", "role"], [[name, addr, _role(spec, name)]
                                                       for name, addr in spec.hosts.items()])
    links = format_table(
        ["link", "ends", "profile", "uplink (rate, delay)", "downlink (rate, delay)", "queue up/down", "backend"],
        [[link.name, f"{link.node1} - {link.node2}", link.profile.name, _spec_cells(link.profile.up),
          _spec_cells(link.profile.down), f"{link.profile.up.describe_queue()} / {link.profile.down.describe_queue()}",
          link.backend if link.backend != "none" else "unshaped veth"]
         for link in spec.links])
    head = f"scenario {spec.scenario.name} ({spec.scenario.source})\n\n" if hasattr(spec, "scenario") else ""
    return f"{head}{hosts}\n\n{links}"


def _detailed_check(net) -> int:
    rows, failed = [], 0
    for pair in ping_all_pairs(net):
        failed += not pair.reachable
        rows.append([pair.src, pair.dst, f"{pair.expected_ms:.2f}",
                     "-" if pair.avg_ms is None else f"{pair.avg_ms:.2f}",
                     "-" if pair.min_ms is None else f"{pair.min_ms:.2f}",
                     "unreachable" if pair.error_ms is None else f"{pair.error_ms:+.2f}"])
    print("\n" + format_table(["from", "to", "expected RTT ms", "measured avg ms", "min ms",
                               "avg - expected ms"], rows))
    print(f"{len(rows) - failed}/{len(rows)} pairs reachable")
    return failed


def _quick_check(net) -> int:
    """Many hosts: one ICMP echo per ordered pair from one process; list the unreachable pairs only."""
    pairs = network_all_pairs(net)
    failed = [p for p in pairs if not p.reachable]
    if failed:
        print("\n" + format_table(["from", "to", "expected RTT ms"],
                                   [[p.src, p.dst, f"{net.spec.expected_rtt_ms(p.src, p.dst):.2f}"] for p in failed]))
    print(f"\n{len(pairs) - len(failed)}/{len(pairs)} pairs reachable (one ICMP echo per pair, 3 tries)")
    return len(failed)


def _start_moves(net, moves):
    if not moves:
        return None

    def show(h):
        print(f"handover {h.device}: {h.from_cell} -> {h.to_cell}, address {h.address_before} -> {h.address_after} "
              f"({h.address_mode}), interrupted {(h.end_ns - h.start_ns) / 1e6:.1f} ms", flush=True)
    schedule = MoveSchedule(Mobility(net), moves, on_handover=show)
    schedule.start()
    return schedule


def run(args) -> int:
    require_root("topology")
    spec = scenario_options.scenario_spec(args) if args.scenario else network_options.network_spec(args)
    moves = scenario_options.scenario_moves(args, spec if args.scenario else None)
    if args.packet_log and not args.log_dir:
        raise HarnessError("--packet-log needs --log-dir DIR")
    if args.log_dir:
        try:
            args.log_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise HarnessError(f"--log-dir {args.log_dir}: cannot create it ({err.strerror or err})") from None
    with running_network(spec, log_dir=args.log_dir, packet_log=args.packet_log) as net:
        print(describe(spec))
        print(f"\nshaping backend: {spec.backend}; up in {net.timings_s['start_s']:.2f} s")
        failed = 0
        if args.check:
            failed = _detailed_check(net) if len(spec.hosts) <= DETAILED_CHECK_MAX_HOSTS else _quick_check(net)
        schedule = _start_moves(net, moves)
        try:
            if args.cli:
                net.cli()
            elif args.hold:
                print("network is up; Ctrl-C to stop", flush=True)
                signal.pause()
            elif moves:  # no --hold: stay up until the last move is done
                schedule.wait_done(moves[-1].at_s + 30.0)
        finally:
            if schedule is not None:
                schedule.stop()
                failed += len(schedule.errors)
                for error in schedule.errors:
                    print(f"move failed: {error}", file=sys.stderr)
    print(f"torn down in {net.timings_s['stop_s']:.2f} s", file=sys.stderr)
    return 1 if failed else 0
