"""Calibration: the trace-window comparison on synthetic data, and `calibrate` on a trace link as a user runs it."""
from __future__ import annotations

import csv

import pytest

from conftest import SHARED_TRACES, run_cli
from harness.calibration import LinkMeasurement, trace_window_errors


def _trace(tmp_path, per_second):
    """A Mahimahi trace delivering ``per_second[k]`` packets in second k."""
    lines = []
    for k, count in enumerate(per_second):
        lines += [str(k * 1000 + 1 + i * (999 // max(count, 1))) for i in range(count)]
    lines.append(str(len(per_second) * 1000))
    path = tmp_path / "t.up"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_trace_window_errors_against_the_summary(tmp_path):
    trace = _trace(tmp_path, [10, 20, 30, 40])
    with open(tmp_path / "access-summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["second", "direction", "offered_bytes", "delivered_bytes"])
        for second in range(12):
            capacity = [10, 20, 30, 40][second % 4] * 1500
            delivered = capacity if second != 6 else capacity * 0.9  # one window 10% short
            w.writerow([second, "uplink", capacity * 2, int(delivered)])
            w.writerow([second, "downlink", 0, 0])
    window = {"link": "access", "direction": "uplink", "trace": str(trace), "wire_started_ns": 0,
              "start_ns": 0, "end_ns": int(12e9)}
    row = LinkMeasurement("access", "uplink", "udp_received_mbps", 1.0, 1.0, window=window)
    (result,) = trace_window_errors([row], tmp_path)
    assert result.metric == "trace_window_error_pct"
    assert result.measured == 0.0                   # median window is exact
    assert "9 windows" in result.note and "p95 10.00%" in result.note  # seconds 2..10


@pytest.mark.root
@pytest.mark.slow
def test_calibrate_a_real_trace_link(tmp_path, clean_machine):
    if not SHARED_TRACES.is_dir():
        pytest.skip(f"{SHARED_TRACES} is absent (it holds the real traces; a user's machine has none)")
    result = run_cli("calibrate", "--access", "trace", "--uplink", str(SHARED_TRACES / "Verizon-LTE-short.up"),
                     "--downlink", str(SHARED_TRACES / "Verizon-LTE-short.down"), "--seconds", "6",
                     "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "links.csv", newline="") as f:
        rows = {(r["link"], r["direction"], r["metric"]): r for r in csv.DictReader(f)}
    for direction in ("uplink", "downlink"):
        error = rows[("access", direction, "trace_window_error_pct")]
        assert float(error["measured"]) < 5.0, error  # median per-window error; the benchmark holds the tight figure
    assert float(rows[("wan", "uplink", "tcp_goodput_mbps")]["measured"]) > 80
