"""Faults injected into a real `compare` run: survived, recorded, nothing lost; servers bound to emulated hosts only.

One LTE run, edge then cloud placement, 60K images, with a cloud kill (during the edge
workload: the edge must keep answering), an access rate change over the emulator's control
channel, and a WAN link-down. Every request issued must be a row of requests.csv (0 lost);
failures carry their error; experiment.json holds the fault windows and the timeouts.
"""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from conftest import REPO_ROOT, RUN_PY

pytestmark = [pytest.mark.root, pytest.mark.slow]
REPETITIONS = 80
FAULTS = ("0.3s:kill:cloud:1.5s", "0.5s:rate:access:4Mbit/s:1s", "3s:link-down:wan:1.5s")


def _listeners(pid: int) -> list[str]:
    """Listening TCP sockets inside the network namespace of ``pid``."""
    out = subprocess.run(["nsenter", "-t", str(pid), "-n", "ss", "-ltnH"], capture_output=True, text=True).stdout
    return [line.split()[3] for line in out.splitlines() if line.strip()]


def _root_listeners() -> list[str]:
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
    return [line.split()[3] for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def fault_run(models_dir, tmp_path_factory):
    results = tmp_path_factory.mktemp("fault-results")
    argv = [sys.executable, str(RUN_PY), "compare", "--accesses", "lte", "--placements", "edge,cloud", "--sizes",
            "60K", "--repetitions", str(REPETITIONS), "--calibrate-seconds", "0", "--no-capture", "--timeout", "4",
            "--models-dir", str(models_dir), "--results-dir", str(results)]
    for fault in FAULTS:
        argv += ["--fault", fault]
    listening: dict = {}
    for _attempt in range(40):
        proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        watcher = threading.Thread(target=_watch_listeners, args=(proc, results, listening), daemon=True)
        watcher.start()
        out, err = proc.communicate(timeout=900)
        watcher.join()
        if b"another run of this testbed is active" not in err:
            break
        time.sleep(15)
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    (run_dir,) = list(results.iterdir())
    return run_dir, listening


def _watch_listeners(proc, results: Path, listening: dict) -> None:
    """While the run is on, look at where each node server listens (its namespace and the root one)."""
    while proc.poll() is None and len(listening) < 2:
        for p in psutil.process_iter(["pid", "cmdline"]):
            line = " ".join(p.info["cmdline"] or [])
            for node in ("nodes.cloud", "nodes.edge"):
                if node in line and str(results) in line and node not in listening:
                    inside = _listeners(p.info["pid"])
                    if any(":8000" in a for a in inside):
                        listening[node] = {"inside": inside, "root": _root_listeners()}
        time.sleep(0.2)


def _rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "requests.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_every_request_is_recorded_and_failures_have_errors(fault_run):
    run_dir, _ = fault_run
    rows = _rows(run_dir)
    assert len(rows) == 2 * REPETITIONS  # 0 rows lost
    assert len({r["request_id"] for r in rows}) == len(rows)
    for row in rows:
        assert (row["status"] == "ok") == (not row["error"]), row
        assert row["attempts"] == "1"
    record = json.loads((run_dir / "experiment.json").read_text())
    assert record["status"] == "complete"
    assert record["timeouts"]["device_to_server"]["timeout_s"] == 4.0
    assert record["timeouts"]["edge_to_cloud"]["retries"] == 1


def test_fault_windows_are_recorded(fault_run):
    run_dir, _ = fault_run
    record = json.loads((run_dir / "experiment.json").read_text())
    windows = {w["fault"]: w for w in record["faults"]}
    assert set(windows) == set(FAULTS)
    t0 = record["fault_clock_start_ns"]["lte"]
    for text in FAULTS[:2]:
        window = windows[text]
        assert window["status"] == "ended" and not window["error"], window
        assert abs((window["start_ns"] - t0) / 1e9 - window["at_s"]) < 0.5
    kill = windows[FAULTS[0]]
    assert (kill["end_ns"] - kill["start_ns"]) / 1e9 >= 1.5  # down for 1.5 s, then restarted and ready
    counters = json.loads((run_dir / "logs" / "lte" / "access-counters.json").read_text())
    assert [c["restore"] for c in counters["controls_applied"]] == [False, True]
    assert windows[FAULTS[2]]["status"] in ("ended", "skipped")


def test_edge_keeps_answering_while_the_cloud_is_down(fault_run):
    run_dir, _ = fault_run
    record = json.loads((run_dir / "experiment.json").read_text())
    kill = next(w for w in record["faults"] if w["kind"] == "kill")
    during = [r for r in _rows(run_dir) if r["placement"] == "edge"
              and kill["start_ns"] <= int(r["client_send_start_ns"]) <= kill["end_ns"]]
    assert during, "no edge request fell in the cloud outage"
    assert all(r["status"] == "ok" for r in during), [r["error"] for r in during if r["error"]]


def test_report_marks_the_fault_windows(fault_run):
    run_dir, _ = fault_run
    report = (run_dir / "report.md").read_text()
    assert "## Faults" in report and FAULTS[0] in report
    assert (run_dir / "timeline-lte.png").is_file()


def test_servers_listen_only_on_their_emulated_address(fault_run):
    _, listening = fault_run
    assert set(listening) == {"nodes.cloud", "nodes.edge"}, listening
    assert "10.0.3.2:8000" in listening["nodes.cloud"]["inside"]
    assert "10.0.2.2:8000" in listening["nodes.edge"]["inside"]
    for seen in listening.values():
        assert not [a for a in seen["inside"] if a.endswith(":8000") and not a.startswith("10.0.")], seen
        assert not [a for a in seen["root"] if a.endswith(":8000")], seen  # nothing on the machine's interfaces
