"""The command line as a user runs it: help, bad flags, non-root, bad input (subprocess, real exit codes)."""
from __future__ import annotations

import pwd

import pytest

from conftest import is_root, run_cli


def test_main_help_lists_the_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("topology", "clean", "calibrate"):
        assert command in result.stdout


@pytest.mark.parametrize("command", ["topology", "clean", "calibrate"])
def test_each_command_explains_itself(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0 and "usage:" in result.stdout and "--help" in result.stdout


def test_bad_flag_is_a_usage_error():
    result = run_cli("topology", "--acess", "lte")
    assert result.returncode == 2 and "unrecognized arguments" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_choice_is_a_usage_error():
    result = run_cli("topology", "--link-backend", "ns3")
    assert result.returncode == 2 and "invalid choice" in result.stderr


@pytest.mark.skipif(not is_root(), reason="needs root to drop to another user")
@pytest.mark.parametrize("command", ["topology", "clean", "calibrate", "compare", "sweep", "collaborate", "features"])
def test_non_root_gets_one_line(command):
    pwd.getpwnam("nobody")
    result = run_cli(command, user="nobody")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "root" in lines[0] and "sudo" in lines[0], result.stderr


@pytest.mark.root
def test_unknown_profile_is_one_line():
    result = run_cli("topology", "--access", "5g")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: unknown profile '5g'") and "Traceback" not in result.stderr


@pytest.mark.root
def test_kernel_backend_without_netem_names_userspace(monkeypatch):
    from topo.links import netem_available
    if netem_available():
        pytest.skip("this kernel has sch_netem: the kernel backend works here")
    result = run_cli("topology", "--link-backend", "kernel")
    assert result.returncode == 1
    assert "no sch_netem" in result.stderr and "--link-backend userspace" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
