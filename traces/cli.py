"""``python -m traces``: generate, inspect and convert link traces."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from traces.generators import MODELS, constant_rate_trace, markov_rate_steps, markov_rate_trace
from traces.readers import read_delivery_trace
from traces.trace_types import TraceFormatError
from traces.writers import write_mahimahi_trace, write_rate_csv

TRACES_DIR = Path(__file__).resolve().parent
SHIPPED_SEED = 1
VARIABLE_SECONDS = 60

# Constant traces: durations chosen so rate x duration is a whole number of 1500-byte packets.
SHIPPED_CONSTANT = {
    "lte-8mbps.up": (8.0, 3.0),
    "lte-10.88mbps.down": (10.88, 3.0),
    "wifi-72mbps.up": (72.0, 1.0),
    "wifi-72mbps.down": (72.0, 1.0),
}
# Variable traces: LTE as Mahimahi files; WiFi as time_s,rate_mbps CSV (100 ms steps),
# because 60 s of 72 Mbit/s as one line per packet would be 2 MB per file.
SHIPPED_VARIABLE = {
    "lte-variable.up": ("lte-up", SHIPPED_SEED, "mahimahi"),
    "lte-variable.down": ("lte-down", SHIPPED_SEED + 1, "mahimahi"),
    "wifi-variable.up": ("wifi", SHIPPED_SEED + 2, "csv"),
    "wifi-variable.down": ("wifi", SHIPPED_SEED + 3, "csv"),
}


def _write_variable(model_name: str, seconds: float, seed: int, fmt: str, output: Path) -> None:
    model = MODELS[model_name]
    if fmt == "csv":
        times, rates = markov_rate_steps(model, seconds, seed)
        comment = (f"{model.name}: Markov-modulated rate, mean {model.mean_mbps} Mbit/s, seed {seed}, "
                   f"{model.step_ms} ms steps (python -m traces generate {model.name} --seconds {seconds:g} "
                   f"--seed {seed} --format csv)\neach row holds until the next; the last for one step")
        write_rate_csv(output, times, rates, comment)
    else:
        write_mahimahi_trace(markov_rate_trace(model, seconds, seed), output)


def _cmd_generate(args) -> int:
    output = Path(args.output)
    if args.kind == "constant":
        if args.rate_mbps is None:
            raise TraceFormatError("generate constant: --rate-mbps is required")
        trace = constant_rate_trace(args.rate_mbps * 1e6, args.seconds)
        write_mahimahi_trace(trace, output)
        error = trace.mean_rate_bps / (args.rate_mbps * 1e6) - 1
        if abs(error) > 1e-3:
            print(f"note: {args.seconds:g} s holds no whole number of packets at {args.rate_mbps} Mbit/s; "
                  f"the trace's mean is {trace.mean_rate_bps / 1e6:.4f} Mbit/s ({error:+.2%})", file=sys.stderr)
    else:
        _write_variable(args.kind, args.seconds, args.seed, args.format, output)
    print(_describe(output))
    return 0


def _describe(path: Path) -> str:
    trace = read_delivery_trace(path)
    return (f"{path}: duration {trace.duration_ms / 1000:.3f} s, mean capacity "
            f"{trace.mean_rate_bps / 1e6:.3f} Mbit/s, {trace.packets} packets (1500-byte opportunities)")


def _cmd_info(args) -> int:
    for name in args.files:
        print(_describe(Path(name)))
    return 0


def _cmd_convert(args) -> int:
    write_mahimahi_trace(read_delivery_trace(args.input), args.output)
    print(_describe(Path(args.output)))
    return 0


def _cmd_ship(args) -> int:
    target = Path(args.dir)
    for name, (rate_mbps, seconds) in SHIPPED_CONSTANT.items():
        write_mahimahi_trace(constant_rate_trace(rate_mbps * 1e6, seconds), target / name)
        print(_describe(target / name))
    for name, (model_name, seed, fmt) in SHIPPED_VARIABLE.items():
        _write_variable(model_name, VARIABLE_SECONDS, seed, fmt, target / name)
        print(_describe(target / name))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m traces", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write a constant or variable trace")
    gen.add_argument("kind", choices=["constant", *MODELS])
    gen.add_argument("--rate-mbps", type=float, help="constant: the rate")
    gen.add_argument("--seconds", type=float, default=60.0, help="duration (default 60)")
    gen.add_argument("--seed", type=int, default=SHIPPED_SEED, help="variable: random seed")
    gen.add_argument("--format", choices=["mahimahi", "csv"], default="mahimahi",
                     help="variable: Mahimahi lines or time_s,rate_mbps steps")
    gen.add_argument("-o", "--output", required=True)
    gen.set_defaults(func=_cmd_generate)
    info = sub.add_parser("info", help="duration, mean capacity and packets of trace files")
    info.add_argument("files", nargs="+")
    info.set_defaults(func=_cmd_info)
    conv = sub.add_parser("convert", help="any trace (Mahimahi or CSV) to a Mahimahi file")
    conv.add_argument("input")
    conv.add_argument("-o", "--output", required=True)
    conv.set_defaults(func=_cmd_convert)
    ship = sub.add_parser("ship", help="regenerate the traces shipped in traces/")
    ship.add_argument("--dir", default=str(TRACES_DIR))
    ship.set_defaults(func=_cmd_ship)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (TraceFormatError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
