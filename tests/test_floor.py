"""The network floor, the server time and the per-node stamps of summary.csv (issue 11).

Numbers by hand: 8 Mbit/s moves one 1500-byte segment in 1.5 ms; 14,480 payload bytes are exactly 10
full segments (the initial window), 15,000 wire bytes, 15 ms.
"""
from __future__ import annotations

import copy
import csv
import json
import shutil
from pathlib import Path

import pytest

from harness.analysis.floor import (NO_FLOOR, PathModel, connection_states, path_of, request_floor, transfer_ms,
                           wire_bytes)
from harness.analysis.node_records import HTTP_REQUEST_HEAD, read_node_records, record_of, server_ms
from harness.analysis.report import analyse_run, load_run
from harness.analysis.summary import summarise

SMALL = Path(__file__).resolve().parent / "data" / "results-small"
LTE = PathModel(up_bps=8e6, down_bps=10.88e6, up_delay_ms=15.0, down_delay_ms=15.0)


@pytest.fixture(scope="module")
def small():
    return load_run(SMALL)


def _cells(small, profiles=None, run_dir=SMALL, requests=None):
    rows = summarise(requests or small.requests, profiles or small.record["profiles"], run_dir)
    return {(r["access"], r["placement"], r["size"]): r for r in rows}


# ---------------------------------------------------------------- the floor, by hand

def test_wire_bytes_add_52_header_bytes_per_segment():
    assert wire_bytes(14480) == 15000
    assert wire_bytes(14481) == 14481 + 11 * 52
    assert wire_bytes(0) == 52


def test_floor_of_a_warm_and_a_new_connection_by_hand():
    warm = request_floor(LTE, 14480, 500, "warm")
    reply_ms = (500 + 52) * 8 / 10.88e6 * 1000
    assert warm["upload_floor_ms"] == pytest.approx(15.0 + 15.0)           # 15,000 B at 8 Mbit/s + 15 ms
    assert warm["network_floor_ms"] == pytest.approx(30.0 + reply_ms + 15.0)
    new = request_floor(LTE, 14480, 500, "new")                            # 10 segments: fits the first window
    assert new["handshake_ms"] == pytest.approx(30.0) and new["slow_start_ms"] == pytest.approx(0.0)
    assert new["network_floor_ms"] == pytest.approx(warm["network_floor_ms"] + 30.0)


def test_slow_start_waits_for_the_first_ack_of_each_round():
    # 11 segments from a window of 10: 10 leave in 15 ms, the 11th waits for the first ACK (1.5 + 30 ms)
    assert transfer_ms(14481, 8e6, 30.0, 10) == pytest.approx(wire_bytes(14481) * 8 / 8e6 * 1000 + 16.5)
    # no bottleneck: only the rounds count (10 + 20 + 40 segments: two waits of one RTT)
    assert transfer_ms(70 * 1448, None, 30.0, 10) == pytest.approx(60.0)
    # a window wider than the pipe never waits: 1 RTT holds 20 segments at 8 Mbit/s and 30 ms
    assert transfer_ms(40 * 1448, 8e6, 30.0, 40) == pytest.approx(transfer_ms(40 * 1448, 8e6, 30.0, None))
    idle = request_floor(LTE, 14481, 500, "idle")
    assert idle["handshake_ms"] == 0.0 and idle["slow_start_ms"] == pytest.approx(16.5)


def test_connection_states_new_kept_alive_and_idle_past_the_rto():
    def row(send_ms, reply_ms):
        return {"client_send_start_ns": int(send_ms * 1e6), "client_reply_complete_ns": int(reply_ms * 1e6)}

    rows = [row(0, 100), row(101, 200), row(200 + LTE.rto_ms + 1, 400), row(401, 500)]
    assert LTE.rto_ms == pytest.approx(230.0)                               # RTT 30 + Linux's 200 ms minimum
    assert connection_states(rows, LTE.rto_ms) == ["new", "warm", "idle", "warm"]
    assert connection_states(rows, LTE.rto_ms, open_loop=True) == ["new", "warm", "warm", "warm"]


def test_summary_floor_of_a_cell_by_hand(small):
    cell = _cells(small)[("lte", "edge", "60K")]
    head = len(HTTP_REQUEST_HEAD.format(model="edgecnn1-3", json=160 - 4, body=61440 + 160))
    request = 61440 + 160 + head                               # the edge's request_bytes + the HTTP head
    assert cell["floor_request_wire_bytes"] == wire_bytes(request)
    warm_ms = wire_bytes(request) * 8 / 8e6 * 1000 + 15 + cell["floor_reply_wire_bytes"] * 8 / 10.88e6 * 1000 + 15
    # rep 0 opened the connection: handshake (30 ms) + slow start; rep 1 was warm; the cell's floor is the median
    cold = request_floor(LTE, request, cell["floor_reply_wire_bytes"] - 52, "new")["network_floor_ms"]
    assert cell["floor_cold_requests"] == 1 and cell["floor_propagation_ms"] == pytest.approx(30.0)
    assert cell["network_floor_ms"] == pytest.approx((warm_ms + cold) / 2, abs=0.01)
    assert cell["floor_uplink_mbps"] == pytest.approx(8.0) and cell["floor_downlink_mbps"] == pytest.approx(10.88)
    assert 0 < cell["residual_ms"] < cell["response_ms_median"]


def test_cloud_path_adds_the_wan(small):
    cell = _cells(small)[("wifi", "cloud", "512K")]
    assert cell["floor_propagation_ms"] == pytest.approx(44.0)   # WiFi 2 + 2, WAN 20 + 20
    assert cell["floor_uplink_mbps"] == pytest.approx(72.0)      # min(72, 100)


# ---------------------------------------------------------------- where no floor holds

@pytest.mark.parametrize("change, reason", [
    ({"rate_bps": None, "rate_trace": "/nowhere/lte-variable.up"}, "replays the trace lte-variable.up"),
    ({"jitter_ms": 4.0}, "4 ms jitter"),
    ({"loss": 0.01}, "1% loss"),
    ({"loss_model": "gilbert-elliott", "ge_p_good_bad": 0.01, "ge_loss_bad": 0.5}, "Gilbert-Elliott loss"),
    ({"delay_trace": "/nowhere/delays.csv"}, "delay trace"),
])
def test_no_floor_for_traces_jitter_and_loss(small, change, reason):
    profiles = copy.deepcopy(small.record["profiles"])
    profiles["lte"]["up"].update(change)
    path, notes = path_of("edge", "lte", profiles)
    assert path is None and notes[0].startswith(f"{NO_FLOOR}: access up") and reason in notes[0]
    cells = _cells(small, profiles)
    for placement in ("edge", "cloud", "features"):
        cell = cells[("lte", placement, "60K")]
        assert cell["network_floor_ms"] == NO_FLOOR and cell["upload_floor_ms"] == NO_FLOOR
        assert reason in cell["floor_note"] and cell.get("residual_ms") is None
    assert isinstance(cells[("wifi", "edge", "60K")]["network_floor_ms"], float)  # the other access keeps its floor


def test_no_floor_reaches_summary_csv_and_the_report(small, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(SMALL, run)
    record = json.loads((run / "experiment.json").read_text())
    record["profiles"]["wan"]["down"]["jitter_ms"] = 5.0
    (run / "experiment.json").write_text(json.dumps(record))
    text = analyse_run(run, progress=lambda _: None).read_text()
    with open(run / "summary.csv", newline="") as handle:
        rows = {(r["access"], r["placement"], r["size"]): r for r in csv.DictReader(handle)}
    assert rows[("lte", "cloud", "60K")]["network_floor_ms"] == NO_FLOOR
    assert rows[("lte", "edge", "60K")]["network_floor_ms"] not in ("", NO_FLOOR)  # the edge path has no WAN
    assert "wan down has 5 ms jitter" in text and "A constant floor there would be wrong" in text


# ---------------------------------------------------------------- server time: decode, inference, cloud hop

def test_server_time_includes_the_decode(small):
    cell = _cells(small)[("lte", "edge", "60K")]
    # reply sent - upload complete = 0.1 + decode 2 + 0.1 + inference (5, 7) + 0.3 ms
    assert cell["server_ms"] == pytest.approx(8.5)
    assert cell["server_ms"] >= cell["preprocess_ms_median"] + cell["inference_ms_median"]


def test_server_time_from_the_parts_when_no_stamp_is_left(small):
    requests = [dict(r, server_reply_sent_ns="") for r in small.requests]
    cell = summarise(requests, small.record["profiles"], run_dir=None)
    cell = next(r for r in cell if (r["access"], r["placement"], r["size"]) == ("lte", "edge", "60K"))
    assert cell["server_ms"] == pytest.approx(2.0 + 6.0)  # decode + inference: (2 + 5, 2 + 7) -> 8
    assert "server time from the parts" in cell["floor_note"]


def test_features_server_time_is_the_edges(small):
    records = read_node_records(SMALL)
    row = next(r for r in small.requests if r["request_id"] == "lte-features-61440-0")
    edge, cloud = records[("lte", "edge", "features-61440-0")], records[("lte", "cloud", "features-61440-0")]
    assert cloud["reply_sent_ns"] < edge["reply_sent_ns"]           # the forwarded hop answers first
    assert record_of(row, records) is edge
    assert server_ms(row, edge)[0] == pytest.approx(0.1 + 2 + 0.1 + 3 + 0.1 + 60 + 0.3)
    # a row that carries the cloud's stamp (runs before the fix) is not believed: the parts are used
    assert server_ms(dict(row, server_reply_sent_ns=cloud["reply_sent_ns"]), {})[1] == "parts"
    cell = _cells(small)[("lte", "features", "60K")]
    assert cell["server_ms"] == pytest.approx(66.1) and cell["server_ms"] > float(row["cloud_leg_ms"])


def test_collected_features_row_carries_the_edges_reply_sent():
    """harness.experiments.compare.run joins the device rows with the answering node's record (the edge's for features)."""
    from harness.experiments.compare.request_rows import answering_node, request_row, server_stamps

    stamps = server_stamps(SMALL / "logs" / "lte")
    with open(SMALL / "logs" / "lte" / "device-features.csv", newline="") as handle:
        device = list(csv.DictReader(handle))
    assert device
    for row in device:
        edge, cloud = stamps[("edge", row["request_id"])], stamps[("cloud", row["request_id"])]
        collected = request_row(row, "lte", "features", stamps[(answering_node("features"), row["request_id"])])
        assert int(collected["server_reply_sent_ns"]) == edge["reply_sent_ns"] != cloud["reply_sent_ns"]
