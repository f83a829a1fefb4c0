"""`load` end to end, as a user runs it: one access, 1 and 2 devices, edge and cloud, short cells; and Ctrl-C in
the middle of a 2-device cell (SIGINT to the run's process group, as a terminal sends it)."""
from __future__ import annotations

import csv
import json
import os
import signal
import time
from pathlib import Path

import pytest

from conftest import leaked_since, run_cli
from test_kill_clean import Compare, leftovers

pytestmark = [pytest.mark.root, pytest.mark.slow]


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def load_run(leak_baseline, tmp_path_factory, models_dir):
    results = tmp_path_factory.mktemp("results")
    result = run_cli("load", "--access", "wifi", "--devices", "1,2", "--cell-seconds", "3", "--models-dir",
                     str(models_dir), "--results-dir", str(results), timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    (run_dir,) = list(results.iterdir())
    return run_dir


def test_the_load_run_left_nothing_behind(load_run, leak_baseline):
    leaked = leaked_since(leak_baseline)
    assert not leaked, f"load left resources behind: {leaked}"


def test_every_cell_ran_and_both_devices_sent_at_once(load_run):
    for name in ("experiment.json", "requests.csv", "load.csv", "load-summary.csv", "report.md",
                 "response_vs_load.png"):
        assert (load_run / name).is_file(), name
    record = json.loads((load_run / "experiment.json").read_text())
    assert record["status"] == "complete" and record["resumable"] is False
    assert [(c["level"], c["placement"], c["status"]) for c in record["cells"]] == [
        ("d1", "edge", "complete"), ("d1", "cloud", "complete"), ("d2", "edge", "complete"),
        ("d2", "cloud", "complete")]
    rows = _rows(load_run / "requests.csv")
    assert rows and all(r["status"] == "ok" for r in rows), [r["error"] for r in rows if r["status"] != "ok"][:3]
    for placement in ("edge", "cloud"):
        two = [r for r in rows if r["level"] == "d2" and r["placement"] == placement]
        assert {r["device"] for r in two} == {"ue1", "ue2"}
        first = {d: min(int(r["client_send_start_ns"]) for r in two if r["device"] == d) for d in ("ue1", "ue2")}
        last = {d: max(int(r["client_send_start_ns"]) for r in two if r["device"] == d) for d in ("ue1", "ue2")}
        assert max(first.values()) < min(last.values()), "the two devices never sent at the same time"
        assert all(r["queue_ms"] != "" for r in two)  # every answered request has its server queueing time
    for cell in record["cells"]:  # the devices started together once set up; what scheduling each got
        assert cell["setup_s"] > 0 and sum(cell["device_scheduling"].values()) == cell["devices"], cell
        assert all(got.startswith("SCHED_FIFO 5") for got in cell["device_scheduling"]), cell  # as root
    cpu = record["cells"][2]["server_cpu"]["edge"]
    assert cpu["cores"] is not None and 0 < cpu["cores"] <= os.cpu_count()


def test_load_csv_and_report(load_run):
    load = _rows(load_run / "load.csv")
    assert [(r["level"], r["placement"]) for r in load] == [("d1", "edge"), ("d1", "cloud"), ("d2", "edge"),
                                                            ("d2", "cloud")]
    for row in load:
        assert float(row["achieved_rps"]) > 0 and float(row["response_ms_p50"]) <= float(row["response_ms_p99"])
        assert float(row["server_cpu_cores"]) > 0 and row["host_cpu_busy_pct_mean"] != ""
    (summary,) = _rows(load_run / "load-summary.csv")
    assert summary["access"] == "wifi" and summary["loads_compared"] == "2" and summary["finding"]
    report = (load_run / "report.md").read_text()
    assert "## Crossover" in report and summary["finding"] in report and "## Cells" in report


def test_ctrl_c_stops_every_device_and_keeps_the_finished_rows(models_dir, tmp_path):
    results = tmp_path / "results"
    run = Compare(models_dir, results, new_session=True)
    run.argv = [*run.argv[:2], "load", "--access", "lte", "--devices", "2", "--placements", "edge",
                "--cell-seconds", "60", "--models-dir", str(models_dir), "--results-dir", str(results)]
    run.start()
    try:
        def device_rows() -> list[dict]:
            return [r for p in results.glob("*/logs/lte/cells/d2/device-edge-ue*.csv") for r in _rows(p)
                    if r.get("status")]
        run.wait_for(lambda: {r["device"] for r in device_rows()} == {"ue1", "ue2"} and len(device_rows()) >= 6)
        finished = {r["request_id"] for r in device_rows()}
        signalled = time.monotonic()
        os.killpg(run.proc.pid, signal.SIGINT)
        run.proc.wait(timeout=60)
        took_s = time.monotonic() - signalled
    finally:
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGKILL)
            run.proc.wait()
    assert run.proc.returncode == 130 and took_s < 15, (took_s, run.stderr[-1500:])
    (run_dir,) = list(results.iterdir())
    record = json.loads((run_dir / "experiment.json").read_text())
    assert record["status"] == "interrupted" and record["cells"][0]["status"] == "interrupted"
    kept = _rows(run_dir / "requests.csv")
    assert finished <= {r["request_id"].split("-", 1)[1] for r in kept}
    assert all(r["status"] == "ok" for r in kept) and {r["device"] for r in kept} == {"ue1", "ue2"}
    assert "Not resumable" in (run_dir / "report.md").read_text()
    assert leftovers(results) == {"namespaces": [], "interfaces": [], "processes": []}
