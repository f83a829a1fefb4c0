"""Argument parsing and dispatch. Each command lives in ``harness/commands/<name>.py`` with
``add_parser(subparsers)`` and ``run(args) -> int``. User mistakes become one line on
stderr and a non-zero exit; set ECT_DEBUG=1 for the traceback."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from harness.errors import USER_ERRORS
from topo.network import Terminated

COMMANDS = ["topology", "calibrate", "compare", "sweep", "replay", "collaborate", "features", "models", "report", "clean"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness/run.py",
        description="Edge/cloud network emulation testbed: Mininet topologies with shaped LTE, WiFi and WAN "
                    "links, edge and cloud inference servers, and experiments that measure them.",
        epilog="Most commands need root: sudo python harness/run.py COMMAND. See README.md.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"harness.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"harness.commands.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as err:
        if os.environ.get("ECT_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: everything started was stopped and removed", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated: everything started was stopped and removed", file=sys.stderr)
        return 143
