"""Old spellings of flags that keep working for one release: each says once, on stderr, what to type instead."""
from __future__ import annotations

import argparse
import sys


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class DeprecatedFlag(argparse.Action):
    """Stores like the flag it stands for and prints ``OLD is deprecated: use NEW VALUE`` (hidden from --help)."""

    def __init__(self, option_strings, dest, *, use: str, hint: str = "", **kwargs):
        kwargs.setdefault("help", argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)
        self.use, self.hint = use, hint

    def __call__(self, parser, namespace, values, option_string=None):
        shown = " ".join(map(_text, values)) if isinstance(values, list) else _text(values)
        print(f"{option_string} is deprecated: use {self.use} {shown}".rstrip() + (f" ({self.hint})" if self.hint else ""),
              file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_deprecated(parser: argparse.ArgumentParser, old: str, *, use: str, dest: str, hint: str = "",
                   **kwargs) -> None:
    """``old`` as a hidden alias of ``use`` (same ``dest`` unless the meaning differs; then ``hint`` says how)."""
    parser.add_argument(old, dest=dest, action=DeprecatedFlag, use=use, hint=hint, default=argparse.SUPPRESS,
                        **kwargs)
