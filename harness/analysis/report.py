"""Analyse a run folder and write ``report.md`` (with summary.csv, flows.csv and the figures).

Reads only the run folder (Pantheon: analysis is a separate step), so
``python harness/run.py report RESULTS_DIR`` re-makes everything without root. A run that
stopped early (status "interrupted" / "failed") is reported as far as it got; a number the run
did not measure is written "not measured", never guessed.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from harness.analysis.accuracy_section import accuracy_section, accuracy_table, write_accuracy_csv
from harness.analysis.compute_section import compute_section
from harness.analysis.figures import fault_timeline, make_figures
from harness.analysis.flows import analyse_captures, traffic_table, write_flows_csv
from harness.analysis.published import PUBLISHED_SOURCE
from harness.analysis.published_compare import applicable, compare_with_published
from harness.analysis.radio_section import radio_section
from harness.analysis.replay_series import replay_section
from harness.analysis.scenario_section import scenario_section
from harness.analysis.timeline import scenario_outputs
from harness.analysis.report_sections import (NOT_MEASURED, captures_section, failures_section, faults_section, fmt,
                                     links_section, setup_section, summary_section, table,
                                     test_models_warning)
from harness.analysis.summary import (device_counts, devices_section, summarise, write_device_counts_csv,
                                      write_summary_csv)
from harness.analysis.validity import Validity, evaluate, validity_lines

REQUIRED_REQUEST_COLUMNS = ("access", "placement", "size_bytes", "status", "upload_ms", "inference_ms", "response_ms")
REQUIRED_REPLAY_COLUMNS = ("time_s", "response_ms", "uplink_capacity_mbps", "downlink_capacity_mbps")
COMPARED_EXPERIMENTS = ("compare", "sweep")  # the published edge-vs-cloud figures apply to these


class ReportError(ValueError):
    """A results folder that cannot be analysed; the message names the file and what is wrong."""


@dataclass
class RunData:
    run_dir: Path
    record: dict
    requests: list[dict] | None = None        # None: no requests.csv
    links: list[dict] = field(default_factory=list)
    replay: list[dict] | None = None
    replay_capacity: list[dict] | None = None
    flows: list[dict] | None = None            # flows.csv rows once analysed (per-device bytes)


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
    if (run_dir / "replay-capacity.csv").is_file():
        data.replay_capacity = _read_csv(run_dir / "replay-capacity.csv", ("time_s", "uplink_mbps", "downlink_mbps"))
    return data


def comparison_section(summary: list[dict], record: dict) -> list[str]:
    """Our reductions beside System B's, for the access networks this run measured with edge and cloud;
    nothing for other experiments (replay) or runs without both placements."""
    if record.get("experiment", "compare") not in COMPARED_EXPERIMENTS:
        return []
    env = record.get("environment") or {}
    comparisons = applicable(compare_with_published(summary, record.get("profiles") or {},
                                                    env.get("onnxruntime_providers") or {}), summary)
    if not comparisons:
        return []
    rows, notes = [], []
    for c in comparisons:
        size = f"{c.size_bytes // 1024}K" if c.size_bytes else "?"
        rows.append([c.published.what, size, f"{c.published.change_pct:+.2f}%",
                     NOT_MEASURED if c.ours_pct is None else f"{c.ours_pct:+.2f}%",
                     fmt(c.edge_ms), fmt(c.cloud_ms),
                     "" if c.difference_points is None else f"{c.difference_points:+.1f}"])
        notes.append(f"- **{c.published.what}**: {c.explanation}")
    return (["## Edge vs cloud beside the published figures", "",
             f"Change = (edge - cloud) / cloud of the medians; published: {PUBLISHED_SOURCE}.", "",
             table(["figure", "size", "published", "ours", "edge median ms", "cloud median ms",
                    "ours - published (points)"], rows), ""] + notes + [""])


def render_report(data: RunData, summary: list[dict] | None, traffic: list[dict],
                  figures: list[tuple[str, Path]], out_dir: Path, unreadable: dict | None = None,
                  validity: Validity | None = None) -> str:
    record = data.record
    status = record.get("status", "unknown")
    out = [f"# Run report: {data.run_dir.name}", "",
           f"Experiment **{record.get('experiment', '?')}**, status **{status}**, "
           f"started {record.get('started_utc') or '?'}, finished {record.get('finished_utc') or '?'}."]
    if validity is not None:
        out += [""] + validity_lines(validity)
    if status != "complete":
        out += ["", f"> This run did not complete ({status}"
                    + (f": {record['error']}" if record.get("error") else "") + "). What follows is what it "
                    f"finished: accesses run: {', '.join(record.get('accesses_run') or []) or 'none'}."]
    if data.requests is not None:
        ok = sum(r.get("status") == "ok" for r in data.requests)
        out += ["", f"{len(data.requests)} requests, {ok} ok, {len(data.requests) - ok} failed."]
    out += test_models_warning(record)
    out.append("")
    out += setup_section(record)
    if summary:
        out += comparison_section(summary, record)
        out += summary_section(summary)
        out += radio_section(summary, data.requests or [], record.get("profiles") or {})  # radio vs its pipe
        out += accuracy_section(data.requests or [], record)  # --images with labels
        out += devices_section(summary, device_counts(data.requests or [], data.flows))
        out += scenario_section(data.requests, record)  # --scenario: per cell and serving node, handovers
    else:
        out += ["## Requests", "", "Not measured: no requests finished (requests.csv missing or empty).", ""]
    if data.requests:
        out += failures_section(data.requests)
    out += faults_section(record, data.requests or [])
    if data.replay is not None:
        out += replay_section(data.replay)
    out += links_section(data.links)
    out += compute_section(data.run_dir, record)
    if record.get("captures") or (record.get("spec") or {}).get("capture", True):
        out += captures_section(data.run_dir, record.get("captures") or [], traffic, record.get("profiles") or {},
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
    captures = data.record.get("captures") or []
    unreadable: dict[str, str] = {}
    flow_rows = analyse_captures(run_dir, captures, unreadable, data.record)
    for message in unreadable.values():
        progress(f"warning: {message}; left out of flows.csv")
    if captures:
        write_flows_csv(flow_rows, out_dir / "flows.csv")
        progress(f"flows: {len(flow_rows)} TCP flows from {len(captures)} captures -> {out_dir / 'flows.csv'}")
    summary = None
    if data.requests is not None:
        spec = data.record.get("spec") or {}
        open_loop = bool(spec.get("open_loop_rate_hz") or spec.get("arrivals_file"))
        summary = summarise(data.requests, data.record.get("profiles") or {}, run_dir, flow_rows, open_loop,
                            routes=(data.record.get("scenario") or {}).get("routes"))
        write_summary_csv(summary, out_dir / "summary.csv")
        data.flows = flow_rows if captures else None
        write_device_counts_csv(device_counts(data.requests, data.flows), out_dir / "devices.csv")
        if data.record.get("images"):
            write_accuracy_csv(accuracy_table(data.requests, data.record), out_dir / "accuracy.csv")
        progress(f"summary: {len(summary)} groups of {len(data.requests)} requests -> {out_dir / 'summary.csv'}")
    if data.record.get("experiment") == "replay":
        _refresh_replay(data, out_dir, progress)
    figures = make_figures(summary or [], data.replay, out_dir, data.replay_capacity)
    for access, start_ns in (data.record.get("fault_clock_start_ns") or {}).items():
        if data.record.get("faults") and data.requests:
            path = fault_timeline(data.requests, data.record["faults"], start_ns, access,
                                  out_dir / f"timeline-{access}.png")
            if path:
                figures.append((f"{access}: requests over time with the fault windows", path))
    figures += scenario_outputs(data.requests, data.record, out_dir)
    progress(f"figures: {', '.join(p.name for _, p in figures) or 'none (no finished requests)'}")
    validity = record_validity(data, out_dir)
    progress(f"validity: {validity.headline()}")
    report = out_dir / "report.md"
    report.write_text(render_report(data, summary, traffic_table(flow_rows), figures, out_dir, unreadable, validity))
    progress(f"report: {report}")
    return report


def record_validity(data: RunData, out_dir: Path) -> Validity:
    """VALID / INVALID (harness/analysis/validity.py) into validity.json, and into experiment.json when the
    report is made in the run folder itself (so the record says it too)."""
    validity = evaluate(data.run_dir, data.record, data.requests)
    (out_dir / "validity.json").write_text(json.dumps(validity.to_dict(), indent=2) + "\n")
    if out_dir.resolve() == data.run_dir.resolve():
        data.record["validity"] = validity.to_dict()
        meta = data.run_dir / "experiment.json"
        partial = meta.with_name(meta.name + ".partial")
        partial.write_text(json.dumps(data.record, indent=2) + "\n")
        partial.replace(meta)
    return validity


def _refresh_replay(data: RunData, out_dir: Path, progress) -> None:
    """Re-make replay.csv and replay-capacity.csv where the run's trace files are readable (older folders
    gain the per-upload capacity); else keep what the folder has."""
    from harness.analysis.replay_series import write_replay_csv

    try:
        made = write_replay_csv(data.run_dir, out_dir)
    except (OSError, ValueError, KeyError) as err:
        progress(f"warning: replay series not re-made ({err}); using the folder's replay.csv")
        return
    if made is None:
        return
    data.replay = _read_csv(out_dir / "replay.csv", REQUIRED_REPLAY_COLUMNS)
    data.replay_capacity = _read_csv(out_dir / "replay-capacity.csv", ("time_s", "uplink_mbps", "downlink_mbps"))
    progress(f"replay: {len(data.replay)} requests, {len(data.replay_capacity)} s of capacity -> {made}")
