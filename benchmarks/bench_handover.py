#!/usr/bin/env python3
"""Handovers with a request in flight (issue 15), per edge-selection policy: what the moved device sees.

    sudo flock /tmp/ect-net.lock .venv/bin/python benchmarks/bench_handover.py            # ~4 min
    sudo flock /tmp/ect-net.lock .venv/bin/python benchmarks/bench_handover.py --moves 2 --quick
    .venv/bin/python benchmarks/bench_handover.py --reuse DIR [DIR ...]                     # outputs from runs made
    sudo ... bench_handover.py --only new-edge/new --reuse DIR [DIR ...]          # one configuration again

Network: tests/data/two-cells.toml (2 WiFi-ideal cells, edge1 at bs1, edge2 at bs2, the cloud at bs1, bs1 - bs2
over one "wan" backhaul link), its file move dropped, the policy and address mode set per configuration (a new
address with a 0.5 s request timeout, CONFIGS says why). One
``compare --placements edge`` run per configuration: ue1 alone, closed loop, think 0, 60K images, so a request is in
flight at every move (the next leaves ~1 ms after each reply). ``--moves N`` round trips: ue1 to cell2 at
1, 3, 5, ... s and back to cell1 one second later (every move is a handover of ``interruption_ms`` 40, the
scenario's). Per handover, from requests.csv and experiment.json:

- window: the handover's measured start to end (configured 40 ms);
- in flight: the request whose send-to-reply span holds the handover's start: its response time, or its error
  (a failed request ends when the next one leaves);
- gap: the longest time without a reply around the handover (last reply before its start to first after it);
- first at new node: the response time of the first request sent to the node the policy switched the device to
  (``node_switch``): it opens a new connection over the new path;
- after: the median response time of the requests sent once the in-flight one has ended, until the next move.

Per policy, the spread (min / median / max) of those over the handovers into cell2 (away from home) and back, and
rows lost (expected from experiment.json against rows in requests.csv; must be 0). Host load: the 1-minute load
average before and after each run (the machine is shared). Writes benchmarks/results/handover.{json,md}.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

from harness_runs import ROOT, default_out, md_table, quick_models_args, run_harness, spread, write_outputs

SCENARIO = ROOT / "tests" / "data" / "two-cells.toml"
# (policy, address, extra flags): with a new address the request in flight has lost its source address; a 0.5 s
# timeout makes it fail (a recorded error) while the device is away, and the next request leaves from the new
# address to the new cell's edge (without it, the connection resumes when the device gets its old address back)
CONFIGS = (("keep-edge", "keep", ()), ("new-edge", "keep", ()), ("cloud", "keep", ()),
           ("new-edge", "new", ("--timeout", "0.5")))
ROUND_TRIP_S = 2.0  # away at 1, 3, 5, ... s; back one second later
RUNS_DIR = ROOT / ".cache" / "bench-handover"  # the run folders (not committed: handover.json names them)
LOAD_FILE = "bench-host-load.json"


def scenario_text(policy: str, address: str) -> str:
    """two-cells with ``policy`` and ``address``, without its own move (the benchmark gives its moves)."""
    text = SCENARIO.read_text().split("[[mobility.moves]]")[0]
    text = re.sub(r'edge_policy = "[a-z-]+"', f'edge_policy = "{policy}"', text)
    return re.sub(r'address = "[a-z]+"', f'address = "{address}"', text)


def moves(count: int) -> list[str]:
    out = []
    for i in range(count):
        out += ["--move", f"{1.0 + ROUND_TRIP_S * i:g}:ue1:cell2", "--move", f"{2.0 + ROUND_TRIP_S * i:g}:ue1:cell1"]
    return out


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def handover_figures(rows: list[dict], handovers: list[dict]) -> list[dict]:
    """One dict per handover of ue1 (see the module's doc); ``rows``: ue1's rows of requests.csv."""
    rows = sorted((r for r in rows if _int(r.get("client_send_start_ns"))),
                  key=lambda r: int(r["client_send_start_ns"]))
    replies = sorted(int(r["client_reply_complete_ns"]) for r in rows if _int(r.get("client_reply_complete_ns")))
    # a failed request has no reply time: closed loop, it ended when the next one left
    ends = {id(r): _int(r.get("client_reply_complete_ns")) or (int(rows[k + 1]["client_send_start_ns"])
                                                               if k + 1 < len(rows) else
                                                               int(r["client_send_start_ns"]) + 1)
            for k, r in enumerate(rows)}

    def ended(r) -> int:
        return ends[id(r)]
    out = []
    for i, h in enumerate(handovers):
        start, end = h["start_ns"], h["end_ns"]
        next_start = handovers[i + 1]["start_ns"] if i + 1 < len(handovers) else None
        flying = [r for r in rows if int(r["client_send_start_ns"]) <= start < ended(r)]
        settled = max([ended(r) for r in flying] + [end])
        after = [float(r["response_ms"]) for r in rows if r["status"] == "ok" and r["response_ms"]
                 and int(r["client_send_start_ns"]) >= settled
                 and (next_start is None or ended(r) < next_start)]
        before = [t for t in replies if t < start]
        later = [t for t in replies if t >= start]
        switched = [r for r in rows if r.get("node_switch") == "yes" and int(r["client_send_start_ns"]) >= start
                    and (next_start is None or int(r["client_send_start_ns"]) < next_start)]
        inflight = flying[0] if flying else None
        out.append({
            "to_cell": h["to_cell"], "window_ms": round((end - start) / 1e6, 2),
            "in_flight": bool(inflight),
            "in_flight_ms": float(inflight["response_ms"]) if inflight and inflight["status"] == "ok" else None,
            "in_flight_error": inflight["error"] if inflight and inflight["status"] != "ok" else "",
            "in_flight_served_by": inflight["served_by"] if inflight else "",
            "gap_ms": round((later[0] - before[-1]) / 1e6, 2) if before and later else None,
            "first_at_new_node_ms": float(switched[0]["response_ms"]) if switched and switched[0]["response_ms"]
            else None,
            "switched_to": switched[0]["served_by"] if switched else "",
            "after_p50_ms": round(statistics.median(after), 2) if after else None, "after_n": len(after),
            "after_served_by": sorted({r["served_by"] for r in rows if int(r["client_send_start_ns"]) >= settled
                                       and (next_start is None or ended(r) < next_start)}),
        })
    return out


def run_figures(run_dir: Path) -> dict:
    record = json.loads((run_dir / "experiment.json").read_text())
    with open(run_dir / "requests.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    scenario = record["scenario"]
    (passed,) = scenario["passes"].values()
    handovers = [h for h in passed.get("handovers", []) if h["device"] == "ue1"]
    figures = handover_figures([r for r in rows if r["device"] == "ue1"], handovers)
    lost = (record.get("requests_expected") or 0) - len(rows)
    return {"run": str(run_dir), "policy": scenario["edge_policy"], "address": scenario["address"],
            "interruption_ms": scenario["interruption_ms"], "requests": len(rows),
            "requests_expected": record.get("requests_expected"), "rows_lost": lost,
            "rows_left_out": sum((record.get("rows_left_out") or {}).values()),
            "failed": sum(r["status"] != "ok" for r in rows), "move_errors": passed.get("move_errors", []),
            "switches": len((passed.get("switches") or {}).get("edge", [])),
            "host_load_1min_before_after": _host_load(run_dir), "handovers": figures}


def _host_load(run_dir: Path) -> list | None:
    """The 1-minute load average before and after the run (written beside it by this benchmark)."""
    try:
        return json.loads((run_dir / LOAD_FILE).read_text())
    except (OSError, ValueError):
        return None


def summarise(runs: list[dict]) -> dict:
    by_key: dict = {}
    for run in runs:
        by_key.setdefault(f"{run['policy']}/{run['address']}", []).append(run)
    out = {}
    for key, group in by_key.items():
        hs = [h for run in group for h in run["handovers"]]
        per_dir = {}
        for direction, chosen in (("away", [h for h in hs if h["to_cell"] == "cell2"]),
                                  ("home", [h for h in hs if h["to_cell"] == "cell1"])):
            per_dir[direction] = {
                "handovers": len(chosen), "with_request_in_flight": sum(h["in_flight"] for h in chosen),
                "window_ms": spread(h["window_ms"] for h in chosen),
                "in_flight_ms": spread(h["in_flight_ms"] for h in chosen),
                "in_flight_errors": sorted({h["in_flight_error"] for h in chosen if h["in_flight_error"]}),
                "gap_ms": spread(h["gap_ms"] for h in chosen),
                "first_at_new_node_ms": spread(h["first_at_new_node_ms"] for h in chosen),
                "after_p50_ms": spread(h["after_p50_ms"] for h in chosen),
                "after_served_by": sorted({n for h in chosen for n in h["after_served_by"]}),
            }
        out[key] = {"runs": len(group), "rows_lost": sum(r["rows_lost"] for r in group),
                    "rows_left_out": sum(r["rows_left_out"] for r in group),
                    "failed": sum(r["failed"] for r in group), "switches": sum(r["switches"] for r in group),
                    "move_errors": [e for r in group for e in r["move_errors"]], **per_dir}
    return out


def _fmt(s: dict | None) -> str:
    return "-" if not s else f"{s['median']:g} ({s['min']:g}-{s['max']:g})"


def markdown(summary: dict, runs: list[dict], loads: list) -> list[str]:
    lines = ["# Handovers with a request in flight, per edge policy", "",
             "Measured by `benchmarks/bench_handover.py` on tests/data/two-cells.toml (WiFi-ideal cells, 40 ms "
             "handovers, ue1 closed loop think 0, 60K images, edge placement). Medians with (min-max) over the "
             f"handovers; host: {os.cpu_count()} cores shared with other jobs, 1-min load before/after each run: "
             + ", ".join(f"{a:.1f}/{b:.1f}" for a, b in loads) + ".", ""]
    header = ["policy/address", "direction", "handovers (in flight)", "window ms", "in-flight request ms",
              "gap without reply ms", "first at new node ms", "after-move p50 ms", "served after", "rows lost"]
    table = []
    for key, s in summary.items():
        for direction in ("away", "home"):
            d = s[direction]
            inflight = _fmt(d["in_flight_ms"]) + (f"; errors: {', '.join(d['in_flight_errors'])}"
                                                  if d["in_flight_errors"] else "")
            table.append([key, "to cell2" if direction == "away" else "back to cell1",
                          f"{d['handovers']} ({d['with_request_in_flight']})", _fmt(d["window_ms"]), inflight,
                          _fmt(d["gap_ms"]), _fmt(d["first_at_new_node_ms"]), _fmt(d["after_p50_ms"]),
                          ", ".join(d["after_served_by"]), s["rows_lost"] if direction == "away" else ""])
    lines += md_table(header, table)
    lines += ["", "Rows lost = requests expected - rows in requests.csv (every failed request is a row with its "
              "error). Runs: " + ", ".join(Path(r["run"]).name for r in runs) + "."]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moves", type=int, default=5, help="round trips (cell2 and back) per run (default 5)")
    parser.add_argument("--repetitions", type=int, default=0, help="requests per run (default: 150 per round trip)")
    parser.add_argument("--quick", action="store_true", help="test models; outputs under .cache/bench-quick")
    parser.add_argument("--reuse", nargs="+", type=Path, default=None, metavar="RUN_DIR",
                        help="the figures of these runs (with --only: beside the new runs)")
    parser.add_argument("--only", nargs="+", default=None, metavar="POLICY/ADDRESS",
                        help="run only these configurations (e.g. new-edge/new)")
    args = parser.parse_args()
    out_dir = default_out(args.quick)
    runs = [run_figures(d) for d in args.reuse or ()]
    if not args.reuse or args.only:
        repetitions = args.repetitions or 150 * args.moves + 100
        with tempfile.TemporaryDirectory(prefix="bench-handover-") as tmp:
            for policy, address, extra in CONFIGS:
                if args.only and f"{policy}/{address}" not in args.only:
                    continue
                scenario = Path(tmp) / f"two-cells-{policy}-{address}.toml"
                scenario.write_text(scenario_text(policy, address))
                load_before = os.getloadavg()[0]
                run_dir, _ = run_harness("compare", [
                    "--scenario", str(scenario), "--devices", "1", "--placements", "edge", "--sizes", "60K",
                    "--repetitions", str(repetitions), "--think-ms", "0", "--calibrate-seconds", "0", "--no-capture",
                    "--node-profile", "none", *extra, *moves(args.moves), *quick_models_args(args.quick)],
                    RUNS_DIR)
                (run_dir / LOAD_FILE).write_text(json.dumps([round(load_before, 2), round(os.getloadavg()[0], 2)]))
                runs.append(run_figures(run_dir))
    summary = summarise(runs)
    loads = [r["host_load_1min_before_after"] or [float("nan")] * 2 for r in runs]
    result = {"configs": summary, "runs": runs, "cpus": os.cpu_count()}
    write_outputs(out_dir, "handover", result, markdown(summary, runs, loads))
    print("\n".join(markdown(summary, runs, loads)))
    bad = [k for k, s in summary.items() if s["rows_lost"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
