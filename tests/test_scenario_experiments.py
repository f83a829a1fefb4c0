"""compare / load / replay on a scenario (issue 15): the row, path and summary logic without a network, and one
lean compare on tests/data/two-cells.toml with a handover during the run (root)."""
from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest

from conftest import leaked_since, run_cli
from harness.analysis.scenario_section import cells_table, scenario_section
from harness.analysis.timeline import cell_segments, mobility_timeline, shown_devices
from harness.errors import HarnessError, SpecError
from harness.experiments.compare.scenario_rows import CellHistory, ScenarioRows, path_text
from harness.experiments.compare.scenario_links import link_ends
from harness.experiments.compare.scenario_run import ScenarioSession, load_setup, spread_devices
from harness.experiments.compare.spec import resolve_spec
from harness.experiments.load.scenario_load import kind_totals
from harness.experiments.load.spec import resolve_load_spec

REPO = Path(__file__).resolve().parent.parent
TWO_CELLS = REPO / "tests" / "data" / "two-cells.toml"
THREE_CELLS = REPO / "scenarios" / "three-cells.toml"


def setup_of(path=TWO_CELLS, devices=2, placements=("edge", "cloud"), moves=()):
    return load_setup(str(path), moves, "userspace", devices, placements)


# --- no network -----------------------------------------------------------------------------------------------------

def test_paths_name_the_routers_between_the_cell_and_the_node():
    spec = setup_of().spec
    assert path_text(spec, "cell1", "edge1") == "cell1>bs1>edge1"
    assert path_text(spec, "cell2", "edge1") == "cell2>bs2>bs1>edge1"
    assert path_text(spec, "cell2", "cloud") == "cell2>bs2>bs1>cloud"
    three = setup_of(THREE_CELLS, devices=3).spec
    assert path_text(three, "cell2", "edge1") == "cell2>bs2>metro>bs1>edge1"


def test_devices_are_taken_in_turn_from_each_cell():
    assert spread_devices(setup_of(THREE_CELLS, devices=30).spec, 4) == ["ue1", "ue11", "ue21", "ue2"]
    assert setup_of(devices=2).devices == ("ue1", "ue3")


def test_a_device_changes_cell_when_its_handover_window_ends():
    history = CellHistory({"ue1": "cell1"}, [{"device": "ue1", "to_cell": "cell2", "start_ns": 100, "end_ns": 140}])
    assert [history.cell_at("ue1", t) for t in (50, 120, 140, 500)] == ["cell1", "cell1", "cell2", "cell2"]
    assert history.overlaps("ue1", 90, 110) and history.overlaps("ue1", 130, None)
    assert not history.overlaps("ue1", 10, 99) and not history.overlaps("ue2", 90, 110)


def test_served_by_is_the_node_whose_records_hold_the_request():
    spec = setup_of().spec
    stamps = {("edge1", "edge-ue1-1"): {"status": 200}, ("cloud", "split-ue1-1"): {"status": 200},
              ("edge2", "split-ue1-1"): {"status": 200}, ("edge1", "edge-ue1-2"): {"status": 503},
              ("edge2", "edge-ue1-2"): {"status": 200}}
    history = CellHistory({"ue1": "cell1"}, [{"device": "ue1", "to_cell": "cell2", "start_ns": 100, "end_ns": 140}])
    rows = ScenarioRows(spec, history, stamps, {("edge", "ue1"): "edge1", ("split", "ue1"): "edge2"})
    assert rows.server_of("edge", "ue1", "edge-ue1-1")[0] == "edge1"
    assert rows.server_of("split", "ue1", "split-ue1-1")[0] == "edge2"  # forwarded to the cloud: the edge answered
    assert rows.server_of("edge", "ue1", "edge-ue1-3") == ("", {})
    before = rows.columns({"device": "ue1", "client_send_start_ns": "90", "client_reply_complete_ns": "120"},
                          "edge", "edge1")
    after = rows.columns({"device": "ue1", "client_send_start_ns": "200"}, "edge", "")
    assert before == {"cell": "cell1", "served_by": "edge1", "path": "cell1>bs1>edge1", "handover": "yes",
                      "node_switch": ""}
    assert after == {"cell": "cell2", "served_by": "", "path": "cell2>bs2>bs1>edge1", "handover": "",
                     "node_switch": ""}
    # the device row names the server it was sent to (switched there after the move): that is the target
    switched = rows.columns({"device": "ue1", "client_send_start_ns": "200"}, "edge", "",
                            {"server_url": "http://10.1.2.2:8000", "server_switch": "yes"})
    assert switched == {"cell": "cell2", "served_by": "", "path": "cell2>bs2>edge2", "handover": "",
                        "node_switch": "yes"}
    assert rows.server_of("edge", "ue1", "edge-ue1-2", "http://10.1.2.2:8000")[0] == "edge2"
    assert rows.server_of("edge", "ue1", "edge-ue1-2")[0] == "edge1"  # no url: the workload's start target


def session_with(tmp_path, policy: str = "keep-edge"):
    """A ScenarioSession of two-cells (no network) with ``policy``; its run's record."""
    setup = load_setup(str(TWO_CELLS), (), "userspace", 2, ("edge",))
    spec = setup.spec
    mobility = dataclasses.replace(spec.scenario.mobility, edge_policy=policy)
    setup = dataclasses.replace(setup, spec=dataclasses.replace(
        spec, scenario=dataclasses.replace(spec.scenario, mobility=mobility)))
    net = type("Net", (), {"spec": setup.spec})()
    run = type("Run", (), {"record": {"scenario": {"passes": {}}}})()
    return ScenarioSession(run, "two-cells", setup, net, tmp_path), run


def test_new_edge_policy_sends_a_moved_device_to_its_new_cells_edge(tmp_path):
    setup = load_setup(str(TWO_CELLS), (), "userspace", 2, ("edge",))
    spec = setup.spec
    policy = {"edge_policy": "new-edge"}
    net = type("Net", (), {"spec": spec})()
    run = type("Run", (), {"record": {"scenario": {"passes": {}}}})()
    session = ScenarioSession(run, "two-cells", setup, net, tmp_path)
    assert {d: n for d, (n, _, _) in session.assign("a", "edge", "edgecnn1-3", "cloudcnn").items()} == \
        {"ue1": "edge1", "ue3": "edge2"}
    session.mobility.cell["ue1"] = "cell2"
    assert session.assign("b", "edge", "edgecnn1-3", "cloudcnn")["ue1"][0] == "edge1"  # keep-edge, the file's
    mobility = dataclasses.replace(spec.scenario.mobility, **policy)
    session.spec = dataclasses.replace(spec, scenario=dataclasses.replace(spec.scenario, mobility=mobility))
    node, url, model = session.assign("c", "edge", "edgecnn1-3", "cloudcnn")["ue1"]
    assert (node, url, model) == ("edge2", "http://10.1.2.2:8000", "edgecnn1-3")
    assert session.assign("d", "cloud", "cloudcnn", "cloudcnn")["ue1"][0] == "cloud"
    assert run.record["scenario"]["passes"]["two-cells"]["targets"]["c"]["ue1"] == "edge2"
    assert (tmp_path / "targets" / "ue1.target").read_text() == "http://10.0.3.2:8000 cloudcnn\n"  # the last: d


@pytest.mark.parametrize("policy, after", [("new-edge", ("edge2", "http://10.1.2.2:8000 edgecnn1-3")),
                                           ("cloud", ("cloud", "http://10.0.3.2:8000 cloudcnn")),
                                           ("keep-edge", None)])
def test_a_handover_during_a_workload_repoints_the_device_at_once(tmp_path, policy, after):
    session, run = session_with(tmp_path, policy)
    chosen = session.assign("edge", "edge", "edgecnn1-3", "cloudcnn")
    assert chosen["ue1"][0] == "edge1"  # in its home cell: its home edge, whatever the policy
    handover = type("Handover", (), {"device": "ue1", "to_cell": "cell2"})()
    session._on_handover(handover)
    target = (tmp_path / "targets" / "ue1.target").read_text().strip()
    switches = run.record["scenario"]["passes"]["two-cells"].get("switches", {}).get("edge", [])
    if after is None:  # keep-edge: it stays, over the backhaul
        assert target == "http://10.0.2.2:8000 edgecnn1-3" and switches == []
    else:
        assert target == after[1] and [(s["device"], s["from"], s["to"]) for s in switches] == [("ue1", "edge1",
                                                                                               after[0])]
    session.end_workload()
    session._on_handover(type("Handover", (), {"device": "ue1", "to_cell": "cell1"})())  # between workloads
    assert (tmp_path / "targets" / "ue1.target").read_text().strip() == target  # untouched


def test_every_link_has_ends_or_a_reason():
    ends = link_ends(setup_of().spec)
    assert ends["access1"] == ("ue1", "bs1", "10.0.1.254", "10.0.1.1")
    assert ends["backhaul"][:2] == ("bs1", "bs2") and ends["lan2"][:2] == ("bs2", "edge2")


def test_a_scenario_a_run_cannot_use_is_one_line(tmp_path):
    with pytest.raises(HarnessError, match="has 4 devices"):
        setup_of(devices=5)
    with pytest.raises(HarnessError, match="not a cell"):
        setup_of(moves=("2:ue1:cell7",))
    no_cloud = tmp_path / "s.toml"
    no_cloud.write_text(TWO_CELLS.read_text().split("[[clouds]]")[0] + TWO_CELLS.read_text().split('wan = "wan"', 1)[1])
    with pytest.raises(HarnessError, match="need a cloud"):
        setup_of(no_cloud)


def test_spec_refuses_network_flags_faults_and_moves_without_a_scenario():
    with pytest.raises(SpecError, match="--move needs --scenario"):
        resolve_spec("compare", None, {"moves": ("1:ue1:cell2",)})
    with pytest.raises(SpecError, match="--access cannot be combined"):
        resolve_spec("compare", None, {"scenario": str(TWO_CELLS), "accesses": "lte"})
    with_fault = resolve_spec("compare", None, {"scenario": str(TWO_CELLS), "faults": ("1s:link-down:backhaul:1s",)})
    assert with_fault.faults == ("1s:link-down:backhaul:1s",)  # the scenario's link: checked when it is read
    with pytest.raises(SpecError, match="AT_S:DEVICE:CELL"):
        resolve_load_spec(None, {"scenario": str(TWO_CELLS), "moves": ("soon:ue1",)})
    assert resolve_spec("compare", None, {"scenario": str(TWO_CELLS), "moves": ("1:ue3:cell1",)}).moves == \
        ("1:ue3:cell1",)


def test_faults_on_a_scenario_name_its_links_and_nodes():
    setup = load_setup(str(TWO_CELLS), (), "userspace", 2, ("edge",),
                       fault_texts=("2s:link-down:backhaul:1s", "3s:kill:edge2:1s", "1s:rate:access2/up:1Mbit/s"))
    assert [(f.kind, f.target) for f in setup.faults] == [("rate", "access2"), ("link-down", "backhaul"),
                                                          ("kill", "edge2")]
    with pytest.raises(HarnessError, match="link-down needs a target among access1, access2, lan1"):
        load_setup(str(TWO_CELLS), (), "userspace", 2, ("edge",), fault_texts=("1s:link-down:wan2:1s",))
    with pytest.raises(HarnessError, match="kill needs a target among edge1, edge2, cloud"):
        load_setup(str(TWO_CELLS), (), "userspace", 2, ("edge",), fault_texts=("1s:kill:edge:1s",))


def test_server_cpu_per_kind_sums_the_nodes():
    per_node = {"edge1": {"cpu_s": 1.0, "cores": 0.1}, "edge2": {"cpu_s": 2.0, "cores": 0.2},
                "cloud": {"cpu_s": 3.0, "cores": 0.3, "utilisation": 0.1, "of": "x"}}
    out = kind_totals(per_node, {"edge1": "edge", "edge2": "edge", "cloud": "cloud"})
    assert out["edge"]["cores"] == pytest.approx(0.3) and out["edge"]["utilisation"] is None
    assert out["cloud"] == per_node["cloud"]


def _rows():
    def row(device, cell, node, sent_ms, response, status="ok", handover=""):
        return {"access": "two-cells", "placement": "edge", "device": device, "cell": cell, "served_by": node,
                "path": f"{cell}>x>{node}", "status": status, "response_ms": str(response) if status == "ok" else "",
                "client_send_start_ns": str(int(sent_ms * 1e6)), "client_reply_complete_ns": str(int(sent_ms * 1e6)),
                "handover": handover}
    return ([row("ue1", "cell1", "edge1", t, 10) for t in range(0, 1000, 100)]
            + [row("ue1", "cell2", "edge1", t, 50) for t in range(1100, 2000, 100)]
            + [row("ue1", "cell1", "edge1", 1000, 0, "error", "yes")]
            + [row(f"ue{d}", "cell2", "edge2", t, 12) for d in range(2, 31) for t in range(0, 2000, 500)])


def test_the_breakdown_per_cell_and_node_and_the_section():
    record = {"scenario": {"name": "two-cells", "home_cells": {f"ue{d}": "cell1" if d == 1 else "cell2"
                                                               for d in range(1, 31)},
                           "passes": {"two-cells": {"schedule_start_ns": 0, "handovers": [
                               {"device": "ue1", "from_cell": "cell1", "to_cell": "cell2", "start_ns": int(1e9),
                                "end_ns": int(1.04e9), "address_mode": "keep", "address_before": "10.0.1.1",
                                "address_after": "10.0.1.1"}]}}}}
    table = {(r["cell"], r["served_by"]): r for r in cells_table(_rows())}
    assert table[("cell1", "edge1")]["requests"] == 11 and table[("cell1", "edge1")]["failed"] == 1
    assert table[("cell1", "edge1")]["in_handover"] == 1 and table[("cell2", "edge1")]["response_ms_p50"] == 50
    assert table[("cell2", "edge2")]["devices"] == 29
    text = "\n".join(scenario_section(_rows(), record))
    assert "| ue1 | edge | cell2 | edge1 | 9 |" in text and "cell1 | cell2 | 1.00 | 40.0" in text
    assert scenario_section([{"access": "lte", "status": "ok"}], {}) == []


def test_the_timeline_shows_the_moved_device_and_a_sample(tmp_path):
    home = {f"ue{d}": "cell1" if d <= 10 else "cell2" for d in range(1, 31)}
    assert shown_devices(_rows(), ["ue1"], home, most=4) == ["ue1", "ue2", "ue11", "ue3"]
    moves = [{"device": "ue1", "to_cell": "cell2", "start_ns": 5, "end_ns": 9}]
    assert cell_segments("ue1", "cell1", moves, 20) == [(None, 5, "cell1"), (9, 20, "cell2")]
    record = {"scenario": {"name": "t", "home_cells": home, "passes": {"p": {"schedule_start_ns": 0, "handovers": [
        {"device": "ue1", "from_cell": "cell1", "to_cell": "cell2", "start_ns": int(1e9), "end_ns": int(1.04e9)}]}}}}
    path = mobility_timeline(_rows(), record, tmp_path / "mobility-timeline.png")
    assert path and path.stat().st_size > 10_000
    assert mobility_timeline([{"status": "ok"}], record, tmp_path / "none.png") is None


# --- one compare on a scenario, with a handover during the run (root) ----------------------------------------------

def _read(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def scenario_run(leak_baseline, tmp_path_factory, models_dir):
    results = tmp_path_factory.mktemp("results")
    result = run_cli("compare", "--scenario", str(TWO_CELLS), "--devices", "2", "--sizes", "60K", "--repetitions", "20",
                     "--think-ms", "50", "--move", "2.5:ue3:cell1", "--calibrate-seconds", "0", "--node-profile",
                     "none", "--models-dir", str(models_dir), "--results-dir", str(results), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = list(results.iterdir())
    return run_dir


@pytest.mark.root
def test_scenario_compare_left_nothing_behind(scenario_run, leak_baseline):
    assert not leaked_since(leak_baseline)


@pytest.mark.root
def test_scenario_rows_carry_cell_node_and_path(scenario_run):
    rows = _read(scenario_run / "requests.csv")
    record = json.loads((scenario_run / "experiment.json").read_text())
    assert record["status"] == "complete" and record["requests_expected"] == 2 * 2 * 20 == len(rows)  # none lost
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows if r["status"] != "ok"]
    assert {r["access"] for r in rows} == {"two-cells"} and {r["device"] for r in rows} == {"ue1", "ue3"}
    ue1 = [r for r in rows if r["device"] == "ue1"]
    ue1_edge = sorted((r for r in ue1 if r["placement"] == "edge"), key=lambda r: int(r["client_send_start_ns"]))
    assert ue1_edge[0]["cell"] == "cell1" and ue1[-1]["cell"] == "cell2"  # it moved at 1 s (the file's move)
    assert {r["served_by"] for r in ue1_edge} == {"edge1"}  # keep-edge
    assert {r["path"] for r in ue1_edge} == {"cell1>bs1>edge1", "cell2>bs2>bs1>edge1"}
    assert {r["served_by"] for r in rows if r["placement"] == "cloud"} == {"cloud"}
    assert [r["served_by"] for r in rows if r["device"] == "ue3" and r["placement"] == "edge"] == ["edge2"] * 20
    handovers = record["scenario"]["passes"]["two-cells"]["handovers"]
    assert [(h["device"], h["to_cell"]) for h in handovers] == [("ue1", "cell2"), ("ue3", "cell1")]  # + --move


@pytest.mark.root
def test_scenario_outputs_of_the_run(scenario_run):
    assert (scenario_run / "mobility-timeline.png").stat().st_size > 10_000
    cells = _read(scenario_run / "cells.csv")
    assert {(c["cell"], c["served_by"]) for c in cells if c["placement"] == "edge"} >= {("cell1", "edge1"),
                                                                                         ("cell2", "edge1")}
    assert "no node record" not in (scenario_run / "summary.csv").read_text()  # each row found its node's record
    report = (scenario_run / "report.md").read_text()
    assert "## Cells and serving nodes" in report and "mobility-timeline.png" in report
    assert sorted(p.name for p in (scenario_run / "pcaps").iterdir()) == sorted(
        f"two-cells-{h}.pcap" for h in ("bs1", "bs2", "edge1", "edge2", "cloud"))
    links = {r["link"] for r in _read(scenario_run / "links.csv")}
    assert links == {"access1", "access2", "lan1", "lan2", "wan", "backhaul"}


# --- new-edge: the moved device's next request goes to its new cell's edge, in the same workload (root) -----------

@pytest.fixture(scope="module")
def new_edge_run(leak_baseline, tmp_path_factory, models_dir):
    folder = tmp_path_factory.mktemp("new-edge")
    scenario = folder / "two-cells-new-edge.toml"
    scenario.write_text(TWO_CELLS.read_text().replace('edge_policy = "keep-edge"', 'edge_policy = "new-edge"'))
    results = folder / "results"
    result = run_cli("compare", "--scenario", str(scenario), "--devices", "2", "--placements", "edge", "--sizes",
                     "60K", "--repetitions", "25", "--think-ms", "50", "--calibrate-seconds", "0", "--no-capture",
                     "--node-profile", "none", "--models-dir", str(models_dir), "--results-dir", str(results),
                     timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = list(results.iterdir())
    return run_dir


@pytest.mark.root
def test_new_edge_switches_the_moved_device_within_the_workload(new_edge_run, leak_baseline):
    rows = sorted((r for r in _read(new_edge_run / "requests.csv") if r["device"] == "ue1"),
                  key=lambda r: int(r["client_send_start_ns"]))
    record = json.loads((new_edge_run / "experiment.json").read_text())
    assert len(rows) == 25 and all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    (handover,) = record["scenario"]["passes"]["two-cells"]["handovers"]
    after = [r for r in rows if int(r["client_send_start_ns"]) > handover["end_ns"] + 5_000_000]
    before = [r for r in rows if int(r["client_reply_complete_ns"]) < handover["start_ns"]]
    assert before and after and {r["served_by"] for r in before} == {"edge1"}
    assert {r["served_by"] for r in after} == {"edge2"} and {r["path"] for r in after} == {"cell2>bs2>edge2"}
    switched = [r for r in rows if r["node_switch"] == "yes"]
    assert len(switched) == 1 and switched[0]["served_by"] == "edge2"
    (switch,) = record["scenario"]["passes"]["two-cells"]["switches"]["edge"]
    assert (switch["device"], switch["from"], switch["to"]) == ("ue1", "edge1", "edge2")
    assert not leaked_since(leak_baseline)


# --- a fault on a scenario link: the backhaul down while the moved device's requests cross it (root) --------------

@pytest.mark.root
def test_a_backhaul_fault_on_a_scenario_ends_with_its_routes_back(leak_baseline, tmp_path, models_dir):
    results = tmp_path / "results"
    result = run_cli("compare", "--scenario", str(TWO_CELLS), "--devices", "1", "--placements", "edge", "--sizes",
                     "60K", "--repetitions", "60", "--think-ms", "50", "--fault", "2s:link-down:backhaul:1s",
                     "--timeout", "10", "--calibrate-seconds", "0", "--no-capture", "--node-profile", "none", "--models-dir",
                     str(models_dir), "--results-dir", str(results), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = list(results.iterdir())
    record = json.loads((run_dir / "experiment.json").read_text())
    (window,) = record["faults"]
    assert (window["access"], window["target"], window["status"]) == ("two-cells", "backhaul", "ended")
    rows = sorted(_read(run_dir / "requests.csv"), key=lambda r: int(r["client_send_start_ns"]))
    assert len(rows) == 60 and all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    during = [float(r["response_ms"]) for r in rows if int(r["client_send_start_ns"]) <= window["end_ns"]
              and int(r["client_reply_complete_ns"]) >= window["start_ns"]]
    assert during and max(during) > 500  # held up by the fault: ue1 (moved at 1 s) crosses the backhaul
    after = [r for r in rows if int(r["client_send_start_ns"]) > window["end_ns"] + 1e9]  # routes back
    assert after and {r["path"] for r in after} == {"cell2>bs2>bs1>edge1"}
    assert "timeline-two-cells.png" in (run_dir / "report.md").read_text()
    assert not leaked_since(leak_baseline)


def test_a_link_down_fault_acts_on_the_links_first_router_end():
    from harness.orchestration.fault_actions import NetworkFaults, RunningNodes
    from harness.orchestration.faults import FaultError

    spec = setup_of().spec

    class Node:
        def __init__(self, name):
            self.name = name

    class Intf:
        def __init__(self, name, node, peer):
            self.name, self.node = name, Node(node)
            self.link = type("Link", (), {"intf1": self, "intf2": type("End", (), {"node": Node(peer)})()})()

    interfaces = {"bs1": [Intf("bs1-eth0", "bs1", "ectacc1"), Intf("bs1-eth2", "bs1", "ectbh")],
                  "bs2": [Intf("bs2-eth0", "bs2", "ectacc2"), Intf("bs2-eth1", "bs2", "ectbh")]}
    net = type("Net", (), {"spec": spec, "host": lambda self, n: type("H", (), {
        "intfList": lambda _: interfaces.get(n, [])})()})()
    actions = NetworkFaults(net, RunningNodes(lambda node, what: None))
    assert {link.name: link.wire for link in spec.links}["backhaul"] == "ectbh"
    assert actions.router_interface("backhaul") == ("bs1", "bs1-eth2")  # between = [cell1, cell2]: bs1's end
    assert actions.router_interface("access2") == ("bs2", "bs2-eth0")
    with pytest.raises(FaultError, match="no link 'wan2'"):
        actions.router_interface("wan2")
