"""The sections of a run's ``report.md`` (compare, sweep, replay): each takes the run's data and returns lines.

A section that does not apply to the run (by experiment kind, or because the run did not measure what it
shows) returns no lines; a number the run did not measure is written "not measured", never guessed.
"""
from __future__ import annotations

import re
from pathlib import Path

from harness.analysis.floor import NO_FLOOR

NOT_MEASURED = "not measured"


def fmt(value, digits: int = 1, empty: str = NOT_MEASURED) -> str:
    if value is None or value == "":
        return empty
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def table(headers: list[str], rows: list[list]) -> str:
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

def _origin_value(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_origin_value(v)}" for k, v in value.items() if not isinstance(v, dict)) or "-"
    if isinstance(value, list):
        return "; ".join(_origin_value(v) for v in value) or "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def test_models_warning(record: dict) -> list[str]:
    """A bold line when the run served the 1-epoch test models or another reduced set (models_origin's
    ``test_models`` / ``reduced``, or any true boolean ``*test*`` field); nothing for older folders."""
    origin = record.get("models_origin")
    if not isinstance(origin, dict):
        return []
    flags = [k for k, v in origin.items() if v is True and ("test" in k.lower() or k == "reduced")]
    if not flags:
        return []
    what = ", ".join(f"{k} {_origin_value(origin[k])}" for k in ("dataset", "epochs") if k in origin)
    kind = "test models" if any("test" in k.lower() for k in flags) else "a reduced model set"
    return ["", f"**Warning: these are {kind} ({flags[0]}: true{'; ' + what if what else ''}), not the real model "
                "set: their inference times and accuracies say nothing about the published models."
                + (f" {origin['note']}" if isinstance(origin.get("note"), str) else "") + "**"]


def setup_section(record: dict) -> list[str]:
    env, spec = record.get("environment") or {}, record.get("spec") or {}
    out = ["## Setup", ""]
    out.append(table(["option", "value"], [
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
        out.append(table(["link", "up rate", "up delay", "down rate", "down delay", "loss up/down", "queue up"], [
            [name, _rate(p.get("up") or {}), f"{(p.get('up') or {}).get('delay_ms', 0):g} ms",
             _rate(p.get("down") or {}), f"{(p.get('down') or {}).get('delay_ms', 0):g} ms",
             f"{(p.get('up') or {}).get('loss', 0) * 100:g}% / {(p.get('down') or {}).get('loss', 0) * 100:g}%",
             _queue(p.get("up") or {})] for name, p in profiles.items()]))
    origin = record.get("models_origin")
    if isinstance(origin, dict) and origin:
        out += ["", "Where the models came from (experiment.json \"models_origin\"):", "",
                table(["field", "value"], [[k, _origin_value(v)] for k, v in origin.items()])]
    models = record.get("models") or {}
    if models:
        out += ["", table(["model", "bytes", "sha256"], [
            [name, m.get("bytes", ""), (m.get("sha256") or "")[:16]] for name, m in sorted(models.items())])]
    return out + [""]


def _floor_cell(row: dict, key: str) -> str:
    value = row.get(key)
    return NO_FLOOR if value == NO_FLOOR else fmt(value, empty="-")


def summary_section(summary: list[dict]) -> list[str]:
    out = ["## Requests per placement, access and image size", "",
           "Medians (p90) in ms. Server = the answering node's reply sent - upload complete (decode, inference, "
           "and for features/split the hop to the cloud). Network floor = the least time the configured path "
           "allows the request's and reply's wire bytes (serialisation at the bottleneck, propagation, and the "
           "handshake and slow start of a new or idle connection; docs/analysis.md). Residual = median over the "
           "requests of response - floor - server: what neither accounts for. Cold = requests on a new or idle "
           "connection.", ""]
    rows = []
    for r in summary:
        floor, server = r.get("network_floor_ms"), r.get("server_ms")
        both = fmt(floor + server) if isinstance(floor, float) and server is not None else (
            NO_FLOOR if floor == NO_FLOOR else "-")
        rows.append([r["access"], r["placement"], r["size"], r["model"], f"{r['ok']}/{r['count']}",
                     f"{fmt(r['upload_ms_median'])} ({fmt(r['upload_ms_p90'], empty='-')})",
                     f"{fmt(r.get('server_ms_median'))} ({fmt(r.get('server_ms_p90'), empty='-')})",
                     f"{fmt(r['response_ms_median'])} ({fmt(r['response_ms_p90'], empty='-')})",
                     _floor_cell(r, "upload_floor_ms"), _floor_cell(r, "network_floor_ms"), both,
                     fmt(r.get("residual_ms"), empty="-"), fmt(r.get("floor_cold_requests"), 0, "-"),
                     r.get("floor_note") or ""])
    out.append(table(["access", "placement", "size", "model", "ok/count", "upload", "server", "response",
                      "upload floor", "network floor", "floor + server", "residual", "cold", "note"], rows))
    reasons = sorted({r["floor_note"].split("; ")[0] for r in summary if r.get("network_floor_ms") == NO_FLOOR})
    if reasons:
        out += ["", "Where a cell says \"no floor\", none holds: " + "; ".join(
            reason[len(NO_FLOOR) + 2:] if reason.startswith(NO_FLOOR + ": ") else reason for reason in reasons)
            + ". A constant floor there would be wrong, so none is given."]
    below = [r for r in summary if isinstance(r.get("residual_ms"), float) and r["residual_ms"] < 0]
    if below:
        cells = ", ".join(f"{r['access']}/{r['placement']}/{r['size']} ({r['residual_ms']:+.1f} ms)" for r in below)
        out += ["", f"**Residual below 0 in {len(below)} cell(s): {cells}. A response faster than its floor plus "
                    "server time means a configured value, a stamp or the floor's model is wrong here.**"]
    return out + [""]


def failures_section(requests: list[dict]) -> list[str]:
    failed = [r for r in requests if r.get("status") != "ok"]
    if not failed:
        return []
    errors: dict[str, int] = {}
    for r in failed:
        errors[r.get("error") or "(no message)"] = errors.get(r.get("error") or "(no message)", 0) + 1
    rows = [[count, error[:160]] for error, count in sorted(errors.items(), key=lambda e: -e[1])[:10]]
    return ["## Failed requests", "", f"{len(failed)} of {len(requests)} requests failed.", "",
            table(["requests", "error"], rows), ""]


def faults_section(record: dict, requests: list[dict]) -> list[str]:
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
            table(["access", "fault", "status", "window (s)", "requests sent", "failed", "note"], rows), ""]


_SEE = re.compile(r"[;,]?\s*see ([a-z][a-z0-9]*(?:_[a-z0-9]+)+)")


def link_note(note: str, metrics: set[str]) -> str:
    """A links.csv note, with every "see <metric>" pointing at a metric the file does not have left out."""
    return _SEE.sub(lambda m: m.group(0) if m.group(1) in metrics else "", note or "").strip()


def links_section(links: list[dict]) -> list[str]:
    if not links:
        return ["## Links: configured vs measured", "", "Not measured (no links.csv).", ""]
    metrics = {r.get("metric", "") for r in links}
    rows = [[r.get("access", ""), r.get("link", ""), r.get("direction", ""), r.get("metric", ""),
             fmt(r.get("configured"), 3, "-"), fmt(r.get("measured"), 3), fmt(r.get("error_pct"), 1, "-"),
             link_note(r.get("note", ""), metrics)] for r in links]
    return ["## Links: configured vs measured", "",
            table(["access", "link", "direction", "metric", "configured", "measured", "error %", "note"], rows), ""]


def captures_section(run_dir: Path, captures: list[dict], traffic: list[dict], profiles: dict,
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
                     fmt(c.get("packets_captured"), 0, "-"), fmt(c.get("packets_received_by_filter"), 0, "-"),
                     fmt(c.get("packets_dropped_by_kernel"), 0, "-"),
                     "file missing" if not present else (
                         f"unreadable, left out: {unreadable[c.get('file')]}" if c.get("file") in unreadable else "")])
    out.append(table(["file", "host", "interface", "access", "captured", "received by filter",
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
                 _bytes(t["bytes_down"]), t["retransmissions"], fmt(t["median_handshake_rtt_ms"], 2, "-"),
                 fmt(_configured_rtt(t["purpose"], t["access"], profiles), 1, "-")] for t in traffic]
        out.append(table(["access", "purpose", "link", "flows", "packets", "bytes up", "bytes down", "retransmissions",
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
