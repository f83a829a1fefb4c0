"""``mobility-timeline.png`` of a scenario run: each device's cell over time (top: one lane per device shown,
coloured by cell), its response times (bottom), the handover windows shaded in both.

Readable with many devices: the lanes are the devices that moved plus a sample of the others (the first device
of each cell, then more, up to ``MAX_LANES``); every other device's responses are the grey points below.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from harness.analysis.scenario_section import handovers, is_scenario_run, write_cells_csv  # noqa: E402

MAX_LANES = 8
DPI = 120


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def shown_devices(requests: list[dict], moved: list[str], home: dict[str, str], most: int = MAX_LANES) -> list[str]:
    """The moved devices (that sent), then the first device of each cell, then the rest in order, up to ``most``."""
    sent = list(dict.fromkeys(r.get("device") for r in requests if r.get("device")))
    shown = [d for d in moved if d in sent]
    for cell in dict.fromkeys(home.get(d) for d in sent):
        first = next((d for d in sent if home.get(d) == cell and d not in shown), None)
        shown += [first] if first else []
    shown += [d for d in sent if d not in shown]
    return shown[:most]


def cell_segments(device: str, home: str, moves: list[dict], end_ns: int) -> list[tuple[int, int, str]]:
    """(from ns, to ns, cell) of ``device``: its home cell until its first handover ends, and so on."""
    segments, cell, since = [], home, None
    for h in sorted((h for h in moves if h["device"] == device), key=lambda h: h["start_ns"]):
        segments.append((since, h["start_ns"], cell))
        cell, since = h["to_cell"], h["end_ns"]
    segments.append((since, end_ns, cell))
    return segments


def mobility_timeline(requests: list[dict], record: dict, path: Path) -> Path | None:
    """The figure, or None when the run is not a scenario run or has no timed request."""
    if not is_scenario_run(requests):
        return None
    timed = [r for r in requests if _int(r.get("client_send_start_ns"))]
    if not timed:
        return None
    found = handovers(record)
    sc = record.get("scenario") or {}
    home = sc.get("home_cells") or {}
    starts = [p["schedule_start_ns"] for p in (sc.get("passes") or {}).values()
              if p.get("schedule_start_ns") is not None]
    origin = min(starts) if starts else min(_int(r["client_send_start_ns"]) for r in timed)
    end_ns = max(_int(r.get("client_reply_complete_ns")) or _int(r["client_send_start_ns"]) for r in timed)
    moves = [h for _, h, _ in found]
    lanes = shown_devices(timed, list(dict.fromkeys(h["device"] for h in moves)), home)
    cells = sorted({r["cell"] for r in timed if r.get("cell")} | set(home.values()))
    colour = {c: f"C{i % 10}" for i, c in enumerate(cells)}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 2.0 + 0.35 * len(lanes) + 3.2), sharex=True,
                                      gridspec_kw={"height_ratios": [max(1.0, 0.35 * len(lanes)), 3.2]})
    s = lambda ns: (ns - origin) / 1e9  # noqa: E731
    first = min(_int(r["client_send_start_ns"]) for r in timed)
    for lane, device in enumerate(lanes):
        for begin, stop, cell in cell_segments(device, home.get(device, ""), moves, end_ns):
            begin = first if begin is None else begin
            top.broken_barh([(s(begin), max(s(stop) - s(begin), 0.01))], (lane - 0.35, 0.7), color=colour.get(cell, "grey"))
    for c in cells:
        top.plot([], [], linewidth=6, color=colour[c], label=c)
    top.set_yticks(range(len(lanes)), lanes)
    top.set_ylim(-0.6, len(lanes) - 0.4)
    top.invert_yaxis()
    top.legend(fontsize=7, loc="upper right", ncol=min(len(cells), 4), title="cell", title_fontsize=7)
    others = [r for r in timed if r.get("device") not in lanes and r.get("status") == "ok" and r.get("response_ms")]
    if others:
        bottom.plot([s(_int(r["client_send_start_ns"])) for r in others], [float(r["response_ms"]) for r in others],
                    ".", markersize=2, color="0.75", label=f"{len({r['device'] for r in others})} other devices")
    for i, device in enumerate(lanes):
        mine = [r for r in timed if r.get("device") == device]
        ok = [r for r in mine if r.get("status") == "ok" and r.get("response_ms")]
        bottom.plot([s(_int(r["client_send_start_ns"])) for r in ok], [float(r["response_ms"]) for r in ok], "o",
                    markersize=3, color=f"C{i % 10}", alpha=0.8, label=device)
        failed = [s(_int(r["client_send_start_ns"])) for r in mine if r.get("status") != "ok"]
        if failed:
            bottom.plot(failed, [1.0] * len(failed), "x", color=f"C{i % 10}", label=f"{device} failed ({len(failed)})")
    for n, h in enumerate(moves):
        for ax in (top, bottom):
            ax.axvspan(s(h["start_ns"]), max(s(h["end_ns"]), s(h["start_ns"]) + 0.05), color="red", alpha=0.25,
                       label="handover" if ax is bottom and n == 0 else None)
    bottom.set_yscale("log")
    bottom.set_ylabel("response time (ms); x = failed")
    bottom.set_xlabel("time since the first workload's start (s)" if starts else "time since the first request (s)")
    bottom.grid(True, alpha=0.3)
    bottom.legend(fontsize=7, loc="upper right", ncol=2)
    top.set_title(f"scenario {sc.get('name', '?')}: each device's cell, its response times, handovers shaded "
                  f"(edge policy {sc.get('edge_policy', '?')})", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def scenario_outputs(requests: list[dict] | None, record: dict, out_dir: Path) -> list[tuple[str, Path]]:
    """A scenario run's cells.csv and timeline figure (caption, path); nothing for the fixed network."""
    if not is_scenario_run(requests):
        return []
    write_cells_csv(requests, out_dir / "cells.csv")
    path = mobility_timeline(requests, record, out_dir / "mobility-timeline.png")
    return [("each device's cell over time, its response times, the handover windows shaded", path)] if path else []
