#!/usr/bin/env python3
"""The README's reliability figures: fault runs of `compare`, the kill test, the property-test inputs.

    sudo .venv/bin/python benchmarks/bench_reliability.py                 # 3 repeats per scenario, everything
    sudo .venv/bin/python benchmarks/bench_reliability.py --quick         # 1 repeat, fewer property inputs
    sudo .venv/bin/python benchmarks/bench_reliability.py --skip kill-clean --skip properties

1. Faults (per access lte, wifi; --repeats each), 60K images, closed loop from ue1:
   - cloud placement with an access rate change (2 Mbit/s for 1.5 s) and a WAN link-down (2 s), so every
     request crosses the WAN: rows recorded vs requests issued (lost), requests that completed inside the
     WAN window (must be 0: the link is down), requests caught by it (failed or stalled to its end), and
     the success rate of the requests sent outside every window;
   - edge placement with a cloud kill (1.5 s + restart): edge requests failed while the cloud was down.
2. Kill test: ``pytest tests/test_kill_clean.py`` (SIGKILL of compare at network start, node start and
   mid-workload, then ``run.py clean``); what was left before and after clean (.cache/kill-clean.json).
   It runs ``clean``: do not use it while someone else's network is up.
3. Property tests: ``pytest tests/test_properties.py``; inputs tried per parser (.cache/property-inputs.json).
Writes benchmarks/results/reliability.json + .md (with --quick: .cache/bench-quick/).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness_runs import (ROOT, BenchError, default_out, md_table, quick_models_args, run_harness, spread,
                          write_outputs)

TIMEOUT_S = 4.0
RECOVERY_S = 1.0
# the fault clock starts when the device workload is launched; its first request leaves ~0.6 s later
RATE_FAULT, WAN_FAULT, KILL_FAULT = "1.5s:rate:access:2Mbit/s:1.5s", "4.5s:link-down:wan:2s", "1s:kill:cloud:1.5s"
# closed-loop requests per run: enough that the workload outlasts every window on each access
REPETITIONS = {"lte": {"cloud": 60, "edge": 60}, "wifi": {"cloud": 150, "edge": 300}}
STEPS = ("faults", "kill-clean", "properties")


def _rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "requests.csv", newline="") as f:
        return list(csv.DictReader(f))


def _span_ns(row: dict) -> tuple[int, int]:
    start = int(row["client_send_start_ns"])
    if row["status"] == "ok":
        return start, int(row["client_reply_complete_ns"])
    return start, start + int(TIMEOUT_S * int(row.get("attempts") or 1) * 1e9)


def _windows(record: dict) -> dict[str, dict]:
    return {w["fault"]: w for w in record["faults"]}


def fault_figures(run_dir: Path, issued: int) -> dict:
    """What one fault run recorded, measured from its folder."""
    record = json.loads((run_dir / "experiment.json").read_text())
    rows = _rows(run_dir)
    windows = _windows(record)
    spans = [_span_ns(r) for r in rows]
    first, last = (min(s for s, _ in spans), max(e for _, e in spans)) if spans else (0, 0)
    out = {"run": str(run_dir), "status": record["status"], "issued": issued, "recorded": len(rows),
           "lost": issued - len(rows), "failed": sum(r["status"] != "ok" for r in rows),
           "windows": {text: {"status": w["status"], "error": w["error"],
                              # a kill's window ends when the restarted node is ready: it may outlast the workload
                              "inside_workload": bool(w["start_ns"] and w["end_ns"] and first < w["start_ns"] and (
                                  w["kind"] == "kill" or w["end_ns"] + RECOVERY_S * 1e9 < last))}
                       for text, w in windows.items()}}
    outside = [r for r, (s, e) in zip(rows, spans)
               if all(w["start_ns"] is None or e < w["start_ns"] or s > w["end_ns"] + RECOVERY_S * 1e9
                      for w in windows.values())]
    out["outside_windows"] = {"requests": len(outside), "ok": sum(r["status"] == "ok" for r in outside)}
    wan = windows.get(WAN_FAULT)
    if wan and wan["start_ns"] and wan["end_ns"]:
        completed_inside = [r for r in rows if r["status"] == "ok" and int(r["client_send_start_ns"]) >= wan["start_ns"]
                            and int(r["client_reply_complete_ns"]) <= wan["end_ns"]]
        caught = [r for r, (s, e) in zip(rows, spans) if s < wan["end_ns"] and e > wan["start_ns"] + 100_000_000]
        out["wan_down"] = {"completed_inside": len(completed_inside), "caught": len(caught),
                           "caught_failed": sum(r["status"] != "ok" for r in caught),
                           "caught_stalled_to_end": sum(r["status"] == "ok" and int(r["client_reply_complete_ns"])
                                                        >= wan["end_ns"] for r in caught)}
    kill = windows.get(KILL_FAULT)
    if kill and kill["start_ns"] and kill["end_ns"]:
        during = [r for r in rows if kill["start_ns"] <= int(r["client_send_start_ns"]) <= kill["end_ns"]]
        out["cloud_down"] = {"seconds": round((kill["end_ns"] - kill["start_ns"]) / 1e9, 2),
                             "edge_requests": len(during), "edge_failed": sum(r["status"] != "ok" for r in during)}
    return out


def run_faults(accesses: list[str], repeats: int, models: list[str], results_dir: Path) -> dict:
    runs: dict[str, list[dict]] = {}
    for access in accesses:
        for placement, faults in (("cloud", (RATE_FAULT, WAN_FAULT)), ("edge", (KILL_FAULT,))):
            for repeat in range(repeats):
                print(f"bench_reliability: faults {access}/{placement} repeat {repeat + 1}/{repeats}", flush=True)
                issued = REPETITIONS[access][placement]
                args = ["--access", access, "--placements", placement, "--sizes", "60K", "--repetitions",
                        str(issued), "--calibrate-seconds", "0", "--no-capture", "--timeout", f"{TIMEOUT_S:g}",
                        "--seed", str(repeat), *models]
                for fault in faults:
                    args += ["--fault", fault]
                run_dir, _ = run_harness("compare", args, results_dir)
                runs.setdefault(f"{access}/{placement}", []).append(fault_figures(run_dir, issued))
    summary = {}
    for key, figures in runs.items():
        outside = [f["outside_windows"] for f in figures]
        summary[key] = {
            "runs": len(figures), "issued": sum(f["issued"] for f in figures),
            "lost": sum(f["lost"] for f in figures),
            "windows_ended_inside_workload": sum(all(w["status"] == "ended" and w["inside_workload"]
                                                     for w in f["windows"].values()) for f in figures),
            "outside_windows_success_pct": spread(o["ok"] / o["requests"] * 100 for o in outside if o["requests"]),
        }
        if key.endswith("/cloud"):
            wan = [f["wan_down"] for f in figures if "wan_down" in f]
            summary[key]["wan_completed_inside"] = sum(w["completed_inside"] for w in wan)
            summary[key]["wan_caught"] = sum(w["caught"] for w in wan)
            summary[key]["wan_caught_failed_or_stalled"] = sum(w["caught_failed"] + w["caught_stalled_to_end"]
                                                               for w in wan)
        else:
            down = [f["cloud_down"] for f in figures if "cloud_down" in f]
            summary[key]["edge_requests_while_cloud_down"] = sum(d["edge_requests"] for d in down)
            summary[key]["edge_failed_while_cloud_down"] = sum(d["edge_failed"] for d in down)
            summary[key]["cloud_down_s"] = spread(d["seconds"] for d in down)
    return {"faults": {"rate": RATE_FAULT, "wan": WAN_FAULT, "kill": KILL_FAULT}, "summary": summary, "runs": runs}


def _pytest(test_file: str, env: dict, log: Path) -> int:
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_file]
    print("$ " + " ".join(argv[1:]), flush=True)
    done = subprocess.run(argv, cwd=ROOT, env=os.environ | env, capture_output=True, text=True)
    log.write_text(done.stdout + done.stderr)
    print((done.stdout.strip().splitlines() or ["(no output)"])[-1], flush=True)
    return done.returncode


def run_kill_clean(work: Path) -> dict:
    out = ROOT / ".cache" / "kill-clean.json"
    out.unlink(missing_ok=True)
    rc = _pytest("tests/test_kill_clean.py", {}, work / "kill-clean.log")
    if not out.is_file():
        raise BenchError(f"tests/test_kill_clean.py wrote no {out} (exit {rc}); see {work / 'kill-clean.log'}")
    points = json.loads(out.read_text())
    left = {p: sum(v["after_clean"].values()) for p, v in points.items() if isinstance(v, dict)}
    return {"pytest_exit": rc, "points": points, "left_after_clean": left,
            "left_after_clean_total": sum(left.values())}


def run_properties(examples: int, work: Path) -> dict:
    out = ROOT / ".cache" / "property-inputs.json"
    out.unlink(missing_ok=True)
    rc = _pytest("tests/test_properties.py", {"ECT_PROPERTY_EXAMPLES": str(examples)}, work / "properties.log")
    if not out.is_file():
        raise BenchError(f"tests/test_properties.py wrote no {out} (exit {rc})")
    counts = json.loads(out.read_text())
    return {"pytest_exit": rc, "examples_per_target": examples, "targets": len(counts["per_target"]), **counts}


def markdown(result: dict) -> list[str]:
    out = ["# Reliability figures (benchmarks/bench_reliability.py)", ""]
    if result["quick"]:
        out += ["QUICK validation run: 1 repeat, few property inputs -- not figures.", ""]
    faults = result.get("faults")
    if faults:
        out += [f"Faults: cloud placement `{faults['faults']['rate']}` + `{faults['faults']['wan']}`; edge placement "
                f"`{faults['faults']['kill']}`; 60K images, timeout {TIMEOUT_S:g} s.", ""]
        rows = []
        for key, s in faults["summary"].items():
            success = s["outside_windows_success_pct"]
            rows.append([key, s["runs"], f"{s['lost']} of {s['issued']}", s["windows_ended_inside_workload"],
                         "" if not success else f"{success['median']:.1f} ({success['min']:.1f}..{success['max']:.1f})",
                         f"{s.get('wan_completed_inside', '')}" if "wan_caught" in s else "",
                         f"{s['wan_caught_failed_or_stalled']} of {s['wan_caught']}" if "wan_caught" in s else "",
                         f"{s['edge_failed_while_cloud_down']} of {s['edge_requests_while_cloud_down']}"
                         if "edge_requests_while_cloud_down" in s else ""])
        out += md_table(["access/placement", "runs", "rows lost", "runs with every window inside the workload",
                         "success outside windows % median (min..max)", "completed while WAN down",
                         "caught by WAN down: failed or stalled", "edge failed while cloud down"], rows)
        out.append("")
    kill = result.get("kill_clean")
    if kill:
        out += ["Kill test (SIGKILL of compare, then clean): left after clean per point: "
                + ", ".join(f"{p} {n}" for p, n in kill["left_after_clean"].items())
                + f" (pytest exit {kill['pytest_exit']}).", ""]
    props = result.get("properties")
    if props:
        out += [f"Property tests: {props['total']} inputs over {props['targets']} targets "
                f"({props['examples_per_target']} per target; pytest exit {props['pytest_exit']}).", ""]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 repeat, 20 property inputs per target")
    parser.add_argument("--repeats", type=int, default=None, help="fault runs per scenario (default 3; quick 1)")
    parser.add_argument("--accesses", default="lte,wifi", help="comma list of lte, wifi")
    parser.add_argument("--skip", action="append", default=[], choices=STEPS, help="leave a step out")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "results", help="where the fault runs go")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default benchmarks/results; with --quick .cache/bench-quick)")
    args = parser.parse_args(argv)
    accesses = [a.strip() for a in args.accesses.split(",") if a.strip()]
    unknown = [a for a in accesses if a not in REPETITIONS]
    if unknown or not accesses:
        print(f"bench_reliability: --accesses {args.accesses!r}: use a comma list of lte, wifi", file=sys.stderr)
        return 2
    repeats = args.repeats or (1 if args.quick else 3)
    out_dir = args.out or default_out(args.quick)
    result: dict = {"quick": args.quick, "repeats": repeats, "skipped": sorted(set(args.skip))}
    try:
        with tempfile.TemporaryDirectory(prefix="ect-bench-reliability-") as tmp:
            work = Path(tmp)
            if "faults" not in args.skip:
                result["faults"] = run_faults(accesses, repeats, quick_models_args(args.quick), args.results_dir)
            if "kill-clean" not in args.skip:
                print("bench_reliability: kill test", flush=True)
                result["kill_clean"] = run_kill_clean(work)
            if "properties" not in args.skip:
                print("bench_reliability: property tests", flush=True)
                result["properties"] = run_properties(20 if args.quick else 400, work)
    except (BenchError, OSError, KeyError, ValueError) as err:
        print(f"bench_reliability: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    write_outputs(out_dir, "reliability", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
