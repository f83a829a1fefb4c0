"""Mobility: --move parsing, the edge-selection policy and paths (units), and handovers on a real network (root):
a request in flight completes (keep address) or fails with a recorded error (new address); no result is lost."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from conftest import REPO_ROOT, is_root
from topo.scenario import ScenarioError, load_scenario, plan_scenario
from topo.scenario.mobility import check_moves, parse_move, path_links, serving_node

METRO = REPO_ROOT / "scenarios" / "profiles" / "metro.toml"

TWO_CELLS = f"""
[scenario]
name = "two-cells"
[[cells]]
name = "c1"
access = "lte-ideal"
devices = 2
[[cells]]
name = "c2"
access = "lte-ideal"
devices = 1
[[sites]]
name = "metro"
[[edges]]
at = "c1"
[[edges]]
at = "c2"
[[clouds]]
at = "metro"
[[backhaul]]
between = ["c1", "metro"]
profile = "{METRO}"
[[backhaul]]
between = ["c2", "metro"]
profile = "{METRO}"
[mobility]
address = "ADDRESS"
interruption_ms = 150
"""


def two_cells(tmp_path, address="keep"):
    path = tmp_path / "two.toml"
    path.write_text(textwrap.dedent(TWO_CELLS.replace("ADDRESS", address)))
    return plan_scenario(load_scenario(path), "userspace")


def test_parse_move_and_check_against_the_scenario(tmp_path):
    spec = two_cells(tmp_path)
    move = parse_move("2.5:ue1:c2")
    assert (move.at_s, move.device, move.cell) == (2.5, "ue1", "c2")
    check_moves(spec, [move])
    for bad in ("ue1:c2", "x:ue1:c2", "1:edge:c2"):
        with pytest.raises(ScenarioError, match="AT_S:DEVICE:CELL"):
            parse_move(bad)
    with pytest.raises(ScenarioError, match="not a cell"):
        check_moves(spec, [parse_move("1:ue1:c9")])
    with pytest.raises(ScenarioError, match="not a device"):
        check_moves(spec, [parse_move("1:ue9:c2")])


def test_edge_policy_and_the_path_a_request_takes(tmp_path):
    spec = two_cells(tmp_path)
    assert serving_node(spec, "ue1", "c2", "keep-edge") == "edge1"
    assert serving_node(spec, "ue1", "c2", "new-edge") == "edge2"
    assert serving_node(spec, "ue1", "c2", "cloud") == "cloud"
    assert path_links(spec, "ue1", "c1", "edge1") == ["access1", "lan1"]
    assert path_links(spec, "ue1", "c2", "edge1") == ["access2", "backhaul2", "backhaul1", "lan1"]
    assert path_links(spec, "ue1", "c2", "edge2") == ["access2", "lan2"]


SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 5201)); s.listen()
print("listening", flush=True)
while True:
    c, _ = s.accept(); n = 0
    while (b := c.recv(65536)):
        n += len(b)
    c.sendall(str(n).encode()); c.close()
"""
CLIENT = """
import socket, sys, time
size, timeout = int(sys.argv[2]), float(sys.argv[3])
try:
    c = socket.create_connection((sys.argv[1], 5201), timeout=timeout)
    print("connected", flush=True)
    c.sendall(b"x" * size); c.shutdown(socket.SHUT_WR)
    print("ok", c.recv(64).decode(), flush=True)
except OSError as err:
    print("error", type(err).__name__, err, flush=True)
"""


@pytest.mark.root
@pytest.mark.skipif(not is_root(), reason="needs root for network namespaces")
@pytest.mark.parametrize("address", ["keep", "new"])
def test_handover_with_a_request_in_flight(clean_machine, tmp_path, address):
    from topo.network import running_network
    from topo.scenario.mobility import Mobility
    from topo.scenario.probe import icmp_all_pairs

    spec = two_cells(tmp_path, address)
    size = 1_500_000  # 1.5 s at 8 Mbit/s: the handover at 0.4 s hits it in flight
    with running_network(spec) as net:
        server = net.popen("edge1", [sys.executable, "-c", SERVER], "test-server", stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout.readline().strip() == "listening"
            client = net.popen("ue1", [sys.executable, "-c", CLIENT, spec.hosts["edge1"], str(size), "6"],
                               "test-client", stdout=subprocess.PIPE, text=True)
            assert client.stdout.readline().strip() == "connected"
            time.sleep(0.3)  # the upload is under way (it takes ~1.5 s)
            mobility = Mobility(net)
            handover = mobility.move("ue1", "c2")
            out, _ = client.communicate(timeout=30)
            # after the move the device reaches the edge through its new cell, over the backhaul
            pids = {n: net.host(n).pid for n in ("ue1", "edge1")}
            rtt = icmp_all_pairs(pids, {"ue1": mobility.address["ue1"], "edge1": spec.hosts["edge1"]})[0].rtt_ms
        finally:
            server.kill()
            server.wait()
    window_ms = (handover.end_ns - handover.start_ns) / 1e6
    assert 150 <= window_ms < 400, window_ms
    assert (handover.from_cell, handover.to_cell) == ("c1", "c2")
    expected = spec.route_links("ue1", "edge1", src_cell="c2")
    floor_ms = sum(link.profile.up.delay_ms + link.profile.down.delay_ms for link in expected)
    assert rtt is not None and rtt >= floor_ms - 0.5, (rtt, floor_ms)
    assert out.strip(), "the client wrote no result: a request was lost"
    if address == "keep":
        assert handover.address_after == handover.address_before == "10.0.1.1"
        assert out.split() == ["ok", str(size)], out  # the open connection survived the handover
    else:
        assert handover.address_after == "10.1.1.1"
        assert out.startswith("error"), out  # the old address is gone: the request fails, with its error


class _FakeIntf:
    def __init__(self, name, ip=None):
        self.name, self._ip, self.link = name, ip, None

    def IP(self):  # noqa: N802 (Mininet's name)
        return self._ip


class _FakeLink:
    def __init__(self, one, two):
        self.intf1, self.intf2 = one, two
        one.link = two.link = self


class _FakeHost:
    def __init__(self, name, log, intfs):
        self.name, self.log, self.intfs = name, log, intfs

    def intf(self):
        return self.intfs[0]

    def intfList(self):  # noqa: N802
        return self.intfs

    def cmd(self, script):
        self.log.append((self.name, script))
        return ""


class _FakeNet:
    """Just what Mobility touches: hosts with interfaces, and the spec."""

    def __init__(self, spec, log):
        self.spec, self.hosts = spec, {}
        for plan in spec.host_plans:
            intfs = [_FakeIntf(f"{plan.name}-eth0", plan.address)]
            self.hosts[plan.name] = _FakeHost(plan.name, log, intfs)
        _FakeLink(self.hosts["ue1"].intfs[0], _FakeIntf("ects1-eth1"))

    def host(self, name):
        return self.hosts[name]


@pytest.mark.parametrize("address", ["keep", "new"])
def test_handover_steps_in_order(tmp_path, monkeypatch, address):
    """Detach, re-point routes (keep) or the device's address (new), flush ARP, wait out the interruption, attach."""
    import topo.scenario.mobility as mobility_module

    spec = two_cells(tmp_path, address)
    log: list = []
    monkeypatch.setattr(mobility_module.commands, "run", lambda argv, **_: log.append(("root", " ".join(argv))))
    mobility = mobility_module.Mobility(_FakeNet(spec, log))
    handover = mobility.move("ue1", "c2")
    assert log[0] == ("root", "ip link set ects1-eth1 nomaster")
    assert log[-2] == ("root", "ip link set ects1-eth1 master ects2")
    assert log[-1] == ("ue1", "ip neigh flush dev ue1-eth0 || echo 'FAILED: ip neigh flush dev ue1-eth0'")  # after
    middle = " | ".join(f"{host}: {script}" for host, script in log[1:-2])
    if address == "keep":
        assert "bs2: ip route replace 10.0.1.1/32 dev bs2-eth0" in middle
        assert "bs1: ip route replace 10.0.1.1/32 via 10.0.4.2" in middle   # towards metro
        assert "metro: ip route replace 10.0.1.1/32 via 10.1.4.1" in middle  # towards bs2
        assert handover.address_after == "10.0.1.1"
    else:
        assert "ue1: ip addr flush dev ue1-eth0" in middle and "ip addr add 10.1.1.1/24 dev ue1-eth0" in middle
        assert "ip route replace default via 10.1.1.254" in middle and "bs1:" not in middle
        assert handover.address_after == "10.1.1.1"
    assert "neigh flush" not in middle  # not while detached: its ARP request would be lost (1 s to the next)
    assert (handover.end_ns - handover.start_ns) / 1e6 >= 150.0  # the configured interruption
    assert mobility.cell["ue1"] == "c2" and mobility.handovers == [handover]
    again = mobility.move("ue1", "c2")  # already there: nothing happens
    assert again.interruption_ms == 0.0 and len(mobility.handovers) == 1
