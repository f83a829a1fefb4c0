"""Shared fixtures: root / netem requirements and a check that tests leave the machine as they found it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from hypothesis import settings

# CI (CI=true) replays the same examples every run, so a submission cannot fail at random; developers'
# runs explore new inputs each time. Property tests must not set derandomize themselves (it would override this).
CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("ci" if CI else "explore")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_TRACES = REPO_ROOT.parent / "shared" / "traces"
RUN_PY = REPO_ROOT / "harness" / "run.py"
PROJECT_MARKS = ("topo.emulator", "nodes.edge", "nodes.cloud", "mininet:", "tcpdump", "iperf3")


def is_root() -> bool:
    return os.geteuid() == 0


def pytest_collection_modifyitems(config, items):
    skip_root = pytest.mark.skip(reason="needs root for network namespaces: run the suite with sudo")
    netem = None
    for item in items:
        if "root" in item.keywords and not is_root():
            item.add_marker(skip_root)
        if "netem" in item.keywords:
            if netem is None:
                from topo.links import netem_available
                netem = is_root() and netem_available()
            if not netem:
                item.add_marker(pytest.mark.skip(
                    reason="this kernel has no sch_netem (or not root): the kernel backend cannot be tested here; "
                           "the userspace backend tests cover the same profiles"))


def _is_project_process(line: str) -> bool:
    return any(mark in line for mark in PROJECT_MARKS)


def _owned_by_another_live_process(proc: psutil.Process) -> bool:
    """True when ``proc`` hangs below a live process that is neither this test session nor the project's (say,
    another session's pytest running a server on loopback): not ours to count. What this session started has
    this process among its ancestors; what a finished run leaked hangs below init (pid 1) through project
    processes only. Both are counted."""
    try:
        for parent in proc.parents():
            if parent.pid in (os.getpid(), 1):
                return False
            if not _is_project_process(" ".join(parent.cmdline())):
                return True
    except psutil.Error:
        return False
    return False


def machine_snapshot() -> dict:
    """The project-visible state of the machine: namespaces, root-namespace links, project processes."""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    names = {line.split(": ")[1].split("@")[0] for line in links.splitlines() if ": " in line}
    procs = set()
    for proc in psutil.process_iter(["pid", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if proc.pid != os.getpid() and _is_project_process(line) and not _owned_by_another_live_process(proc):
            procs.add((proc.pid, line[:120]))
    return {"netns": {n for n in netns if n.startswith("ect")},
            "links": {n for n in names if n.startswith("ect")},
            "procs": procs}


def leaked_since(before: dict) -> dict:
    """What the machine holds now that it did not hold in ``before`` (a :func:`machine_snapshot`)."""
    after = machine_snapshot()
    return {key: after[key] - before[key] for key in after if after[key] - before[key]}


@pytest.fixture
def clean_machine():
    """Asserts that whatever the test started is gone when it ends."""
    before = machine_snapshot()
    yield
    leaked = leaked_since(before)
    assert not leaked, f"test left resources behind: {leaked}"


@pytest.fixture(scope="module")
def leak_baseline() -> dict:
    """The machine before a module's shared run: a module-scoped run fixture must depend on this fixture, so
    the snapshot is taken before the run starts; a test then asserts ``not leaked_since(leak_baseline)``."""
    return machine_snapshot()


def run_cli(*args: str, timeout: float = 300, user: str | None = None, **kwargs) -> subprocess.CompletedProcess:
    """``python harness/run.py ARGS`` as a user would run it (re-executes into .venv)."""
    argv = [sys.executable, str(RUN_PY), *args]
    if user:
        import pwd
        entry = pwd.getpwnam(user)
        argv = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT, **kwargs)


@pytest.fixture(scope="session")
def models_dir():
    """A small model set (1 epoch, 300 images) built once and cached: enough for protocol and timing tests."""
    from models.zoo import ensure_models

    cache = REPO_ROOT / ".cache" / "models-test"
    ensure_models(cache, progress=False, epochs=1, ae_epochs=1, max_train_images=300, architectures=False)
    return cache
