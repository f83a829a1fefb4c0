"""Ctrl-C as a terminal sends it: SIGINT to the whole foreground process group of `compare`, at several points.

`compare` runs in its own session (as in a terminal, where it leads the foreground group); the test sends
SIGINT to that group with os.killpg, as the terminal does on Ctrl-C: the harness, and every child that did
not leave the group, get it at once. Points: while the network is built, while the node servers start, in
the middle of a closed-loop workload, in the middle of an open-loop (--rate) workload, and a closed loop
started as a script's background job (SIGINT ignored by inheritance, as the issue's runs had it: the
emulators stopped, the harness and the workload carried on and wrote error rows). After each: the
run ended within a few seconds with exit code 130, experiment.json and report.md say "interrupted",
requests.csv holds every device row that had finished before the signal and no error row, and nothing of
the run is left (namespaces, ect* interfaces, processes).
"""
from __future__ import annotations

import csv
import json
import os
import signal
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from test_kill_clean import Compare, leftovers

pytestmark = [pytest.mark.root, pytest.mark.slow]
STOP_WITHIN_S = 10.0
MEASURED: dict = {}  # written to .cache/interrupt.json: how long each stop took, rows kept


def _device_rows(results: Path) -> list[dict]:
    rows = []
    for path in results.glob("*/logs/*/device-*.csv"):
        with open(path, newline="") as f:
            rows += [r for r in csv.DictReader(f) if r.get("status")]
    return rows


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


POINTS = {  # extra flags, SIGINT ignored as the run starts, when to send it, wait before
    "network start": ([], False, lambda c: Path(f"/run/ect/net-{c.proc.pid}.json").exists(), 0.3),
    "node start": ([], False, lambda c: "starting cloud, then edge" in c.stderr, 0.5),
    "closed loop": ([], False, lambda c: len(_device_rows(c.results_dir)) >= 5, 0.0),
    "open loop": (["--rate", "4"], False, lambda c: len(_device_rows(c.results_dir)) >= 5, 0.0),
    # started by a script as `compare &`: sh sets SIGINT to SIG_IGN; the emulators (in the group) stop on it
    # anyway, so a harness that kept ignoring it ran its whole schedule on a dead link, recording errors
    "closed loop, background job": ([], True, lambda c: len(_device_rows(c.results_dir)) >= 5, 0.0),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_ctrl_c_to_the_process_group_stops_the_run(point, models_dir, tmp_path):
    extra, sigint_ignored, reached, delay_s = POINTS[point]
    results = tmp_path / "results"
    compare = Compare(models_dir, results, repetitions=300, extra=extra, new_session=True,
                      sigint_ignored=sigint_ignored)
    compare.start()
    try:
        compare.wait_for(lambda: reached(compare))
        time.sleep(delay_s)
        finished = {r["request_id"] for r in _device_rows(results)}
        signalled_ns = time.monotonic_ns()
        os.killpg(compare.proc.pid, signal.SIGINT)  # the harness leads its group, as in a terminal
        compare.proc.wait(timeout=60)
        took_s = (time.monotonic_ns() - signalled_ns) / 1e9
    finally:
        if compare.proc.poll() is None:
            os.killpg(compare.proc.pid, signal.SIGKILL)
            compare.proc.wait()
    time.sleep(0.3)  # the stderr reader's last chunk
    MEASURED[point] = {"stop_s": round(took_s, 2), "returncode": compare.proc.returncode,
                       "device_rows_before_signal": len(finished)}
    (REPO_ROOT / ".cache").mkdir(exist_ok=True)
    (REPO_ROOT / ".cache" / "interrupt.json").write_text(json.dumps(MEASURED, indent=1) + "\n")
    assert compare.proc.returncode == 130, compare.stderr[-2000:]
    assert took_s <= STOP_WITHIN_S, f"the run took {took_s:.1f} s to stop after Ctrl-C: {compare.stderr[-1500:]}"
    (run_dir,) = list(results.iterdir())
    record = json.loads((run_dir / "experiment.json").read_text())
    assert record["status"] == "interrupted" and record.get("stopped_by") == "SIGINT", record.get("status")
    assert record["models_origin"]["epochs"] == 1 and record["models_origin"]["test_models"] is True
    report = (run_dir / "report.md").read_text()
    assert "interrupted" in report
    requests = _rows(run_dir / "requests.csv")
    kept = {r["request_id"].split("-", 1)[1] for r in requests}
    assert finished <= kept, f"finished rows missing from requests.csv: {sorted(finished - kept)[:5]}"
    assert all(r["status"] == "ok" for r in requests), [r["error"] for r in requests if r["status"] != "ok"][:3]
    answered = [r for r in _device_rows(results) if r["status"] == "200"]
    assert len(requests) == len(answered)  # every answered row, nothing else
    MEASURED[point]["requests_csv_rows"] = len(requests)
    (REPO_ROOT / ".cache" / "interrupt.json").write_text(json.dumps(MEASURED, indent=1) + "\n")
    if point in ("closed loop", "open loop"):
        assert len(requests) >= 5
    assert leftovers(results) == {"namespaces": [], "interfaces": [], "processes": []}
