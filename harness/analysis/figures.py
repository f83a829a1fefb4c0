"""PNG figures of a run (matplotlib, Agg: no display needed).

- ``times-<access>.png``: response and upload time vs image size, log-log, edge vs cloud, with
  the analytic network floor (dotted; response panel: also floor + measured server time, dash-dot)
  where one holds (the seeds' Fig. 4 and 6);
- ``inference.png``: median inference time per model and image size;
- ``access-response.png``: response time over each access side by side, per placement;
- ``replay.png``: a replay run's response times over the link capacity in time (the whole 1 s series,
  and each request's mean uplink capacity over its own upload);
- ``timeline-<access>.png``: every request's response time over time, failures marked, fault
  windows shaded (runs with a fault schedule).

Points are medians; the bar reaches the 90th percentile.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from harness.analysis.summary import size_label  # noqa: E402

PLACEMENT_STYLE = {"edge": ("tab:green", "o"), "cloud": ("tab:blue", "s"), "features": ("tab:orange", "^"),
                   "split": ("tab:purple", "D")}
ACCESS_STYLE = {"lte": ("tab:red", "o"), "wifi": ("tab:cyan", "s"), "trace": ("tab:brown", "^")}
ACCESS_NAMES = {"lte": "LTE", "wifi": "WiFi", "trace": "trace"}
DPI = 120


def access_name(access: str) -> str:
    return ACCESS_NAMES.get(access, access)


def _legend(ax) -> None:
    """Measured series first, then the floors (matplotlib lists error bars after plain lines)."""
    handles, labels = ax.get_legend_handles_labels()
    pairs = sorted(zip(handles, labels), key=lambda hl: "floor" in hl[1])
    ax.legend([h for h, _ in pairs], [lab for _, lab in pairs], fontsize=8)


def _size_axis(ax, sizes_bytes: list[int]) -> None:
    ax.set_xscale("log")
    ax.set_xticks([s / 1024 for s in sizes_bytes])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("image size (KiB)")


def _log_y(ax, label: str) -> None:
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel(label)
    ax.grid(True, which="major", alpha=0.3)


def _series(rows: list[dict], metric: str):
    """x (KiB), median, and error up to p90 of the rows that have the metric."""
    rows = sorted((r for r in rows if r.get(f"{metric}_median") is not None), key=lambda r: r["size_bytes"])
    x = [r["size_bytes"] / 1024 for r in rows]
    med = [r[f"{metric}_median"] for r in rows]
    up = [max(r[f"{metric}_p90"] - r[f"{metric}_median"], 0) for r in rows]
    return x, med, [[0] * len(med), up]


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def times_vs_size(summary: list[dict], access: str, path: Path) -> Path | None:
    rows = [r for r in summary if r["access"] == access and r["placement"] in PLACEMENT_STYLE]
    if not any(r.get("response_ms_median") is not None for r in rows):
        return None
    sizes = sorted({r["size_bytes"] for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for ax, metric, title in ((axes[0], "response_ms", "response time"), (axes[1], "upload_ms", "upload time")):
        for placement, (colour, marker) in PLACEMENT_STYLE.items():
            mine = [r for r in rows if r["placement"] == placement]
            x, med, err = _series(mine, metric)
            if not x:
                continue
            ax.errorbar(x, med, yerr=err, color=colour, marker=marker, capsize=3, label=f"{placement} (median, p90)")
            floor_key = "network_floor_ms" if metric == "response_ms" else "upload_floor_ms"
            floors = sorted((r for r in mine if isinstance(r.get(floor_key), float)), key=lambda r: r["size_bytes"])
            if floors:
                xs = [r["size_bytes"] / 1024 for r in floors]
                ax.plot(xs, [r[floor_key] for r in floors], color=colour, linestyle=":", linewidth=1.5,
                        label=f"{placement} network floor")
                if metric == "response_ms" and all(r.get("server_ms") is not None for r in floors):
                    ax.plot(xs, [r[floor_key] + r["server_ms"] for r in floors], color=colour, linestyle="-.",
                            linewidth=1.0, label=f"{placement} floor + server time")
        _size_axis(ax, sizes)
        _log_y(ax, f"{title} (ms)")
        ax.set_title(f"{access_name(access)}: {title} vs image size")
        _legend(ax)
    return _save(fig, path)


def inference_by_model(summary: list[dict], path: Path) -> Path | None:
    by_model: dict[str, dict[int, list[float]]] = {}
    for r in summary:
        if r.get("inference_ms_median") is None or not r.get("model"):
            continue
        by_model.setdefault(r["model"], {}).setdefault(r["size_bytes"], []).append(r["inference_ms_median"])
    if not by_model:
        return None
    sizes = sorted({s for sizes in by_model.values() for s in sizes})
    models = sorted(by_model, key=lambda m: (not m.startswith("cloud"), m))
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(sizes) + 3), 4.2))
    for i, model in enumerate(models):
        xs = [j + (i - (len(models) - 1) / 2) * width for j, s in enumerate(sizes) if s in by_model[model]]
        ys = [sum(by_model[model][s]) / len(by_model[model][s]) for s in sizes if s in by_model[model]]
        ax.bar(xs, ys, width=width, label=model)
    ax.set_xticks(range(len(sizes)))
    ax.set_xticklabels([f"{s / 1024:g}" for s in sizes])
    ax.set_xlabel("image size (KiB)")
    ax.set_ylabel("median inference time (ms)")
    ax.set_title("Inference time per model (server-side, mean over accesses)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def response_by_access(summary: list[dict], path: Path) -> Path | None:
    accesses = sorted({r["access"] for r in summary if r.get("response_ms_median") is not None})
    placements = [p for p in PLACEMENT_STYLE if any(r["placement"] == p and r.get("response_ms_median") is not None
                                                    for r in summary)]
    if len(accesses) < 2 or not placements:
        return None
    sizes = sorted({r["size_bytes"] for r in summary})
    fig, axes = plt.subplots(1, len(placements), figsize=(5.2 * len(placements), 4.2), sharey=True, squeeze=False)
    for index, (ax, placement) in enumerate(zip(axes[0], placements)):
        for i, access in enumerate(accesses):
            colour, marker = ACCESS_STYLE.get(access, (f"C{i}", "o"))
            x, med, err = _series([r for r in summary if r["access"] == access and r["placement"] == placement],
                                  "response_ms")
            if x:
                ax.errorbar(x, med, yerr=err, color=colour, marker=marker, capsize=3, label=access_name(access))
        _size_axis(ax, sizes)
        _log_y(ax, "response time (ms)" if index == 0 else "")
        ax.tick_params(labelleft=True)
        ax.set_title(f"{placement}: response time by access (median, p90)")
        ax.legend(fontsize=8)
    return _save(fig, path)


def _float_or_none(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def replay_series(rows: list[dict], path: Path, capacity: list[dict] | None = None) -> Path | None:
    """Response times over time above the link's capacity: the whole 1 s capacity series of the run
    (``replay-capacity.csv``) and, per request, the mean uplink capacity over its own upload interval as a
    segment from send start to upload end. Older folders (no capacity series): the 1 s window at each
    request's start, as steps."""
    points = []
    for r in rows:
        start = _float_or_none(r.get("time_s"))
        if start is None:
            continue
        points.append({"t": start, "end": _float_or_none(r.get("upload_end_s")),
                       "response": _float_or_none(r.get("response_ms")), "size": int(r.get("size_bytes") or 0),
                       "during": _float_or_none(r.get("uplink_capacity_upload_mbps")),
                       "up": _float_or_none(r.get("uplink_capacity_mbps")),
                       "down": _float_or_none(r.get("downlink_capacity_mbps"))})
    if not points:
        return None
    points.sort(key=lambda p: p["t"])
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for size in sorted({p["size"] for p in points}):
        ok = [p for p in points if p["response"] is not None and p["size"] == size]
        top.plot([p["t"] for p in ok], [p["response"] for p in ok], "o", markersize=3,
                 label=size_label(size) if size else "response")
    top.legend(fontsize=8, title="image size", title_fontsize=8)
    _log_y(top, "response time (ms)")
    top.set_title("Replay: response time and access link capacity")
    series = [(float(c["time_s"]), float(c["uplink_mbps"]), float(c["downlink_mbps"])) for c in capacity or []]
    if series:
        times = [c[0] for c in series] + [series[-1][0] + 1]
        bottom.step(times, [c[1] for c in series] + [series[-1][1]], where="post", label="uplink (1 s windows)",
                    color="tab:red", linewidth=1)
        bottom.step(times, [c[2] for c in series] + [series[-1][2]], where="post", label="downlink (1 s windows)",
                    color="tab:green", linewidth=1)
    else:
        bottom.step([p["t"] for p in points], [p["up"] for p in points], where="post",
                    label="uplink at each send start", color="tab:red")
        bottom.step([p["t"] for p in points], [p["down"] for p in points], where="post",
                    label="downlink at each send start", color="tab:green")
    spans = [p for p in points if p["during"] is not None and p["end"] is not None]
    if spans:
        bottom.hlines([p["during"] for p in spans], [p["t"] for p in spans], [p["end"] for p in spans],
                      color="black", linewidth=2.5, label="uplink mean over each upload")
    bottom.set_ylabel("capacity (Mbit/s)")
    bottom.set_xlabel("time since the link started (s)")
    bottom.grid(True, alpha=0.3)
    bottom.legend(fontsize=8)
    return _save(fig, path)


FAULT_COLOURS = {"link-down": "tab:red", "kill": "tab:purple", "rate": "tab:orange"}


def fault_timeline(requests: list[dict], faults: list[dict], start_ns: int, access: str, path: Path) -> Path | None:
    """Response time of each request against its send time (s since the fault clock), fault windows shaded."""
    rows = [r for r in requests if r.get("access") == access and str(r.get("client_send_start_ns") or "").isdigit()]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(10, 4.2))
    for i, placement in enumerate(sorted({r["placement"] for r in rows})):
        colour, marker = PLACEMENT_STYLE.get(placement, (f"C{i}", "o"))
        ok = [((int(r["client_send_start_ns"]) - start_ns) / 1e9, float(r["response_ms"])) for r in rows
              if r["placement"] == placement and r.get("status") == "ok" and r.get("response_ms")]
        failed = [(int(r["client_send_start_ns"]) - start_ns) / 1e9 for r in rows
                  if r["placement"] == placement and r.get("status") != "ok"]
        if ok:
            ax.plot([p[0] for p in ok], [p[1] for p in ok], marker, markersize=3, color=colour, linestyle="",
                    label=f"{placement} ok")
        if failed:
            ax.plot(failed, [0.5] * len(failed), "x", color=colour, label=f"{placement} failed ({len(failed)})")
    for window in faults:
        if window.get("access") != access or window.get("start_ns") is None:
            continue
        begin_s = (window["start_ns"] - start_ns) / 1e9
        end_s = (window["end_ns"] - start_ns) / 1e9 if window.get("end_ns") else begin_s
        ax.axvspan(begin_s, max(end_s, begin_s + 0.01), alpha=0.2, color=FAULT_COLOURS.get(window["kind"], "grey"),
                   label=f"{window['fault']} ({window['status']})")
    ax.set_yscale("log")
    ax.set_ylabel("response time (ms); x = failed")
    ax.set_xlabel("time since the workload started (s)")
    ax.set_title(f"{access_name(access)}: requests over time with the fault windows")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    return _save(fig, path)


def make_figures(summary: list[dict], replay_rows: list[dict] | None, out_dir: Path,
                 replay_capacity: list[dict] | None = None) -> list[tuple[str, Path]]:
    """Every figure the data allows: (caption, path) pairs."""
    made: list[tuple[str, Path]] = []
    for access in sorted({r["access"] for r in summary}):
        path = times_vs_size(summary, access, out_dir / f"times-{access}.png")
        if path:
            made.append((f"{access_name(access)}: response and upload time vs image size, edge vs cloud", path))
    path = inference_by_model(summary, out_dir / "inference.png")
    if path:
        made.append(("Inference time per model and image size", path))
    path = response_by_access(summary, out_dir / "access-response.png")
    if path:
        made.append(("Response time by access network, side by side", path))
    if replay_rows:
        path = replay_series(replay_rows, out_dir / "replay.png", replay_capacity)
        if path:
            made.append(("Replay: response time vs link capacity over time", path))
    return made
