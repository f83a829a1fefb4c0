"""Faults injected into real `compare` runs: survived, recorded, nothing lost; servers bound to emulated hosts only.

Two LTE runs of 60K images:
- cloud placement, so that every request crosses the WAN: an access rate change (over the
  emulator's control channel) and then a WAN link-down, both well inside the cloud workload. The
  link must really go down (requests inside the window fail or stall until it ends), the rate must
  really change (uploads inside the window are no faster than the new rate allows), and requests
  sent outside every window must succeed (>= 95%).
- edge placement with a cloud kill: the edge must keep answering while the cloud is down.
Every request issued must be a row of requests.csv (0 lost); failures carry their error;
experiment.json holds the fault windows and the timeouts; nothing is left on the machine.
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

from conftest import REPO_ROOT, RUN_PY, leaked_since

pytestmark = [pytest.mark.root, pytest.mark.slow]
TIMEOUT_S = 4.0
CLOUD_REPETITIONS, EDGE_REPETITIONS = 60, 40
# the fault clock starts when the device workload is launched; its first request leaves ~0.6 s later
RATE_FAULT, WAN_FAULT = "1.5s:rate:access:2Mbit/s:1.5s", "4.5s:link-down:wan:2s"
KILL_FAULT = "1s:kill:cloud:1.5s"
IMAGE_BYTES = 60 * 1024
RECOVERY_S = 1.0  # after a window ends: TCP's retransmission timer and a reconnect may still hold a request


def _listeners(pid: int) -> list[str]:
    """Listening TCP sockets inside the network namespace of ``pid``."""
    out = subprocess.run(["nsenter", "-t", str(pid), "-n", "ss", "-ltnH"], capture_output=True, text=True).stdout
    return [line.split()[3] for line in out.splitlines() if line.strip()]


def _root_listeners() -> list[str]:
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
    return [line.split()[3] for line in out.splitlines() if line.strip()]


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


def _compare(results: Path, models_dir: Path, placement: str, repetitions: int, faults: tuple[str, ...],
             listening: dict | None = None) -> Path:
    argv = [sys.executable, str(RUN_PY), "compare", "--access", "lte", "--placements", placement, "--sizes",
            "60K", "--repetitions", str(repetitions), "--calibrate-seconds", "0", "--no-capture",
            "--timeout", f"{TIMEOUT_S:g}", "--models-dir", str(models_dir), "--results-dir", str(results)]
    for fault in faults:
        argv += ["--fault", fault]
    for _attempt in range(40):
        proc = subprocess.Popen(argv, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        watcher = None
        if listening is not None:
            watcher = threading.Thread(target=_watch_listeners, args=(proc, results, listening), daemon=True)
            watcher.start()
        _out, err = proc.communicate(timeout=900)
        if watcher is not None:
            watcher.join()
        if b"another run of this testbed is active" not in err:
            break
        time.sleep(15)
    assert proc.returncode == 0, err.decode(errors="replace")[-3000:]
    (run_dir,) = list(results.iterdir())
    return run_dir


@pytest.fixture(scope="module")
def cloud_fault_run(leak_baseline, models_dir, tmp_path_factory):
    return _compare(tmp_path_factory.mktemp("fault-cloud"), models_dir, "cloud", CLOUD_REPETITIONS,
                    (RATE_FAULT, WAN_FAULT))


@pytest.fixture(scope="module")
def edge_fault_run(leak_baseline, models_dir, tmp_path_factory):
    listening: dict = {}
    run_dir = _compare(tmp_path_factory.mktemp("fault-edge"), models_dir, "edge", EDGE_REPETITIONS, (KILL_FAULT,),
                       listening)
    return run_dir, listening


def _rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "requests.csv", newline="") as f:
        return list(csv.DictReader(f))


def _record(run_dir: Path) -> dict:
    return json.loads((run_dir / "experiment.json").read_text())


def _windows(run_dir: Path) -> dict[str, dict]:
    return {w["fault"]: w for w in _record(run_dir)["faults"]}


def _span_ns(row: dict) -> tuple[int, int]:
    """(send start, end) of a request; a failed one ends at the latest when its timeout expires."""
    start = int(row["client_send_start_ns"])
    if row["status"] == "ok":
        return start, int(row["client_reply_complete_ns"])
    return start, start + int(TIMEOUT_S * (int(row["attempts"] or 1)) * 1e9)


def _outside_every_window(rows: list[dict], windows) -> list[dict]:
    """Requests that began and ended outside every fault window (plus its recovery time)."""
    out = []
    for row in rows:
        start, end = _span_ns(row)
        if all(end < w["start_ns"] or start > w["end_ns"] + RECOVERY_S * 1e9 for w in windows):
            out.append(row)
    return out


def _check_rows(run_dir: Path, repetitions: int) -> list[dict]:
    rows = _rows(run_dir)
    assert len(rows) == repetitions  # 0 rows lost
    assert len({r["request_id"] for r in rows}) == len(rows)
    for row in rows:
        assert (row["status"] == "ok") == (not row["error"]), row
        assert row["attempts"] == "1"
    return rows


def _check_window(run_dir: Path, text: str) -> dict:
    record = _record(run_dir)
    window = _windows(run_dir)[text]
    assert window["status"] == "ended" and not window["error"], window  # neither skipped nor failed
    t0 = record["fault_clock_start_ns"]["lte"]
    assert abs((window["start_ns"] - t0) / 1e9 - window["at_s"]) < 0.5, window
    assert (window["end_ns"] - window["start_ns"]) / 1e9 >= window["duration_s"] - 0.05, window
    return window


# --- the two runs left the machine as they found it --------------------------------------------------
def test_fault_runs_leave_nothing_behind(cloud_fault_run, edge_fault_run, leak_baseline):
    leaked = leaked_since(leak_baseline)  # the baseline was taken before either run started
    assert not leaked, f"the fault runs left resources behind: {leaked}"


# --- cloud placement: access rate change, then the WAN down -------------------------------------------
def test_cloud_run_records_every_request_and_its_timeouts(cloud_fault_run):
    _check_rows(cloud_fault_run, CLOUD_REPETITIONS)
    record = _record(cloud_fault_run)
    assert record["status"] == "complete"
    assert record["timeouts"]["device_to_server"]["timeout_s"] == TIMEOUT_S
    assert record["timeouts"]["edge_to_cloud"]["retries"] == 1
    assert set(_windows(cloud_fault_run)) == {RATE_FAULT, WAN_FAULT}


def test_faults_fell_inside_the_cloud_traffic(cloud_fault_run):
    rows = _rows(cloud_fault_run)
    first = min(_span_ns(r)[0] for r in rows)
    last = max(_span_ns(r)[1] for r in rows)
    for text in (RATE_FAULT, WAN_FAULT):
        window = _check_window(cloud_fault_run, text)
        assert first < window["start_ns"] and window["end_ns"] + RECOVERY_S * 1e9 < last, (text, "outside the workload")


def test_the_wan_really_went_down(cloud_fault_run):
    window = _check_window(cloud_fault_run, WAN_FAULT)
    rows = _rows(cloud_fault_run)
    # nothing crosses a link that is down: no request began and completed inside the window
    inside = [r for r in rows if r["status"] == "ok" and int(r["client_send_start_ns"]) >= window["start_ns"]
              and int(r["client_reply_complete_ns"]) <= window["end_ns"]]
    assert not inside, [r["request_id"] for r in inside]
    # the requests in flight across the window failed or stalled until it ended (a reply already past bs
    # when the link went down may still arrive within a few tens of ms)
    settled_ns = window["start_ns"] + 100_000_000
    caught = [r for r in rows if int(r["client_send_start_ns"]) < window["end_ns"] and _span_ns(r)[1] > settled_ns]
    assert caught, "no request was in flight while the WAN was down"
    for row in caught:
        assert row["status"] != "ok" or int(row["client_reply_complete_ns"]) >= window["end_ns"], row


def test_the_access_rate_really_changed(cloud_fault_run):
    window = _check_window(cloud_fault_run, RATE_FAULT)
    counters = json.loads((cloud_fault_run / "logs" / "lte" / "access-counters.json").read_text())
    assert [c["restore"] for c in counters["controls_applied"]] == [False, True]
    rows = [r for r in _rows(cloud_fault_run) if r["status"] == "ok"]
    inside = [r for r in rows if int(r["client_send_start_ns"]) >= window["start_ns"] + 50_000_000
              and int(r["server_upload_complete_ns"]) <= window["end_ns"]]
    assert inside, "no upload happened entirely at the lowered rate"
    floor_ms = IMAGE_BYTES * 8 / 2e6 * 1000  # serialisation of the image alone at 2 Mbit/s: 246 ms
    assert all(float(r["upload_ms"]) >= floor_ms for r in inside), [r["upload_ms"] for r in inside]


def test_requests_outside_the_fault_windows_succeed(cloud_fault_run):
    rows = _rows(cloud_fault_run)
    outside = _outside_every_window(rows, _windows(cloud_fault_run).values())
    assert len(outside) >= CLOUD_REPETITIONS // 3, len(outside)
    ok = sum(r["status"] == "ok" for r in outside)
    assert ok >= 0.95 * len(outside), [r["error"] for r in outside if r["status"] != "ok"]


def test_report_marks_the_fault_windows(cloud_fault_run):
    report = (cloud_fault_run / "report.md").read_text()
    assert "## Faults" in report and WAN_FAULT in report and RATE_FAULT in report
    assert (cloud_fault_run / "timeline-lte.png").is_file()


# --- edge placement: the cloud killed and restarted ---------------------------------------------------
def test_edge_run_records_every_request(edge_fault_run):
    run_dir, _ = edge_fault_run
    rows = _check_rows(run_dir, EDGE_REPETITIONS)
    assert _record(run_dir)["status"] == "complete"
    # the edge placement needs no cloud: every request succeeds, inside the outage (below) and outside it (the
    # cloud's restart, model loading included, can outlast this short workload, so there may be no "after")
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows if r["error"]]


def test_edge_keeps_answering_while_the_cloud_is_down(edge_fault_run):
    run_dir, _ = edge_fault_run
    kill = _check_window(run_dir, KILL_FAULT)
    assert (kill["end_ns"] - kill["start_ns"]) / 1e9 >= 1.5  # down for 1.5 s, then restarted and ready
    during = [r for r in _rows(run_dir) if kill["start_ns"] <= int(r["client_send_start_ns"]) <= kill["end_ns"]]
    assert during, "no edge request fell in the cloud outage"
    assert all(r["status"] == "ok" for r in during), [r["error"] for r in during if r["error"]]


def test_servers_listen_only_on_their_emulated_address(edge_fault_run):
    _, listening = edge_fault_run
    assert set(listening) == {"nodes.cloud", "nodes.edge"}, listening
    assert "10.0.3.2:8000" in listening["nodes.cloud"]["inside"]
    assert "10.0.2.2:8000" in listening["nodes.edge"]["inside"]
    for seen in listening.values():
        assert not [a for a in seen["inside"] if a.endswith(":8000") and not a.startswith("10.0.")], seen
        assert not [a for a in seen["root"] if a.endswith(":8000")], seen  # nothing on the machine's interfaces
