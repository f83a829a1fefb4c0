"""The scorecard: every published figure (the catalogue) beside what the parts measured, with a verdict.

Verdicts: **reproduced** (within the tolerance, 10 % relative by default; or ours +- its 95 % CI covers the
published value, with a half-width at most 2x the tolerance (a wider CI says nothing); for a range: inside it, within 10 % of it, or the CI overlaps it; for a figure published as a
direction only: that direction; and never when the paper's direction does not hold), **direction only** (the sign / order the paper shows holds, the magnitude does
not), **not reproduced**, **not run** (with why). A figure no part reported is a "not run" row, never left out.
"@stride1" figures (the literal spec, EdgeCNN pool stride 1) are extra rows under their figure.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from harness.experiments.reproduce.catalogue import BY_KEY, CATALOGUE, STRIDE_SUFFIX, PublishedFigure, base_key
from harness.experiments.reproduce.measured import Measured
from nodes.csv_rows import CsvRows

REPRODUCED, DIRECTION_ONLY, NOT_REPRODUCED, NOT_RUN = "reproduced", "direction only", "not reproduced", "not run"
CI_WIDTH_FACTOR = 2.0  # a CI covers the published value only if its half-width is <= 2 x the tolerance
VERDICTS = (REPRODUCED, DIRECTION_ONLY, NOT_REPRODUCED, NOT_RUN)
FIELDS = ["key", "system", "figure", "unit", "published", "ours", "ci95", "off", "tolerance", "verdict",
          "direction", "basis", "n", "detail"]
MAGNITUDE_GOAL = 0.70


@dataclass(frozen=True)
class ScoreRow:
    key: str
    system: str
    figure: str
    unit: str
    published: str
    ours: float | None
    ci95: float | None
    off: str              # how far ours is from the published value, in the tolerance's terms (prediction error)
    tolerance: str
    verdict: str
    direction: str        # held / not held / unknown (the figure it is ordered against was not run) / "" (not run)
    basis: str
    n: int
    detail: str

    @property
    def extra(self) -> bool:
        """A second row of a figure (the literal spec), not counted as a figure of its own."""
        return self.key.endswith(STRIDE_SUFFIX)


def within_tolerance(fig: PublishedFigure, ours: float, ci95: float | None) -> bool | None:
    """Magnitude reproduced? None for a figure published as a direction only."""
    ci = ci95 or 0.0
    if fig.published_range is not None:
        low, high = fig.published_range
        low_ok, high_ok = low - fig.tolerance_rel * abs(low), high + fig.tolerance_rel * abs(high)
        return low_ok <= ours <= high_ok or (ours - ci <= high and ours + ci >= low and ci_narrow_enough(fig, ci))
    if fig.published is None:
        return None
    tolerance = fig.tolerance_abs if fig.tolerance_abs is not None else fig.tolerance_rel * abs(fig.published)
    gap = abs(ours - fig.published)
    return gap <= tolerance + 1e-9 or (gap <= ci and ci_narrow_enough(fig, ci))


def ci_narrow_enough(fig: PublishedFigure, ci95: float) -> bool:
    """A CI may stand for the magnitude only when it is at most CI_WIDTH_FACTOR x the tolerance: a +-270 % CI
    'covers' anything and says nothing."""
    if fig.published_range is not None:
        low, high = fig.published_range
        tolerance = fig.tolerance_rel * max(abs(low), abs(high))
    elif fig.tolerance_abs is not None:
        tolerance = fig.tolerance_abs
    else:
        tolerance = fig.tolerance_rel * abs(fig.published)
    return ci95 <= CI_WIDTH_FACTOR * tolerance + 1e-9


def deviation(fig: PublishedFigure, ours: float) -> str:
    """ours - published, relative (or in the unit, for an absolute tolerance); for a range, from its nearest end."""
    if fig.published_range is not None:
        low, high = fig.published_range
        if low <= ours <= high:
            return "inside"
        end = low if ours < low else high
        return f"{(ours - end) / abs(end) * 100:+.1f}% rel" if end else f"{ours - end:+.2f} {fig.unit}"
    if fig.published is None:
        return ""
    if fig.tolerance_abs is not None or fig.published == 0:
        return f"{ours - fig.published:+.2f} {fig.unit}".rstrip()
    return f"{(ours - fig.published) / abs(fig.published) * 100:+.1f}% rel"


def judge(fig: PublishedFigure, ours: float, ci95: float | None, other: float | None) -> tuple[str, str]:
    """(verdict, direction state) of a measured value; ``other`` is the value of the figure the direction
    orders ours against (None: that figure was not run; unused when the direction is against a number)."""
    than = fig.direction.than
    if isinstance(than, str):
        direction = "unknown" if other is None else ("held" if fig.direction.holds(ours, other) else "not held")
    else:
        direction = "held" if fig.direction.holds(ours, float(than)) else "not held"
    magnitude = within_tolerance(fig, ours, ci95)
    if magnitude is None:  # published as a direction only: the direction is the whole figure
        return (REPRODUCED if direction == "held" else NOT_REPRODUCED), direction
    if magnitude and direction != "not held":  # reproduced = the magnitude and the paper's direction
        return REPRODUCED, direction
    return (DIRECTION_ONLY if direction == "held" else NOT_REPRODUCED), direction


def score(measured: Iterable[Measured], why_missing: dict[str, str] | None = None
          ) -> tuple[list[ScoreRow], list[str]]:
    """Rows in catalogue order (each figure, then its @stride1 row if a part gave one), and the notes on
    figures the catalogue does not know or got twice. ``why_missing``: part -> why it reported nothing."""
    why_missing = why_missing or {}
    by_key: dict[str, Measured] = {}
    notes = []
    for m in measured:
        if base_key(m.key) not in BY_KEY:
            notes.append(f"{m.key}: not a published figure of the catalogue (left out)")
        elif m.key in by_key:
            notes.append(f"{m.key}: reported twice (the first kept)")
        else:
            by_key[m.key] = m
    rows = []
    for fig in CATALOGUE:
        for key in (fig.key, fig.key + STRIDE_SUFFIX):
            m = by_key.get(key)
            if m is None and key != fig.key:
                continue
            rows.append(_row(fig, key, m, by_key, why_missing.get(fig.part)))
    return rows, notes


def _row(fig: PublishedFigure, key: str, m: Measured | None, by_key: dict[str, Measured],
         why: str | None) -> ScoreRow:
    common = dict(key=key, system=fig.system, figure=fig.what, unit=fig.unit, published=fig.published_text(),
                  tolerance=fig.tolerance_text())
    if m is None or m.basis == "not run":
        detail = m.detail if m is not None and m.detail else f"part {fig.part} did not report it" + \
            (f" ({why})" if why else "")
        return ScoreRow(**common, ours=None, ci95=None, off="", verdict=NOT_RUN, direction="", basis="not run",
                        n=0 if m is None else m.n, detail=detail)
    other = None
    if isinstance(fig.direction.than, str):
        stride = key.endswith(STRIDE_SUFFIX)
        partner = by_key.get(fig.direction.than + STRIDE_SUFFIX) if stride else None
        partner = partner or by_key.get(fig.direction.than)
        other = partner.ours if partner is not None and partner.basis != "not run" else None
    verdict, direction = judge(fig, m.ours, m.ci95, other)
    return ScoreRow(**common, ours=m.ours, ci95=m.ci95, off=deviation(fig, m.ours), verdict=verdict,
                    direction=direction, basis=m.basis, n=m.n, detail=m.detail)


@dataclass(frozen=True)
class Summary:
    figures: int
    counts: dict[str, int]
    extra_rows: int
    directions_held: int
    reproduced_share: float

    @property
    def directions_all(self) -> bool:
        return self.directions_held == self.figures

    @property
    def magnitude_goal_met(self) -> bool:
        return self.reproduced_share >= MAGNITUDE_GOAL


def summarise(rows: list[ScoreRow]) -> Summary:
    figures = [r for r in rows if not r.extra]
    counts = {v: sum(r.verdict == v for r in figures) for v in VERDICTS}
    held = sum(r.direction == "held" for r in figures)
    return Summary(len(figures), counts, len(rows) - len(figures), held,
                   counts[REPRODUCED] / len(figures) if figures else 0.0)


def summary_line(s: Summary) -> str:
    rows = "row" if s.extra_rows == 1 else "rows"
    extra = f" (+ {s.extra_rows} {rows} of the literal spec, {STRIDE_SUFFIX})" if s.extra_rows else ""
    return (f"{s.figures} figures: {s.counts[REPRODUCED]} reproduced, {s.counts[DIRECTION_ONLY]} direction only, "
            f"{s.counts[NOT_REPRODUCED]} not reproduced, {s.counts[NOT_RUN]} not run{extra}")


def goals_lines(s: Summary) -> list[str]:
    yes = {True: "yes", False: "no"}
    return [f"- every SEEDS.md figure in the scorecard: yes ({s.figures} of {len(CATALOGUE)})",
            f"- direction reproduced for all: {yes[s.directions_all]} ({s.directions_held} of {s.figures})",
            f"- magnitude within tolerance (or CI covering it) for >= {MAGNITUDE_GOAL:.0%}: "
            f"{yes[s.magnitude_goal_met]} ({s.counts[REPRODUCED]} of {s.figures} = {s.reproduced_share:.0%})"]


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def write_scorecard(rows: list[ScoreRow], notes: list[str], out_dir: Path, title: str,
                    preamble: list[str] = ()) -> tuple[Path, Path]:
    """``scorecard.csv`` (every column, numbers as numbers) and ``scorecard.md`` (summary line first)."""
    out_dir = Path(out_dir)
    csv_path, md_path = out_dir / "scorecard.csv", out_dir / "scorecard.md"
    with CsvRows(csv_path, FIELDS) as table:
        for row in rows:
            values = asdict(row)
            for name in ("ours", "ci95"):
                values[name] = "" if values[name] is None else round(values[name], 4)
            table.write(values)
    s = summarise(rows)
    lines = [f"# {title}", "", f"**{summary_line(s)}**", "", "Goals of issue 12:", *goals_lines(s), "",
             *preamble, "",
             "| key | figure | published | ours | off | tolerance | verdict | direction | basis | n | detail |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ours = _fmt(r.ours) + (f" ± {r.ci95:.2f}" if r.ci95 is not None else "")
        unit = f" {r.unit}" if r.unit and r.ours is not None else ""
        published = r.published + (f" {r.unit}" if r.unit and _is_number_text(r.published) else "")
        lines.append(f"| {r.key} | {r.figure} | {published} | {ours}{unit} | {r.off} | {r.tolerance} | "
                     f"**{r.verdict}** | {r.direction} | {r.basis} | {r.n} | {r.detail.replace('|', '/')} |")
    if notes:
        lines += ["", "Figures left out:", *(f"- {n}" for n in notes)]
    lines += ["", "Verdicts: reproduced = the paper's direction holds and ours is within the tolerance, or ours ± 95% CI "
              "covers the published value with a half-width of at most 2x the tolerance (a range: inside it, within "
              "10% of it, or overlapping it); direction only = the sign or order the paper shows "
              "holds, the magnitude does not; off = ours minus published (relative, or in the unit where the "
              "tolerance is; for a range from its nearer end), for a predicted figure its prediction error; basis "
              "fitted = a scenario parameter was tuned to this figure, predicted = computed from parameters fitted "
              "to other figures."]
    md_path.write_text("\n".join(lines).rstrip() + "\n")
    return csv_path, md_path


def _is_number_text(text: str) -> bool:
    try:
        return math.isfinite(float(text.split("..")[0]))
    except ValueError:
        return False
