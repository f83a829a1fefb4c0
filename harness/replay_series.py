"""The replay time series: each request's response time beside the access link's capacity then.

The access link's traces start when its emulator starts (``link_start_ns`` in
experiment.json); capacity is counted per 1 s window of the (looping) trace.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from traces.readers import read_delivery_trace

FIELDS = ["time_s", "response_ms", "upload_ms", "size_bytes", "status", "uplink_capacity_mbps",
          "downlink_capacity_mbps"]


def _capacity_mbps(trace, t_s: float) -> float:
    windows = trace.capacity_bytes_per_window(1000)
    if len(windows) == 0:
        return 0.0
    return float(windows[int(t_s) % len(windows)]) * 8 / 1e6


def write_replay_csv(run_dir: Path) -> Path | None:
    record = json.loads((run_dir / "experiment.json").read_text())
    spec = record["spec"]
    start_ns = record.get("link_start_ns", {}).get("trace", {}).get("access")
    if not start_ns or not (run_dir / "requests.csv").exists():
        return None
    up, down = read_delivery_trace(spec["uplink_trace"]), read_delivery_trace(spec["downlink_trace"])
    out = run_dir / "replay.csv"
    with open(run_dir / "requests.csv", newline="") as src, open(out, "w", newline="") as dst:
        writer = csv.DictWriter(dst, fieldnames=FIELDS)
        writer.writeheader()
        for row in csv.DictReader(src):
            if not row["client_send_start_ns"]:
                continue
            t_s = (int(row["client_send_start_ns"]) - int(start_ns)) / 1e9
            writer.writerow({"time_s": f"{t_s:.3f}", "response_ms": row["response_ms"], "upload_ms": row["upload_ms"],
                             "size_bytes": row["size_bytes"], "status": row["status"],
                             "uplink_capacity_mbps": f"{_capacity_mbps(up, t_s):.3f}",
                             "downlink_capacity_mbps": f"{_capacity_mbps(down, t_s):.3f}"})
    return out
