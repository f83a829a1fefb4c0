"""Command-line options shared by the commands that build a network, and the spec they resolve to."""
from __future__ import annotations

import argparse

from harness.errors import HarnessError
from harness.orchestration.preflight import check_traces
from topo.links import BACKENDS, resolve_backend
from topo.profiles import available_profiles, load_profile, trace_profile
from topo.topology import MAX_UES, TopologySpec


def add_network_options(parser: argparse.ArgumentParser, access_default: str = "lte") -> None:
    group = parser.add_argument_group("network")
    group.add_argument("--access", default=access_default, metavar="PROFILE",
                       help=f"the devices' access link: {', '.join(available_profiles())}, 'trace' (with "
                            f"--uplink/--downlink), or a profile .toml path (default: {access_default})")
    group.add_argument("--uplink", metavar="FILE", help="uplink trace file (Mahimahi or time_s,rate_mbps CSV) "
                                                        "for --access trace")
    group.add_argument("--downlink", metavar="FILE", help="downlink trace file for --access trace")
    group.add_argument("--trace-base", default="lte-ideal", metavar="PROFILE",
                       help="profile whose delays and queues a trace access link keeps (default: lte-ideal)")
    group.add_argument("--ues", type=int, default=1, metavar="N",
                       help=f"mobile devices sharing the access network, 1..{MAX_UES} (default: 1)")
    group.add_argument("--wan", default="wan", metavar="PROFILE", help="bs-cloud link profile (default: wan)")
    group.add_argument("--lan", default="lan", metavar="PROFILE", help="bs-edge link profile (default: lan)")
    group.add_argument("--link-backend", dest="link_backend", choices=BACKENDS, default="auto",
                       help="kernel (HTB+netem), userspace (the project's emulator), or auto: kernel only "
                            "where sch_netem exists (default: auto)")


def access_profile(args: argparse.Namespace):
    if args.access == "trace":
        if not (args.uplink and args.downlink):
            raise HarnessError("--access trace needs both --uplink FILE and --downlink FILE")
        return trace_profile(args.uplink, args.downlink, load_profile(args.trace_base))
    if args.uplink or args.downlink:
        raise HarnessError("--uplink/--downlink need --access trace")
    return load_profile(args.access)


def network_spec(args: argparse.Namespace) -> TopologySpec:
    """Resolve profiles (their trace files parsed) and the backend, before anything is built; raises
    ProfileError / TraceFormatError / LinkBackendError / HarnessError."""
    if not 1 <= args.ues <= MAX_UES:
        raise HarnessError(f"--ues must be between 1 and {MAX_UES}, got {args.ues}")
    access, wan, lan = access_profile(args), load_profile(args.wan), load_profile(args.lan)
    check_traces([access, wan, lan])
    backend = resolve_backend(args.link_backend, [access, wan, lan])
    return TopologySpec(access=access, wan=wan, lan=lan, ues=args.ues, backend=backend)
