"""What a ``reproduce`` folder holds, written after every part: ``reproduce.json`` (each part's status, wall time,
code version) and ``README.md``, the index a reader opens first (scorecard, each part's figures and tables)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.experiments.reproduce.measured import Measured
from harness.experiments.reproduce.parts import Part
from harness.orchestration.results import utc_stamp, write_json_atomically

RECORD_FILE, INDEX_FILE = "reproduce.json", "README.md"
PAPER_FIGURES = {  # the figures the papers show, as the parts name them (issue 12): listed, or said missing
    "system_b_models": ("accuracy_vs_labelled.png",),                       # accuracy vs labelled images per k
    "system_b_network": ("response_vs_size.png", "upload_vs_size.png"),     # LTE and WiFi, edge vs cloud
    "system_a": ("accuracy_vs_dim.png",),                                   # accuracy vs feature dimension
}
STATUS_WORDS = {
    "ran": "ran now", "cached": "cached (code and settings unchanged)", "failed": "failed",
    "interrupted": "interrupted (rerun to resume)", "not started": "not started (the run was stopped first)",
    "missing": "not in this checkout", "needs root": "skipped: needs root", "not selected": "not selected",
}


@dataclass(frozen=True)
class Outcome:
    part: Part
    status: str                               # a key of STATUS_WORDS
    measured: tuple[Measured, ...] = ()
    wall_s: float | None = None
    why: str = ""                             # why it reported nothing (shown on its figures' rows)
    version: str = ""

    def __post_init__(self):
        if self.status not in STATUS_WORDS:
            raise ValueError(f"part {self.part.name}: unknown status {self.status!r}")


def write_record(run_dir: Path, spec_dict: dict, outcomes: list[Outcome], summary: str) -> Path:
    path = run_dir / RECORD_FILE
    write_json_atomically(path, {
        "experiment": "reproduce", "spec": spec_dict, "updated_utc": utc_stamp(), "summary": summary,
        "parts": {o.part.name: {"system": o.part.system, "status": o.status, "wall_s": o.wall_s,
                                "version": o.version, "figures": len(o.measured), "why": o.why}
                  for o in outcomes}})
    return path


def parts_table(outcomes: list[Outcome]) -> list[str]:
    lines = ["| part | what | status | wall s | figures |", "|---|---|---|---|---|"]
    for o in outcomes:
        wall = "" if o.wall_s is None else f"{o.wall_s:.0f}"
        status = STATUS_WORDS[o.status] + (f": {o.why}" if o.why and o.status == "failed" else "")
        lines.append(f"| {o.part.name} | {o.part.what} | {status} | {wall} | {len(o.measured)} |")
    return lines


def write_index(run_dir: Path, title: str, summary: str, outcomes: list[Outcome]) -> Path:
    """README.md: the summary, links to the scorecard, the parts, and every figure (PNG) and table (CSV) they wrote."""
    lines = [f"# {title}", "", f"**{summary}**", "",
             "- [scorecard.md](scorecard.md): every published figure beside ours, with its verdict "
             "([scorecard.csv](scorecard.csv): the same as data)",
             f"- [{RECORD_FILE}]({RECORD_FILE}): each part's status, wall time and code version", "",
             "## Parts", "", *parts_table(outcomes), "", "## The papers' figures", ""]
    for o in outcomes:
        for name in PAPER_FIGURES.get(o.part.name, ()):
            path = run_dir / o.part.name / name
            lines.append(f"- [{o.part.name}/{name}]({o.part.name}/{name})" if path.is_file() else
                         f"- {o.part.name}/{name}: not written (part {o.part.name}: {STATUS_WORDS[o.status]})")
    for o in outcomes:
        work_dir = run_dir / o.part.name
        pngs = sorted(work_dir.rglob("*.png")) if work_dir.is_dir() else []
        tables = sorted(work_dir.glob("*.csv")) if work_dir.is_dir() else []  # checkpoints below are not listed
        if not pngs and not tables:
            continue
        lines += ["", f"## {o.part.name}", ""]
        lines += [f"![{p.stem}]({p.relative_to(run_dir).as_posix()})" for p in pngs]
        if tables:
            lines += ["", "Tables: " + ", ".join(f"[{t.relative_to(run_dir).as_posix()}]"
                                                  f"({t.relative_to(run_dir).as_posix()})" for t in tables)]
    path = run_dir / INDEX_FILE
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path
