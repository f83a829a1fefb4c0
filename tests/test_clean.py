"""`clean` removes what dead owners left and nothing else: not a live network, a live test path, or a
look-alike ``nodes.cloud`` process that no run of this machine started."""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys

import psutil
import pytest

from conftest import REPO_ROOT, run_cli
from test_topology import _start_held_network
from topo.registry import OWNER_ENV, STATE_DIR

pytestmark = pytest.mark.root

# The command line of a cloud server run by hand on loopback; it only sleeps.
LOOKALIKE = [sys.executable, "-c", "import time; time.sleep(600)", "-m", "nodes.cloud", "--host", "127.0.0.1",
             "--port", "18000"]

# An owner that records what it makes, starts two processes, and dies without cleaning up.
DEAD_OWNER = """
import json, os, subprocess, sys
from topo.registry import NetworkState, OWNER_ENV
tag, lookalike = sys.argv[1], json.loads(sys.argv[2])
state = NetworkState(owner_pid=os.getpid(), tag="cleantest")
interface, namespace, probe = f"ectd{tag}", f"ectd{tag}n", f"ect-probe-{os.getpid()}"
state.namespaces = [namespace]
state.add_interfaces([interface])
subprocess.run(["ip", "link", "add", interface, "type", "bridge"], check=True)
subprocess.run(["ip", "netns", "add", namespace], check=True)
subprocess.run(["ip", "netns", "add", probe], check=True)  # recorded nowhere; its name carries the pid
plain_env = {k: v for k, v in os.environ.items() if k != OWNER_ENV}
quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
recorded = subprocess.Popen(lookalike, env=plain_env, start_new_session=True, **quiet)  # found by its recorded pid
state.add_process(recorded.pid, "node")
marked = subprocess.Popen(["sleep", "600"], env={**plain_env, OWNER_ENV: str(os.getpid())},
                          start_new_session=True, **quiet)  # found by the owner pid it carries
print(json.dumps({"pid": os.getpid(), "interface": interface, "namespaces": [namespace, probe],
                  "processes": [recorded.pid, marked.pid]}), flush=True)
os._exit(0)
"""


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _interfaces() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return {line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line}


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _make_dead_owner() -> dict:
    result = subprocess.run([sys.executable, "-c", DEAD_OWNER, secrets.token_hex(2), json.dumps(LOOKALIKE)],
                            capture_output=True, text=True, timeout=30, cwd=REPO_ROOT,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _remove_dead_owner(dead: dict) -> None:
    """Only if the test failed half-way: what the fake owner made, by name and pid."""
    for pid in dead["processes"]:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()
    if dead["interface"] in _interfaces():
        subprocess.run(["ip", "link", "del", dead["interface"]], check=False)
    for namespace in set(dead["namespaces"]) & _namespaces():
        subprocess.run(["ip", "netns", "del", namespace], check=False)
    (STATE_DIR / f"net-{dead['pid']}-cleantest.json").unlink(missing_ok=True)


def test_clean_removes_dead_owners_leftovers_and_nothing_live(clean_machine):
    from topo.emulator.netns_path import WirePath

    plain_env = {k: v for k, v in os.environ.items() if k != OWNER_ENV}
    lookalike = subprocess.Popen(LOOKALIKE, env=plain_env, start_new_session=True, cwd="/")
    network = _start_held_network()
    dead = None
    try:
        live_state = json.loads((STATE_DIR / f"net-{network.pid}.json").read_text())
        live_pids = [p["pid"] for p in live_state["processes"]]
        live_links = {n for n in _interfaces() if n.startswith("ect")}
        with WirePath() as path:
            sleeper = path.popen_in(path.ns_a, ["sleep", "600"])
            dead = _make_dead_owner()
            assert not _alive(dead["pid"]) and all(_alive(p) for p in dead["processes"])

            result = run_cli("clean")

            assert result.returncode == 0, result.stderr
            assert f"run {network.pid} is still active: left alone" in result.stdout, result.stdout
            # the dead owner's leftovers are gone: recorded interface and namespace, probe, both processes
            assert dead["interface"] not in _interfaces(), result.stdout
            assert not set(dead["namespaces"]) & _namespaces(), result.stdout
            assert not [p for p in dead["processes"] if _alive(p)], result.stdout
            assert not (STATE_DIR / f"net-{dead['pid']}-cleantest.json").exists()
            # everything live is untouched
            assert lookalike.poll() is None, "clean killed a nodes.cloud that no run of this machine started"
            assert network.poll() is None
            assert all(_alive(pid) for pid in live_pids), result.stdout
            assert live_links <= _interfaces(), result.stdout
            assert {path.ns_a, path.ns_b} <= _namespaces(), "clean removed a live test path's namespaces"
            assert {path.wire_up_in, path.wire_down_in} <= _interfaces()
            assert sleeper.poll() is None, "clean killed a live test path's process"
            reachable = path.exec_in(path.ns_a, ["ip", "link", "show", path.if_a], check=False)
            assert reachable.returncode == 0
    finally:
        network.send_signal(signal.SIGINT)
        network.wait(timeout=30)
        lookalike.kill()
        lookalike.wait()
        if dead:
            _remove_dead_owner(dead)
