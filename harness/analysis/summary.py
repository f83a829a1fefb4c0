"""``summary.csv``: per placement x access x image size, the request statistics, the network floor and the server time.

- ``upload_ms`` / ``preprocess_ms`` / ``inference_ms`` / ``response_ms``: median, p90 and mean of the
  ok requests (requests.csv);
- ``server_ms_*``: each request's measured server time at the node the device talked to (reply sent -
  upload complete: decode + inference (+ the cloud hop of features/split) + the server's overhead; see
  ``harness.analysis.node_records``);
- ``network_floor_ms`` / ``upload_floor_ms``: the median over the cell's ok requests of each request's
  analytic floor (``harness.analysis.floor``: serialisation at the bottleneck of the request and reply wire
  bytes, path propagation, the handshake and slow start of a new or idle connection); the parts are in
  ``floor_*``. "no floor" where none holds (trace, jitter, loss), with the reason in ``floor_note``;
- ``residual_ms``: median over the ok requests of response - network floor - server time: what neither
  the network's floor nor the server accounts for (queueing, TCP dynamics, the client). Below 0 means a
  floor or a stamp is wrong, and the report says so.
"""
from __future__ import annotations

import math
import statistics
from pathlib import Path

import numpy as np

from harness.analysis.accuracy import accuracy_fields
from harness.analysis.floor import NO_FLOOR, connection_states, path_of, request_floor, route_path_of, wire_bytes
from harness.analysis.node_records import read_node_records, record_of, reply_payload_bytes, request_payload_bytes, server_ms

SIZE_LABELS = {60 * 1024: "60K", 124 * 1024: "124K", 256 * 1024: "256K", 512 * 1024: "512K",
               1024 * 1024: "1024K", 2048 * 1024: "2048K", 4096 * 1024: "4096K"}
PLACEMENT_ORDER = ("edge", "cloud", "features", "split")
METRICS = ("upload_ms", "preprocess_ms", "inference_ms", "server_ms", "response_ms", "queue_ms",
           "schedule_lateness_ms")
FLOOR_FIELDS = ["network_floor_ms", "upload_floor_ms", "floor_request_wire_bytes", "floor_reply_wire_bytes",
                "floor_uplink_mbps", "floor_downlink_mbps", "floor_propagation_ms", "floor_cold_requests",
                "floor_slow_start_ms", "residual_ms", "response_over_floor_and_server", "floor_note"]
SUMMARY_FIELDS = [
    "placement", "access", "size", "size_bytes", "model", "devices", "count", "ok", "failed",
    *[f"{m}_{s}" for m in METRICS for s in ("median", "p90", "mean")],
    "server_ms", *FLOOR_FIELDS, "accuracy", "accuracy_n",
]
PURPOSE_OF = {"cloud": "request (cloud)"}  # every other placement talks to the edge


def size_label(size_bytes: int) -> str:
    if size_bytes in SIZE_LABELS:
        return SIZE_LABELS[size_bytes]
    return f"{size_bytes / 1024:g}K" if size_bytes % 1024 == 0 else f"{size_bytes}B"


def _float(value) -> float | None:
    try:
        out = float(value if value not in (None, "") else "nan")
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _floats(rows: list[dict], key: str) -> list[float]:
    return [v for v in (_float(r.get(key)) for r in rows) if v is not None]


def stats(values: list[float]) -> dict:
    if not values:
        return {"median": None, "p90": None, "mean": None}
    return {"median": statistics.median(values), "p90": float(np.percentile(values, 90)),
            "mean": statistics.fmean(values)}


def _int(value, default: int = 0) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return default


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _route_key(row: dict) -> str:
    """``cell>node`` of a scenario row's ``path`` (``cell2>bs2>bs1>edge1`` -> ``cell2>edge1``)."""
    hops = (row.get("path") or "").split(">")
    return f"{hops[0]}>{hops[-1]}" if len(hops) >= 2 else ""


def _paths(rows: list[dict], placement: str, access: str, profiles: dict, routes: dict | None):
    """Each row's (PathModel or None, notes): one path for the workload, or on a scenario (``routes``) each row's
    own, from its cell and node (a moved device's path changes)."""
    if routes is None:
        return [path_of(placement, access, profiles)] * len(rows)
    return [route_path_of(placement, routes.get(_route_key(r)), profiles) for r in rows]


def _annotate(rows: list[dict], profiles: dict, records: dict, open_loop: bool,
              routes: dict | None = None) -> dict[str, list[str]]:
    """Add each row's server time, floor and connection state (keys starting with ``_``); returns the
    notes per (access, placement). On a scenario a request's floor is over its own route; the first request to
    a node the device was switched to (``node_switch``) opens a new connection."""
    by_workload: dict[tuple[str, str, str], list[dict]] = {}
    for row in rows:  # one device's connections are its own
        key = (row.get("access", ""), row.get("placement", ""), row.get("device") or "ue1")
        by_workload.setdefault(key, []).append(row)
    notes: dict[tuple[str, str], list[str]] = {}
    for (access, placement, _device), mine in by_workload.items():
        mine.sort(key=lambda r: _int(r.get("client_send_start_ns"), 0))
        paths = _paths(mine, placement, access, profiles, routes)
        kept = notes.setdefault((access, placement), [])
        for note in [n for _, row_notes in paths for n in row_notes]:
            if note not in kept:
                kept.append(note)
        if len({p for p, _ in paths if p is not None}) > 1 and ROUTES_NOTE not in kept:
            kept.append(ROUTES_NOTE)
        path = paths[0][0]
        states = connection_states(mine, path.rto_ms if path else 0.0, open_loop)
        for row, state, (path, _) in zip(mine, states, paths):
            record = record_of(row, records)
            row["_server_ms"], row["_server_source"] = server_ms(row, record)
            state = "new" if row.get("node_switch") == "yes" else state
            row["_state"], row["_path"] = state, path
            if path is None:
                continue
            image = _int(row.get("actual_bytes")) or _int(row.get("size_bytes"))
            row["_request_payload"] = request_payload_bytes(row, record, image)
            row["_reply_payload"] = reply_payload_bytes(record)
            row["_floor"] = request_floor(path, row["_request_payload"], row["_reply_payload"], state)
    return notes


def _connections_note(access: str, placement: str, rows: list[dict], flow_rows: list[dict]) -> str | None:
    """Compare the new connections the floor assumed with those the device's capture saw (same server)."""
    purpose = PURPOSE_OF.get(placement, "request (edge)")
    assumed = sum(r.get("_state") == "new" for r in rows if r.get("access") == access
                  and PURPOSE_OF.get(r.get("placement", ""), "request (edge)") == purpose)
    seen = sum(f.get("access") == access and f.get("purpose") == purpose and f.get("link") == "access"
               for f in flow_rows)
    if seen > assumed:
        return (f"the device capture has {seen} connections to this server where the rows imply {assumed}: "
                "the others are taken as kept alive (the floor may be low, never high)")
    return None


def _floor_fields(rows: list[dict], path, notes: list[str]) -> dict:
    ok = [r for r in rows if r.get("status") == "ok" and r.get("_floor")]
    if path is None:
        reason = "; ".join(notes)
        return {"network_floor_ms": NO_FLOOR if reason.startswith(NO_FLOOR) else None,
                "upload_floor_ms": NO_FLOOR if reason.startswith(NO_FLOOR) else None, "floor_note": reason}
    if not ok:
        return {"floor_note": "; ".join([*notes, "no ok request"])}
    residuals = [_float(r.get("response_ms")) - r["_floor"]["network_floor_ms"] - r["_server_ms"] for r in ok
                 if _float(r.get("response_ms")) is not None and r.get("_server_ms") is not None]
    cold = [r for r in ok if r["_state"] != "warm"]
    return {"network_floor_ms": _median([r["_floor"]["network_floor_ms"] for r in ok]),
            "upload_floor_ms": _median([r["_floor"]["upload_floor_ms"] for r in ok]),
            "floor_request_wire_bytes": round(_median([wire_bytes(r["_request_payload"]) for r in ok])),
            "floor_reply_wire_bytes": round(_median([wire_bytes(r["_reply_payload"]) for r in ok])),
            "floor_uplink_mbps": None if path.up_bps is None else path.up_bps / 1e6,
            "floor_downlink_mbps": None if path.down_bps is None else path.down_bps / 1e6,
            "floor_propagation_ms": path.rtt_ms, "floor_cold_requests": len(cold),
            "floor_slow_start_ms": _median([r["_floor"]["slow_start_ms"] for r in cold]) if cold else 0.0,
            "residual_ms": _median(residuals), "floor_note": "; ".join(notes)}


def summarise(requests_rows: list[dict], profiles: dict, run_dir: Path | None = None,
              flow_rows: list[dict] | None = None, open_loop: bool = False, routes: dict | None = None) -> list[dict]:
    """summary.csv rows, ordered by access, placement, size. Values are numbers, None, or "no floor".
    ``run_dir``: where the nodes' timings.jsonl are (server times and body bytes by node); ``routes``: a
    scenario run's (experiment.json's ``scenario.routes``), each row's floor then over its own route."""
    rows = [dict(r) for r in requests_rows]
    notes = _annotate(rows, profiles, read_node_records(run_dir) if run_dir else {}, open_loop, routes)
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        key = (row.get("access", ""), row.get("placement", ""), _int(row.get("size_bytes")))
        groups.setdefault(key, []).append(row)
    order = {p: i for i, p in enumerate(PLACEMENT_ORDER)}
    out = []
    for access, placement, size_bytes in sorted(groups, key=lambda k: (k[0], order.get(k[1], 9), k[1], k[2])):
        cell = groups[(access, placement, size_bytes)]
        ok_rows = [r for r in cell if r.get("status") == "ok"]
        record = {"placement": placement, "access": access, "size": size_label(size_bytes), "size_bytes": size_bytes,
                  "model": ",".join(sorted({r.get("model") or "" for r in cell} - {""})),
                  "devices": len({r.get("device") or "ue1" for r in cell}),
                  "count": len(cell), "ok": len(ok_rows), "failed": len(cell) - len(ok_rows)}
        for metric in METRICS:
            values = ([r["_server_ms"] for r in ok_rows if r.get("_server_ms") is not None]
                      if metric == "server_ms" else _floats(ok_rows, metric))
            for name, value in stats(values).items():
                record[f"{metric}_{name}"] = value
        record["server_ms"] = record["server_ms_median"]
        cell_notes = list(notes.get((access, placement), []))
        sources = {r.get("_server_source") for r in ok_rows} - {"node record", None}
        if sources:
            cell_notes.append(f"server time from the {' and '.join(sorted(sources))} (no node record)")
        connections = _connections_note(access, placement, rows, flow_rows or [])
        if connections:
            cell_notes.append(connections)
        path = next((r["_path"] for r in cell if r.get("_path") is not None), None) if cell else None
        record.update(_floor_fields(cell, path, cell_notes))
        record.update(accuracy_fields(cell))  # --images with labels (harness/analysis/accuracy_section.py)
        floor, server, response = record.get("network_floor_ms"), record["server_ms"], record["response_ms_median"]
        record["response_over_floor_and_server"] = (
            response / (floor + server) if isinstance(floor, float) and server is not None and response is not None
            and floor + server > 0 else None)
        out.append(record)
    return out


ROUTES_NOTE = ("each request's floor is over its own route (cell and node); the floor_* rates and propagation "
               "are of the first route")


def format_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.3f}"
    return str(value)


def write_formatted_csv(rows: list[dict], path: Path, fields: list[str]) -> None:
    """``rows`` as a CSV of ``fields``, each value written by ``format_cell`` (None -> empty)."""
    import csv

    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: format_cell(row.get(k)) for k in fields})


def write_summary_csv(rows: list[dict], path: Path) -> None:
    write_formatted_csv(rows, path, SUMMARY_FIELDS)


DEVICE_COUNT_FIELDS = ["access", "placement", "device", "address", "requests", "ok", "failed", "response_ms_median",
                       "queue_ms_median", "schedule_lateness_ms_p90", "capture", "connections", "bytes_up",
                       "bytes_down"]


def device_address(device: str) -> str:
    """ue<i> -> 10.0.1.<i> (topo/topology.py's addressing)."""
    return f"10.0.1.{device[2:]}" if device.startswith("ue") and device[2:].isdigit() else ""


def device_counts(requests_rows: list[dict], flow_rows: list[dict] | None = None) -> list[dict]:
    """``devices.csv``: per access x placement x device, its rows (ok, failed), response / queue medians, how late
    its requests left (p90), and what the device-side capture saw of it (TCP connections to that placement's
    server, IP bytes each way), told apart by the device's own address."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for row in requests_rows:
        groups.setdefault((row.get("access", ""), row.get("placement", ""), row.get("device") or "ue1"), []).append(row)
    order = {p: i for i, p in enumerate(PLACEMENT_ORDER)}
    out = []
    for access, placement, device in sorted(groups, key=lambda k: (k[0], order.get(k[1], 9), _int(k[2][2:], 0))):
        rows = groups[(access, placement, device)]
        ok = [r for r in rows if r.get("status") == "ok"]
        address = device_address(device)
        purpose = f"request ({'cloud' if placement == 'cloud' else 'edge'})"
        flows = [f for f in flow_rows or [] if f.get("access") == access and f.get("client") == address
                 and f.get("purpose") == purpose and f.get("link") in ("access", "bs")]
        out.append({"access": access, "placement": placement, "device": device, "address": address,
                    "requests": len(rows), "ok": len(ok), "failed": len(rows) - len(ok),
                    "response_ms_median": stats(_floats(ok, "response_ms"))["median"],
                    "queue_ms_median": stats(_floats(ok, "queue_ms"))["median"],
                    "schedule_lateness_ms_p90": stats(_floats(rows, "schedule_lateness_ms"))["p90"],
                    "capture": ",".join(sorted({f.get("capture", "") for f in flows})) or None,
                    "connections": len(flows) if flow_rows else None,
                    "bytes_up": sum(_int(f.get("bytes_up")) for f in flows) if flow_rows else None,
                    "bytes_down": sum(_int(f.get("bytes_down")) for f in flows) if flow_rows else None})
    return out


def write_device_counts_csv(rows: list[dict], path: Path) -> None:
    write_formatted_csv(rows, path, DEVICE_COUNT_FIELDS)


def devices_section(summary: list[dict], counts: list[dict]) -> list[str]:
    """report.md: server queueing per cell and, with several devices, each device's rows and captured bytes."""
    queued = [r for r in summary if r.get("queue_ms_median") is not None]
    out: list[str] = []
    if queued:
        out += ["## Server queueing", "", "Arrival at the answering server to its preprocess start, ms: median "
                "(p90), and how late the devices' requests left against their schedule (p90).", "",
                "| access | placement | size | devices | queue | lateness p90 |", "|---|---|---|---:|---:|---:|"]
        out += [f"| {r['access']} | {r['placement']} | {r['size']} | {r['devices']} | {format_cell(r['queue_ms_median'])}"
                f" ({format_cell(r['queue_ms_p90'])}) | {format_cell(r.get('schedule_lateness_ms_p90')) or '-'} |"
                for r in queued]
        out.append("")
    if len({c["device"] for c in counts}) > 1:
        out += ["## Devices", "", "Each device's rows, and what the capture on the devices' side saw of it (told "
                "apart by its address); all of it in devices.csv.", "",
                "| access | placement | device | rows (ok) | response median ms | connections | bytes up | bytes down |",
                "|---|---|---|---:|---:|---:|---:|---:|"]
        out += [f"| {c['access']} | {c['placement']} | {c['device']} | {c['requests']} ({c['ok']}) | "
                f"{format_cell(c['response_ms_median']) or '-'} | {format_cell(c['connections']) or '-'} | "
                f"{format_cell(c['bytes_up']) or '-'} | {format_cell(c['bytes_down']) or '-'} |" for c in counts]
        out.append("")
    return out
