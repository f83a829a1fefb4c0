"""The load experiment's analysis on synthetic data: the crossover finder, a cell's window and throughput, the
whole analysis of a run folder (load.csv, load-summary.csv, figure, report, `report` re-making it), and the
joining of several devices' rows with their servers' queueing (compare's requests.csv, summary, devices.csv)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import run_cli
from harness.analysis.summary import device_counts, summarise
from harness.experiments.compare.request_rows import collect_rows, server_stamps
from harness.experiments.compare.run_record import Run
from harness.experiments.load.metrics import cell_metrics, crossovers, find_crossover, steady_window
from harness.experiments.load.report import analyse_load
from harness.experiments.load.run import LOAD_REQUEST_FIELDS
from harness.experiments.load.spec import LoadSpec
from harness.orchestration.results import REQUEST_FIELDS
from nodes.csv_rows import CsvRows

S = 1_000_000_000


def test_no_crossover_in_the_range():
    found = find_crossover([(1, 20.0, 80.0), (2, 25.0, 81.0), (4, 40.0, 82.0)])
    assert found.load is None and found.text.startswith("none in the range") and "up to 4 devices" in found.text


def test_crossover_bracketed_and_interpolated():
    found = find_crossover([(8, 120.0, 90.0), (1, 20.0, 80.0), (4, 60.0, 85.0), (2, 30.0, 81.0), (16, 400.0, 95.0)])
    assert (found.below, found.load, found.holds_above) == (4, 8, True)
    # edge - cloud: -25 at 4, +30 at 8 -> zero at 4 + 4 * 25/55
    assert found.estimate == pytest.approx(4 + 4 * 25 / 55)
    assert "between 4 and 8 devices" in found.text


def test_crossover_at_the_lowest_load_and_one_that_does_not_hold():
    found = find_crossover([(1, 90.0, 80.0), (2, 70.0, 81.0), (4, 95.0, 82.0)], unit="offered req/s")
    assert found.load == 1 and found.estimate is None and not found.holds_above
    assert "from the lowest load measured (1 offered req/s)" in found.text and "faster again" in found.text


def test_crossover_skips_loads_missing_a_placement():
    found = find_crossover([(1, 20.0, None), (2, None, 10.0), (4, 50.0, 40.0)])
    assert found.load == 4 and found.loads_compared == 1
    assert find_crossover([(1, None, 3.0)]).text.startswith("not measured")


def _row(device: str, send_s: float, response_ms: float, status: str = "ok", queue_ms: float = 1.0,
         placement: str = "edge") -> dict:
    send = int(send_s * S)
    return {"device": device, "status": status, "placement": placement, "client_send_start_ns": str(send),
            "client_reply_complete_ns": str(send + int(response_ms * 1e6)),
            "response_ms": str(response_ms) if status == "ok" else "", "queue_ms": str(queue_ms),
            "schedule_lateness_ms": "0.5"}


def test_the_steady_window_leaves_out_the_devices_start_and_end():
    rows = [_row("ue1", t, 50) for t in (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)] + \
           [_row("ue2", t, 50) for t in (2.0, 3.0, 4.0, 6.0)]
    start, end, note = steady_window(rows)
    assert (start, end, note) == (2 * S, 5 * S, "")
    metrics = cell_metrics({"access": "lte", "level": "d2", "placement": "edge", "devices": 2, "status": "complete",
                            "offered_per_device_hz": None,
                            "server_cpu": {"edge": {"cores": 0.8, "utilisation": 0.4, "of": "2 cores"}}}, rows)
    assert metrics["window_s"] == 3.0 and metrics["requests"] == 10
    assert metrics["offered_rps"] == pytest.approx(7 / 3)       # sent in it: 2, 3, 4, 5 (ue1) and 2, 3, 4 (ue2)
    assert metrics["server_cpu_cores"] == 0.8 and metrics["load"] == 2 and metrics["load_unit"] == "devices"


def test_open_loop_load_is_the_offered_rate_and_one_request_cells_say_so():
    rows = [_row("ue1", 0.0, 30), _row("ue2", 0.1, 40, status="error")]
    metrics = cell_metrics({"access": "wifi", "level": "d2-r1.5", "placement": "cloud", "devices": 2, "rate_hz": 1.5,
                            "status": "complete", "offered_per_device_hz": 1.5}, rows)
    assert metrics["load"] == 3.0 and metrics["load_unit"] == "offered req/s" and metrics["nominal_offered_rps"] == 3.0
    assert "never sent together" in metrics["window_note"] and metrics["failed"] == 1
    assert metrics["response_ms_p50"] == 30.0


def _write_csv(path: Path, fields: list[str], rows: list[dict]) -> None:
    with CsvRows(path, fields) as out:
        for row in rows:
            out.write(row)


def _load_run(tmp_path: Path) -> Path:
    """A load run folder as the harness writes it: edge fast at 1-2 devices, slower than the cloud from 4 on."""
    run_dir = tmp_path / "20260101T000000Z-load"
    (run_dir / "logs").mkdir(parents=True)
    medians = {"edge": {1: 20.0, 2: 30.0, 4: 90.0}, "cloud": {1: 60.0, 2: 61.0, 4: 62.0}}
    cells, rows, t = [], [], 0.0
    for devices in (1, 2, 4):
        for placement in ("edge", "cloud"):
            level = f"d{devices}"
            cells.append({"access": "lte", "level": level, "placement": placement, "devices": devices, "rate_hz": 0.0,
                          "offered_per_device_hz": None, "status": "complete", "started_ns": int(t * S),
                          "ended_ns": int((t + 10) * S),
                          "server_cpu": {placement: {"cores": 0.5 * devices, "utilisation": 0.25 * devices,
                                                     "of": "2 cores"}}})
            for k in range(10):
                for d in range(1, devices + 1):
                    ms = medians[placement][devices] * (0.9 + 0.02 * k)
                    rows.append({"request_id": f"lte-{level}-{placement}-ue{d}-61440-{k}", "access": "lte",
                                 "placement": placement, "model": "m", "size_bytes": 61440, "actual_bytes": 61440,
                                 "status": "ok", "upload_ms": 5, "inference_ms": 2, "response_ms": ms,
                                 "client_send_start_ns": int((t + k) * S), "queue_ms": 0.1 * devices,
                                 "client_reply_complete_ns": int((t + k) * S + ms * 1e6), "device": f"ue{d}",
                                 "level": level, "devices_in_cell": devices, "rate_hz": 0.0})
            t += 20
    _write_csv(run_dir / "requests.csv", LOAD_REQUEST_FIELDS, rows)
    (run_dir / "experiment.json").write_text(json.dumps({
        "experiment": "load", "status": "complete", "spec": LoadSpec(accesses=("lte",), devices=(1, 2, 4)).to_dict(),
        "pattern": "closed loop, think time 0 ms", "cells": cells, "captures": [], "environment": {},
        "profiles": {}}))
    return run_dir


def test_analyse_a_load_run_folder(tmp_path):
    run_dir = _load_run(tmp_path)
    report = analyse_load(run_dir, progress=lambda _: None).read_text()
    with open(run_dir / "load.csv", newline="") as f:
        load = list(csv.DictReader(f))
    assert len(load) == 6 and {r["status"] for r in load} == {"complete"}
    edge4 = next(r for r in load if r["placement"] == "edge" and r["devices"] == "4")
    assert float(edge4["response_ms_p50"]) == pytest.approx(90 * 0.99) and float(edge4["server_cpu_cores"]) == 2.0
    assert float(edge4["achieved_rps"]) == pytest.approx(36 / 9)  # replies within the 9 s window (the last ones after)
    with open(run_dir / "load-summary.csv", newline="") as f:
        (summary,) = list(csv.DictReader(f))
    assert summary["crossover_load"] == "4" and summary["below_load"] == "2"
    assert "between 2 and 4 devices" in report and (run_dir / "response_vs_load.png").stat().st_size > 5000
    assert "Not resumable" not in report  # it completed
    assert "is the testbed itself the bottleneck?" in report and (run_dir / "validity.json").is_file()
    record = json.loads((run_dir / "experiment.json").read_text())
    record["status"] = "interrupted"
    (run_dir / "experiment.json").write_text(json.dumps(record))
    result = run_cli("report", str(run_dir))  # the report command re-makes a load run's own analysis
    assert result.returncode == 0, result.stderr
    assert "Not resumable" in (run_dir / "report.md").read_text()


def test_each_cell_is_valid_or_names_the_constraint_it_failed(tmp_path):
    """Per cell: its own lateness p99, rows lost against its schedule and host CPU stretch; the access's emulators."""
    run_dir = _load_run(tmp_path)
    record = json.loads((run_dir / "experiment.json").read_text())
    record["host_monitor_start_s"] = 0.0
    record["cells"][3]["requests_expected"] = 25  # d2/cloud: an open loop with 5 rows missing
    record["cells"][2]["schedule_start_ns"] = 47 * S  # d2/edge: its devices' set-up (40..47 s) is not measured
    (run_dir / "experiment.json").write_text(json.dumps(record))
    with open(run_dir / "requests.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["schedule_lateness_ms"] = "30" if row["level"] == "d4" and row["placement"] == "edge" else "0.4"
    _write_csv(run_dir / "requests.csv", LOAD_REQUEST_FIELDS, rows)
    busy = [(t * 0.25, 99.0 if 20 <= t * 0.25 <= 27 or 40 <= t * 0.25 <= 47 else 40.0)  # d1/cloud's 20..30 s: 7 s
            for t in range(0, 481)]
    _write_csv(run_dir / "host-cpu.csv", ["t_s", "core", "busy_pct"],
               [{"t_s": t, "core": "all", "busy_pct": b} for t, b in busy])
    (run_dir / "logs" / "lte").mkdir()
    (run_dir / "logs" / "lte" / "wan-counters.json").write_text(json.dumps(
        {"uplink": {"lateness": {"p99_ms": 0.4}}, "downlink": {"lateness": {"p99_ms": 0.6}}}))
    analyse_load(run_dir, progress=lambda _: None)
    with open(run_dir / "load.csv", newline="") as f:
        load = {(r["level"], r["placement"]): r for r in csv.DictReader(f)}
    assert load[("d1", "edge")]["validity"] == "VALID" and load[("d1", "edge")]["validity_failed"] == ""
    assert load[("d1", "cloud")]["validity_failed"] == "2. host CPU > 95% for 7.0 s"
    assert load[("d2", "edge")]["validity"] == "VALID" and float(load[("d2", "edge")]["host_cpu_saturated_s"]) == 0
    assert load[("d2", "cloud")]["validity_failed"] == ("4. 5 rows lost of 25 expected "
                                                        "(experiment.json requests_expected)")
    assert load[("d4", "edge")]["validity_failed"].startswith("3. client schedule lateness p99 30.0 ms > 10 ms")
    assert "d4/edge: 3. client schedule lateness" in (run_dir / "report.md").read_text()
    (run_dir / "logs" / "lte" / "wan-counters.json").write_text(json.dumps({"downlink": {"lateness": {"p99_ms": 2.5}}}))
    analyse_load(run_dir, progress=lambda _: None)
    with open(run_dir / "load.csv", newline="") as f:
        assert all("1. emulator p99 lateness 2.50 ms > 1 ms on lte/wan/downlink (over the whole access)"
                   in r["validity_failed"] for r in csv.DictReader(f))


def test_crossovers_use_complete_cells_only():
    rows = [{"access": "lte", "rate_hz": None, "load": 1, "load_unit": "devices", "placement": "edge",
             "status": "complete", "response_ms_p50": 50.0},
            {"access": "lte", "rate_hz": None, "load": 1, "load_unit": "devices", "placement": "cloud",
             "status": "interrupted", "response_ms_p50": 10.0}]
    (found,) = crossovers(rows)
    assert found["crossover_load"] is None and found["finding"].startswith("not measured")


def test_rows_of_several_devices_carry_their_device_and_queueing(tmp_path):
    log_dir = tmp_path / "logs" / "lte"
    (log_dir / "edge").mkdir(parents=True)
    device_fields = ["device", "request_id", "status", "error", "model", "size_bytes", "send_start_ns",
                     "reply_complete_ns", "upload_complete_ns", "scheduled_ns", "schedule_lateness_ms"]
    for d in (1, 2):
        _write_csv(log_dir / f"device-edge-ue{d}.csv", device_fields, [
            {"device": f"ue{d}", "request_id": f"edge-ue{d}-61440-{k}", "status": 200, "model": "m",
             "size_bytes": 61440, "send_start_ns": 1000 * k, "reply_complete_ns": 1000 * k + 5_000_000,
             "upload_complete_ns": 1000 * k + 1_000_000, "scheduled_ns": 1000 * k - 2_000_000,
             "schedule_lateness_ms": 2.0} for k in range(3)])
    records = [{"request_id": "edge-ue1-61440-0", "status": 200, "queue_ms": 4.25, "in_progress_at_arrival": 3},
               {"request_id": "edge-ue2-61440-1", "status": 200, "received_ns": 10_000_000,
                "preprocess_start_ns": 12_500_000}]
    (log_dir / "edge" / "timings.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    run = Run(spec=None, run_dir=tmp_path, record={"environment": {"onnxruntime_providers": {}}})
    files = [(log_dir / f"device-edge-ue{d}.csv", "edge") for d in (1, 2)]
    with CsvRows(tmp_path / "requests.csv", REQUEST_FIELDS) as requests:
        assert collect_rows(run, "lte", files, server_stamps(log_dir), requests) == 6
    with open(tmp_path / "requests.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by_id = {r["request_id"]: r for r in rows}
    assert by_id["lte-edge-ue1-61440-0"]["queue_ms"] == "4.250"
    assert by_id["lte-edge-ue1-61440-0"]["server_in_progress_at_arrival"] == "3"
    assert by_id["lte-edge-ue2-61440-1"]["queue_ms"] == "2.500"   # from its stamps: arrival -> preprocess start
    assert {r["device"] for r in rows} == {"ue1", "ue2"} and by_id["lte-edge-ue2-61440-2"]["schedule_lateness_ms"] == "2.0"
    summary = summarise(rows, {})
    assert summary[0]["devices"] == 2 and summary[0]["queue_ms_median"] == pytest.approx((4.25 + 2.5) / 2)
    flows = [{"access": "lte", "client": "10.0.1.2", "purpose": "request (edge)", "link": "bs", "bytes_up": "70000",
              "bytes_down": "900", "capture": "pcaps/lte-bs.pcap"}]
    counts = {c["device"]: c for c in device_counts(rows, flows)}
    assert counts["ue1"]["requests"] == 3 and counts["ue1"]["connections"] == 0
    assert counts["ue2"]["bytes_up"] == 70000 and counts["ue2"]["capture"] == "pcaps/lte-bs.pcap"


def test_a_cell_reports_the_accuracy_of_its_judged_answers():
    rows = [_row("ue1", t, 50) for t in (0.0, 1.0, 2.0, 3.0)]
    for row, correct in zip(rows, ("1", "0", "1", "1")):
        row["correct"] = correct
    cell = {"access": "lte", "level": "d1", "placement": "edge", "devices": 1, "status": "complete",
            "offered_per_device_hz": None}
    metrics = cell_metrics(cell, rows)
    assert metrics["accuracy_n"] == 4 and metrics["accuracy"] == pytest.approx(0.75)
    for row in rows:
        row["correct"] = ""  # no --images: nothing judged
    assert cell_metrics(cell, rows)["accuracy"] is None


def test_host_load_ends_a_cell_at_its_last_reply(tmp_path):
    """The host's CPU after a cell's last reply (its devices' teardown, the next cell's start) is not the cell's:
    a saturated stretch there leaves the cell's saturated seconds at 0; without the rows it would count."""
    from harness.experiments.load.host_load import host_load
    start_s = 100.0
    with open(tmp_path / "host-cpu.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["t_s", "core", "busy_pct"])
        writer.writeheader()
        for t in range(1, 21):   # 40 % busy while requests run (t 1..10), 99 % after the last reply (t 11..20)
            writer.writerow({"t_s": t, "core": "all", "busy_pct": 40 if t <= 10 else 99})
    cell = {"access": "lte", "level": "d1", "placement": "edge", "devices": 1, "status": "complete",
            "schedule_start_ns": int((start_s + 0.5) * 1e9), "ended_ns": int((start_s + 20) * 1e9)}
    record = {"host_monitor_start_s": start_s, "cells": [cell]}
    rows = [{"access": "lte", "level": "d1", "placement": "edge",
             "client_reply_complete_ns": str(int((start_s + 10.2) * 1e9))}]
    judged = host_load(tmp_path, record, rows)[("lte", "d1", "edge")]
    assert judged["host_cpu_saturated_s"] == 0.0
    assert judged["host_cpu_busy_pct_max"] == 40
    unbounded = host_load(tmp_path, record)[("lte", "d1", "edge")]
    assert unbounded["host_cpu_saturated_s"] >= 9.0
