"""``summary.csv``: per placement x access x image size, the request statistics and the analytic lower bound.

The bound is what the emulated network and the measured inference allow at best, for a request
on an already open connection (the client keeps its connection alive):

    bound_ms = wire_bytes * 8 / bottleneck_uplink_bps  +  path_rtt_ms  +  median inference_ms
               +  median preprocess_ms

- ``preprocess_ms``: the server's measured decode of the image (JPEG -> tensor), which every request
  pays before inference (79-180 ms for a 4096K JPEG on this machine's CPU). Left out (0) for runs
  recorded before the column existed.

- ``wire_bytes`` = image bytes * 1500 / 1448: each full 1500-byte IP packet carries 1448 bytes of
  TCP payload (20 IP + 20 TCP + 12 timestamp option). The image bytes are the median
  ``actual_bytes`` sent (the nominal size when that column is empty). HTTP headers and the
  reply (a few hundred bytes) are left out.
- bottleneck uplink: edge = min(access, LAN) uplink; cloud = min(access, WAN) uplink. A link
  with no rate is unlimited. A trace link's rate is the trace's mean capacity (the report says so).
- ``path_rtt_ms`` = the one-way delays of every link on the path, both directions (edge: access
  + LAN; cloud: access + WAN): one round trip carries the last byte up and the reply down.
  Delay traces and jitter are left out (the constant delay is used).
- features / split placements: the bound covers the device -> edge leg only (the edge -> cloud
  leg depends on the feature size), plus their median server inference time.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TCP_PAYLOAD_BYTES, IP_PACKET_BYTES = 1448, 1500
PATH_LINKS = {"edge": ("access", "lan"), "cloud": ("access", "wan"), "features": ("access", "lan"),
              "split": ("access", "lan")}
SIZE_LABELS = {60 * 1024: "60K", 124 * 1024: "124K", 256 * 1024: "256K", 512 * 1024: "512K",
               1024 * 1024: "1024K", 2048 * 1024: "2048K", 4096 * 1024: "4096K"}
PLACEMENT_ORDER = ("edge", "cloud", "features", "split")
METRICS = ("upload_ms", "preprocess_ms", "inference_ms", "response_ms")

SUMMARY_FIELDS = [
    "placement", "access", "size", "size_bytes", "model", "count", "ok", "failed",
    *[f"{m}_{s}" for m in METRICS for s in ("median", "p90", "mean")],
    "bound_wire_bytes", "bound_uplink_mbps", "bound_rtt_ms", "bound_inference_ms", "bound_preprocess_ms", "bound_ms",
    "response_over_bound", "bound_note",
]


def size_label(size_bytes: int) -> str:
    if size_bytes in SIZE_LABELS:
        return SIZE_LABELS[size_bytes]
    return f"{size_bytes / 1024:g}K" if size_bytes % 1024 == 0 else f"{size_bytes}B"


@dataclass(frozen=True)
class DirectionRate:
    """What the bound needs from one link direction."""

    rate_bps: float | None  # None: unlimited
    delay_ms: float
    from_trace: bool = False


def _mean_trace_rate_bps(path: str) -> float | None:
    from traces.readers import read_delivery_trace
    from traces.trace_types import TraceFormatError

    try:
        return read_delivery_trace(path).mean_rate_bps
    except (TraceFormatError, OSError):
        return None


def direction_rate(spec: dict | None) -> DirectionRate | None:
    """A DirectionSpec dict of experiment.json -> rate and delay (a trace gives its mean rate)."""
    if not spec:
        return None
    if spec.get("rate_trace"):
        return DirectionRate(_mean_trace_rate_bps(spec["rate_trace"]), float(spec.get("delay_ms") or 0), True)
    return DirectionRate(spec.get("rate_bps"), float(spec.get("delay_ms") or 0))


def profile_for(access: str, profiles: dict) -> dict | None:
    """The profile entry of an access name (a path given as the access is looked up by its stem)."""
    return profiles.get(access) or profiles.get(Path(access).stem)


def _floats(rows: list[dict], key: str) -> list[float]:
    out = []
    for row in rows:
        try:
            value = float(row.get(key) or "nan")
        except ValueError:
            continue
        if math.isfinite(value):
            out.append(value)
    return out


def stats(values: list[float]) -> dict:
    if not values:
        return {"median": None, "p90": None, "mean": None}
    return {"median": statistics.median(values), "p90": float(np.percentile(values, 90)),
            "mean": statistics.fmean(values)}


def lower_bound(placement: str, access: str, image_bytes: float, inference_ms: float | None,
                profiles: dict, preprocess_ms: float | None = None) -> dict:
    """The bound's parts; ``bound_ms`` None (with a note) when a profile or rate is unknown."""
    names = PATH_LINKS.get(placement)
    access_profile = profile_for(access, profiles)
    if names is None or access_profile is None:
        return {"bound_note": f"no profile for access {access!r} in experiment.json" if names
                else f"no bound for placement {placement!r}"}
    links = [access_profile if n == "access" else profiles.get(n) for n in names]
    ups = [direction_rate(link.get("up")) if link else None for link in links]
    downs = [direction_rate(link.get("down")) if link else None for link in links]
    notes = []
    if any(link is None for link in links):
        missing = [n for n, link in zip(names, links) if link is None]
        notes.append(f"no {'/'.join(missing)} profile recorded: taken as an unshaped wire")
    rates = [d.rate_bps for d in ups if d is not None and d.rate_bps]
    if any(d is not None and d.from_trace for d in ups):
        if any(d is not None and d.from_trace and d.rate_bps is None for d in ups):
            return {"bound_note": "trace file not readable: its mean capacity is unknown"}
        notes.append("uplink rate = the trace's mean capacity")
    rtt_ms = sum(d.delay_ms for d in [*ups, *downs] if d is not None)
    wire_bytes = image_bytes * IP_PACKET_BYTES / TCP_PAYLOAD_BYTES
    uplink_bps = min(rates) if rates else None
    transfer_ms = wire_bytes * 8 / uplink_bps * 1000 if uplink_bps else 0.0
    if placement in ("features", "split"):
        notes.append("device -> edge leg only")
    if inference_ms is None:
        notes.append("no inference time measured: left out")
    return {"bound_wire_bytes": round(wire_bytes), "bound_uplink_mbps": None if uplink_bps is None else uplink_bps / 1e6,
            "bound_rtt_ms": rtt_ms, "bound_inference_ms": inference_ms, "bound_preprocess_ms": preprocess_ms,
            "bound_ms": transfer_ms + rtt_ms + (inference_ms or 0.0) + (preprocess_ms or 0.0),
            "bound_note": "; ".join(notes)}


def _int(value, default: int = 0) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def summarise(requests_rows: list[dict], profiles: dict) -> list[dict]:
    """summary.csv rows, ordered by access, placement, size. Values are numbers or None."""
    groups: dict[tuple, list[dict]] = {}
    for row in requests_rows:
        key = (row.get("access", ""), row.get("placement", ""), _int(row.get("size_bytes")))
        groups.setdefault(key, []).append(row)
    order = {p: i for i, p in enumerate(PLACEMENT_ORDER)}
    out = []
    for access, placement, size_bytes in sorted(groups, key=lambda k: (k[0], order.get(k[1], 9), k[1], k[2])):
        rows = groups[(access, placement, size_bytes)]
        ok_rows = [r for r in rows if r.get("status") == "ok"]
        record = {"placement": placement, "access": access, "size": size_label(size_bytes), "size_bytes": size_bytes,
                  "model": ",".join(sorted({r.get("model") or "" for r in rows} - {""})),
                  "count": len(rows), "ok": len(ok_rows), "failed": len(rows) - len(ok_rows)}
        for metric in METRICS:
            for name, value in stats(_floats(ok_rows, metric)).items():
                record[f"{metric}_{name}"] = value
        actual = _floats(ok_rows, "actual_bytes")
        image_bytes = statistics.median(actual) if actual else size_bytes
        record.update(lower_bound(placement, access, image_bytes, record["inference_ms_median"], profiles,
                                  record.get("preprocess_ms_median")))
        bound, response = record.get("bound_ms"), record["response_ms_median"]
        record["response_over_bound"] = response / bound if bound and response is not None else None
        out.append(record)
    return out


def format_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.3f}"
    return str(value)


def write_summary_csv(rows: list[dict], path: Path) -> None:
    import csv

    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: format_cell(row.get(k)) for k in SUMMARY_FIELDS})
