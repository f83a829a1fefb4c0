"""flows.csv on a scenario run: every edge and cloud of the scenario (edge2, a second cloud) and every device
(also at a new address after a handover) classified from the run's own record of addresses; no network."""
from __future__ import annotations

from pathlib import Path

from harness.analysis.flows import Flow, link_of, purpose, scenario_roles
from harness.experiments.compare.scenario_links import capture_links
from harness.experiments.compare.scenario_run import ScenarioSetup, load_setup

REPO = Path(__file__).resolve().parent.parent
TWO_CELLS = REPO / "tests" / "data" / "two-cells.toml"
THREE_CELLS = REPO / "scenarios" / "three-cells.toml"


def record_of(setup: ScenarioSetup, handovers=()) -> dict:
    scenario = setup.record()
    scenario["passes"] = {"p": {"handovers": list(handovers)}}
    return {"scenario": scenario}


def test_every_scenario_edge_cloud_and_device_has_its_role():
    setup = load_setup(str(THREE_CELLS), (), "userspace", 30, ("edge",))
    roles, links = scenario_roles(record_of(setup))
    assert roles["10.0.2.2"] == roles["10.1.2.2"] == roles["10.2.2.2"] == "edge"
    assert roles["10.0.3.2"] == "cloud" and roles["10.2.1.30"] == "device"  # ue30, cell3
    assert "10.0.1.254" not in roles and "10.0.4.2" not in roles  # routers are "other"
    assert links == {"bs1": "access1", "bs2": "access2", "bs3": "access3", "edge1": "lan1", "edge2": "lan2",
                     "edge3": "lan3", "cloud": "wan"}
    assert link_of("bs2", links) == "access2" and link_of("edge", {}) == "lan"  # the fixed network: as before


def test_flows_to_a_second_edge_and_from_a_new_address_are_requests():
    setup = load_setup(str(TWO_CELLS), (), "userspace", 2, ("edge",))
    moved = {"device": "ue1", "address_after": "10.1.1.1", "to_cell": "cell2", "start_ns": 1, "end_ns": 2}
    roles, _ = scenario_roles(record_of(setup, [moved]))

    def flow(client, server):
        return Flow(client=client, client_port=40000, server=server, server_port=8000, first_s=10.0)
    assert purpose(flow("10.0.1.1", "10.1.2.2"), 1.0, roles) == "request (edge)"   # ue1 -> edge2
    assert purpose(flow("10.1.1.1", "10.1.2.2"), 1.0, roles) == "request (edge)"   # ue1 at its new address
    assert purpose(flow("10.1.2.2", "10.0.3.2"), 1.0, roles) == "edge-cloud"       # edge2 -> the cloud
    assert purpose(flow("10.1.2.2", "10.0.3.2"), 20.0, roles) == "model download"  # before the first request
    assert purpose(flow("10.0.1.1", "10.1.2.2"), 1.0) == "other"  # the fixed network's addresses know no edge2


def test_an_older_record_without_kinds_reads_them_from_the_names():
    record = {"scenario": {"hosts": {"ue1": "10.0.1.1", "edge2": "10.1.2.2", "cloud2": "10.1.3.2",
                                     "bs1": "10.0.1.254"}}}
    roles, links = scenario_roles(record)
    assert roles == {"10.0.1.1": "device", "10.1.2.2": "edge", "10.1.3.2": "cloud"} and links == {}
    assert scenario_roles({}) == ({}, {})


def test_capture_links_of_two_cells():
    spec = load_setup(str(TWO_CELLS), (), "userspace", 2, ("edge",)).spec
    assert capture_links(spec) == {"bs1": "access1", "bs2": "access2", "edge1": "lan1", "edge2": "lan2",
                                   "cloud": "wan"}
