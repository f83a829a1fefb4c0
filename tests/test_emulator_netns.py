"""The emulator process on a real path: ns A -- veth -- [emulator] -- veth -- ns B (root only)."""
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from topo.profiles import DirectionSpec
from traces import read_delivery_trace

pytestmark = [pytest.mark.root, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SHARED_TRACES = REPO.parent / "shared" / "traces"


def _missing_requirement():
    if os.geteuid() != 0:
        return "needs root (network namespaces, raw sockets)"
    for tool in ("ip", "ethtool", "ping", "iperf3"):
        if shutil.which(tool) is None:
            return f"needs the {tool!r} command"
    return None


@pytest.fixture
def path():
    reason = _missing_requirement()
    if reason:
        pytest.skip(reason)
    from topo.emulator.netns_path import WirePath
    with WirePath() as wire:
        yield wire
    assert_nothing_left(wire)


def assert_nothing_left(wire):
    names = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    assert f"ect{wire.tag}" not in names
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"ect{wire.tag}" not in namespaces
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert f"ect{wire.tag}" not in processes  # no emulator (its config path has the tag) or iperf3 left


def ping_rtts_ms(wire, count=40, interval_s=0.05):
    result = wire.exec_in(wire.ns_a, ["ping", "-n", "-c", str(count), "-i", str(interval_s), "-W", "2",
                                      "10.233.0.2"], check=False)
    rtts = [float(x) for x in re.findall(r"time=([0-9.]+) ms", result.stdout)]
    assert len(rtts) >= count - 2, result.stdout + result.stderr
    return rtts[2:]  # the first ones include ARP


def iperf3(wire, client_ns, server_ns, server_address, args, seconds):
    server = wire.popen_in(server_ns, ["iperf3", "-s", "-1", "-B", server_address],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    result = wire.exec_in(client_ns, ["iperf3", "-c", server_address, "-J", "-t", str(seconds)] + args,
                          check=False, timeout_s=seconds + 30)
    server.wait(timeout=20)
    return json.loads(result.stdout)


def test_ping_rtt_matches_configured_delay(path):
    with path.start_emulator(DirectionSpec(delay_ms=10), DirectionSpec(delay_ms=15)):
        rtts = ping_rtts_ms(path)
    median = statistics.median(rtts)
    assert 25.0 <= min(rtts) and median <= 26.5, rtts


def test_tcp_goodput_matches_rate(path):
    rate_bps, delay_ms = 8e6, 10
    queue = DirectionSpec(rate_bps=rate_bps, delay_ms=delay_ms, queue_limit_packets=60)  # > 3 BDP
    with path.start_emulator(queue, DirectionSpec(rate_bps=10.88e6, delay_ms=delay_ms, queue_limit_packets=60),
                             log_dir=str(path.workdir / "logs")) as emulator:
        report = iperf3(path, path.ns_a, path.ns_b, "10.233.0.2", ["-O", "1"], seconds=5)
    assert emulator.process.returncode == 0
    goodput = report["end"]["sum_received"]["bits_per_second"]
    assert 0.85 * rate_bps <= goodput <= 1.02 * rate_bps, goodput
    counters = json.loads((path.workdir / "logs" / "testlink-counters.json").read_text())
    assert counters["uplink"]["send_errors"] == 0 and counters["uplink"]["delivered_bytes"] > 4e6
    # issue 13: what the emulator measures about itself, and each address pair's own bytes
    lateness = counters["uplink"]["lateness"]
    assert lateness["packets"] > 2000 and 0 <= lateness["p50_ms"] <= lateness["p99_ms"] <= lateness["max_ms"]
    assert counters["scheduling"]["policy"] in ("SCHED_FIFO", "SCHED_OTHER") and "requested" in counters["scheduling"]
    assert 0 < counters["cpu_fraction_forwarding"] < 0.9  # no busy polling at 8 Mbit/s
    pairs = {(p["source_ip"], p["destination_ip"]): p for p in counters["uplink"]["by_address"]}
    sent = pairs[("10.233.0.1", "10.233.0.2")]["sent_bytes"]  # delivered also counts what was still delayed
    assert 0.95 * counters["uplink"]["delivered_bytes"] <= sent <= counters["uplink"]["delivered_bytes"]
    with open(path.workdir / "logs" / "testlink-summary.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r["direction"] == "uplink" and r["lateness_p99_us"]]
    assert len(rows) >= 3 and all(r["cpu_fraction"] for r in rows[1:])
    with open(path.workdir / "logs" / "testlink-sources.csv") as handle:
        sources = [r for r in csv.DictReader(handle) if r["source_ip"] == "10.233.0.1"]
    assert sum(int(r["sent_bytes"]) for r in sources) == pairs[("10.233.0.1", "10.233.0.2")]["sent_bytes"]


@pytest.mark.skipif(not SHARED_TRACES.is_dir(), reason=f"real traces not present at {SHARED_TRACES}")
def test_real_trace_replay(path):
    trace_path = SHARED_TRACES / "Verizon-LTE-short.down"
    trace = read_delivery_trace(trace_path)
    capacity = trace.capacity_bytes_per_window(1000)
    logs = path.workdir / "logs"
    downlink = DirectionSpec(rate_trace=str(trace_path), queue_limit_packets=2000)
    with path.start_emulator(DirectionSpec(), downlink, log_dir=str(logs), packet_log=True):
        send_mbps = max(capacity[:6]) * 8 / 1e6 * 1.5
        iperf3(path, path.ns_b, path.ns_a, "10.233.0.1", ["-u", "-b", f"{send_mbps:.1f}M", "-l", "1400"],
               seconds=5)
    with open(logs / "testlink-summary.csv") as handle:
        rows = [row for row in csv.DictReader(handle) if row["direction"] == "downlink"]
    delivered = {int(row["second"]): int(row["delivered_bytes"]) for row in rows}
    # seconds 2..4 are fully inside the UDP flood (the emulator starts ~0.5 s before it);
    # delivered counts IP bytes, opportunities 1500 B; 1428-byte packets waste a little of each
    for second in (2, 3, 4):
        assert delivered[second] == pytest.approx(capacity[second] * 1428 / 1500, rel=0.06), (second, delivered)
    log_lines = (logs / "testlink-downlink.log").read_text().splitlines()
    assert log_lines[1].startswith("# base timestamp: ")
    kinds = {line.split()[1] for line in log_lines[2:]}
    assert {"+", "-", "#"} <= kinds


def test_tiny_queue_drops(path):
    tiny = DirectionSpec(rate_bps=1e6, queue_limit_packets=3)
    with path.start_emulator(tiny, DirectionSpec(), log_dir=str(path.workdir / "logs")):
        report = iperf3(path, path.ns_a, path.ns_b, "10.233.0.2", ["-u", "-b", "4M", "-l", "1000"], seconds=2)
    counters = json.loads((path.workdir / "logs" / "testlink-counters.json").read_text())
    assert counters["uplink"]["dropped_packets"] > 100
    assert report["end"]["sum"]["lost_percent"] > 50


def test_emulator_stops_on_sigterm_and_writes_summary(path):
    logs = path.workdir / "logs"
    emulator = path.start_emulator(DirectionSpec(delay_ms=1), DirectionSpec(delay_ms=1), log_dir=str(logs))
    try:
        ping_rtts_ms(path, count=5)
    finally:
        returncode = emulator.stop()
    assert returncode == 0
    rows = (logs / "testlink-summary.csv").read_text().splitlines()
    assert rows[0].startswith("second,direction") and len(rows) >= 3


@pytest.mark.parametrize("fastio", ["1", "0"])
def test_counters_name_the_frame_path_that_ran_and_both_forward(path, fastio):
    """The C batch path where it is built (the Python one when ECT_EMULATOR_FASTIO=0): same delay either way."""
    from topo.emulator import frame_io
    logs = path.workdir / "logs"
    with path.start_emulator(DirectionSpec(delay_ms=5), DirectionSpec(delay_ms=5), log_dir=str(logs),
                             env={frame_io.FASTIO_ENV: fastio}):
        rtts = ping_rtts_ms(path, count=12, interval_s=0.02)
    assert 10.0 <= statistics.median(rtts) < 12.0
    counters = json.loads((logs / "testlink-counters.json").read_text())
    expected = "c-batch" if fastio == "1" and frame_io.fastio is not None else "python"
    assert counters["io_path"] == expected
    assert counters["uplink"]["delivered_packets"] >= 10 and counters["uplink"]["send_errors"] == 0
