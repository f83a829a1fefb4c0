"""Analyse a run folder and write ``report.md`` (with summary.csv, flows.csv and the figures).

Reads only the run folder (Pantheon: analysis is a separate step), so
``python harness/run.py report RESULTS_DIR`` re-makes everything without root. A run that
stopped early (status "interrupted" / "failed") is reported as far as it got; a number the run
did not measure is written "not measured", never guessed.
"""
from __future__ import annotations

import csv
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from harness.figures import fault_timeline, make_figures
from harness.flows import analyse_captures, traffic_table, write_flows_csv
from harness.published import PUBLISHED_SOURCE, compare_with_published
from harness.summary import summarise, write_summary_csv

REQUIRED_REQUEST_COLUMNS = ("access", "placement", "size_bytes", "status", "upload_ms", "inference_ms", "response_ms")
REQUIRED_REPLAY_COLUMNS = ("time_s", "response_ms", "uplink_capacity_mbps", "downlink_capacity_mbps")
NOT_MEASURED = "not measured"


class ReportError(ValueError):
    """A results folder that cannot be analysed; the message names the file and what is wrong."""


@dataclass
class RunData:
    run_dir: Path
    record: dict
    requests: list[dict] | None = None        # None: no requests.csv
    links: list[dict] = field(default_factory=list)
    replay: list[dict] | None = None


def _read_csv(path: Path, required: tuple[str, ...] = ()) -> list[dict]:
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise ReportError(f"{path}: missing column {missing[0]!r} (expected at least: {', '.join(required)})")
            return list(reader)
    except (UnicodeDecodeError, csv.Error) as err:
        raise ReportError(f"{path}: not a readable CSV file ({err})") from None


def load_run(run_dir: Path) -> RunData:
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: no such results folder (give a folder under results/, e.g. "
                          "results/20250101T000000Z-compare)")
    meta = run_dir / "experiment.json"
    if not meta.is_file():
        raise ReportError(f"{run_dir}: not a results folder (no experiment.json)")
    try:
        record = json.loads(meta.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ReportError(f"{meta}: not valid JSON ({err})") from None
    if not isinstance(record, dict):
        raise ReportError(f"{meta}: expected a JSON object, got {type(record).__name__}")
    for key, kind in (("spec", dict), ("environment", dict), ("profiles", dict), ("captures", list)):
        if key in record and not isinstance(record[key], kind):
            raise ReportError(f"{meta}: field {key!r} must be a {kind.__name__}")
    data = RunData(run_dir, record)
    if (run_dir / "requests.csv").is_file():
        data.requests = _read_csv(run_dir / "requests.csv", REQUIRED_REQUEST_COLUMNS)
    if (run_dir / "links.csv").is_file():
        data.links = _read_csv(run_dir / "links.csv")
    if (run_dir / "replay.csv").is_file():
        data.replay = _read_csv(run_dir / "replay.csv", REQUIRED_REPLAY_COLUMNS)
    return data


# ---------------------------------------------------------------- formatting

def _n(value, digits: int = 1, empty: str = NOT_MEASURED) -> str:
    if value is None or value == "":
        return empty
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _table(headers: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        return str("" if value is None else value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _bytes(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.2f} {unit}"
    return f"{count} B"


def _rate(spec: dict) -> str:
    if spec.get("rate_trace"):
        return f"trace {Path(spec['rate_trace']).name}"
    bps = spec.get("rate_bps")
    return "unlimited" if not bps else f"{bps / 1e6:g} Mbit/s"


def _queue(spec: dict) -> str:
    if spec.get("queue_limit_bytes"):
        return f"{spec.get('queue', 'droptail')} {spec['queue_limit_bytes']} B"
    if spec.get("queue_limit_packets"):
        return f"{spec.get('queue', 'droptail')} {spec['queue_limit_packets']} pkt"
    return f"{spec.get('queue', 'droptail')} unlimited"


# ---------------------------------------------------------------- sections

def _setup_section(record: dict) -> list[str]:
    env, spec = record.get("environment") or {}, record.get("spec") or {}
    out = ["## Setup", ""]
    out.append(_table(["option", "value"], [
        ["accesses", ", ".join(spec.get("accesses") or []) or NOT_MEASURED],
        ["placements", ", ".join(spec.get("placements") or []) or NOT_MEASURED],
        ["image sizes", ", ".join(spec.get("sizes") or []) or NOT_MEASURED],
        ["repetitions", spec.get("repetitions", "")], ["seed", spec.get("seed", "")],
        ["models", f"edge {spec.get('edge_model', '?')}, cloud {spec.get('cloud_model', '?')}"],
        ["link backend", f"{env.get('link_backend', '?')} (asked: {spec.get('link_backend', '?')}; "
                         f"sch_netem {'present' if env.get('netem_available') else 'absent'})"],
        ["kernel / python", f"{env.get('kernel', '?')} / {env.get('python', '?')}"],
        ["ONNX Runtime providers", ", ".join(f"{k}: {v}" for k, v in sorted((env.get("onnxruntime_providers") or {})
                                                                         .items())) or "not recorded"],
        ["versions", ", ".join(f"{k} {v}" for k, v in sorted((env.get("versions") or {}).items()) if v)],
        ["git commit", env.get("git_commit") or "not recorded"],
    ]))
    profiles = record.get("profiles") or {}
    if profiles:
        out += ["", "Link profiles (uplink = away from the device):", ""]
        out.append(_table(["link", "up rate", "up delay", "down rate", "down delay", "loss up/down", "queue up"], [
            [name, _rate(p.get("up") or {}), f"{(p.get('up') or {}).get('delay_ms', 0):g} ms",
             _rate(p.get("down") or {}), f"{(p.get('down') or {}).get('delay_ms', 0):g} ms",
             f"{(p.get('up') or {}).get('loss', 0) * 100:g}% / {(p.get('down') or {}).get('loss', 0) * 100:g}%",
             _queue(p.get("up") or {})] for name, p in profiles.items()]))
    models = record.get("models") or {}
    if models:
        out += ["", _table(["model", "bytes", "sha256"], [
            [name, m.get("bytes", ""), (m.get("sha256") or "")[:16]] for name, m in sorted(models.items())])]
    return out + [""]


def _comparison_section(summary: list[dict], record: dict) -> list[str]:
    env = record.get("environment") or {}
    rows, notes = [], []
    for c in compare_with_published(summary, record.get("profiles") or {}, env.get("onnxruntime_providers") or {}):
        size = f"{c.size_bytes // 1024}K" if c.size_bytes else "?"
        rows.append([c.published.what, size, f"{c.published.change_pct:+.2f}%",
                     NOT_MEASURED if c.ours_pct is None else f"{c.ours_pct:+.2f}%",
                     _n(c.edge_ms), _n(c.cloud_ms),
                     "" if c.difference_points is None else f"{c.difference_points:+.1f}"])
        notes.append(f"- **{c.published.what}**: {c.explanation}")
    return (["## Edge vs cloud beside the published figures", "",
             f"Change = (edge - cloud) / cloud of the medians; published: {PUBLISHED_SOURCE}.", "",
             _table(["figure", "size", "published", "ours", "edge median ms", "cloud median ms",
                     "ours - published (points)"], rows), ""] + notes + [""])


def _summary_section(summary: list[dict]) -> list[str]:
    out = ["## Requests per placement, access and image size", "",
           "Medians (p90) in ms. The bound is the network's and the measured inference's best case "
           "(see docs/analysis.md); ratio = median response / bound.", ""]
    rows = []
    for r in summary:
        rows.append([r["access"], r["placement"], r["size"], r["model"], f"{r['ok']}/{r['count']}",
                     f"{_n(r['upload_ms_median'])} ({_n(r['upload_ms_p90'], empty='-')})",
                     f"{_n(r['inference_ms_median'])} ({_n(r['inference_ms_p90'], empty='-')})",
                     f"{_n(r['response_ms_median'])} ({_n(r['response_ms_p90'], empty='-')})",
                     _n(r.get("bound_ms"), empty="-"), _n(r.get("response_over_bound"), 2, empty="-"),
                     r.get("bound_note") or ""])
    out.append(_table(["access", "placement", "size", "model", "ok/count", "upload", "inference", "response",
                       "bound", "ratio", "note"], rows))
    return out + [""]


def _failures_section(requests: list[dict]) -> list[str]:
    failed = [r for r in requests if r.get("status") != "ok"]
    if not failed:
        return []
    errors: dict[str, int] = {}
    for r in failed:
        errors[r.get("error") or "(no message)"] = errors.get(r.get("error") or "(no message)", 0) + 1
    rows = [[count, error[:160]] for error, count in sorted(errors.items(), key=lambda e: -e[1])[:10]]
    return ["## Failed requests", "", f"{len(failed)} of {len(requests)} requests failed.", "",
            _table(["requests", "error"], rows), ""]


def _faults_section(record: dict, requests: list[dict]) -> list[str]:
    """The fault windows: when each was in force, and the requests sent meanwhile (ok / failed)."""
    windows = record.get("faults") or []
    if not windows:
        return []
    starts = record.get("fault_clock_start_ns") or {}
    rows = []
    for w in windows:
        t0 = starts.get(w.get("access"))
        begin, end = w.get("start_ns"), w.get("end_ns")
        inside = [r for r in requests if r.get("access") == w.get("access") and begin and end
                  and str(r.get("client_send_start_ns") or "").isdigit()
                  and begin <= int(r["client_send_start_ns"]) <= end]
        span = (f"{(begin - t0) / 1e9:.2f} .. {(end - t0) / 1e9:.2f}" if t0 and begin and end else "-")
        rows.append([w.get("access", "?"), w.get("fault", "?"), w.get("status", "?"), span, len(inside),
                     sum(r.get("status") != "ok" for r in inside), (w.get("error") or w.get("note") or "")[:80]])
    return ["## Faults", "", "Windows in seconds since the access network's workload started; requests counted "
            "by their send time. Shaded on the timeline figures.", "",
            _table(["access", "fault", "status", "window (s)", "requests sent", "failed", "note"], rows), ""]


def _links_section(links: list[dict]) -> list[str]:
    if not links:
        return ["## Links: configured vs measured", "", "Not measured (no links.csv).", ""]
    rows = [[r.get("access", ""), r.get("link", ""), r.get("direction", ""), r.get("metric", ""),
             _n(r.get("configured"), 3, "-"), _n(r.get("measured"), 3), _n(r.get("error_pct"), 1, "-"),
             r.get("note", "")] for r in links]
    return ["## Links: configured vs measured", "",
            _table(["access", "link", "direction", "metric", "configured", "measured", "error %", "note"], rows), ""]


def _captures_section(run_dir: Path, captures: list[dict], traffic: list[dict], profiles: dict,
                      unreadable: dict) -> list[str]:
    out = ["## Packet captures", ""]
    if not captures:
        return out + ["No captures recorded.", ""]
    rows, dropped, unwritten = [], 0, 0
    for c in captures:
        present = (run_dir / c.get("file", "")).is_file()
        dropped += c.get("packets_dropped_by_kernel") or 0
        if c.get("packets_received_by_filter") is not None and c.get("packets_captured") is not None:
            unwritten += max(c["packets_received_by_filter"] - c["packets_captured"], 0)
        rows.append([c.get("file", ""), c.get("host", ""), c.get("interface", ""), c.get("access", ""),
                     _n(c.get("packets_captured"), 0, "-"), _n(c.get("packets_received_by_filter"), 0, "-"),
                     _n(c.get("packets_dropped_by_kernel"), 0, "-"),
                     "file missing" if not present else (
                         f"unreadable, left out: {unreadable[c.get('file')]}" if c.get("file") in unreadable else "")])
    out.append(_table(["file", "host", "interface", "access", "captured", "received by filter",
                       "dropped by kernel", "note"], rows))
    if dropped or unwritten:
        out += ["", f"**{dropped} packets were dropped by the kernel and {unwritten} seen by the filter were not "
                    "written** (tcpdump stopped before writing them): byte counts and retransmissions from these "
                    "captures are lower bounds."]
    if traffic:
        out += ["", "### Traffic by purpose and link", "",
                "IP bytes (IPv4 total length, so short snaplen does not matter); a link is where the capture was "
                "taken (ue1: access, edge: lan, cloud: wan). Configured RTT = the path's one-way delays both ways.", ""]
        rows = [[t["access"], t["purpose"], t["link"], t["flows"], t["packets"], _bytes(t["bytes_up"]),
                 _bytes(t["bytes_down"]), t["retransmissions"], _n(t["median_handshake_rtt_ms"], 2, "-"),
                 _n(_configured_rtt(t["purpose"], t["access"], profiles), 1, "-")] for t in traffic]
        out.append(_table(["access", "purpose", "link", "flows", "packets", "bytes up", "bytes down", "retransmissions",
                           "median handshake RTT ms", "configured RTT ms"], rows))
    return out + [""]


def _configured_rtt(purpose: str, access: str, profiles: dict) -> float | None:
    path = {"request (edge)": ("access", "lan"), "request (cloud)": ("access", "wan"),
            "model download": ("wan",), "edge-cloud": ("wan",)}.get(purpose)
    if not path:
        return None
    total = 0.0
    for name in path:
        profile = profiles.get(access if name == "access" else name) or (
            profiles.get(Path(access).stem) if name == "access" else None)
        if profile is None:
            if name == "lan":
                continue
            return None
        total += float((profile.get("up") or {}).get("delay_ms") or 0) + float(
            (profile.get("down") or {}).get("delay_ms") or 0)
    return total


def _replay_section(replay: list[dict]) -> list[str]:
    pairs = []
    for r in replay:
        try:
            pairs.append((float(r["response_ms"]), float(r["uplink_capacity_mbps"])))
        except (TypeError, ValueError):
            continue
    out = ["## Replay", ""]
    if len(pairs) < 2:
        return out + ["Not measured: fewer than two replayed requests with a response time.", ""]
    import numpy as np

    response, capacity = np.array(pairs).T
    ranks = [np.argsort(np.argsort(v)) for v in (response, capacity)]
    rho = float(np.corrcoef(*ranks)[0, 1]) if np.std(ranks[0]) and np.std(ranks[1]) else float("nan")
    out.append(f"{len(pairs)} requests; median response {statistics.median(response):.1f} ms "
               f"(p90 {np.percentile(response, 90):.1f} ms); uplink capacity at their start "
               f"{capacity.min():.2f}..{capacity.max():.2f} Mbit/s; Spearman correlation of response time and "
               f"uplink capacity: {rho:+.2f} (negative: slower when the link is thinner).")
    return out + [""]


def render_report(data: RunData, summary: list[dict] | None, traffic: list[dict],
                  figures: list[tuple[str, Path]], out_dir: Path, unreadable: dict | None = None) -> str:
    record = data.record
    status = record.get("status", "unknown")
    out = [f"# Run report: {data.run_dir.name}", "",
           f"Experiment **{record.get('experiment', '?')}**, status **{status}**, "
           f"started {record.get('started_utc') or '?'}, finished {record.get('finished_utc') or '?'}."]
    if status != "complete":
        out += ["", f"> This run did not complete ({status}"
                    + (f": {record['error']}" if record.get("error") else "") + "). What follows is what it "
                    f"finished: accesses run: {', '.join(record.get('accesses_run') or []) or 'none'}."]
    if data.requests is not None:
        ok = sum(r.get("status") == "ok" for r in data.requests)
        out += ["", f"{len(data.requests)} requests, {ok} ok, {len(data.requests) - ok} failed."]
    out.append("")
    out += _setup_section(record)
    if summary:
        out += _comparison_section(summary, record)
        out += _summary_section(summary)
    else:
        out += ["## Requests", "", "Not measured: no requests finished (requests.csv missing or empty).", ""]
    if data.requests:
        out += _failures_section(data.requests)
    out += _faults_section(record, data.requests or [])
    if data.replay is not None:
        out += _replay_section(data.replay)
    out += _links_section(data.links)
    out += _captures_section(data.run_dir, record.get("captures") or [], traffic, record.get("profiles") or {},
                             unreadable or {})
    if figures:
        out += ["## Figures", ""]
        for caption, path in figures:
            out += [f"### {caption}", "", f"![{caption}]({path.relative_to(out_dir)})", ""]
    return "\n".join(out).rstrip() + "\n"


def analyse_run(run_dir: Path, progress=print, out_dir: Path | None = None) -> Path:
    """Re-make summary.csv, flows.csv, the figures and report.md of ``run_dir`` (into ``out_dir``,
    by default the run folder itself); returns the report's path."""
    run_dir = Path(run_dir)
    data = load_run(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = None
    if data.requests is not None:
        summary = summarise(data.requests, data.record.get("profiles") or {})
        write_summary_csv(summary, out_dir / "summary.csv")
        progress(f"summary: {len(summary)} groups of {len(data.requests)} requests -> {out_dir / 'summary.csv'}")
    captures = data.record.get("captures") or []
    unreadable: dict[str, str] = {}
    flow_rows = analyse_captures(run_dir, captures, unreadable)
    for message in unreadable.values():
        progress(f"warning: {message}; left out of flows.csv")
    if captures:
        write_flows_csv(flow_rows, out_dir / "flows.csv")
        progress(f"flows: {len(flow_rows)} TCP flows from {len(captures)} captures -> {out_dir / 'flows.csv'}")
    figures = make_figures(summary or [], data.replay, out_dir)
    for access, start_ns in (data.record.get("fault_clock_start_ns") or {}).items():
        if data.record.get("faults") and data.requests:
            path = fault_timeline(data.requests, data.record["faults"], start_ns, access,
                                  out_dir / f"timeline-{access}.png")
            if path:
                figures.append((f"{access}: requests over time with the fault windows", path))
    progress(f"figures: {', '.join(p.name for _, p in figures) or 'none (no finished requests)'}")
    report = out_dir / "report.md"
    report.write_text(render_report(data, summary, traffic_table(flow_rows), figures, out_dir, unreadable))
    progress(f"report: {report}")
    return report

