#!/usr/bin/env python3
"""Cross-server link overhead (issue 18): the same link with both hosts on one server, and with h2 on a second
server (the test server: sshd in a network namespace, reached over ssh, the link carried by VXLAN).

Per link kind -- direct (no emulator), emulator unlimited, emulator shaped 50 Mbit/s + 5 ms each way -- and per
placement: ping RTT (median, p90) and iperf3 TCP goodput h1 -> h2 (max over repeats). The tunnel's added RTT
and goodput ratio are the two-server figures against the one-server ones. Run as root from the repository root:

    sudo .venv/bin/python benchmarks/bench_cluster_tunnel.py [--repeats 3] [--seconds 4]

Writes benchmarks/results/cluster-tunnel.{csv,md,json}.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from topo.cluster.pair import H2_ADDRESS, running_pair  # noqa: E402
from topo.cluster.servers import resolve  # noqa: E402
from topo.cluster.test_server import running_test_server  # noqa: E402
from topo.profiles import DirectionSpec  # noqa: E402

OUT = ROOT / "benchmarks" / "results"
KINDS = {"direct": None, "emulator-unlimited": DirectionSpec(),
         "emulator-50mbit-5ms": DirectionSpec(rate_bps=50e6, delay_ms=5.0)}


def ping_rtts_ms(h1, count: int) -> list[float]:
    out = h1.cmd(f"ping -n -c {count} -i 0.05 -W 1 {H2_ADDRESS}")
    return [float(part.split("=")[1]) for line in out.splitlines() for part in line.split()
            if part.startswith("time=")]


def goodput_mbps(h1, h2, seconds: float) -> float:
    h2.cmd("iperf3 -s -1 -D -p 5299")
    time.sleep(0.3)
    out = h1.cmd(f"iperf3 -c {H2_ADDRESS} -p 5299 -t {seconds:g} -J")
    try:
        return json.loads(out[out.index("{"):])["end"]["sum_received"]["bits_per_second"] / 1e6
    except (ValueError, KeyError):
        return float("nan")


def measure(servers, kind: str, h2_server: int, repeats: int, seconds: float) -> dict:
    with running_pair(servers, h2_server=h2_server, shaping=KINDS[kind]) as pair:
        h1, h2 = pair.host("h1"), pair.host("h2")
        ping_rtts_ms(h1, 3)  # ARP and first-packet costs out of the way
        rtts, rates = [], []
        for _ in range(repeats):
            rtts += ping_rtts_ms(h1, 30)
            rates.append(goodput_mbps(h1, h2, seconds))
        mtu = pair.tunnel_mtu_bytes
    rtts.sort()
    return {"kind": kind, "servers": h2_server, "pings": len(rtts),
            "rtt_median_ms": round(statistics.median(rtts), 3),
            "rtt_p90_ms": round(rtts[int(0.9 * (len(rtts) - 1))], 3),
            "goodput_max_mbps": round(max(rates), 1), "goodput_min_mbps": round(min(rates), 1),
            "tunnel_mtu_bytes": mtu or ""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rows = []
    with running_test_server() as server2:
        servers = [resolve("localhost"), server2]
        for kind in KINDS:
            for h2_server in (1, 2):
                rows.append(measure(servers, kind, h2_server, args.repeats, args.seconds))
                print(rows[-1], flush=True)
    by = {(r["kind"], r["servers"]): r for r in rows}
    overhead = [{"kind": k, "added_rtt_median_ms": round(by[k, 2]["rtt_median_ms"] - by[k, 1]["rtt_median_ms"], 3),
                 "goodput_ratio": round(by[k, 2]["goodput_max_mbps"] / by[k, 1]["goodput_max_mbps"], 3)}
                for k in KINDS]
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "cluster-tunnel.csv").open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    meta = {"host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
            "repeats": args.repeats, "iperf_seconds": args.seconds,
            "second_server": "test server: sshd in network namespace ectsrv2 over a 1550-byte veth (same machine)"}
    (OUT / "cluster-tunnel.json").write_text(json.dumps({"meta": meta, "rows": rows, "overhead": overhead}, indent=1))
    lines = ["# Cross-server link overhead (VXLAN tunnel to the test server)", "",
             f"{meta['cpus']} CPUs (shared), kernel {meta['kernel']}; {args.repeats} repeats of 30 pings and a "
             f"{args.seconds:g} s iperf3 per cell. Written by benchmarks/bench_cluster_tunnel.py.", "",
             "| link | servers | RTT median ms | RTT p90 ms | goodput max Mbit/s | goodput min | tunnel MTU |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['kind']} | {r['servers']} | {r['rtt_median_ms']} | {r['rtt_p90_ms']} | {r['goodput_max_mbps']} "
              f"| {r['goodput_min_mbps']} | {r['tunnel_mtu_bytes']} |" for r in rows]
    lines += ["", "| link | added RTT (2 servers - 1), median ms | goodput 2 servers / 1 |", "|---|---|---|"]
    lines += [f"| {o['kind']} | {o['added_rtt_median_ms']:+} | {o['goodput_ratio']} |" for o in overhead]
    (OUT / "cluster-tunnel.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
