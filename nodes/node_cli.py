"""The command-line shape shared by ``python -m nodes.cloud`` and ``python -m nodes.edge``."""
from __future__ import annotations

import argparse
from pathlib import Path

from nodes.errors import NodeConfigError
from nodes.inference_pacing import InferencePacer, pacer_from_options
from nodes.server_limits import ServerLimits

DEVICES = ("auto", "cpu", "cuda")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, like every other bad input
        self.exit(2, f"error: {self.prog}: {message}\n")


def common_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port; 0 picks a free one (see --ready-file)")
    parser.add_argument("--log-dir", type=Path, required=True, help="timings.jsonl, node.log and kept files go here")
    parser.add_argument("--name", default=None, help="node name reported in every reply")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="ONNX Runtime device")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads per session")
    parser.add_argument("--workers", type=int, default=2, help="threads decoding images and running sessions")
    parser.add_argument("--speed-factor", type=float, default=1.0, metavar="F",
                        help="emulate hardware F times slower (>= 1): each inference sleeps (F-1) x its measured time")
    parser.add_argument("--latency-profile", default="", metavar="NAME|FILE",
                        help="emulate faster hardware: each inference takes a sample of this recorded profile "
                             "(nodes/latency_profiles/NAME.json or a file); not with --speed-factor")
    parser.add_argument("--latency-seed", type=int, default=0, metavar="N", help="seed of the profile's samples")
    parser.add_argument("--ready-file", type=Path, default=None,
                        help="written (JSON: url, port, pid) once serving, besides the 'ready' line on stdout")
    parser.add_argument("--max-request-bytes", type=int, default=ServerLimits.max_request_bytes)
    parser.add_argument("--max-connections", type=int, default=ServerLimits.max_connections)
    parser.add_argument("--header-timeout-s", type=float, default=ServerLimits.header_timeout_s)
    parser.add_argument("--body-timeout-s", type=float, default=ServerLimits.body_timeout_s)
    parser.add_argument("--shutdown-timeout-s", type=float, default=30.0,
                        help="on SIGTERM, how long in-flight requests may take to finish")
    return parser


WILDCARD_HOSTS = ("", "0.0.0.0", "::", "*", "[::]")


def check_common(args) -> ServerLimits:
    if args.host.strip() in WILDCARD_HOSTS:
        raise NodeConfigError(f"--host {args.host!r} would listen on every interface of the machine: give the "
                              "address of the emulated host (e.g. 10.0.2.2) or 127.0.0.1")
    if not 0 <= args.port <= 65535:
        raise NodeConfigError(f"--port {args.port} is outside 0..65535")
    if args.threads is not None and args.threads < 1:
        raise NodeConfigError(f"--threads {args.threads} must be >= 1 (or omitted for ONNX Runtime's default)")
    if args.workers < 1:
        raise NodeConfigError(f"--workers {args.workers} must be >= 1")
    return ServerLimits(max_request_bytes=args.max_request_bytes, max_connections=args.max_connections,
                        header_timeout_s=args.header_timeout_s, body_timeout_s=args.body_timeout_s)


def pacer_of(args) -> InferencePacer:
    """The node's inference pacing from ``--speed-factor`` / ``--latency-profile``; writes its compute.json."""
    args.log_dir.mkdir(parents=True, exist_ok=True)
    return pacer_from_options(args.speed_factor, args.latency_profile, args.latency_seed, args.log_dir)
