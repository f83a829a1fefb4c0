"""The replay series: capacity over each request's own upload, and the whole 1 s capacity series (issue 11).

The synthetic uplink trace: 1,000 opportunities in each second (12 Mbit/s) except second 1, which has 10
(0.12 Mbit/s). A request sent at 0.5 s whose upload completes at 2.5 s saw 500 + 10 + 500 opportunities:
1,010 x 1,500 B x 8 / 2 s = 6.06 Mbit/s, while the 1 s window at its start says 12.
"""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from harness.analysis.replay_series import capacity_series, mean_capacity_mbps, write_replay_csv
from harness.analysis.report import analyse_run
from traces.trace_types import DeliveryTrace

SMALL = Path(__file__).resolve().parent / "data" / "results-small"
START_NS = 7_000_000_000_000


def _dip_trace_ms() -> list[int]:
    return [*range(0, 1000), *range(1000, 2000, 100), *range(2000, 4000), 4000]


def _write_trace(path: Path) -> Path:
    path.write_text("\n".join(map(str, _dip_trace_ms())) + "\n")
    return path


def test_mean_capacity_over_an_interval_sees_the_dip():
    trace = DeliveryTrace(_dip_trace_ms())
    assert mean_capacity_mbps(trace, 0, 1) == pytest.approx(12.0)
    assert mean_capacity_mbps(trace, 1, 2) == pytest.approx(0.12)
    assert mean_capacity_mbps(trace, 0.5, 2.5) == pytest.approx(1010 * 1500 * 8 / 2 / 1e6)
    # the trace loops with its period (4 s): second 5 is second 1 again
    assert mean_capacity_mbps(trace, 5, 6) == pytest.approx(0.12)
    assert mean_capacity_mbps(trace, 5, 6, loop=False) == 0.0
    assert capacity_series(trace, 3.2) == pytest.approx([12.0, 0.12, 12.0, 12.0])


def _replay_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(SMALL, run)
    up = _write_trace(tmp_path / "dip.up")
    down = _write_trace(tmp_path / "dip.down")
    record = json.loads((run / "experiment.json").read_text())
    record["experiment"] = "replay"
    record["spec"].update(experiment="replay", accesses=["trace"], uplink_trace=str(up), downlink_trace=str(down))
    record["link_start_ns"] = {"trace": {"access": START_NS}}
    (run / "experiment.json").write_text(json.dumps(record))
    rows = []
    for k, (send_s, upload_s, response_s) in enumerate([(0.5, 2.5, 2.6), (2.7, 2.9, 3.0), (3.1, 3.3, 3.4),
                                                       (4.6, 6.4, 6.5)]):
        rows.append({"request_id": f"trace-edge-61440-{k}", "access": "trace", "placement": "edge",
                     "model": "edgecnn1-3", "size_bytes": 61440, "actual_bytes": 61440, "status": "ok",
                     "client_send_start_ns": START_NS + int(send_s * 1e9),
                     "server_upload_complete_ns": START_NS + int(upload_s * 1e9),
                     "client_reply_complete_ns": START_NS + int(response_s * 1e9),
                     "upload_ms": f"{(upload_s - send_s) * 1000:.3f}", "inference_ms": "5.000",
                     "response_ms": f"{(response_s - send_s) * 1000:.3f}"})
    with open(run / "requests.csv", "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return run


def test_replay_csv_relates_each_request_to_its_own_upload(tmp_path):
    run = _replay_run(tmp_path)
    write_replay_csv(run)
    with open(run / "replay.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    first = rows[0]
    assert float(first["uplink_capacity_mbps"]) == pytest.approx(12.0)          # at its start: no dip
    assert float(first["uplink_capacity_upload_mbps"]) == pytest.approx(6.06)   # over its upload: the dip
    assert float(rows[1]["uplink_capacity_upload_mbps"]) == pytest.approx(12.0)
    assert float(rows[3]["uplink_capacity_upload_mbps"]) == pytest.approx(  # 4.6 .. 6.4 s: loop, dip at 5..6
        (400 + 10 + 400) * 1500 * 8 / 1.8 / 1e6)
    with open(run / "replay-capacity.csv", newline="") as handle:
        series = [float(r["uplink_mbps"]) for r in csv.DictReader(handle)]
    assert len(series) == 7 and series[1] == pytest.approx(0.12) and series[5] == pytest.approx(0.12)


def test_report_of_a_replay_run_correlates_on_the_upload_capacity(tmp_path):
    run = _replay_run(tmp_path)
    text = analyse_run(run, progress=lambda _: None, out_dir=tmp_path / "out").read_text()
    assert (tmp_path / "out" / "replay-capacity.csv").is_file() and (tmp_path / "out" / "replay.png").is_file()
    assert "over each request's own upload" in text
    # uploads 2000, 200, 200, 1800 ms against 6.06, 12, 12, 5.4 Mbit/s over the uploads (Spearman, ties at
    # average ranks: -0.78); at their send starts all four saw 12 Mbit/s, where no correlation exists
    assert "| 60K | 4 | 1000.0 | 1100.0 | 5.40..12.00 | -0.78 (p=0.22) |" in text
    assert "beside the published figures" not in text
    assert not (run / "replay.csv").exists()  # --out: the run folder is not written
