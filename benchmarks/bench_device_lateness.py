#!/usr/bin/env python3
"""How late many devices leave against their schedules on a loaded machine, and what keeps them on time.

    sudo nice -n 5 .venv/bin/python benchmarks/bench_device_lateness.py            # about 3 min here
    sudo .venv/bin/python benchmarks/bench_device_lateness.py --devices 8 --seconds 8 --repeats 1 --quick

N ``python -m nodes.workload`` devices (Poisson, ``--rate-hz`` each, 8K images) send to one cloud server on
loopback (the tests' models, 1 thread) while ``--burners`` processes keep the cores busy ``--duty`` of the time
(what the servers, emulators and captures of a real run do to the devices). Each mode is run ``--repeats`` times:

- ``own-start``: every device starts its schedule when it is set up (the workload before issue 13's fix: N
  Python start-ups overlap the others' schedules), normal scheduling;
- ``shared-start``: ``--start-line``: all start together once all are ready, normal scheduling;
- ``shared-start+fifo``: and ``--realtime-priority 5`` (SCHED_FIFO below the emulators'), what the harness
  runs for an open loop (``nodes.device_timing``).

Per mode: requests, schedule lateness p50 / p99 / max (ms) over every repeat's rows, p99 per repeat (spread),
and what scheduling the devices reported. No network is built (loopback only): no lock needed.
Writes benchmarks/results/device-lateness.json + .md (--quick: .cache/bench-quick/).
"""
from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness_runs import ROOT, TEST_MODELS, default_out, md_table, spread, write_outputs

sys.path.insert(0, str(ROOT))
from nodes.device_timing import parse_scheduling, start_line  # noqa: E402
from nodes.launch import NodeProcess  # noqa: E402

MODES = {"own-start": [], "shared-start": ["--start-line"],
         "shared-start+fifo": ["--start-line", "--realtime-priority", "5"]}


def _burn(duty: float, stop_at: float) -> None:
    """Busy ``duty`` of each 20 ms period until ``stop_at`` (monotonic s)."""
    period = 0.02
    while time.monotonic() < stop_at:
        t0 = time.monotonic()
        while time.monotonic() - t0 < duty * period:
            pass
        time.sleep(max(0.0, period * (1 - duty)))


def run_mode(url: str, mode: str, devices: int, rate_hz: float, seconds: float, folder: Path) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    procs = []
    for i in range(1, devices + 1):
        argv = [sys.executable, "-m", "nodes.workload", "--url", url, "--model", "cloudcnn", "--sizes", "8K",
                "--seed", str(i), "--device", f"ue{i}", "--tag", f"ue{i}", "--rate-hz", f"{rate_hz:g}",
                "--duration-s", f"{seconds:g}", "--images-dir", str(ROOT / ".cache" / "images"),
                "--out", str(folder / f"ue{i}.csv"), *MODES[mode]]
        procs.append(subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=open(folder / f"ue{i}.err", "wb")))
    scheduling = []
    if "--start-line" in MODES[mode]:
        for proc in procs:  # each prints "scheduling ..." then "ready"
            for raw in proc.stdout:
                line = raw.decode().strip()
                if (got := parse_scheduling(line)) is not None:
                    scheduling.append(got)
                if line == "ready":
                    break
        line = start_line(0.25)
        for proc in procs:
            proc.stdin.write(line)
            proc.stdin.close()
    for proc in procs:
        for raw in proc.stdout:
            if (got := parse_scheduling(raw.decode().strip())) is not None:
                scheduling.append(got)
        if proc.wait(seconds + 120) != 0:
            raise SystemExit(f"{mode}: a device failed: {(folder / 'ue1.err').read_text()[-300:]}")
    lateness, failed = [], 0
    for i in range(1, devices + 1):
        with open(folder / f"ue{i}.csv", newline="") as f:
            for row in csv.DictReader(f):
                failed += row["status"] != "200"
                lateness.append(float(row["schedule_lateness_ms"]))
    return {"lateness_ms": lateness, "failed": failed, "scheduling": sorted(set(scheduling))}


def _pct(values: list[float], q: float) -> float | None:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * len(values)))], 3) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=16)
    parser.add_argument("--rate-hz", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--burners", type=int, default=2)
    parser.add_argument("--duty", type=float, default=0.5)
    parser.add_argument("--quick", action="store_true", help="write under .cache/bench-quick")
    args = parser.parse_args()
    models = TEST_MODELS if (TEST_MODELS / "manifest.json").is_file() else ROOT / ".cache" / "models"
    result = {"devices": args.devices, "rate_hz": args.rate_hz, "seconds": args.seconds, "repeats": args.repeats,
              "burners": args.burners, "duty": args.duty, "cpus": os.cpu_count(), "modes": {}}
    with tempfile.TemporaryDirectory() as tmp, \
            NodeProcess("cloud", ["--models", str(models), "--threads", "1"], log_dir=Path(tmp) / "cloud") as cloud:
        runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
        for repeat in range(args.repeats):
            for mode in MODES:  # interleaved: a drift of the machine spreads over every mode
                stop_at = time.monotonic() + args.seconds + 30
                burners = [multiprocessing.Process(target=_burn, args=(args.duty, stop_at), daemon=True)
                           for _ in range(args.burners)]
                for b in burners:
                    b.start()
                try:
                    runs[mode].append(run_mode(cloud.url, mode, args.devices, args.rate_hz, args.seconds,
                                               Path(tmp) / f"{mode}-{repeat}"))
                finally:
                    for b in burners:
                        b.terminate()
                        b.join()
                print(mode, repeat, "p99", _pct(runs[mode][-1]["lateness_ms"], 0.99), flush=True)
        for mode, got in runs.items():
            every = [v for r in got for v in r["lateness_ms"]]
            result["modes"][mode] = {"requests": len(every), "failed": sum(r["failed"] for r in got),
                                     "p50_ms": _pct(every, 0.5), "p99_ms": _pct(every, 0.99),
                                     "max_ms": _pct(every, 1.0),
                                     "p99_ms_per_repeat": spread([_pct(r["lateness_ms"], 0.99) for r in got]),
                                     "scheduling": sorted({s for r in got for s in r["scheduling"]})}
    lines = ["# Device schedule lateness: own start vs shared start vs SCHED_FIFO", "",
             f"{args.devices} devices x {args.rate_hz:g} req/s (Poisson, 8K) for {args.seconds:g} s, to one cloud "
             f"server on loopback, {args.burners} burner(s) at {args.duty:.0%} duty on {os.cpu_count()} CPUs; "
             f"{args.repeats} repeat(s) per mode, interleaved. Every mode runs today's workload (a select() event "
             "loop, the set-up's objects frozen out of the garbage collector); they differ in the start and the "
             "scheduling only.", ""]
    lines += md_table(["mode", "requests", "failed", "p50 ms", "p99 ms", "max ms", "p99 per repeat (min..max)",
                       "scheduling"],
                      [[m, v["requests"], v["failed"], v["p50_ms"], v["p99_ms"], v["max_ms"],
                        f"{v['p99_ms_per_repeat']['min']}..{v['p99_ms_per_repeat']['max']}"
                        if v["p99_ms_per_repeat"] else "", "; ".join(v["scheduling"])]
                       for m, v in result["modes"].items()])
    write_outputs(default_out(args.quick), "device-lateness", result, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
