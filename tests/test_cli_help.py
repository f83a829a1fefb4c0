"""One vocabulary on the command line (issue 17): every command's --help, and the old spellings that still work."""
from __future__ import annotations

import argparse
import re

import pytest

from conftest import run_cli
from harness.cli.main import COMMANDS, build_parser

SHARED = {  # flag -> its metavar (or its choices) wherever it appears
    "--config": {"FILE"}, "--wan": {"PROFILE"}, "--lan": {"PROFILE"}, "--trace-base": {"PROFILE"},
    "--ues": {"N"}, "--seed": {"N"}, "--uplink": {"FILE"}, "--downlink": {"FILE"},
    "--models-dir": {"DIR"}, "--results-dir": {"DIR"}, "--log-dir": {"DIR"},
    "--calibrate-seconds": {"SECONDS"}, "--repetitions": {"N"}, "--sizes": {"SIZE[,...]"},
    "--link-backend": {"{auto,kernel,userspace}"},
    "--access": {"PROFILE", "PROFILE[,...]"},  # one where the command builds one network, a comma list where several
    "--placement": {"PLACEMENT"}, "--placements": {"PLACEMENT[,...]"},
}
CONCEPTS = {  # a concept has one flag: these spellings are no option of any command (only hidden aliases)
    "--accesses": "--access", "--out": "--results-dir", "--seconds": "--calibrate-seconds / --duration-s",
}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _shown(parser: argparse.ArgumentParser):
    """(flag, metavar or choices, help) of each option --help shows."""
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or not action.option_strings:
            continue
        if action.choices is not None and action.metavar is None:
            form = "{" + ",".join(map(str, action.choices)) + "}"
        elif action.nargs == 0:
            form = None  # a switch: no value
        else:
            form = action.metavar or "(argparse's default: the dest in capitals)"
        for flag in action.option_strings:
            yield flag, form, action.help or ""


def test_every_command_is_there():
    assert set(_subparsers()) == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_flags_have_one_spelling_and_a_metavar_that_says_the_form(command):
    parser = _subparsers()[command]
    for flag, form, text in _shown(parser):
        assert flag not in CONCEPTS or command == "report" and flag == "--out", \
            f"{command} {flag}: the flag of this concept is {CONCEPTS.get(flag)}"
        if flag in SHARED:
            assert form in SHARED[flag], f"{command} {flag} {form}: expected {' or '.join(sorted(SHARED[flag]))}"
        assert form != "VALUE" and not (form or "").startswith("(argparse"), \
            f"{command} {flag} {form}: a metavar names the unit or the form (N, SECONDS, DIR, PROFILE ...)"
        assert text.count("(default") <= 1, f"{command} {flag}: the default said twice: {text!r}"


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_ends_with_examples(command):
    result = run_cli(*([command] if command else []), "--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout.rstrip("\n")
    assert " VALUE" not in text and not re.search(r"\(default[^)]*\) \(default", text)
    tail = text.split("\nexamples:\n")
    assert len(tail) == 2, f"{command}: no examples: block at the end of --help"
    lines = tail[1].splitlines()
    assert 2 <= len(lines) <= 3, lines
    for line in lines:
        assert re.match(r"  (sudo )?python harness/run\.py ", line), line
        if command:
            assert line.split("harness/run.py ")[1].startswith(command), line


@pytest.mark.parametrize("args, note, attr, value", [
    (["compare", "--accesses", "lte,wifi"], "--accesses is deprecated: use --access lte,wifi", "accesses", "lte,wifi"),
    (["features", "--accesses", "wifi"], "--accesses is deprecated: use --access wifi", "accesses", "wifi"),
    (["calibrate", "--seconds", "3"], "--seconds is deprecated: use --calibrate-seconds 3", "calibrate_seconds", 3.0),
    (["replay", "--seconds", "30"], "--seconds is deprecated: use --duration-s 30", "replay_seconds", 30.0),
    (["calibrate", "--out", "/tmp/x"], "--out is deprecated: use --results-dir /tmp/x", "out", "/tmp/x"),
])
def test_an_old_spelling_still_works_and_says_what_to_type(capsys, args, note, attr, value):
    parsed = build_parser().parse_args(args)
    assert str(getattr(parsed, attr)) == str(value)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(note), err


def test_the_new_spellings_reach_the_spec():
    from harness.cli.experiment_options import spec_from_args

    args = build_parser().parse_args(["compare", "--access", "wifi", "--lan", "lan", "--seed", "4"])
    spec = spec_from_args("compare", args)
    assert spec.accesses == ("wifi",) and spec.lan == "lan" and spec.seed == 4
    args = build_parser().parse_args(["replay", "--uplink", "u", "--downlink", "d", "--duration-s", "12"])
    assert spec_from_args("replay", args, accesses="trace").replay_seconds == 12.0
    args = build_parser().parse_args(["sweep", "--access", "wifi"])
    assert args.accesses == "wifi"


def test_a_bad_lan_profile_on_compare_is_one_line():
    result = run_cli("compare", "--lan", "nowhere", "--sizes", "60K")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and "nowhere" in lines[0], result.stderr
