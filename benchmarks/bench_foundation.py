#!/usr/bin/env python3
"""Foundation figures: topology up (all hosts reachable) and teardown with 3 devices, and the
set-up command's second run. Run as root from the repository root:

    sudo .venv/bin/python benchmarks/bench_foundation.py [--repeats 5]

Writes benchmarks/results/foundation.json and prints a table.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.orchestration.reachability import ping_all_pairs  # noqa: E402
from topo.network import running_network  # noqa: E402
from topo.profiles import load_profile  # noqa: E402
from topo.topology import TopologySpec  # noqa: E402


def one_cycle(ues: int) -> tuple[float, float]:
    spec = TopologySpec(access=load_profile("lte"), wan=load_profile("wan"), lan=load_profile("lan"),
                        ues=ues, backend="userspace")
    started = time.monotonic()
    with running_network(spec) as net:
        pairs = ping_all_pairs(net, count=1, interval_s=0.2)
        up_s = time.monotonic() - started
        if not all(p.reachable for p in pairs):
            raise SystemExit(f"unreachable pairs: {[(p.src, p.dst) for p in pairs if not p.reachable]}")
    return up_s, net.timings_s["stop_s"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ues", type=int, default=3)
    args = parser.parse_args()
    ups, downs = [], []
    for _ in range(args.repeats):
        up_s, down_s = one_cycle(args.ues)
        ups.append(up_s)
        downs.append(down_s)
    started = time.monotonic()
    subprocess.run([str(ROOT / "setup.sh")], check=True, capture_output=True)
    setup_s = time.monotonic() - started
    result = {
        "ues": args.ues, "repeats": args.repeats,
        "topology_up_all_reachable_s": {"median": statistics.median(ups), "max": max(ups)},
        "teardown_s": {"median": statistics.median(downs), "max": max(downs)},
        "setup_second_run_s": setup_s,
        "goals": {"topology_up_s": 3.0, "teardown_s": 2.0, "setup_second_run_s": 20.0},
    }
    out = ROOT / "benchmarks" / "results" / "foundation.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"topology up + all {args.ues + 3} hosts reachable: median {statistics.median(ups):.2f} s, "
          f"max {max(ups):.2f} s (goal < 3 s)")
    print(f"teardown: median {statistics.median(downs):.2f} s, max {max(downs):.2f} s (goal < 2 s)")
    print(f"setup.sh second run: {setup_s:.2f} s (goal < 20 s)")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
