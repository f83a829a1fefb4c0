"""benchmarks/bench_handover.py's own pieces: its scenario variant, its moves and the per-handover figures from
rows; nothing here runs the testbed."""
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_handover import handover_figures, moves, scenario_text, summarise  # noqa: E402


def test_the_scenario_variant_has_the_policy_and_address_and_no_move_of_its_own():
    parsed = tomllib.loads(scenario_text("cloud", "new"))
    assert parsed["mobility"]["edge_policy"] == "cloud" and parsed["mobility"]["address"] == "new"
    assert "moves" not in parsed["mobility"]
    assert moves(2) == ["--move", "1:ue1:cell2", "--move", "2:ue1:cell1", "--move", "3:ue1:cell2",
                        "--move", "4:ue1:cell1"]


def row(sent_ms, reply_ms, node, status="ok", switch="", error=""):
    return {"client_send_start_ns": str(int(sent_ms * 1e6)),
            "client_reply_complete_ns": str(int(reply_ms * 1e6)) if reply_ms is not None else "",
            "status": status, "error": error, "served_by": node, "node_switch": switch,
            "response_ms": f"{reply_ms - sent_ms:.3f}" if status == "ok" else ""}


def test_figures_of_a_handover_with_a_request_in_flight():
    rows = ([row(t, t + 20, "edge1") for t in range(0, 1000, 25)]         # home: 20 ms
            + [row(995, 1300, "edge1")]                                     # in flight at 1000: 305 ms
            + [row(1301, 1341, "edge2", switch="yes")]                      # first at the new edge
            + [row(t, t + 20, "edge2") for t in range(1345, 2000, 25)])
    rows = [r for r in rows if not (r["client_send_start_ns"] == str(int(975e6)))]  # 975-995 overlaps: drop it
    handovers = [{"to_cell": "cell2", "start_ns": int(1000e6), "end_ns": int(1040e6)},
                 {"to_cell": "cell1", "start_ns": int(2000e6), "end_ns": int(2040e6)}]
    (away, home) = handover_figures(rows, handovers)
    assert away["window_ms"] == 40.0 and away["in_flight"] and away["in_flight_ms"] == 305.0
    assert away["first_at_new_node_ms"] == 40.0 and away["switched_to"] == "edge2"
    assert away["after_p50_ms"] == 20.0 and away["after_served_by"] == ["edge2"]
    assert away["gap_ms"] == 1300 - 970  # the last reply before (950 + 20) to the in-flight one's
    assert home["in_flight"] and home["in_flight_ms"] == 20.0  # the one sent at 1995


def test_a_failed_in_flight_request_is_its_error_and_rows_lost_are_summed():
    rows = [row(0, 20, "edge1"), row(990, None, "", status="error", error="ClientOSError: reset"),
            row(1100, 1130, "edge2")]
    handovers = [{"to_cell": "cell2", "start_ns": int(1000e6), "end_ns": int(1040e6)}]
    (h,) = handover_figures(rows, handovers)
    assert h["in_flight"] and h["in_flight_ms"] is None and h["in_flight_error"] == "ClientOSError: reset"
    run = {"policy": "new-edge", "address": "new", "rows_lost": 0, "rows_left_out": 0, "failed": 1, "switches": 1,
           "move_errors": [], "handovers": [h]}
    summary = summarise([run, dict(run, rows_lost=2)])["new-edge/new"]
    assert summary["rows_lost"] == 2 and summary["away"]["in_flight_errors"] == ["ClientOSError: reset"]
    assert summary["away"]["handovers"] == 2 and summary["home"]["handovers"] == 0
