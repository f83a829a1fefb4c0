"""The command line as a user runs it: help, bad flags, non-root, bad input (subprocess, real exit codes)."""
from __future__ import annotations

import pwd
import signal

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
    result = run_cli("topology", "--link-backend", "kernel", "--access", "lte-ideal")  # a pipe: netem could do it
    assert result.returncode == 1
    assert "no sch_netem" in result.stderr and "--link-backend userspace" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_kernel_backend_refuses_a_radio_profile_in_one_line():
    result = run_cli("topology", "--link-backend", "kernel", "--access", "lte")
    assert result.returncode == 1
    assert "radio model lte" in result.stderr and "--link-backend userspace" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


BAD_TRACE_PROFILE = '''name = "badtrace"
[up]
rate_trace = "/etc/passwd"
delay = "15 ms"
[down]
rate = "10 Mbit/s"
delay = "15 ms"
'''


@pytest.mark.root
@pytest.mark.parametrize("args", [
    ["replay", "--uplink", "/etc/passwd", "--downlink", "/etc/passwd"],
    ["topology", "--access", "trace", "--uplink", "/etc/passwd", "--downlink", "/etc/passwd"],
    ["calibrate", "--access", "{profile}"],
    ["compare", "--access", "lte,{profile}"],
    ["sweep", "--access", "{profile}"],
    ["collaborate", "--access", "{profile}"],
    ["features", "--access", "{profile}"],
])
def test_a_trace_that_does_not_parse_is_refused_before_anything_is_built(args, tmp_path):
    """One line naming the file and line, in well under a second, and no network was started (the state file
    /run/ect/net-<pid>.json that each network writes before it creates anything never appeared)."""
    import subprocess
    import sys
    import time

    from conftest import REPO_ROOT, RUN_PY
    from topo.registry import STATE_DIR

    profile = tmp_path / "badtrace.toml"
    profile.write_text(BAD_TRACE_PROFILE)
    args = [a.replace("{profile}", str(profile)) for a in args]
    if args[0] not in ("topology", "calibrate"):
        args += ["--results-dir", str(tmp_path / "results")]
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(RUN_PY), *args], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    state_seen = False
    try:
        while proc.poll() is None and time.monotonic() - started < 30:
            state_seen = state_seen or (STATE_DIR / f"net-{proc.pid}.json").exists()
            time.sleep(0.005)
        took_s = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # a run that got this far is stopped as a user would
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: /etc/passwd line 1:"), stderr
    assert took_s < 1.5, f"{args[0]} took {took_s:.2f} s to refuse a bad trace"  # CLI start included (~0.4 s)
    assert not state_seen and not (STATE_DIR / f"net-{proc.pid}.json").exists()
    assert not (tmp_path / "results").exists()
