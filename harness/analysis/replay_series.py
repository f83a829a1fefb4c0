"""The replay time series: each request beside the access link's capacity while it was uploaded.

Clock: the access link's traces start when its emulator starts; the harness records that moment
(``link_start_ns["trace"]["access"]`` in experiment.json: the monotonic time the emulator said
"ready", a few ms after its trace clock started), and the requests' stamps are on the same monotonic
clock, so request time t s = (stamp - link start) / 1e9 s into the trace. A looping trace repeats
with its period (its last timestamp), as the emulator replays it; a ``once`` trace delivers nothing
after its end.

- ``replay.csv``: one row per request: send start and upload end (s since the link started), response
  and upload ms, and the uplink capacity as the mean over the request's OWN upload interval (send start
  .. upload complete at the server), beside the 1 s window at its start (older column, kept);
- ``replay-capacity.csv``: the trace's capacity in every 1 s window of the run (0 .. the last reply);
- ``replay_section``: report.md's lines: Spearman's rank correlation (scipy) of upload and response time
  with the per-upload capacity, per image size.
"""
from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import numpy as np

from harness.analysis.report_sections import fmt, table
from traces.readers import read_delivery_trace
from traces.trace_types import OPPORTUNITY_BYTES, DeliveryTrace

FIELDS = ["time_s", "upload_end_s", "response_ms", "upload_ms", "size_bytes", "status",
          "uplink_capacity_upload_mbps", "uplink_capacity_mbps", "downlink_capacity_mbps"]
CAPACITY_FIELDS = ["time_s", "uplink_mbps", "downlink_mbps"]


def _opportunities_before(trace: DeliveryTrace, t_ms: float, loop: bool) -> int:
    """Delivery opportunities at times < t_ms of the (looping) trace started at 0."""
    if t_ms <= 0:
        return 0
    times, period = trace.opportunity_ms, trace.duration_ms
    if not loop:
        return int(np.searchsorted(times, t_ms, side="left"))
    loops, rest = divmod(t_ms, period)
    at_period_end = int(len(times) - np.searchsorted(times, period, side="left")) if loops and rest == 0 else 0
    return int(loops) * len(times) - at_period_end + int(np.searchsorted(times, rest, side="left"))


def mean_capacity_mbps(trace: DeliveryTrace, start_s: float, end_s: float, loop: bool = True) -> float:
    """Mean capacity over [start_s, end_s) of the trace (bytes it could deliver / the interval)."""
    if end_s <= start_s:
        end_s = start_s + 0.001  # an instant: the capacity in its millisecond
    count = _opportunities_before(trace, end_s * 1000, loop) - _opportunities_before(trace, start_s * 1000, loop)
    return count * OPPORTUNITY_BYTES * 8 / (end_s - start_s) / 1e6


def capacity_series(trace: DeliveryTrace, span_s: float, loop: bool = True, window_s: float = 1.0) -> list[float]:
    """Capacity (Mbit/s) in each window [k w, (k+1) w) from 0 to span_s."""
    return [mean_capacity_mbps(trace, k * window_s, (k + 1) * window_s, loop)
            for k in range(max(1, math.ceil(span_s / window_s)))]


def _seconds(value, start_ns: int) -> float | None:
    try:
        return (int(value) - start_ns) / 1e9
    except (TypeError, ValueError):
        return None


def replay_rows(requests: list[dict], start_ns: int, up: DeliveryTrace, down: DeliveryTrace,
                loop_up: bool = True, loop_down: bool = True) -> list[dict]:
    out = []
    for row in requests:
        t_s = _seconds(row.get("client_send_start_ns"), start_ns)
        if t_s is None:
            continue
        upload_end_s = _seconds(row.get("server_upload_complete_ns"), start_ns)
        during = "" if upload_end_s is None else f"{mean_capacity_mbps(up, t_s, upload_end_s, loop_up):.3f}"
        out.append({"time_s": f"{t_s:.3f}", "upload_end_s": "" if upload_end_s is None else f"{upload_end_s:.3f}",
                    "response_ms": row.get("response_ms", ""), "upload_ms": row.get("upload_ms", ""),
                    "size_bytes": row.get("size_bytes", ""), "status": row.get("status", ""),
                    "uplink_capacity_upload_mbps": during,
                    "uplink_capacity_mbps": f"{mean_capacity_mbps(up, math.floor(t_s), math.floor(t_s) + 1, loop_up):.3f}",
                    "downlink_capacity_mbps":
                        f"{mean_capacity_mbps(down, math.floor(t_s), math.floor(t_s) + 1, loop_down):.3f}"})
    return out


def _span_s(requests: list[dict], start_ns: int) -> float:
    ends = [_seconds(r.get(k), start_ns) for r in requests for k in ("client_reply_complete_ns", "client_send_start_ns")]
    return max([e for e in ends if e is not None] or [1.0])


def write_replay_csv(run_dir: Path, out_dir: Path | None = None) -> Path | None:
    """replay.csv and replay-capacity.csv of a replay run (into ``out_dir``, default the run folder); None
    when the run has no trace link start, no requests, or its trace files are not readable here."""
    from traces.trace_types import TraceFormatError

    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir
    record = json.loads((run_dir / "experiment.json").read_text())
    spec = record.get("spec") or {}
    start_ns = (record.get("link_start_ns") or {}).get("trace", {}).get("access")
    if not start_ns or not (run_dir / "requests.csv").exists():
        return None
    try:
        up, down = read_delivery_trace(spec["uplink_trace"]), read_delivery_trace(spec["downlink_trace"])
    except (KeyError, TraceFormatError, OSError):
        return None
    profile = (record.get("profiles") or {}).get("trace") or {}
    loop_up = (profile.get("up") or {}).get("trace_mode", "loop") == "loop"
    loop_down = (profile.get("down") or {}).get("trace_mode", "loop") == "loop"
    with open(run_dir / "requests.csv", newline="") as src:
        requests = list(csv.DictReader(src))
    out = out_dir / "replay.csv"
    with open(out, "w", newline="") as dst:
        writer = csv.DictWriter(dst, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(replay_rows(requests, int(start_ns), up, down, loop_up, loop_down))
    span = _span_s(requests, int(start_ns))
    with open(out_dir / "replay-capacity.csv", "w", newline="") as dst:
        writer = csv.writer(dst)
        writer.writerow(CAPACITY_FIELDS)
        for k, (u, d) in enumerate(zip(capacity_series(up, span, loop_up), capacity_series(down, span, loop_down))):
            writer.writerow([k, f"{u:.3f}", f"{d:.3f}"])
    return out


# ---------------------------------------------------------------- the report's section

def _spearman(x: list[float], y: list[float]) -> tuple[float | None, float | None]:
    """Spearman's rank correlation (ties get average ranks) and its two-sided p-value; None if undefined."""
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None, None
    from scipy.stats import spearmanr

    result = spearmanr(x, y)
    return float(result.statistic), float(result.pvalue)


def _num(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def replay_section(replay: list[dict]) -> list[str]:
    """Each request against the mean uplink capacity over its own upload interval (send start .. upload
    complete), per image size (a larger image takes longer at any capacity, so sizes are not pooled)."""
    per_upload = any(r.get("uplink_capacity_upload_mbps") not in (None, "") for r in replay)
    key = "uplink_capacity_upload_mbps" if per_upload else "uplink_capacity_mbps"
    points = [(int(_num(r.get("size_bytes")) or 0), _num(r.get("upload_ms")), _num(r.get("response_ms")),
               _num(r.get(key))) for r in replay]
    points = [p for p in points if p[2] is not None and p[3] is not None]
    out = ["## Replay", ""]
    if len(points) < 2:
        return out + ["Not measured: fewer than two replayed requests with a response time.", ""]
    from harness.analysis.summary import size_label

    responses = [p[2] for p in points]
    out.append(f"{len(points)} requests; median response {statistics.median(responses):.1f} ms. "
               + ("Capacity = the trace's mean uplink capacity over each request's own upload (send start .. "
                  "upload complete at the server)." if per_upload else
                  "Capacity = the uplink's 1 s window at each request's send start (this folder has no "
                  "per-upload capacity; re-run `report` where the trace files are readable to get it)."))
    out += ["", "Spearman rank correlation (two-sided p-value), per image size; negative: slower when the "
                "link is thinner.", ""]
    rows = []
    for size in sorted({p[0] for p in points}):
        mine = [p for p in points if p[0] == size]
        caps = [p[3] for p in mine]
        uploads = [(p[1], p[3]) for p in mine if p[1] is not None]
        rho_up, p_up = _spearman([u for u, _ in uploads], [c for _, c in uploads])
        rho_resp, p_resp = _spearman([p[2] for p in mine], caps)
        rows.append([size_label(size) if size else "?", len(mine),
                     fmt(statistics.median([u for u, _ in uploads]) if uploads else None),
                     fmt(statistics.median([p[2] for p in mine])), f"{min(caps):.2f}..{max(caps):.2f}",
                     "-" if rho_up is None else f"{rho_up:+.2f} (p={p_up:.2g})",
                     "-" if rho_resp is None else f"{rho_resp:+.2f} (p={p_resp:.2g})"])
    out.append(table(["size", "requests", "median upload ms", "median response ms", "capacity Mbit/s",
                      "upload vs capacity", "response vs capacity"], rows))
    return out + [""]
