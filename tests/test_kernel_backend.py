"""The kernel backend (Mininet's TCLink: HTB for the rate, netem for delay, loss and the queue limit) shapes
what the profile says: measured delay, TCP goodput and loss against the configured values.

The access link (ue1 -- bs) carries the profile under test; LAN and WAN are unshaped, so every figure
belongs to that one link. Tests needing netem carry the ``netem`` marker and skip, with the reason, on a
kernel without sch_netem; the rate-only test needs only HTB and runs wherever HTB does.
"""
from __future__ import annotations

import json
import re
import statistics
import subprocess

import pytest

from topo.profiles import DirectionSpec, LinkProfile, load_profile
from topo.topology import ACCESS_GW, TopologySpec

pytestmark = pytest.mark.root

TCP_SHARE = 1448 / 1514  # TCP payload of a full frame as HTB counts it (Ethernet header included)


def kernel_spec(up: DirectionSpec, down: DirectionSpec) -> TopologySpec:
    unshaped = load_profile("lan")
    return TopologySpec(access=LinkProfile("kernel-test", up, down), wan=unshaped, lan=unshaped, ues=1,
                        backend="kernel")


def qdiscs(net) -> str:
    """tc's view of both ends of the access link: the bridge port (uplink egress) and bs (downlink egress)."""
    root = subprocess.run(["tc", "qdisc", "show"], capture_output=True, text=True, check=True).stdout
    bridge_side = "\n".join(line for line in root.splitlines() if "ects1-eth" in line)
    return bridge_side + "\n" + net.host("bs").cmd("tc qdisc show")


def ping(net, count: int, interval_s: float) -> tuple[list[float], float]:
    """RTTs (ms) and the loss in % of ``count`` pings ue1 -> bs, after one that warms ARP."""
    host = net.host("ue1")
    host.cmd(f"ping -c 1 -W 2 {ACCESS_GW}")
    out = host.cmd(f"ping -n -c {count} -i {interval_s} -W 1 {ACCESS_GW}")
    loss = re.search(r"([\d.]+)% packet loss", out)
    assert loss, out[-500:]
    return [float(x) for x in re.findall(r"time=([\d.]+) ms", out)], float(loss.group(1))


def tcp_goodput_mbps(net, reverse: bool, seconds: int = 5) -> float:
    """iperf3 TCP ue1 -> bs (``reverse``: bs -> ue1), the first second omitted (slow start)."""
    server = net.popen("bs", ["iperf3", "-s", "-1", "-B", ACCESS_GW], "iperf3",
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        argv = ["iperf3", "-c", ACCESS_GW, "-t", str(seconds), "-O", "1", "-J", "--connect-timeout", "3000"]
        for _attempt in range(20):  # the server may need a moment to listen
            client = net.popen("ue1", argv + (["-R"] if reverse else []), "iperf3",
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, _ = client.communicate(timeout=seconds + 30)
            result = json.loads(out.decode() or "{}")
            received = result.get("end", {}).get("sum_received", {}).get("bits_per_second")
            if received is not None and "error" not in result:
                return received / 1e6
            net.host("ue1").cmd("sleep 0.2")
        raise AssertionError(f"iperf3 never connected: {result.get('error', out[-300:])}")
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()


def test_kernel_rate_with_htb_alone(clean_machine):
    """Runs without netem: a rate and no queue limit is HTB only."""
    from topo.network import running_network

    up = DirectionSpec(rate_bps=8e6, queue_limit_packets=None)
    down = DirectionSpec(rate_bps=10.88e6, queue_limit_packets=None)
    with running_network(kernel_spec(up, down)) as net:
        assert not net.wires()
        tc = qdiscs(net)
        assert tc.count("htb") == 2 and "netem" not in tc, tc
        measured = {"uplink": tcp_goodput_mbps(net, reverse=False), "downlink": tcp_goodput_mbps(net, reverse=True)}
    for direction, spec in (("uplink", up), ("downlink", down)):
        ratio = measured[direction] / (spec.rate_bps / 1e6)
        assert 0.9 * TCP_SHARE <= ratio <= 1.01, (direction, measured)


@pytest.mark.netem
def test_kernel_delay_matches_the_profile(clean_machine):
    from topo.network import running_network

    up, down = DirectionSpec(delay_ms=20), DirectionSpec(delay_ms=30)
    with running_network(kernel_spec(up, down)) as net:
        assert "netem" in qdiscs(net)
        rtts, loss_pct = ping(net, count=60, interval_s=0.05)
    assert loss_pct == 0 and len(rtts) == 60
    assert min(rtts) >= 50 - 0.05, rtts              # never early
    assert statistics.median(rtts) <= 50 + 1.5, rtts  # the kernel adds well under a millisecond at idle


@pytest.mark.netem
def test_kernel_rate_and_delay_give_tcp_goodput_near_the_rate(clean_machine):
    """The shipped LTE pipe (8 / 10.88 Mbit/s, 15 ms each way, 100-packet queues): HTB + netem."""
    from topo.network import running_network

    lte = load_profile("lte-ideal")
    with running_network(kernel_spec(lte.up, lte.down)) as net:
        tc = qdiscs(net)
        assert tc.count("htb") == 2 and tc.count("netem") == 2 and "limit 100" in tc, tc
        rtts, _ = ping(net, count=20, interval_s=0.05)
        measured = {"uplink": tcp_goodput_mbps(net, reverse=False), "downlink": tcp_goodput_mbps(net, reverse=True)}
    assert 30 - 0.05 <= min(rtts) <= statistics.median(rtts) <= 30 + 2.0, rtts
    for direction, spec in (("uplink", lte.up), ("downlink", lte.down)):
        ratio = measured[direction] / (spec.rate_bps / 1e6)
        assert 0.9 * TCP_SHARE <= ratio <= 1.01, (direction, measured)


@pytest.mark.netem
def test_kernel_loss_matches_the_profile(clean_machine):
    """3% uplink and 5% downlink loss: a ping survives with 0.97 x 0.95, so 7.85% are lost. Over 3,000
    pings the binomial standard deviation is 0.49 points; the tolerance is 2 points (about 4 of them)."""
    from topo.network import running_network

    up, down = DirectionSpec(loss=0.03, seed=1), DirectionSpec(loss=0.05, seed=2)
    with running_network(kernel_spec(up, down)) as net:
        tc = qdiscs(net)
        assert re.search(r"loss 3(\.0*)?%", tc) and re.search(r"loss 5(\.0*)?%", tc), tc
        _, loss_pct = ping(net, count=3000, interval_s=0.002)
    expected_pct = (1 - 0.97 * 0.95) * 100
    assert abs(loss_pct - expected_pct) <= 2.0, (loss_pct, expected_pct)
