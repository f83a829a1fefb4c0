"""`collaborate` and `features` on the command line: help, bad values and missing root are one line each."""
from __future__ import annotations

import pwd

import pytest

from conftest import is_root, run_cli


@pytest.mark.parametrize("command", ["collaborate", "features"])
def test_help_lists_the_options(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0 and "usage:" in result.stdout and "--results-dir" in result.stdout
    assert command in run_cli("--help").stdout


@pytest.mark.parametrize("args,message", [
    (["collaborate", "--label-batch", "300"], "--label-batch 300"),
    (["collaborate", "--updates", "two"], "--updates 'two': must be an integer"),
    (["collaborate", "--table-depths", "4"], "--table-depths"),
    (["features", "--feature-dims", "0"], "--feature-dims"),
])
def test_bad_value_is_one_line(args, message):
    result = run_cli(*args)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.root
@pytest.mark.parametrize("args,message", [
    (["collaborate", "--access", "5g"], "unknown profile '5g'"),
    (["features", "--models-dir", "/nonexistent-ect"], "has no manifest.json"),
])
def test_bad_input_as_root_is_one_line(args, message):
    result = run_cli(*args)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.skipif(not is_root(), reason="needs root to drop to another user")
@pytest.mark.parametrize("command", ["collaborate", "features"])
def test_non_root_gets_one_line(command):
    pwd.getpwnam("nobody")
    result = run_cli(command, user="nobody")
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and "sudo" in lines[0], result.stderr
