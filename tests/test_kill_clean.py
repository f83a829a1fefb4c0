"""SIGKILL of `compare` at several points, then `clean`: nothing of the run survives, and the next run starts.

Points: while the network is being built, while the node servers start, in the middle of the
device workload. After each kill the test takes the machine-wide run lock itself (so no other
run of the testbed can start meanwhile), runs ``harness/run.py clean`` as a user would, and
counts what is left: ``ect*`` namespaces and root interfaces (bridges included), and
processes of the run (emulators, nodes, device workload, tcpdump, iperf3, Mininet shells).
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from conftest import REPO_ROOT, RUN_PY, run_cli

pytestmark = [pytest.mark.root, pytest.mark.slow]
LOCK_WAIT_S = 600
RESULTS: dict = {}


@contextlib.contextmanager
def run_lock_held():
    """The testbed's run lock, waited for (other engineers' runs finish first)."""
    from topo.errors import TopoError
    from topo.run_lock import exclusive_run

    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            with exclusive_run():
                yield
            return
        except TopoError:
            if time.monotonic() > deadline:
                raise
            time.sleep(3)


def leftovers(results_dir: Path) -> dict:
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    names = {line.split(": ")[1].split("@")[0] for line in links.splitlines() if ": " in line}
    procs = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if proc.pid == os.getpid():
            continue
        if str(results_dir) in line or line.startswith("mininet:") or (
                any(tool in line for tool in ("tcpdump", "iperf3")) and "ect" in line):
            procs.append(f"{proc.pid} {line[:100]}")
    return {"namespaces": sorted(n for n in netns if n.startswith("ect")),
            "interfaces": sorted(n for n in names if n.startswith("ect")), "processes": procs}


class Compare:
    """`compare` as a subprocess with its stderr collected, started when the lock is free."""

    def __init__(self, models_dir: Path, results_dir: Path, repetitions: int = 40, extra: list[str] = (),
                 new_session: bool = False, sigint_ignored: bool = False):
        self.argv = [sys.executable, str(RUN_PY), "compare", "--access", "lte", "--placements", "edge,cloud",
                     "--sizes", "60K", "--repetitions", str(repetitions), "--calibrate-seconds", "0",
                     "--models-dir", str(models_dir), "--results-dir", str(results_dir), *extra]
        self.results_dir = results_dir
        self.new_session = new_session  # as a terminal runs it: the leader of its own process group
        self.sigint_ignored = sigint_ignored  # as a script's background job starts: SIGINT set to SIG_IGN
        self.stderr = ""
        self.proc = None

    def start(self) -> None:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            self.stderr = ""
            self.proc = subprocess.Popen(self.argv, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                         start_new_session=self.new_session,
                                         preexec_fn=_ignore_sigint if self.sigint_ignored else None)
            threading.Thread(target=self._read, daemon=True).start()
            time.sleep(1.0)
            if self.proc.poll() is None or "another run of this testbed is active" not in self._settled():
                return
            assert time.monotonic() < deadline, "the testbed stayed busy"
            time.sleep(5)

    def _settled(self) -> str:
        self.proc.wait()
        time.sleep(0.2)
        return self.stderr

    def _read(self) -> None:
        for chunk in iter(lambda: self.proc.stderr.read1(4096), b""):
            self.stderr += chunk.decode(errors="replace")

    def wait_for(self, predicate, timeout_s: float = 240) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            assert self.proc.poll() is None, f"compare ended before the kill point: {self.stderr[-500:]}"
            assert time.monotonic() < deadline, f"kill point not reached: {self.stderr[-500:]}"
            time.sleep(0.05)

    def workload_running(self) -> bool:
        return any("nodes.workload" in " ".join(p.info["cmdline"] or []) and str(self.results_dir) in
                   " ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"]))


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited through exec, as sh does for `cmd &`


POINTS = {
    "network start": (lambda c: Path(f"/run/ect/net-{c.proc.pid}.json").exists(), 0.2),  # written before anything
    "node start": (lambda c: "starting cloud, then edge" in c.stderr, 0.5),
    "mid-workload": (lambda c: c.workload_running(), 1.5),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_sigkill_then_clean_leaves_nothing(point, models_dir, tmp_path):
    results = tmp_path / "results"
    compare = Compare(models_dir, results)
    compare.start()
    reached, delay_s = POINTS[point]
    try:
        compare.wait_for(lambda: reached(compare))
        time.sleep(delay_s)
    finally:
        compare.proc.send_signal(signal.SIGKILL)
        compare.proc.wait()
    with run_lock_held():
        before = leftovers(results)
        result = run_cli("clean", timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        after = leftovers(results)
    RESULTS[point] = {"before_clean": {k: len(v) for k, v in before.items()},
                      "after_clean": {k: len(v) for k, v in after.items()}, "clean_said": result.stdout.strip()}
    _save()
    assert after == {"namespaces": [], "interfaces": [], "processes": []}, after
    run_dirs = list(results.iterdir())
    if run_dirs:  # what the run had recorded stays readable
        record = json.loads((run_dirs[0] / "experiment.json").read_text())
        assert record["status"] == "running"


def test_the_next_run_starts_and_completes(models_dir, tmp_path, clean_machine):
    compare = Compare(models_dir, tmp_path / "results", repetitions=2)
    compare.start()
    assert compare._settled() is not None and compare.proc.returncode == 0, compare.stderr[-2000:]
    (run_dir,) = list((tmp_path / "results").iterdir())
    assert json.loads((run_dir / "experiment.json").read_text())["status"] == "complete"
    RESULTS["next run"] = "complete"
    _save()


def _save() -> None:
    out = REPO_ROOT / ".cache" / "kill-clean.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(RESULTS, indent=1) + "\n")
