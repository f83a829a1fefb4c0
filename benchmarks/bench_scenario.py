#!/usr/bin/env python3
"""Scenario scale (issue 15): scenarios/three-cells.toml (3 cells x 10 devices, 3 edges, a metro site, 1 cloud)
up with every ordered pair reachable, torn down leaving nothing; processes and idle CPU per shaped link.
Run as root from the repository root:

    sudo .venv/bin/python benchmarks/bench_scenario.py [--repeats 3] [--idle-s 3]

"up" is from the call to the moment every one of the 38 x 37 ordered pairs has answered an ICMP echo
(topo/scenario/probe.py); "down" is the network's own teardown timing; "left" counts the project's root-namespace
links and namespaces, and this run's processes (those carrying its owner mark), still there afterwards. Goals: up < 5 s, down < 3 s, nothing left; at most
0.05 core per idle shaped link (issue 13's budget). Writes benchmarks/results/scenario.{csv,json,md}.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from topo.network import running_network  # noqa: E402
from topo.registry import owner_of  # noqa: E402
from topo.scenario import load_scenario, plan_scenario  # noqa: E402
from topo.scenario.probe import network_all_pairs  # noqa: E402

GOALS = {"up_s": 5.0, "down_s": 3.0, "idle_core_per_link": 0.05}
OUT = ROOT / "benchmarks" / "results"


def snapshot() -> dict:
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    names = {line.split(": ")[1].split("@")[0] for line in links.splitlines() if ": " in line}
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    procs = set()  # this benchmark's own: other sessions on the machine start emulators of their own
    for proc in psutil.process_iter(["pid", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or [])
        if proc.pid != os.getpid() and ("topo.emulator" in line or "mininet:" in line):
            try:
                if owner_of(proc.environ()) == os.getpid():
                    procs.add(proc.pid)
            except psutil.Error:
                pass
    return {"links": {n for n in names if n.startswith("ect")}, "netns": {n for n in netns if n.startswith("ect")},
            "procs": procs}


def idle_cpu(net, seconds: float) -> list[dict]:
    """Per shaped link: its processes (the emulator and Mininet's shell of the wire node) and their CPU at idle."""
    rows = []
    for wire in net.wires():
        procs = [psutil.Process(wire.process.pid), psutil.Process(wire.pid)]
        before = [sum(p.cpu_times()[:2]) for p in procs]
        rows.append({"link": wire.link_name, "procs": procs, "before": before})
    time.sleep(seconds)
    out = []
    for row in rows:
        after = [sum(p.cpu_times()[:2]) for p in row["procs"]]
        out.append({"link": row["link"], "processes": len(row["procs"]),
                    "idle_core": round(sum(a - b for a, b in zip(after, row["before"])) / seconds, 4)})
    return out


def one_cycle(spec, idle_s: float, measure_idle: bool) -> dict:
    before = snapshot()
    started = time.monotonic()
    with running_network(spec) as net:
        network_s = time.monotonic() - started
        pairs = network_all_pairs(net)
        up_s = time.monotonic() - started
        reachable = sum(p.reachable for p in pairs)
        links = idle_cpu(net, idle_s) if measure_idle else []
    time.sleep(0.2)
    after = snapshot()
    left = {k: sorted(map(str, after[k] - before[k])) for k in after}
    return {"network_up_s": round(network_s, 3), "up_all_reachable_s": round(up_s, 3),
            "pairs": len(pairs), "reachable": reachable, "down_s": round(net.timings_s["stop_s"], 3),
            "left": sum(len(v) for v in left.values()), "left_detail": left, "links": links}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--idle-s", type=float, default=3.0)
    parser.add_argument("--scenario", default=str(ROOT / "scenarios" / "three-cells.toml"))
    args = parser.parse_args()
    spec = plan_scenario(load_scenario(args.scenario), "userspace")
    load_before = os.getloadavg()[0]
    cycles = [one_cycle(spec, args.idle_s, measure_idle=(i == 0)) for i in range(args.repeats)]
    links = cycles[0]["links"]
    ups, downs = [c["up_all_reachable_s"] for c in cycles], [c["down_s"] for c in cycles]
    summary = {
        "scenario": spec.scenario.name, "hosts": len(spec.hosts), "devices": spec.scenario.device_count,
        "shaped_links": len(links), "repeats": args.repeats,
        "host_load_1min_before": round(load_before, 2), "cpu_cores": os.cpu_count(),
        "up_all_reachable_s": {"median": statistics.median(ups), "max": max(ups)},
        "network_up_s": {"median": statistics.median(c["network_up_s"] for c in cycles)},
        "down_s": {"median": statistics.median(downs), "max": max(downs)},
        "all_pairs_reachable": all(c["reachable"] == c["pairs"] for c in cycles),
        "left_after_teardown": sum(c["left"] for c in cycles),
        "processes_per_shaped_link": max(l["processes"] for l in links),
        "idle_core_per_link": {"median": statistics.median(l["idle_core"] for l in links),
                               "max": max(l["idle_core"] for l in links)},
        "goals": GOALS, "cycles": cycles,
    }
    summary["met"] = {"up_s": summary["up_all_reachable_s"]["max"] < GOALS["up_s"],
                      "down_s": summary["down_s"]["max"] < GOALS["down_s"],
                      "nothing_left": summary["left_after_teardown"] == 0,
                      "all_reachable": summary["all_pairs_reachable"],
                      "idle_core_per_link": summary["idle_core_per_link"]["max"] <= GOALS["idle_core_per_link"]}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "scenario.json").write_text(json.dumps(summary, indent=2))
    with open(OUT / "scenario.csv", "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["cycle", "network_up_s", "up_all_reachable_s", "pairs", "reachable", "down_s", "left"])
        for i, c in enumerate(cycles, 1):
            writer.writerow([i, c["network_up_s"], c["up_all_reachable_s"], c["pairs"], c["reachable"], c["down_s"],
                             c["left"]])
        writer.writerow([])
        writer.writerow(["link", "processes", "idle_core"])
        for link in links:
            writer.writerow([link["link"], link["processes"], link["idle_core"]])
    met = summary["met"]
    md = [f"# Scenario scale: {spec.scenario.name} ({len(spec.hosts)} hosts, {spec.scenario.device_count} devices, "
          f"{len(links)} shaped links)", "",
          f"Measured by `benchmarks/bench_scenario.py` ({args.repeats} cycles, userspace links, {os.cpu_count()} "
          f"cores, 1-min load {load_before:.1f} before: the machine is shared).", "",
          "| figure | value | goal | met |", "|---|---|---|---|",
          f"| up, all {cycles[0]['pairs']} ordered pairs reachable | median {summary['up_all_reachable_s']['median']:.2f} s,"
          f" max {summary['up_all_reachable_s']['max']:.2f} s | < 5 s | {'yes' if met['up_s'] else 'no'} |",
          f"| down | median {summary['down_s']['median']:.2f} s, max {summary['down_s']['max']:.2f} s | < 3 s | "
          f"{'yes' if met['down_s'] else 'no'} |",
          f"| left after teardown (links, namespaces, processes) | {summary['left_after_teardown']} | 0 | "
          f"{'yes' if met['nothing_left'] else 'no'} |",
          f"| processes per shaped link | {summary['processes_per_shaped_link']} (emulator + Mininet's node shell) | - | - |",
          f"| idle CPU per shaped link | median {summary['idle_core_per_link']['median']:.4f}, max "
          f"{summary['idle_core_per_link']['max']:.4f} core | <= 0.05 | {'yes' if met['idle_core_per_link'] else 'no'} |"]
    (OUT / "scenario.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
