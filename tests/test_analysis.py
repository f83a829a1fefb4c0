"""The analysis side: summary numbers, flows from pcaps, figures, report.md and the `report` command.

The stored folder tests/data/results-small is made by tests/data/make_results_small.py; the
expected numbers below follow from the values written there.
"""
from __future__ import annotations

import csv
import json
import shutil
import struct
from pathlib import Path

import pytest

from conftest import run_cli
from harness.analysis.flows import analyse_captures, read_flows, traffic_table
from harness.analysis.pcap_reader import CaptureFileError
from harness.analysis.published import PUBLISHED
from harness.analysis.published_compare import compare_with_published
from harness.analysis.report import ReportError, analyse_run, load_run
from harness.analysis.summary import summarise

SMALL = Path(__file__).resolve().parent / "data" / "results-small"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def small():
    return load_run(SMALL)


@pytest.fixture(scope="module")
def summary(small):
    rows = summarise(small.requests, small.record["profiles"], SMALL, analyse_captures(SMALL, small.record["captures"]))
    return {(r["access"], r["placement"], r["size"]): r for r in rows}


@pytest.fixture
def run_copy(tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(SMALL, dst)
    return dst


# ---------------------------------------------------------------- summary

def test_summary_statistics_per_group(summary):
    assert len(summary) == 9
    row = summary[("lte", "edge", "60K")]
    assert (row["count"], row["ok"], row["failed"], row["model"]) == (2, 2, 0, "edgecnn1-3")
    assert row["response_ms_median"] == pytest.approx(148.0)
    assert row["response_ms_p90"] == pytest.approx(165.6)  # 126 + 0.9 * (170 - 126)
    assert row["response_ms_mean"] == pytest.approx(148.0)
    assert row["upload_ms_median"] == pytest.approx(107.0)
    assert row["inference_ms_median"] == pytest.approx(6.0)


def test_failed_request_counts_but_does_not_enter_the_times(summary):
    row = summary[("lte", "cloud", "512K")]
    assert (row["count"], row["ok"], row["failed"]) == (3, 2, 1)
    assert row["response_ms_median"] == pytest.approx(690.0)


# ---------------------------------------------------------------- flows

def test_flow_bytes_retransmission_and_handshake():
    flows = read_flows(SMALL / "pcaps" / "lte-ue1.pcap")
    edge, cloud = flows
    assert (edge.client, edge.client_port, edge.server, edge.server_port) == ("10.0.1.1", 40000, "10.0.2.2", 8000)
    # IP lengths, not the 96-byte captured lengths: 5 x 40-byte control + 5 x 1488 + 540
    assert (edge.up.ip_bytes, edge.down.ip_bytes) == (8180, 540)
    assert (edge.up.packets, edge.down.packets) == (11, 6)
    assert (edge.up.payload_bytes, edge.down.payload_bytes) == (5 * 1448 + 500, 300)
    assert (edge.up.retransmissions, edge.down.retransmissions) == (1, 0)
    assert edge.handshake_rtt_ms == pytest.approx(30.2, abs=0.01)
    assert edge.duration_s == pytest.approx(0.4302, abs=1e-5)
    assert edge.goodput_mbps == pytest.approx((4 * 1448 + 500 + 300) * 8 / 0.4302 / 1e6, rel=1e-3)
    assert cloud.handshake_rtt_ms == pytest.approx(70.2, abs=0.01) and cloud.up.retransmissions == 0


def test_flow_purposes_links_and_traffic_table(small):
    rows = analyse_captures(SMALL, small.record["captures"])
    assert [(r["purpose"], r["link"]) for r in rows] == [
        ("request (edge)", "access"), ("request (cloud)", "access"), ("model download", "wan"), ("edge-cloud", "wan")]
    download = rows[2]
    assert download["bytes_up_after_first_request"] == 240  # 200 bytes reused after the first request
    table = {t["purpose"]: t for t in traffic_table(rows)}
    assert table["model download"]["bytes_down"] == 40 + 10 * 1488 + 1040  # SYN/ACK + 11 segments
    assert table["edge-cloud"]["bytes_up"] == int(rows[3]["bytes_up"]) + 240
    assert table["request (edge)"]["retransmissions"] == 1
    assert table["request (cloud)"]["median_handshake_rtt_ms"] == pytest.approx(70.2, abs=0.01)


def _frame(src, sport, dst, dport, seq, flags, payload):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq % 2**32, 0, 5 << 4, flags, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + payload, 1, 0, 64, 6, 0, bytes(src), bytes(dst))
    return b"\0" * 12 + b"\x08\x00" + ip + tcp + bytes(payload)


def _write_pcap(path, frames, snaplen=64):
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1))
        for i, data in enumerate(frames):
            out.write(struct.pack("<IIII", 100, i * 1000, min(len(data), snaplen), len(data)) + data[:snaplen])


def test_sequence_wraparound_is_not_a_retransmission(tmp_path):
    a, b, isn = (10, 0, 1, 1), (10, 0, 2, 2), 2**32 - 2000
    frames = [_frame(a, 40000, b, 8000, isn, 0x02, 0)]
    seq = isn + 1
    for _ in range(4):  # crosses 2**32 on the second segment
        frames.append(_frame(a, 40000, b, 8000, seq, 0x18, 1448))
        seq += 1448
    frames.append(_frame(a, 40000, b, 8000, isn + 1 + 1448, 0x18, 1448))  # a real one, after the wrap
    path = tmp_path / "wrap.pcap"
    _write_pcap(path, frames)
    (flow,) = read_flows(path)
    assert flow.up.retransmissions == 1 and flow.up.packets == 6


def test_truncated_capture_keeps_what_was_written(tmp_path):
    path = tmp_path / "cut.pcap"
    data = (SMALL / "pcaps" / "lte-ue1.pcap").read_bytes()
    path.write_bytes(data[:-30])  # tcpdump killed mid-record
    flows = read_flows(path)
    assert flows and flows[0].up.retransmissions == 1


def test_not_a_pcap_names_the_file(tmp_path):
    path = tmp_path / "junk.pcap"
    path.write_bytes(b"this is not a capture file at all")
    with pytest.raises(CaptureFileError, match="junk.pcap"):
        read_flows(path)


# ---------------------------------------------------------------- published, figures, report

def test_published_figures_and_our_reductions(summary):
    assert [p.change_pct for p in PUBLISHED] == [-55.08, -55.42, -37.68, -40.26]
    rows = list(summary.values())
    comparisons = {c.published.key: c for c in compare_with_published(rows, load_run(SMALL).record["profiles"], {})}
    assert comparisons["lte_response_60k"].ours_pct == pytest.approx((148 - 270) / 270 * 100)
    assert comparisons["lte_upload_512k"].ours_pct == pytest.approx((565 - 610) / 610 * 100)
    assert comparisons["lte_inference_60k"].ours_pct == pytest.approx(-40.0)
    assert comparisons["wifi_response"].size_bytes == 61440


def test_missing_cells_say_not_measured(summary, small):
    rows = [r for r in summary.values() if r["access"] != "wifi"]
    wifi = [c for c in compare_with_published(rows, small.record["profiles"], {}) if c.published.access == "wifi"]
    assert wifi[0].ours_pct is None and wifi[0].explanation.startswith("Not measured")


def test_analyse_run_writes_everything(tmp_path):
    report = analyse_run(SMALL, progress=lambda _: None, out_dir=tmp_path)
    for name in ("summary.csv", "flows.csv", "report.md", "times-lte.png", "times-wifi.png", "inference.png",
                 "access-response.png"):
        assert (tmp_path / name).is_file(), name
    for png in tmp_path.glob("*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC
        from PIL import Image
        with Image.open(png) as image:
            assert image.width >= 600 and image.height >= 400
    text = report.read_text()
    for figure in ("-55.08%", "-55.42%", "-37.68%", "-40.26%", "-45.19%"):
        assert figure in text
    assert "![" in text and "times-lte.png" in text
    assert "2 packets were dropped by the kernel and 2 seen by the filter were not written" in text
    assert "model download" in text and "timeout after 120 s" in text
    with open(tmp_path / "summary.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 9


def test_partial_run_is_reported_as_far_as_it_got(run_copy):
    record = json.loads((run_copy / "experiment.json").read_text())
    record.update(status="interrupted", error="KeyboardInterrupt", accesses_run=["lte"])
    (run_copy / "experiment.json").write_text(json.dumps(record))
    (run_copy / "requests.csv").unlink()
    (run_copy / "pcaps" / "lte-cloud.pcap").unlink()
    text = analyse_run(run_copy, progress=lambda _: None).read_text()
    assert "did not complete (interrupted" in text
    assert "Not measured: no requests finished" in text
    assert "file missing" in text
    assert not (run_copy / "summary.csv").exists()


def test_replay_series_figure(run_copy):
    with open(run_copy / "replay.csv", "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["time_s", "upload_end_s", "response_ms", "upload_ms", "size_bytes",
                         "uplink_capacity_upload_mbps", "uplink_capacity_mbps", "downlink_capacity_mbps"])
        for k in range(20):
            writer.writerow([k * 0.5, k * 0.5 + 0.1, 100 + 10 * (k % 5), 80 + 10 * (k % 5), 61440, 8 - (k % 5),
                             8, 10])
    with open(run_copy / "replay-capacity.csv", "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["time_s", "uplink_mbps", "downlink_mbps"])
        for k in range(11):
            writer.writerow([k, 8 - k % 3, 10])
    text = analyse_run(run_copy, progress=lambda _: None).read_text()
    assert (run_copy / "replay.png").read_bytes()[:8] == PNG_MAGIC
    assert "Spearman rank correlation" in text and "over each request's own upload" in text
    assert "| 60K | 20 |" in text and "-1.00 (p=" in text  # upload time falls exactly as capacity rises


def test_malformed_files_are_report_errors(run_copy):
    (run_copy / "requests.csv").write_text("access,placement\nlte,edge\n")
    with pytest.raises(ReportError, match="requests.csv: missing column 'size_bytes'"):
        load_run(run_copy)
    (run_copy / "experiment.json").write_text("{not json")
    with pytest.raises(ReportError, match="experiment.json: not valid JSON"):
        load_run(run_copy)


# ---------------------------------------------------------------- the command, as a user runs it

def test_report_command_writes_into_out(tmp_path):
    before = sorted(p.name for p in SMALL.iterdir())
    result = run_cli("report", str(SMALL), "--out", str(tmp_path / "out"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "report.md").is_file() and (tmp_path / "out" / "flows.csv").is_file()
    assert sorted(p.name for p in SMALL.iterdir()) == before  # tests/data untouched


@pytest.mark.parametrize("setup, message", [
    (lambda d: shutil.rmtree(d), "no such results folder"),
    (lambda d: (d / "experiment.json").unlink(), "no experiment.json"),
    (lambda d: (d / "requests.csv").write_text("access,placement\nlte,edge\n"), "missing column 'size_bytes'"),
    (lambda d: (d / "experiment.json").write_text("[]"), "expected a JSON object"),
])
def test_report_command_bad_input_is_one_line(run_copy, tmp_path, setup, message):
    setup(run_copy)
    result = run_cli("report", str(run_copy), "--out", str(tmp_path / "out"), timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr


def test_report_command_leaves_out_an_unreadable_capture(run_copy, tmp_path):
    (run_copy / "pcaps" / "lte-ue1.pcap").write_bytes(b"garbage, not a pcap")
    result = run_cli("report", str(run_copy), "--out", str(tmp_path / "out"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "lte-ue1.pcap: not a pcap" in result.stderr
    text = (tmp_path / "out" / "report.md").read_text()
    assert "unreadable, left out" in text and "model download" in text
