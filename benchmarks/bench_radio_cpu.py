"""The link emulator's own CPU with the radio models beside their pipes (run as root).

    sudo .venv/bin/python benchmarks/bench_radio_cpu.py               # 2 repeats (~3 min)
    sudo .venv/bin/python benchmarks/bench_radio_cpu.py --repeats 1

For each shipped access profile - ``lte`` and ``wifi`` (radio models, issue 14) and ``lte-ideal`` and
``wifi-ideal`` (their pipes) - in turn within each repeat (interleaved, so each pair sees the same machine):
  * idle: the profile's link with no traffic (a radio must not wake every TTI when nothing is queued);
  * saturated: iperf3 TCP (cubic) for a few seconds through the profile's link (uplink direction);
CPU = utime + stime of the emulator process over the measured window, in cores, and the TCP goodput.
The budgets are issue 13's (<= 0.05 core idle); the question asked is whether the radio stages cost more CPU
per delivered Mbit/s than the pipe. Writes benchmarks/results/radio-cpu.{json,md}.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_emulator_cpu import IDLE_S, IPERF_S, Variant, process_cpu_s, spread  # noqa: E402
from bench_links import iperf3_json  # noqa: E402
from harness_runs import host_fields, print_and_write  # noqa: E402
from topo.emulator.netns_path import ADDRESS_B, WirePath  # noqa: E402
from topo.profiles import load_profile  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
PROFILES = ("lte", "lte-ideal", "wifi", "wifi-ideal")
IDLE_BUDGET_CORES = 0.05


def measure(profile_name: str) -> dict:
    profile = load_profile(profile_name)
    variant = Variant("this tree", None)
    with WirePath() as path:
        with variant.start(path, profile.up, profile.down) as emulator:
            time.sleep(0.5)
            pid = emulator.process.pid
            cpu0, t0 = process_cpu_s(pid), time.monotonic()
            time.sleep(IDLE_S)
            idle = (process_cpu_s(pid) - cpu0) / (time.monotonic() - t0)
            cpu0, t0 = process_cpu_s(pid), time.monotonic()
            report = iperf3_json(path, path.ns_a, path.ns_b, ADDRESS_B, ["-O", "1", "-C", "cubic"], IPERF_S)
            busy = (process_cpu_s(pid) - cpu0) / (time.monotonic() - t0)
    goodput_mbps = report["end"]["sum_received"]["bits_per_second"] / 1e6
    return {"idle_cpu_cores": idle, "saturated_cpu_cores": busy, "goodput_mbps": goodput_mbps,
            "cpu_cores_per_100_mbps": busy / goodput_mbps * 100 if goodput_mbps else None}


def markdown(result: dict) -> str:
    lines = ["# Link emulator CPU: radio models beside their pipes (issue 14)", "",
             f"host {result['host']}, {result['cpus']} CPUs, {result['repeats']} repeats (mean, min..max); "
             f"machine shared with other jobs. Idle budget (issue 13): <= {IDLE_BUDGET_CORES} core.", "",
             "| profile | idle CPU (cores) | saturated CPU (cores) | TCP goodput (Mbit/s) | cores per 100 Mbit/s |",
             "|---|---|---|---|---|"]
    for name in PROFILES:
        cells = []
        for key in ("idle_cpu_cores", "saturated_cpu_cores", "goodput_mbps", "cpu_cores_per_100_mbps"):
            s = result["summary"][name][key]
            cells.append("n/a" if s["mean"] is None else f"{s['mean']:.3f} ({s['min']:.3f}..{s['max']:.3f})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines + [""])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", default=str(RESULTS / "radio-cpu.json"))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("error: bench_radio_cpu.py needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    runs = {name: [] for name in PROFILES}
    started = time.monotonic()
    for repeat in range(args.repeats):
        for name in PROFILES:
            row = measure(name)
            runs[name].append(row)
            print(f"repeat {repeat + 1} {name}: idle {row['idle_cpu_cores']:.3f}, saturated "
                  f"{row['saturated_cpu_cores']:.3f} core at {row['goodput_mbps']:.1f} Mbit/s", flush=True)
    summary = {name: {key: spread([r[key] for r in rows]) for key in rows[0]} for name, rows in runs.items()}
    result = {**host_fields(), "repeats": args.repeats, "profiles": list(PROFILES),
              "summary": summary, "runs": runs, "duration_s": time.monotonic() - started}
    print_and_write(Path(args.output), result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
