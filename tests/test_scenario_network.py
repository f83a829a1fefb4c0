"""Scenarios brought up for real: every pair reachable, the expected paths' delays, nothing left behind."""
from __future__ import annotations

import pytest

from conftest import REPO_ROOT, run_cli

pytestmark = pytest.mark.root
SCENARIOS = REPO_ROOT / "scenarios"


def test_three_cells_all_pairs_reachable_and_torn_down(clean_machine):
    from topo.network import running_network
    from topo.scenario import load_scenario, plan_scenario
    from topo.scenario.probe import icmp_all_pairs, network_all_pairs

    spec = plan_scenario(load_scenario(SCENARIOS / "three-cells.toml"), "userspace")
    with running_network(spec) as net:
        assert len(net.wires()) == 7  # 3 access + 3 backhaul + 1 WAN; the LANs are plain veths
        pairs = network_all_pairs(net)
        assert len(pairs) == 38 * 37
        assert not [(p.src, p.dst) for p in pairs if not p.reachable]
        for src, dst in (("ue1", "edge1"), ("ue1", "edge3"), ("ue12", "cloud"), ("ue1", "ue21")):
            # one pair at a time (the all-pairs burst queues on the access links); ARP is warm by now
            # the first ping wakes an LTE device that went idle after the burst (paging up to its DRX cycle,
            # then RRC promotion: over a second, legitimately); the second measures the connected path
            pids = {name: net.host(name).pid for name in (src, dst)}
            icmp_all_pairs(pids, spec.hosts, rounds=1)
            rtt = icmp_all_pairs(pids, spec.hosts, rounds=1)[0].rtt_ms
            expected = spec.expected_rtt_ms(src, dst)
            # at least the profiles' delays (the path crosses the right links); the LTE radio model (DRX,
            # scheduling grants) adds tens of ms on top, so no tight upper bound here
            assert rtt is not None and expected - 0.5 <= rtt <= expected + 150.0, (src, dst, rtt, expected)
    assert net.timings_s["stop_s"] < 10


def test_topology_command_with_the_default_scenario(clean_machine):
    result = run_cli("topology", "--scenario", str(SCENARIOS / "default.toml"), "--check")
    assert result.returncode == 0, result.stderr
    for needle in ("scenario default", "ue1", "10.0.1.254", "10.0.2.2", "10.0.3.2", "12/12 pairs reachable"):
        assert needle in result.stdout, needle
