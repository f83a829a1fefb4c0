"""The network floor on a scenario run: each request's floor over its own route (its cell to its node, each link's
profile side in the request's direction), from experiment.json's scenario.routes; no network."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.analysis.floor import NO_FLOOR, route_path_of
from harness.analysis.summary import ROUTES_NOTE, summarise
from harness.experiments.compare.scenario_links import routes
from harness.experiments.compare.scenario_run import load_setup

REPO = Path(__file__).resolve().parent.parent
TWO_CELLS = REPO / "tests" / "data" / "two-cells.toml"


@pytest.fixture(scope="module")
def two_cells():
    setup = load_setup(str(TWO_CELLS), (), "userspace", 2, ("edge", "cloud"))
    return setup.profiles_record(), routes(setup.spec)


def test_a_route_crosses_the_backhaul_in_the_direction_of_the_request(two_cells):
    profiles, route_of = two_cells
    assert route_of["cell2>edge1"] == [["access2", "up"], ["backhaul", "down"], ["lan1", "up"]]
    home, _ = route_path_of("edge", route_of["cell1>edge1"], profiles)
    away, notes = route_path_of("edge", route_of["cell2>edge1"], profiles)
    assert (home.up_delay_ms, home.up_bps) == (2.0, 72e6)               # access1 (2 ms), lan1 unshaped
    assert (away.up_delay_ms, away.down_delay_ms, away.up_bps) == (22.0, 22.0, 72e6)  # + the backhaul's 20 ms
    asym = {**profiles, "backhaul": {"up": {"rate_bps": 5e6, "delay_ms": 1.0}, "down": {"rate_bps": 1e6,
                                                                                         "delay_ms": 30.0}}}
    tilted, _ = route_path_of("edge", route_of["cell2>edge1"], asym)
    assert (tilted.up_bps, tilted.up_delay_ms, tilted.down_bps, tilted.down_delay_ms) == (1e6, 32.0, 5e6, 3.0)
    assert route_path_of("edge", None, profiles)[0] is None
    lossy = {**profiles, "backhaul": {"up": {"loss": 0.01}, "down": {}}}
    assert route_path_of("edge", route_of["cell2>edge1"], lossy)[1][0].startswith(NO_FLOOR)


def _row(path, sent_ms, response_ms=30.0, switch=""):
    return {"access": "two-cells", "placement": "edge", "device": "ue1", "size_bytes": "61440",
            "actual_bytes": "61440", "status": "ok", "response_ms": f"{response_ms}", "path": path,
            "client_send_start_ns": str(int(sent_ms * 1e6)),
            "client_reply_complete_ns": str(int((sent_ms + response_ms) * 1e6)), "node_switch": switch}


def test_the_summary_has_a_floor_for_scenario_rows_and_a_switch_opens_a_connection(two_cells):
    profiles, route_of = two_cells
    rows = ([_row("cell1>bs1>edge1", t) for t in range(0, 400, 40)]
            + [_row("cell2>bs2>edge2", 400 + t, switch="yes" if t == 0 else "") for t in range(0, 400, 40)])
    (cell,) = summarise(rows, profiles, routes=route_of)
    assert isinstance(cell["network_floor_ms"], float) and cell["network_floor_ms"] > 4.0  # two 2 ms legs, at least
    assert cell["floor_cold_requests"] == 2  # the first request, and the first to edge2
    assert ROUTES_NOTE not in cell["floor_note"]  # home and new edge: the same profile figures here
    kept = [_row("cell1>bs1>edge1", t) for t in range(0, 400, 40)] + [_row("cell2>bs2>bs1>edge1", 400 + t, 80.0)
                                                                      for t in range(0, 400, 80)]
    (cell,) = summarise(kept, profiles, routes=route_of)
    assert ROUTES_NOTE in cell["floor_note"] and cell["floor_propagation_ms"] == 4.0
    (no_routes,) = summarise(kept, profiles)  # without the record's routes: the access is not a profile
    assert no_routes["network_floor_ms"] is None
