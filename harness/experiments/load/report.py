"""A ``load`` run's analysis, from its folder alone (``python harness/run.py report RUN`` re-makes it, no root):
load.csv (one row per cell), load-summary.csv (the crossover per access), response_vs_load.png and report.md."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from harness.analysis.scenario_section import scenario_section
from harness.analysis.timeline import scenario_outputs
from harness.analysis.compute_section import compute_section
from harness.analysis.report import load_run, record_validity
from harness.analysis.validity import Validity, validity_lines
from harness.analysis.report_sections import fmt, links_section, table, test_models_warning
from harness.analysis.summary import format_cell
from harness.experiments.load.host_load import host_load
from harness.experiments.load.metrics import LOAD_FIELDS, SUMMARY_FIELDS, crossovers, load_rows

FIGURE = "response_vs_load.png"
PLACEMENT_COLOURS = {"edge": "tab:green", "cloud": "tab:blue"}


def _write(rows: list[dict], fields: list[str], path: Path) -> None:
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: format_cell(row.get(k)) for k in fields})


def response_figure(rows: list[dict], summary: list[dict], path: Path) -> Path | None:
    """Per access: each placement's median response against the load, the band up to p90, the crossover marked."""
    done = [r for r in rows if r["status"] == "complete" and r["response_ms_p50"] is not None]
    if not done:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    from harness.analysis.figures import access_name

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    accesses = list(dict.fromkeys(r["access"] for r in done))
    fig, axes = plt.subplots(1, len(accesses), figsize=(5.2 * len(accesses), 4.0), squeeze=False)
    for ax, access in zip(axes[0], accesses):
        for (placement, rate), points in _series(done, access).items():
            xs, p50, p90 = zip(*points)
            label = placement + (f", {rate:g} Hz/device" if rate else "")
            colour = PLACEMENT_COLOURS.get(placement)
            ax.plot(xs, p50, marker="o", color=colour, label=f"{label}: median")
            ax.fill_between(xs, p50, p90, color=colour, alpha=0.2, label=f"{label}: to p90")
        for found in (s for s in summary if s["access"] == access and s["crossover_load"] is not None):
            at = found["crossover_estimate"] or found["crossover_load"]
            ax.axvline(at, color="black", linestyle="--", linewidth=1)
            ax.annotate(f"crossover ~{at:.3g}", (at, ax.get_ylim()[1]), textcoords="offset points", xytext=(3, -12),
                        fontsize=8)
        unit = next(r["load_unit"] for r in done if r["access"] == access)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(f"load ({unit})")
        ax.set_ylabel("response time (ms)")
        ax.set_title(access_name(access))
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _series(rows: list[dict], access: str) -> dict:
    out: dict[tuple[str, float], list] = {}
    for r in sorted((r for r in rows if r["access"] == access), key=lambda r: r["load"]):
        out.setdefault((r["placement"], r.get("rate_hz") or 0.0), []).append(
            (r["load"], r["response_ms_p50"], r["response_ms_p90"] or r["response_ms_p50"]))
    return out


def render(record: dict, rows: list[dict], summary: list[dict], links: list[dict],
           figure: Path | None, run_dir: Path, validity: Validity | None = None, extra: list[str] = ()) -> str:
    """report.md; ``extra``: more sections, before the links (a scenario's cells and handovers)."""
    status = record.get("status", "unknown")
    cells = record.get("cells") or []
    out = [f"# Load run: {run_dir.name}", "",
           f"Status **{status}**, started {record.get('started_utc') or '?'}, finished "
           f"{record.get('finished_utc') or '?'}. {len(cells)} cells started, "
           f"{sum(c.get('status') == 'complete' for c in cells)} complete."]
    if status != "complete":
        out += ["", f"> This run did not complete ({status}" + (f": {record['error']}" if record.get("error") else "")
                + "). Not resumable: what follows covers the cells it finished; run it again for the rest."]
    if validity is not None:
        out += [""] + validity_lines(validity)
    out += test_models_warning(record)
    spec = record.get("spec") or {}
    rates = spec.get("rates_hz") or []
    out += ["", "## Setup", "",
            f"Devices per level {', '.join(map(str, spec.get('devices') or []))}; {record.get('pattern', '?')}"
            + (f" at {', '.join(f'{r:g}' for r in rates)} requests/s per device" if rates else "")
            + f"; {spec.get('cell_seconds', 0):g} s per cell; images {', '.join(spec.get('sizes') or [])}; placements "
            f"{', '.join(spec.get('placements') or [])}; accesses {', '.join(spec.get('accesses') or [])}; seed "
            f"{spec.get('seed')} (device i: seed + i - 1). One network, one edge and one cloud server per access for "
            "all its cells; cells run load levels upwards, edge and cloud side by side at each.", ""]
    out += compute_section(run_dir, record)
    out += ["## Crossover: the load above which the cloud answers faster", ""]
    out += [f"- **{s['access']}**" + (f" at {s['rate_hz']:g} Hz per device" if s.get("rate_hz") else "")
            + f": {s['finding']}." for s in summary] or ["- not measured: no complete cell."]
    out += ["", "## Cells", "", "Window = the seconds every device of the cell was sending (start-up and the end left "
            "out). Throughput in requests/s over it; response and queueing (arrival at the server to its preprocess "
            "start) in ms of the ok requests sent in it; server CPU = the answering server's cores used over the cell "
            "(utilisation against its quota, or this machine's CPUs); host CPU = the whole machine's busy share over the "
            "cell (the host monitor's samples), emulators = the link emulators' cores.", ""]
    out.append(table(["access", "placement", "devices", "rate Hz", "status", "ok/requests", "window s", "offered",
                      "achieved", "p50", "p90", "p99", "queue median (p90)", "lateness p99", "server CPU cores (util)",
                      "host CPU % mean/max", "emulators cores", "devices cores", "validity"],
                     [[r["access"], r["placement"], r["devices"], fmt(r["rate_hz"], empty="-"), r["status"],
                       f"{r['ok']}/{r['requests']}", fmt(r["window_s"], 1),
                       fmt(r["nominal_offered_rps"] or r["offered_rps"], 2), fmt(r["achieved_rps"], 2),
                       fmt(r["response_ms_p50"]), fmt(r["response_ms_p90"]), fmt(r["response_ms_p99"]),
                       f"{fmt(r['queue_ms_median'])} ({fmt(r['queue_ms_p90'], empty='-')})",
                       fmt(r["schedule_lateness_ms_p99"], empty="-"),
                       f"{fmt(r['server_cpu_cores'], 2)} ({fmt(_pct(r['server_cpu_utilisation']), 0, '-')}%)",
                       f"{fmt(r.get('host_cpu_busy_pct_mean'), 0, '-')}/{fmt(r.get('host_cpu_busy_pct_max'), 0, '-')}",
                       fmt(r.get("emulators_cpu_cores"), 2, "-"), fmt(r.get("devices_cpu_cores"), 2, "-"),
                       r.get("validity", "")]
                      for r in rows]))
    judged = [r for r in rows if r.get("accuracy") is not None]
    if judged:
        out += ["", "Accuracy of the served answers (`--images` with labels; n = the ok answers judged in the "
                "cell's window): " + "; ".join(f"{r['access']} {r['placement']} {r['devices']} devices "
                                              f"{100 * r['accuracy']:.1f}% (n {r['accuracy_n']})" for r in judged)
                + "."]
    invalid = [r for r in rows if r.get("validity_failed")]
    if invalid:
        out += ["", "INVALID cells (the constraint that failed, numbered as in the run's validity): "
                + "; ".join(f"{r['access']}/{r['level']}/{r['placement']}: {r['validity_failed']}" for r in invalid)
                + "."]
    notes = sorted({f"{r['access']}/{r['level']}/{r['placement']}: {r['window_note']}" for r in rows if r["window_note"]})
    if notes:
        out += ["", "Notes: " + "; ".join(notes) + "."]
    failed = [r for r in rows if r["failed"]]
    if failed:
        out += ["", f"Failed requests in {len(failed)} cell(s): "
                + ", ".join(f"{r['access']}/{r['level']}/{r['placement']} {r['failed']}" for r in failed)
                + " (requests.csv has each error)."]
    out.append("")
    out += list(extra)
    out += links_section(links)
    if figure:
        out += ["## Figure", "", f"![response vs load]({figure.name})", ""]
    return "\n".join(out).rstrip() + "\n"


def _pct(value) -> float | None:
    return None if value is None else value * 100


def analyse_load(run_dir: Path, progress=print, out_dir: Path | None = None) -> Path:
    """Write load.csv, load-summary.csv, the figure and report.md of ``run_dir`` (into ``out_dir``, by default the
    run folder); returns the report's path."""
    run_dir = Path(run_dir)
    data = load_run(run_dir)
    out_dir = Path(out_dir) if out_dir else run_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = load_rows(data.record.get("cells") or [], data.requests or [], host_load(run_dir, data.record, data.requests or []), run_dir)
    summary = crossovers(rows)
    _write(rows, LOAD_FIELDS, out_dir / "load.csv")
    _write(summary, SUMMARY_FIELDS, out_dir / "load-summary.csv")
    progress(f"load: {len(rows)} cells -> {out_dir / 'load.csv'}; crossover -> {out_dir / 'load-summary.csv'}")
    figure = response_figure(rows, summary, out_dir / FIGURE)
    extra = scenario_section(data.requests, data.record)  # --scenario: per cell and serving node, handovers
    for caption, path in scenario_outputs(data.requests, data.record, out_dir):  # cells.csv and the timeline
        extra += [f"![{caption}]({path.name})", ""]
    validity = record_validity(data, out_dir)
    progress(f"validity: {validity.headline()}")
    report = out_dir / "report.md"
    report.write_text(render(data.record, rows, summary, data.links, figure, run_dir, validity, extra))
    progress(f"report: {report}")
    return report


def is_load_run(run_dir: Path) -> bool:
    try:
        return json.loads((Path(run_dir) / "experiment.json").read_text()).get("experiment") == "load"
    except (OSError, ValueError, AttributeError):
        return False
