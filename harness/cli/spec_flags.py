"""Flags generated from a spec dataclass (collaborate, features): one ``--name`` per field, its metavar from the
field's type and unit, its default shown once, None when not given (the spec resolver fills it in)."""
from __future__ import annotations

import argparse
import dataclasses

from topo.links import BACKENDS

PROFILE_FIELDS = {"access": "PROFILE", "wan": "PROFILE", "lan": "PROFILE", "accesses": "PROFILE[,...]"}
DIR_FIELDS = ("models_dir", "results_dir")
SHOWN_DEFAULTS = {"models_dir": ".cache/models"}  # "" in the spec: the default model cache
OWN_FLAGS = ("compute",)  # fields with flags of their own (harness/cli/compute_options.py), not one --name


def metavar(name: str, kind: str) -> str:
    """The form a field's value takes on the command line: SECONDS, HZ, MBPS, N, N[,...], PROFILE, DIR ..."""
    if name in PROFILE_FIELDS:
        return PROFILE_FIELDS[name]
    if name in DIR_FIELDS:
        return "DIR"
    if kind.startswith("tuple"):
        return "N[,...]" if "int" in kind else "NAME[,...]"
    for suffix, form in (("_bytes_per_s", "BYTES_PER_S"), ("_mbps", "MBPS"), ("_hz", "HZ"), ("_s", "SECONDS")):
        if name.endswith(suffix):
            return form
    return {"int": "N", "float": "NUMBER"}.get(kind, "TEXT")


def flag_of(name: str, renamed: dict[str, str]) -> str:
    return renamed.get(name, f"--{name.replace('_', '-')}")


def add_spec_flags(parser: argparse.ArgumentParser, cls, help_of: dict[str, str],
                   renamed: dict[str, str] | None = None) -> None:
    """A flag per field of ``cls``; ``help_of[field]`` says what it is (without the default, added here);
    ``renamed``: field -> flag, where the flag is the shared name of a concept (``accesses`` -> ``--access``)."""
    renamed = renamed or {}
    defaults = cls()
    for f in (f for f in dataclasses.fields(cls) if f.name not in OWN_FLAGS):
        default = getattr(defaults, f.name)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        shown = SHOWN_DEFAULTS.get(f.name, shown) if shown == "" else shown
        kind = f.type if isinstance(f.type, str) else f.type.__name__
        extra = {"choices": BACKENDS} if f.name == "link_backend" else {"metavar": metavar(f.name, kind)}
        text = help_of.get(f.name, f.name.replace("_", " "))
        parser.add_argument(flag_of(f.name, renamed), dest=f.name, default=None,
                            help=f"{text} (default: {shown if shown != '' else 'none'})", **extra)


def spec_flags(args: argparse.Namespace, cls) -> dict:
    """The values the command line gave for ``cls``'s fields (None: not given)."""
    return {f.name: getattr(args, f.name, None) for f in dataclasses.fields(cls)}
