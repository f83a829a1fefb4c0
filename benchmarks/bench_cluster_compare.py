#!/usr/bin/env python3
"""One server against two (issue 18): the same ``compare`` with every host on this machine, and with the cloud on a
second server (the test server: sshd in a network namespace, reached over ssh, the WAN carried by VXLAN).

Runs alternate (one, two, one, two, ...) so that a drift of the host's load hits both alike. Per placement (edge,
cloud) and server count: the median response time of each run, and the median, min and max of those medians over
the runs; the two-server medians against the one-server ones (difference and ratio, with the min-max of the
per-pair differences). The tunnel's added delay is measured twice: as the WAN's idle RTT of each compare run
(links.csv, ping's 0.1 ms resolution at 40 ms) and directly, pinging across a bare link with its far end on
server 1 and on server 2 (topo.cluster.pair, 3 us resolution). The host load (1-minute load average) is recorded
before and after every run. Run as root from the repository root:

    sudo flock /tmp/ect-net.lock .venv/bin/python benchmarks/bench_cluster_compare.py [--runs 3] [--repetitions 10]

Writes benchmarks/results/cluster-compare.{json,md} (--quick: 1 run each, 4 repetitions, under .cache/bench-quick).
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from harness_runs import (TEST_MODELS, default_out, host_fields, md_table, print_and_write,  # noqa: E402
                          run_harness, spread)

from topo.cluster.pair import H2_ADDRESS, running_pair  # noqa: E402
from topo.cluster.servers import resolve  # noqa: E402
from topo.cluster.test_server import running_test_server  # noqa: E402

PLACEMENTS = ("edge", "cloud")
COMPARE = ["--access", "lte", "--sizes", "60K", "--calibrate-seconds", "0", "--node-profile", "none"]


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def run_medians(run_dir: Path) -> dict:
    """Median response ms per placement, the request count, failures, and the WAN's measured idle RTT."""
    with (run_dir / "requests.csv").open() as rows:
        requests = list(csv.DictReader(rows))
    with (run_dir / "links.csv").open() as rows:
        wan = [float(r["measured"]) for r in csv.DictReader(rows) if r["link"] == "wan" and "rtt" in r["metric"]]
    out = {"requests": len(requests), "failed": sum(r["status"] != "ok" for r in requests),
           "wan_rtt_ms": wan[0] if wan else None}
    for placement in PLACEMENTS:
        ok = [float(r["response_ms"]) for r in requests if r["placement"] == placement and r["status"] == "ok"]
        out[f"{placement}_median_ms"] = round(statistics.median(ok), 2) if ok else None
    return out


def one_compare(servers: int, server2, models: list[str], repetitions: int, results: Path) -> dict:
    extra = ["--servers", f"localhost,{server2.address}", "--place", "cloud=server2"] if servers == 2 else []
    before = load_average()
    run_dir, wall_s = run_harness("compare", [*COMPARE, "--repetitions", str(repetitions), *models, *extra],
                                  results / f"servers-{servers}")
    return {"servers": servers, "run_dir": str(run_dir), "wall_s": round(wall_s, 1), "load_before": before,
            "load_after": load_average(), **run_medians(run_dir)}


def tunnel_rtt(server2, count: int) -> dict:
    """Ping RTT across a bare link (no emulator) with h2 on server 1, then on server 2; median and p90 of each."""
    servers, found = [resolve("localhost"), server2], {}
    for h2_server in (1, 2):
        with running_pair(servers, h2_server=h2_server, shaping=None) as pair:
            h1 = pair.host("h1")
            h1.cmd(f"ping -n -c 3 -i 0.05 -W 1 {H2_ADDRESS}")  # ARP out of the way
            out = h1.cmd(f"ping -n -c {count} -i 0.02 -W 1 {H2_ADDRESS}")
        rtts = sorted(float(p.split("=")[1]) for line in out.splitlines() for p in line.split()
                      if p.startswith("time="))
        found[h2_server] = {"pings": len(rtts), "median_ms": round(statistics.median(rtts), 3),
                            "p90_ms": round(rtts[int(0.9 * (len(rtts) - 1))], 3)}
    return {"one_server": found[1], "two_servers": found[2],
            "added_median_ms": round(found[2]["median_ms"] - found[1]["median_ms"], 3)}


def summarize(runs: list[dict]) -> dict:
    by = {n: [r for r in runs if r["servers"] == n] for n in (1, 2)}
    out = {}
    for placement in PLACEMENTS:
        key = f"{placement}_median_ms"
        one, two = [r[key] for r in by[1]], [r[key] for r in by[2]]
        pairs = [b - a for a, b in zip(one, two) if a is not None and b is not None]
        s1, s2 = spread(one), spread(two)
        out[placement] = {"one_server": s1, "two_servers": s2,
                          "difference_ms": round(s2["median"] - s1["median"], 2) if s1 and s2 else None,
                          "ratio": round(s2["median"] / s1["median"], 3) if s1 and s2 else None,
                          "pair_differences_ms": spread(pairs)}
    wan1, wan2 = ([r["wan_rtt_ms"] for r in by[n]] for n in (1, 2))
    out["wan_rtt_ms"] = {"one_server": spread(wan1), "two_servers": spread(wan2)}
    return out


def report(result: dict) -> str:
    s, t, meta = result["summary"], result["tunnel_rtt"], result["meta"]
    fmt = lambda sp: f"{sp['median']:.1f} ({sp['min']:.1f}-{sp['max']:.1f})" if sp else "-"  # noqa: E731
    rows = [[p, fmt(s[p]["one_server"]), fmt(s[p]["two_servers"]), f"{s[p]['difference_ms'] or 0.0:+.1f}",
             s[p]["ratio"], f"{s[p]['pair_differences_ms']['min']:+.1f} .. {s[p]['pair_differences_ms']['max']:+.1f}"]
            for p in PLACEMENTS]
    lines = ["# One server vs two: the same compare with the cloud on server 2 (test server)", "",
             f"{meta['cpus']} CPUs shared with other jobs, kernel {meta['kernel']}, started {meta['started']}; "
             f"{meta['runs']} runs per placement, alternating, {meta['repetitions']} requests per placement per run "
             f"(`compare {' '.join(COMPARE)}`, the tests' 1-epoch models); 1-minute load average over the runs "
             f"{meta['load_min']}-{meta['load_max']}. Written by benchmarks/bench_cluster_compare.py.", "",
             "Median response ms of a run; median (min-max) over the runs:", ""]
    lines += md_table(["placement", "1 server", "2 servers (cloud on server 2)", "difference", "ratio",
                       "per-pair difference min..max"], rows)
    w = s["wan_rtt_ms"]
    lines += ["", f"WAN idle RTT in the runs (links.csv, 0.1 ms resolution): 1 server {fmt(w['one_server'])} ms, "
                  f"2 servers {fmt(w['two_servers'])} ms.",
              f"Tunnel RTT, bare link (ping x{t['one_server']['pings']}): 1 server {t['one_server']['median_ms']} ms "
              f"(p90 {t['one_server']['p90_ms']}), 2 servers {t['two_servers']['median_ms']} ms "
              f"(p90 {t['two_servers']['p90_ms']}): the tunnel adds {t['added_median_ms']:+.3f} ms.", "",
              "| run | servers | edge ms | cloud ms | WAN RTT ms | requests | failed | wall s | load before/after |",
              "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {i + 1} | {r['servers']} | {r['edge_median_ms']} | {r['cloud_median_ms']} | {r['wan_rtt_ms']} | "
              f"{r['requests']} | {r['failed']} | {r['wall_s']} | {r['load_before']}/{r['load_after']} |"
              for i, r in enumerate(result["runs"])]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="compare runs per placement (default 3)")
    parser.add_argument("--repetitions", type=int, default=10, help="requests per placement and run (default 10)")
    parser.add_argument("--pings", type=int, default=200, help="pings per side for the tunnel RTT (default 200)")
    parser.add_argument("--quick", action="store_true", help="1 run each, 4 repetitions, output under .cache")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.repetitions, args.pings = 1, 4, 30
    if not (TEST_MODELS / "manifest.json").is_file():
        print(f"error: no test model set in {TEST_MODELS}: run the tests once (or models.zoo.ensure_models)")
        return 1
    models = ["--models-dir", str(TEST_MODELS)]
    runs = []
    started = host_fields()
    with tempfile.TemporaryDirectory(prefix="ect-bench-cluster-") as tmp, running_test_server() as server2:
        tunnel = tunnel_rtt(server2, args.pings)
        for _ in range(args.runs):
            for servers in (1, 2):
                runs.append(one_compare(servers, server2, models, args.repetitions, Path(tmp)))
                print({k: v for k, v in runs[-1].items() if k != "run_dir"}, flush=True)
    loads = [r[k] for r in runs for k in ("load_before", "load_after")]
    meta = {**started, "runs": args.runs, "repetitions": args.repetitions, "load_min": min(loads),
            "load_max": max(loads), "second_server": "test server: sshd in network namespace ectsrv2 (same machine)"}
    for run in runs:
        run.pop("run_dir")
    result = {"meta": meta, "tunnel_rtt": tunnel, "summary": summarize(runs), "runs": runs}
    print_and_write(default_out(args.quick) / "cluster-compare.json", result, report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
