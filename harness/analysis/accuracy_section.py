"""Accuracy measured in the same run as latency (``--images DIR`` with labels): per access x placement x image
size, of the ok requests whose label is one of the model's classes, how many answers matched, with a Wilson 95%
interval; ``accuracy.csv`` and the report's "Accuracy" section. Where a placement's accuracy cannot be measured
(no labels, labels not among the model's classes, class names unknown) the section says why, in one line.

The per-request ``correct`` (1 / 0 / empty) is decided when requests.csv is joined
(harness/orchestration/folder_images.py ``answer_correct``).
"""
from __future__ import annotations

import math
from pathlib import Path

from harness.analysis.accuracy import accuracy_fields  # noqa: F401 (re-exported)
from harness.analysis.summary import PLACEMENT_ORDER, size_label, write_formatted_csv

ACCURACY_FIELDS = ["access", "placement", "size", "size_bytes", "model", "ok", "judged", "correct", "accuracy",
                   "ci95_low", "ci95_high", "note"]
Z95 = 1.959964


def wilson_interval(correct: int, n: int) -> tuple[float | None, float | None]:
    """The Wilson score 95% interval of a proportion correct / n (None, None for n = 0)."""
    if n <= 0:
        return None, None
    p = correct / n
    centre = (p + Z95 * Z95 / (2 * n)) / (1 + Z95 * Z95 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95 * Z95 / (4 * n * n)) / (1 + Z95 * Z95 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _int(value) -> int:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return 0


def accuracy_table(requests: list[dict], record: dict) -> list[dict]:
    """accuracy.csv's rows: per access x placement x size, then "all" sizes; [] for a run without --images."""
    images = record.get("images")
    if not images:
        return []
    notes = images.get("accuracy") or {}
    groups: dict[tuple[str, str, object], list[dict]] = {}
    for row in requests:
        if row.get("status") != "ok":
            continue
        for size in (_int(row.get("size_bytes")), "all"):
            groups.setdefault((row.get("access", ""), row.get("placement", ""), size), []).append(row)
    order = {p: i for i, p in enumerate(PLACEMENT_ORDER)}
    out = []
    for access, placement, size in sorted(groups, key=lambda k: (k[0], order.get(k[1], 9), k[2] == "all",
                                                                 k[2] if k[2] != "all" else 0)):
        rows = groups[(access, placement, size)]
        judged = [r for r in rows if str(r.get("correct")) in ("0", "1")]
        right = sum(r["correct"] == "1" for r in judged)
        low, high = wilson_interval(right, len(judged))
        out.append({"access": access, "placement": placement, "size": size if size == "all" else size_label(size),
                    "size_bytes": "" if size == "all" else size,
                    "model": ",".join(sorted({r.get("model") or "" for r in rows} - {""})), "ok": len(rows),
                    "judged": len(judged), "correct": right, "accuracy": right / len(judged) if judged else None,
                    "ci95_low": low, "ci95_high": high, "note": notes.get(placement, "")})
    return out


def write_accuracy_csv(table: list[dict], path: Path) -> None:
    write_formatted_csv(table, path, ACCURACY_FIELDS)


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def accuracy_section(requests: list[dict], record: dict) -> list[str]:
    """report.md's "Accuracy" section ([] for a run without --images)."""
    images = record.get("images")
    if not images:
        return []
    out = ["## Accuracy", "",
           f"{images.get('images', '?')} images from `{images.get('dir', '?')}` ({images.get('mode', '?')}), "
           f"{images.get('labelled', 0)} labelled (labels from {images.get('label_source', '?')}): of each cell's "
           "ok requests, those whose label is one of the model's classes are judged; accuracy with its Wilson 95% "
           "interval and n (all of it in accuracy.csv).", ""]
    notes = [f"- {p}: accuracy {note}." for p, note in (images.get("accuracy") or {}).items() if note != "measured"]
    out += notes + ([""] if notes else [])
    table = [r for r in accuracy_table(requests, record) if r["judged"]]
    if table:
        out += ["| access | placement | size | n | correct | accuracy | 95% CI |", "|---|---|---|---:|---:|---:|---|"]
        out += [f"| {r['access']} | {r['placement']} | {r['size']} | {r['judged']} | {r['correct']} | "
                f"{_percent(r['accuracy'])} | {_percent(r['ci95_low'])} .. {_percent(r['ci95_high'])} |" for r in table]
    elif not any(note != "measured" for note in (images.get("accuracy") or {}).values()):
        out.append("Not measured: no labelled request was answered.")
    return out + [""]
