"""Argument parsing and dispatch. Each command lives in ``harness/cli/commands/<name>.py`` with
``add_parser(subparsers)`` and ``run(args) -> int``.

Exit codes: 0 done; 1 a user mistake or missing requirement (one ``error:`` line on stderr, from the
project's own error types, harness/errors.py; ECT_DEBUG=1 shows its traceback instead); 2 a usage
error (argparse); 70 an internal error, i.e. a bug (the traceback, then one ``internal error:`` line
asking for a report); 130 Ctrl-C; 143 SIGTERM.
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import textwrap
import traceback

from harness.cli.help_text import examples_block, help_width
from harness.cli.user_errors import is_user_error
from topo.network import Terminated

COMMANDS = ["topology", "calibrate", "compare", "sweep", "replay", "load", "collaborate", "features", "reproduce", "models", "report", "clean", "cluster"]


EXAMPLES = [
    "sudo python harness/run.py topology --check",
    "sudo python harness/run.py compare --access lte --sizes 60K,512K --repetitions 3",
    "python harness/run.py COMMAND --help",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness/run.py",
        description=textwrap.fill("Edge/cloud network emulation testbed: Mininet topologies with shaped LTE, WiFi and "
                                  "WAN links, edge and cloud inference servers, and experiments that measure them.",
                                  help_width()),
        epilog=textwrap.fill("Most commands need root: sudo python harness/run.py COMMAND (sudo is optional where "
                             "you are root already). See README.md.", help_width()) + "\n\n" + examples_block(EXAMPLES),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"harness.cli.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"harness.cli.commands.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Started as a background job of a script (the shell ignores SIGINT for those): Ctrl-C to the
        # terminal's group, or kill -INT, must still stop a run, not leave it running on a dead network.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted: everything started was stopped and removed", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated: everything started was stopped and removed", file=sys.stderr)
        return 143
    except Exception as err:  # noqa: BLE001 -- sorted into a user mistake or a bug right here
        if not is_user_error(err):
            return internal_error(err)
        if os.environ.get("ECT_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1


INTERNAL_ERROR_EXIT = 70  # EX_SOFTWARE


def internal_error(err: Exception) -> int:
    """A bug, not a mistake in the command: the whole traceback, then one line that says so."""
    traceback.print_exception(err, file=sys.stderr)
    print(f"internal error: {type(err).__name__}: {err} -- a bug in the testbed, not in your command; "
          f"please report it with the traceback above", file=sys.stderr)
    return INTERNAL_ERROR_EXIT
