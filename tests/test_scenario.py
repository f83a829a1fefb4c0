"""Scenario files: schema, loader errors (one line naming file and key), derived names/addresses, routes."""
from __future__ import annotations

import textwrap

import pytest

from conftest import REPO_ROOT, run_cli
from topo.profiles import load_profile
from topo.scenario import ScenarioError, is_scenario_file, load_scenario, plan_scenario
from topo.scenario import addressing as ad
from topo.scenario.routing import route_commands
from topo.topology import TopologySpec

SCENARIOS = REPO_ROOT / "scenarios"


def write(tmp_path, text: str, name: str = "s.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_default_scenario_is_exactly_todays_topology():
    spec = plan_scenario(load_scenario(SCENARIOS / "default.toml"), "userspace")
    today = TopologySpec(access=load_profile("lte"), wan=load_profile("wan"), lan=load_profile("lan"), ues=1,
                         backend="userspace")
    assert spec.hosts == today.hosts == {"ue1": "10.0.1.1", "bs": "10.0.1.254", "edge": "10.0.2.2",
                                         "cloud": "10.0.3.2"}
    assert [(l.name, l.node1, l.node2, l.wire, l.backend) for l in spec.links] == \
           [(l.name, l.node1, l.node2, l.wire, l.backend) for l in today.links]
    assert spec.planned_root_interfaces() == today.planned_root_interfaces()
    assert spec.routers == today.routers == ["bs"]
    for src in spec.hosts:
        for dst in spec.hosts:
            if src != dst:
                assert spec.expected_rtt_ms(src, dst) == pytest.approx(today.expected_rtt_ms(src, dst)), (src, dst)
    assert route_commands("bs", spec.subnets, spec.hops) == []  # one router: default routes suffice


def test_three_cells_names_addresses_and_routes():
    spec = plan_scenario(load_scenario(SCENARIOS / "three-cells.toml"), "userspace")
    hosts = spec.hosts
    assert [h for h in hosts if h.startswith("ue")] == [f"ue{i}" for i in range(1, 31)]
    assert hosts["ue1"] == "10.0.1.1" and hosts["ue11"] == "10.1.1.11" and hosts["ue30"] == "10.2.1.30"
    assert hosts["bs2"] == "10.1.1.254" and hosts["edge3"] == "10.2.2.2" and hosts["cloud"] == "10.0.3.2"
    assert spec.host("ue15").cell == "cell2" and spec.host("edge2").router == "bs2"
    assert spec.host("cloud").router == "metro"
    assert [l.name for l in spec.links] == ["access1", "access2", "access3", "lan1", "lan2", "lan3", "wan",
                                            "backhaul1", "backhaul2", "backhaul3"]
    wires = [l.wire for l in spec.links if l.wire]
    assert len(set(wires)) == len(wires) == 7 and all(len(w) <= 10 for w in wires)
    # bs1 reaches cell 3 and edge 3 through the metro site (backhaul1's far end)
    routes = route_commands("bs1", spec.subnets, spec.hops)
    assert "ip route replace 10.2.1.0/24 via 10.0.4.2" in routes
    assert "ip route replace 10.2.2.0/24 via 10.0.4.2" in routes
    assert not any("10.0.1.0/24" in r or "10.0.2.0/24" in r for r in routes)  # its own subnets
    lte, metro = 2 * 8.0 + 98 * 8 / 8e6 * 1e3 + 98 * 8 / 10.88e6 * 1e3, 2 * 1.0 + 2 * 98 * 8 / 1e9 * 1e3
    assert spec.expected_rtt_ms("ue1", "ue2") == 0.0
    assert spec.expected_rtt_ms("ue1", "edge3") == pytest.approx(
        spec.expected_rtt_ms("ue1", "edge1") + 2 * metro, rel=1e-6)
    assert spec.expected_rtt_ms("ue1", "ue11") == pytest.approx(2 * spec.expected_rtt_ms("ue1", "bs1") + 2 * metro)
    assert lte > 0


def test_addresses_are_stable_and_documented_formulas():
    assert ad.device_address(3, 25) == "10.2.1.25" and ad.gateway_address(3) == "10.2.1.254"
    assert ad.lan_addresses(2) == ("10.1.2.1", "10.1.2.2") and ad.wan_addresses(1) == ("10.0.3.1", "10.0.3.2")
    assert ad.backhaul_addresses(4) == ("10.3.4.1", "10.3.4.2")
    assert ad.bs_name(1, 1) == "bs" and ad.bs_name(2, 3) == "bs2" and ad.edge_name(1, 1) == "edge"
    assert ad.wire_name("access") == "ectacc" and ad.wire_name("backhaul12") == "ectbh12"


def test_a_profile_file_is_not_a_scenario():
    assert is_scenario_file(SCENARIOS / "default.toml")
    assert not is_scenario_file(SCENARIOS / "system-b.toml")  # a WAN profile, used by reproduce
    assert load_profile(str(SCENARIOS / "system-b.toml")).name == "system-b-wan"
    with pytest.raises(ScenarioError, match=r"system-b.toml: scenario: missing \[scenario\] table"):
        load_scenario(SCENARIOS / "system-b.toml")


@pytest.mark.parametrize("body, message", [
    ('[scenario]\nname="x"\n[[cells]]\nname="c1"\ndevices=2\naccess="ltx"\n[[edges]]\nat="c1"\n',
     r"cells\[1\]\.access: unknown profile 'ltx'"),
    ('[scenario]\n[[cells]]\nname="c1"\ndevicez=2\n[[edges]]\nat="c1"\n', r"cells\[1\]\.devicez: unknown key"),
    ('[scenario]\n[[cells]]\nname="c1"\n[[cells]]\nname="c2"\ndevices=-1\n[[edges]]\nat="c1"\n',
     r"cells\[2\]\.devices: -1 must be an integer"),
    ('[scenario]\n[[cells]]\nname="c1"\n[[edges]]\nat="c9"\n', r"edges\[1\]\.at: 'c9' is not a cell or site"),
    ('[scenario]\n[[cells]]\nname="c1"\n[[cells]]\nname="c2"\n[[edges]]\nat="c1"\n',
     r"backhaul: 'c2' is not connected to 'c1'"),
    ('[scenario]\n[[cells]]\nname="c1"\n', r"a scenario needs at least one edge or cloud"),
    ('[scenario]\n[[cells]]\nname="c1"\n[[edges]]\nat="c1"\n[mobility]\naddress="sticky"\n',
     r"mobility\.address: 'sticky'"),
    ('[scenario]\n[[cells]]\nname="c1"\n[[edges]]\nat="c1"\n[[mobility.moves]]\nat_s=1\ndevice="ue7"\ncell="c1"\n',
     r"mobility\.moves\[1\]\.device: 'ue7' is not one of ue1\.\.ue1"),
    ('[scenario]\n[[cells]]\nname="c1"\n[[edges]]\nat="c1"\n[placement]\nedge="server2"\n',
     r"placement: reserved .*\(issue 18\)"),
    ('[scenario]\n[[cells]]\nname="c1"\n[[edges]]\nat="c1"\n[[backhaul]]\nbetween=["c1","c1"]\n',
     r"backhaul\[1\]\.between: \['c1', 'c1'\] must name two different"),
    ('[scenario\n', r"not valid TOML"),
])
def test_bad_scenario_gives_one_line_naming_file_and_key(tmp_path, body, message):
    path = write(tmp_path, body)
    with pytest.raises(ScenarioError, match=message) as caught:
        load_scenario(path)
    text = str(caught.value)
    assert text.startswith(str(path)) and "\n" not in text


def test_profile_paths_are_relative_to_the_scenario_file(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "slow.toml").write_text('[up]\nrate = "1 Mbit/s"\n[down]\nrate = "2 Mbit/s"\n')
    path = write(tmp_path, '[scenario]\n[[cells]]\nname="c1"\naccess="p/slow.toml"\n[[clouds]]\nat="c1"\n')
    loaded = load_scenario(path)
    assert loaded.profile("p/slow.toml").up.rate_bps == 1e6
    spec = plan_scenario(loaded, "userspace")
    assert spec.hosts == {"ue1": "10.0.1.1", "bs": "10.0.1.254", "cloud": "10.0.3.2"}


@pytest.mark.root  # `topology` checks for root first
def test_cli_bad_scenario_is_one_line_before_anything_is_built(tmp_path):
    path = write(tmp_path, '[scenario]\n[[cells]]\nname="c1"\ndevices=500\n[[edges]]\nat="c1"\n')
    result = run_cli("topology", "--scenario", str(path), timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "cells[1].devices" in lines[0], result.stderr


@pytest.mark.root
@pytest.mark.parametrize("args, message", [
    (["--move", "1:ue1:cell2"], "--move needs --scenario FILE"),
    (["--scenario", str(SCENARIOS / "three-cells.toml"), "--move", "1:ue1:cell9"], "move to 'cell9': not a cell"),
    (["--scenario", str(SCENARIOS / "three-cells.toml"), "--move", "soon:ue1:cell2"], "expected AT_S:DEVICE:CELL"),
    (["--scenario", str(SCENARIOS / "default.toml"), "--access", "wifi"], "--access cannot be combined with --scenario"),
])
def test_cli_bad_moves_and_flag_clashes_are_one_line(args, message):
    result = run_cli("topology", *args, timeout=60)
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and message in lines[0], result.stderr


def test_a_missing_required_key_is_named_not_a_python_signature(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[scenario]\nname = "x"\n[[cells]]\naccess = "lte"\n')
    with pytest.raises(ScenarioError, match=r"bad.toml: cells\[1\]: missing key 'name'") as info:
        load_scenario(path)
    assert "__init__" not in str(info.value)
