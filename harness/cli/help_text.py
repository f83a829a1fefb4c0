"""The shape of every command's ``--help``: a wrapped description, then an ``examples:`` block kept as written."""
from __future__ import annotations

import argparse
import shutil
import textwrap

EXAMPLES_HEADING = "examples:"


def help_width() -> int:
    return max(60, min(shutil.get_terminal_size().columns - 2, 100))


def examples_block(examples: list[str]) -> str:
    """The epilog: 2-3 command lines, each as it is typed."""
    if not 2 <= len(examples) <= 3:
        raise ValueError(f"a command's help shows 2 or 3 examples, got {len(examples)}")
    return "\n".join([EXAMPLES_HEADING, *(f"  {line}" for line in examples)])


def add_command(sub, name: str, *, summary: str, description: str, examples: list[str],
                **kwargs) -> argparse.ArgumentParser:
    """A subcommand whose help is ``description`` (wrapped to the terminal) and ends with ``examples``."""
    return sub.add_parser(name, help=summary, description=textwrap.fill(description, help_width()),
                          epilog=examples_block(examples), formatter_class=argparse.RawDescriptionHelpFormatter,
                          **kwargs)
