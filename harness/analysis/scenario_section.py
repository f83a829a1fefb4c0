"""A scenario run's breakdown (``--scenario``): requests per cell and serving node, the moved devices, the
handovers. ``cells.csv`` and the report section; rows without a ``cell`` (the fixed network) give nothing."""
from __future__ import annotations

import statistics
from pathlib import Path

from harness.analysis.report_sections import fmt, table
from harness.analysis.summary import write_formatted_csv

CELL_FIELDS = ["access", "placement", "cell", "served_by", "path", "devices", "requests", "ok", "failed",
               "in_handover", "response_ms_p50", "response_ms_p90"]


def _pct(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _responses(rows: list[dict]) -> list[float]:
    out = []
    for r in rows:
        try:
            out.append(float(r["response_ms"])) if r.get("status") == "ok" and r.get("response_ms") else None
        except ValueError:
            pass
    return out


def is_scenario_run(requests: list[dict] | None) -> bool:
    return bool(requests) and any(r.get("cell") for r in requests)


def cells_table(requests: list[dict]) -> list[dict]:
    """One row per access x placement x cell x serving node x path: requests, ok, failed, during a handover,
    response p50 / p90 (ok rows)."""
    groups: dict[tuple, list[dict]] = {}
    for r in requests:
        if r.get("cell"):
            key = (r.get("access", ""), r.get("placement", ""), r["cell"], r.get("served_by") or "none",
                   r.get("path", ""))
            groups.setdefault(key, []).append(r)
    out = []
    for (access, placement, cell, node, path), rows in sorted(groups.items()):
        response = _responses(rows)
        out.append({"access": access, "placement": placement, "cell": cell, "served_by": node, "path": path,
                    "devices": len({r.get("device") for r in rows}), "requests": len(rows),
                    "ok": sum(r.get("status") == "ok" for r in rows),
                    "failed": sum(r.get("status") != "ok" for r in rows),
                    "in_handover": sum(r.get("handover") == "yes" for r in rows),
                    "response_ms_p50": _pct(response, 50), "response_ms_p90": _pct(response, 90)})
    return out


def write_cells_csv(requests: list[dict], path: Path) -> None:
    write_formatted_csv(cells_table(requests), path, CELL_FIELDS)


def handovers(record: dict) -> list[tuple[str, dict, int | None]]:
    """(pass, handover record, that pass's move-schedule start ns) of every handover of the run."""
    passes = ((record.get("scenario") or {}).get("passes") or {})
    return [(name, h, p.get("schedule_start_ns")) for name, p in passes.items() for h in p.get("handovers") or []]


def moved_devices(record: dict) -> list[str]:
    return list(dict.fromkeys(h["device"] for _, h, _ in handovers(record)))


def _device_rows(requests: list[dict], moved: list[str]) -> list[list]:
    rows = []
    for device in moved:
        mine = [r for r in requests if r.get("device") == device]
        for placement, cell in dict.fromkeys((r.get("placement", ""), r["cell"]) for r in mine if r.get("cell")):
            here = [r for r in mine if r.get("cell") == cell and r.get("placement", "") == placement]
            rows.append([device, placement, cell, ", ".join(sorted({r.get("served_by") or "none" for r in here})),
                         len(here), sum(r.get("status") != "ok" for r in here),
                         sum(r.get("handover") == "yes" for r in here), fmt(_pct(_responses(here), 50))])
    return rows


def scenario_section(requests: list[dict] | None, record: dict) -> list[str]:
    """report.md: the scenario, requests per cell and serving node, each moved device per cell, the handovers."""
    if not is_scenario_run(requests):
        return []
    sc = record.get("scenario") or {}
    out = ["## Cells and serving nodes", "",
           f"Scenario **{sc.get('name', '?')}** ({sc.get('file', '?')}): edge policy {sc.get('edge_policy', '?')}, "
           f"address {sc.get('address', '?')} after a move, handover interruption "
           f"{fmt(sc.get('interruption_ms'), 0)} ms. `cell` is the device's cell when the request left; `path` the "
           "routers from its base station to the serving node; *in handover*: requests a handover window overlapped.",
           "", table(["access", "placement", "cell", "served by", "path", "devices", "requests", "failed",
                      "in handover", "response p50 ms", "p90 ms"],
                     [[r["access"], r["placement"], r["cell"], r["served_by"], r["path"], r["devices"], r["requests"],
                       r["failed"], r["in_handover"], fmt(r["response_ms_p50"]), fmt(r["response_ms_p90"])]
                      for r in cells_table(requests)]), ""]
    moved = [d for d in moved_devices(record) if any(r.get("device") == d for r in requests)]
    if moved:
        out += ["Moved devices, per cell they sent from:", "",
                table(["device", "placement", "cell", "served by", "requests", "failed", "in handover",
                       "response p50 ms"],
                      _device_rows(requests, moved)), ""]
    found = handovers(record)
    if found:
        out += ["Handovers (s from the first workload's start):", "",
                table(["device", "from", "to", "at s", "interrupted ms", "address"],
                      [[h["device"], h["from_cell"], h["to_cell"],
                        fmt((h["start_ns"] - start) / 1e9, 2) if start is not None else "?",
                        fmt((h["end_ns"] - h["start_ns"]) / 1e6, 1),
                        f"{h['address_before']} -> {h['address_after']} ({h['address_mode']})"]
                       for _, h, start in found]), ""]
    errors = [e for p in (sc.get("passes") or {}).values() for e in p.get("move_errors") or []]
    if errors:
        out += ["Moves that failed: " + "; ".join(errors), ""]
    return out
