"""Benchmark of the userspace link emulator (run as root): accuracy, goodput, traces, capacity.

    sudo .venv/bin/python benchmarks/bench_links.py            # everything (~8 min)
    sudo .venv/bin/python benchmarks/bench_links.py --quick    # a subset (~1.5 min)

Writes benchmarks/results/links.json and links.md and prints a table. Each figure is
measured on ns A -- veth -- [python -m topo.emulator] -- veth -- ns B (topo/emulator/netns_path.py).
Goals (from the issue): idle RTT - D in 0..+0.5 ms (median, p99); TCP goodput / rate >= 0.95;
trace replay per-1 s delivered vs capacity p95 |error| < 3 %; capacity >= 400 Mbit/s on one
core with 20 ms delay; forwarding latency added at idle, median < 100 us.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from topo.emulator.netns_path import ADDRESS_A, ADDRESS_B, WirePath  # noqa: E402
from topo.profiles import DirectionSpec  # noqa: E402
from traces import read_delivery_trace  # noqa: E402

SHARED_TRACES = REPO.parent / "shared" / "traces"
RESULTS = REPO / "benchmarks" / "results"
UDP_PORT = 5299
MTU_PAYLOAD_UDP = 1472  # -> 1500-byte IP packets, one per delivery opportunity


def percentile(values, fraction):
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(0, min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


ECHO_PORT = 5298


def udp_echo(port, seconds):
    """Runs inside ns B: echo every datagram back (the far end of ``udp_ping``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", port))
    sock.settimeout(0.2)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data, peer = sock.recvfrom(2048)
        except socket.timeout:
            continue
        sock.sendto(data, peer)


def udp_ping(address, port, count, interval_s, output):
    """Runs inside ns A: RTTs with microsecond resolution (ping prints 0.1 ms above 10 ms)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2.0)
    rtts = []
    for index in range(count):
        sent = time.monotonic_ns()
        sock.sendto(index.to_bytes(8, "big") + bytes(56), (address, port))
        try:
            while True:
                data = sock.recv(2048)
                if int.from_bytes(data[:8], "big") == index:
                    break
            rtts.append((time.monotonic_ns() - sent) / 1e6)
        except socket.timeout:
            pass
        time.sleep(interval_s)
    Path(output).write_text(json.dumps(rtts))


def ping_rtts_ms(path, count, interval_s=0.02):
    """UDP echo RTTs A -> B -> A in ms (the first 3 dropped: they include ARP)."""
    echo = path.popen_in(path.ns_b, [sys.executable, __file__, "--udp-echo", str(ECHO_PORT),
                                     str(count * (interval_s + 0.1) + 10)])
    time.sleep(0.3)
    output = path.workdir / "ping.json"
    path.exec_in(path.ns_a, [sys.executable, __file__, "--udp-ping", ADDRESS_B, str(ECHO_PORT), str(count + 3),
                             str(interval_s), str(output)], timeout_s=count * (interval_s + 2.5) + 60)
    echo.kill()
    return json.loads(output.read_text())[3:]


def iperf3_json(path, client_ns, server_ns, server_address, args, seconds):
    server = path.popen_in(server_ns, ["iperf3", "-s", "-1", "-B", server_address],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    result = path.exec_in(client_ns, ["iperf3", "-c", server_address, "-J", "-t", str(seconds)] + args,
                          check=False, timeout_s=seconds + 60)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    return json.loads(result.stdout)


def counters(path, name="testlink"):
    return json.loads((path.workdir / "logs" / f"{name}-counters.json").read_text())


# --- 1. idle RTT accuracy and 5. forwarding latency -----------------------------------------
def bench_idle_rtt(delays, count):
    rows = []
    for up_ms, down_ms in delays:
        with WirePath() as path:
            with path.start_emulator(DirectionSpec(delay_ms=up_ms), DirectionSpec(delay_ms=down_ms)):
                rtts = ping_rtts_ms(path, count)
        errors = [r - (up_ms + down_ms) for r in rtts]
        rows.append({"delay_up_ms": up_ms, "delay_down_ms": down_ms, "pings": len(rtts),
                     "error_median_ms": statistics.median(errors), "error_p99_ms": percentile(errors, 0.99),
                     "error_min_ms": min(errors), "error_max_ms": max(errors)})
    return rows


def bench_forwarding_latency(count):
    with WirePath(direct=True) as path:
        direct = ping_rtts_ms(path, count)
    with WirePath() as path:
        with path.start_emulator(DirectionSpec(), DirectionSpec()):
            emulated = ping_rtts_ms(path, count)
    base = statistics.median(direct)
    added = [r - base for r in emulated]
    return {"direct_rtt_median_ms": base, "emulated_rtt_median_ms": statistics.median(emulated),
            "added_per_round_trip_median_us": statistics.median(added) * 1000,
            "added_per_round_trip_p99_us": percentile(added, 0.99) * 1000,
            "added_per_traversal_median_us": statistics.median(added) * 500,
            "added_per_traversal_p99_us": percentile(added, 0.99) * 500}


# --- 2. TCP goodput -----------------------------------------------------------------------------
CONGESTION_CONTROL = os.environ.get("ECT_BENCH_CC", "cubic")  # ECT_BENCH_CC=bbr: the BBR row of the README


def bdp_queue_packets(rate_bps, delay_ms):
    bdp = rate_bps * (2 * delay_ms / 1000.0) / 8 / 1500
    return max(int(math.ceil(2 * bdp)), 32)  # 2 BDP, at least 32 packets


def bench_goodput(rates_mbps, delays_ms, seconds, omit_s):
    rows = []
    for rate_mbps in rates_mbps:
        for delay_ms in delays_ms:
            rate_bps = rate_mbps * 1e6
            queue = bdp_queue_packets(rate_bps, delay_ms)
            spec = DirectionSpec(rate_bps=rate_bps, delay_ms=delay_ms, queue_limit_packets=queue)
            with WirePath() as path:
                with path.start_emulator(spec, spec, log_dir=str(path.workdir / "logs")):
                    # cubic, not the host's default (BBR here): BBR's ProbeRTT drops to a 4-packet window
                    # for ~200 ms + 1 RTT every 10 s, a few % of goodput by design, growing with the RTT.
                    report = iperf3_json(path, path.ns_a, path.ns_b, ADDRESS_B,
                                         ["-O", str(omit_s), "-C", CONGESTION_CONTROL], seconds)
                emulator = counters(path)
            goodput = report["end"]["sum_received"]["bits_per_second"]
            rows.append({"rate_mbps": rate_mbps, "delay_ms": delay_ms, "queue_packets": queue,
                         "goodput_mbps": goodput / 1e6, "ratio": goodput / rate_bps,
                         "retransmits": report["end"].get("sum_sent", {}).get("retransmits"),
                         "emulator_cpu_fraction": (emulator["cpu_user_s"] + emulator["cpu_system_s"])
                         / emulator["elapsed_s"]})
            print(f"  goodput {rate_mbps:>6} Mbit/s {delay_ms:>3} ms: {rows[-1]['ratio']:.3f}", flush=True)
    return rows


# --- 3. trace replay ---------------------------------------------------------------------------
def udp_sink(port, seconds, output):
    """Runs inside ns A or B: record (monotonic time, IP bytes) of every datagram received."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    sock.bind(("0.0.0.0", port))
    sock.settimeout(0.2)
    times, sizes = [], []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        times.append(time.monotonic())
        sizes.append(len(data) + 28)
    Path(output).write_text(json.dumps({"times": times, "sizes": sizes}))


def udp_source(address, port, rate_bps, seconds):
    """Runs inside ns A or B: paced 1500-byte IP packets at ``rate_bps`` (1 ms bursts)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 << 20)
    payload = bytes(MTU_PAYLOAD_UDP)
    start = time.monotonic()
    sent = 0
    while True:
        elapsed = time.monotonic() - start
        if elapsed >= seconds:
            break
        due = int(elapsed * rate_bps / 8 / 1500) - sent
        for _ in range(due):
            try:
                sock.sendto(payload, (address, port))
            except OSError:
                pass
            sent += 1
        time.sleep(0.0005)


def bench_trace(trace_path, seconds):
    trace = read_delivery_trace(trace_path)
    capacity = trace.capacity_bytes_per_window(1000)
    uplink = trace_path.name.endswith(".up")
    send_mbps = max(capacity[: seconds + 1]) * 8 / 1e6 * 1.3 + 0.5
    spec = DirectionSpec(rate_trace=str(trace_path), queue_limit_packets=4000)
    sender_ns_attr, sink_ns_attr, sink_address = ("ns_a", "ns_b", ADDRESS_B) if uplink else ("ns_b", "ns_a", ADDRESS_A)
    with WirePath() as path:
        logs = path.workdir / "logs"
        sink_out = path.workdir / "sink.json"
        up, down = (spec, DirectionSpec()) if uplink else (DirectionSpec(), spec)
        with path.start_emulator(up, down, log_dir=str(logs), packet_log=True):
            sink = path.popen_in(getattr(path, sink_ns_attr), [sys.executable, __file__, "--udp-sink",
                                                               str(UDP_PORT), str(seconds + 3), str(sink_out)])
            time.sleep(0.3)
            path.exec_in(getattr(path, sender_ns_attr),
                         [sys.executable, __file__, "--udp-source", sink_address, str(UDP_PORT),
                          str(send_mbps * 1e6), str(seconds + 1.5)], timeout_s=seconds + 60)
            sink.wait(timeout=seconds + 30)
        side = "uplink" if uplink else "downlink"
        header = (logs / f"testlink-{side}.log").read_text(errors="replace").splitlines()[1]
        base_s = int(header.split(":")[1]) / 1000.0
        received = json.loads(sink_out.read_text())
    delivered = {}
    for t, size in zip(received["times"], received["sizes"]):
        delivered[int(t - base_s)] = delivered.get(int(t - base_s), 0) + size
    # whole seconds fully inside the flood: the first second with traffic and the last are partial
    seconds_seen = sorted(delivered)
    windows = [k for k in seconds_seen[1:-1] if k < len(capacity) and capacity[k] > 0]
    errors = [abs(delivered.get(k, 0) - capacity[k]) / capacity[k] for k in windows]
    zero_windows = [k for k in seconds_seen[1:-1] if k < len(capacity) and capacity[k] == 0]
    return {"trace": trace_path.name, "windows": len(windows), "send_mbps": send_mbps,
            "mean_capacity_mbps": trace.mean_rate_bps / 1e6,
            "abs_error_median_pct": 100 * statistics.median(errors) if errors else math.nan,
            "abs_error_p95_pct": 100 * percentile(errors, 0.95),
            "abs_error_max_pct": 100 * max(errors) if errors else math.nan,
            "zero_capacity_windows": len(zero_windows),
            "total_delivered_over_capacity": (sum(delivered.get(k, 0) for k in windows)
                                              / max(1, sum(int(capacity[k]) for k in windows)))}


# --- 4. capacity ---------------------------------------------------------------------------------
def bench_capacity(rates_mbps, seconds, delay_ms=20):
    rows = []
    for rate_mbps in rates_mbps:
        rate_bps = rate_mbps * 1e6
        spec = DirectionSpec(rate_bps=rate_bps, delay_ms=delay_ms,
                             queue_limit_packets=bdp_queue_packets(rate_bps, delay_ms))
        with WirePath() as path:
            with path.start_emulator(spec, spec, log_dir=str(path.workdir / "logs")):
                report = iperf3_json(path, path.ns_a, path.ns_b, ADDRESS_B, ["-O", "2"], seconds)
            emulator = counters(path)
        goodput = report["end"]["sum_received"]["bits_per_second"]
        row = {"rate_mbps": rate_mbps, "goodput_mbps": goodput / 1e6, "ratio": goodput / rate_bps,
               "emulator_cpu_fraction": (emulator["cpu_user_s"] + emulator["cpu_system_s"]) / emulator["elapsed_s"],
               "emulator_cpu_user_fraction": emulator["cpu_user_s"] / emulator["elapsed_s"],
               "send_errors": emulator["uplink"]["send_errors"]}
        rows.append(row)
        print(f"  capacity {rate_mbps:>5} Mbit/s: ratio {row['ratio']:.3f}, emulator CPU "
              f"{row['emulator_cpu_fraction']:.2f} core", flush=True)
        if row["ratio"] < 0.95:
            break
    passing = [r["rate_mbps"] for r in rows if r["ratio"] >= 0.95]
    return {"rows": rows, "highest_rate_mbps_at_0.95": max(passing) if passing else None}


# --- report --------------------------------------------------------------------------------------
def markdown(result) -> str:
    lines = ["# Link emulator benchmark", "", f"mode: {result['mode']}, host: {result['host']}", ""]
    lines += ["## Idle RTT minus configured D (goal 0..+0.5 ms)", "",
              "UDP echo RTT (Python client/echo, us resolution); 'minus tool' takes off the tool's own median RTT "
              "over a plain veth.", "",
              "| D up/down ms | pings | median ms | p99 ms | min ms | median minus tool ms | p99 minus tool ms |",
              "|---|---|---|---|---|---|---|"]
    for r in result["idle_rtt"]:
        lines.append(f"| {r['delay_up_ms']}/{r['delay_down_ms']} | {r['pings']} | {r['error_median_ms']:+.3f} | "
                     f"{r['error_p99_ms']:+.3f} | {r['error_min_ms']:+.3f} | "
                     f"{r.get('error_median_minus_tool_ms', math.nan):+.3f} | "
                     f"{r.get('error_p99_minus_tool_ms', math.nan):+.3f} |")
    f = result["forwarding_latency"]
    lines += ["", "## Forwarding latency added at idle (goal median < 100 us per traversal)", "",
              f"direct veth RTT median {f['direct_rtt_median_ms']:.3f} ms, through the emulator "
              f"{f['emulated_rtt_median_ms']:.3f} ms; added per traversal median "
              f"{f['added_per_traversal_median_us']:.0f} us, p99 {f['added_per_traversal_p99_us']:.0f} us", ""]
    lines += ["## TCP goodput / configured rate (goal >= 0.95; TCP/IP headers cap it at 1448/1500 = 0.965)", "",
              "| rate Mbit/s | one-way delay ms | queue pkts | goodput Mbit/s | ratio | emulator CPU |", "|---|---|---|---|---|---|"]
    for r in result["goodput"]:
        lines.append(f"| {r['rate_mbps']} | {r['delay_ms']} | {r['queue_packets']} | {r['goodput_mbps']:.2f} | "
                     f"{r['ratio']:.3f} | {r['emulator_cpu_fraction']:.2f} |")
    lines += ["", "## Trace replay: delivered per 1 s window vs capacity (goal p95 < 3 %)", "",
              "| trace | windows | median abs err % | p95 abs err % | max % | total ratio |", "|---|---|---|---|---|---|"]
    for r in result["traces"]:
        lines.append(f"| {r['trace']} | {r['windows']} | {r['abs_error_median_pct']:.2f} | {r['abs_error_p95_pct']:.2f} | "
                     f"{r['abs_error_max_pct']:.2f} | {r['total_delivered_over_capacity']:.4f} |")
    c = result["capacity"]
    lines += ["", "## Capacity, 1500-byte frames, 20 ms delay (goal >= 400 Mbit/s at ratio >= 0.95)", "",
              "| rate Mbit/s | goodput Mbit/s | ratio | emulator CPU (cores) |", "|---|---|---|---|"]
    for r in c["rows"]:
        lines.append(f"| {r['rate_mbps']} | {r['goodput_mbps']:.1f} | {r['ratio']:.3f} | {r['emulator_cpu_fraction']:.2f} |")
    lines += ["", f"highest rate with ratio >= 0.95: {c['highest_rate_mbps_at_0.95']} Mbit/s", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short subset (the machine is shared)")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["rtt", "latency", "goodput", "traces", "capacity"], help="leave a part out")
    parser.add_argument("--output", default=str(RESULTS / "links.json"))
    parser.add_argument("--udp-sink", nargs=3, metavar=("PORT", "SECONDS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--udp-source", nargs=4, metavar=("ADDRESS", "PORT", "RATE_BPS", "SECONDS"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--udp-echo", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--udp-ping", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.udp_echo:
        udp_echo(int(args.udp_echo[0]), float(args.udp_echo[1]))
        return 0
    if args.udp_ping:
        udp_ping(args.udp_ping[0], int(args.udp_ping[1]), int(args.udp_ping[2]), float(args.udp_ping[3]),
                 args.udp_ping[4])
        return 0
    if args.udp_source:
        udp_source(args.udp_source[0], int(args.udp_source[1]), float(args.udp_source[2]),
                   float(args.udp_source[3]))
        return 0
    if args.udp_sink:
        udp_sink(int(args.udp_sink[0]), float(args.udp_sink[1]), args.udp_sink[2])
        return 0
    if os.geteuid() != 0:
        print("error: bench_links.py needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    quick = args.quick
    result = {"mode": "quick" if quick else "full", "host": platform.node(), "cpus": os.cpu_count(),
              "kernel": platform.release(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              "idle_rtt": [], "forwarding_latency": {}, "goodput": [], "traces": [], "capacity": {"rows": [],
              "highest_rate_mbps_at_0.95": None}}
    started = time.monotonic()
    if "rtt" not in args.skip:
        print("idle RTT ...", flush=True)
        result["idle_rtt"] = bench_idle_rtt([(10, 10)] if quick else [(5, 5), (10, 10), (20, 30), (50, 50)],
                                            count=100 if quick else 300)
    if "latency" not in args.skip:
        print("forwarding latency ...", flush=True)
        result["forwarding_latency"] = bench_forwarding_latency(count=100 if quick else 300)
    if "goodput" not in args.skip:
        print("TCP goodput ...", flush=True)
        if quick:
            result["goodput"] = bench_goodput([8, 100], [20], seconds=5, omit_s=2)
        else:
            result["goodput"] = bench_goodput([1, 8, 10.88, 72, 100], [0, 20, 50], seconds=10, omit_s=3)
    if "traces" not in args.skip:
        print("trace replay ...", flush=True)
        if SHARED_TRACES.is_dir():
            names = ["Verizon-LTE-short.down"] if quick else sorted(p.name for p in SHARED_TRACES.iterdir()
                                                                     if p.suffix in (".up", ".down"))
            for name in names:
                result["traces"].append(bench_trace(SHARED_TRACES / name, seconds=6 if quick else 20))
                print(f"  {name}: p95 {result['traces'][-1]['abs_error_p95_pct']:.2f} %", flush=True)
        else:
            print(f"  skipped: {SHARED_TRACES} not present", flush=True)
    if "capacity" not in args.skip:
        print("capacity ...", flush=True)
        result["capacity"] = bench_capacity([100, 200] if quick else [100, 200, 300, 400, 500],
                                            seconds=5 if quick else 8)
    if result["forwarding_latency"]:
        tool_ms = result["forwarding_latency"]["direct_rtt_median_ms"]
        for row in result["idle_rtt"]:  # the UDP echo tool's own RTT over a plain veth, taken off
            row["error_median_minus_tool_ms"] = row["error_median_ms"] - tool_ms
            row["error_p99_minus_tool_ms"] = row["error_p99_ms"] - tool_ms
    result["duration_s"] = time.monotonic() - started
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    report = markdown(result)
    output.with_suffix(".md").write_text(report)
    print(report)
    print(f"wrote {output} and {output.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
