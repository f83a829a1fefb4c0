"""What report.md says, and only when it applies (issue 11): models' origin, sections by experiment, calibration
notes that point at rows that exist, explanations made of the run's numbers, one module of published figures."""
from __future__ import annotations

import ast
import copy
import csv
import json
import shutil
from pathlib import Path

import pytest

from harness.analysis.published_compare import compare_with_published
from harness.analysis.report import analyse_run, load_run
from harness.analysis.report_sections import link_note
from harness.analysis.summary import summarise

REPO = Path(__file__).resolve().parent.parent
SMALL = Path(__file__).resolve().parent / "data" / "results-small"


@pytest.fixture
def run_copy(tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(SMALL, dst)
    return dst


def _edit_record(run: Path, change) -> None:
    record = json.loads((run / "experiment.json").read_text())
    change(record)
    (run / "experiment.json").write_text(json.dumps(record))


def _report(run: Path) -> str:
    return analyse_run(run, progress=lambda _: None).read_text()


# ---------------------------------------------------------------- models' origin

def test_models_origin_in_setup_and_no_warning_for_real_models(run_copy):
    text = _report(run_copy)
    assert "Where the models came from" in text and "| test_accuracy | cloudcnn 0.9712, edgecnn1-3 0.9501 |" in text
    assert "test models" not in text and "Warning" not in text


def test_test_models_get_a_bold_warning_at_the_top(run_copy):
    _edit_record(run_copy, lambda r: r["models_origin"].update(
        test_models=True, reduced=True, epochs=1, note="REDUCED model set (epochs 1 < the real set's 30)"))
    text = _report(run_copy)
    warning = text.index("**Warning: these are test models (test_models: true; dataset digits, epochs 1)")
    assert warning < text.index("## Setup") and "REDUCED model set (epochs 1 < the real set's 30)**" in text


def test_a_folder_without_models_origin_is_still_reported(run_copy):
    _edit_record(run_copy, lambda r: r.pop("models_origin"))
    text = _report(run_copy)
    assert "## Setup" in text and "Where the models came from" not in text and "Warning" not in text


# ---------------------------------------------------------------- sections that apply

def test_replay_report_has_no_published_section(run_copy):
    _edit_record(run_copy, lambda r: r.update(experiment="replay"))
    text = _report(run_copy)
    assert "beside the published figures" not in text and "not measured" not in text.lower().split("## links")[0]


def test_edge_only_run_has_no_published_section(run_copy):
    with open(SMALL / "requests.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(run_copy / "requests.csv", "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if r["placement"] == "edge")
    assert "beside the published figures" not in _report(run_copy)


def test_published_rows_only_for_accesses_measured_with_both_placements(run_copy):
    with open(SMALL / "requests.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(run_copy / "requests.csv", "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(r for r in rows if r["access"] == "lte")
    text = _report(run_copy)
    assert "LTE response time at 60K" in text and "WiFi response time" not in text


# ---------------------------------------------------------------- calibration notes

def test_calibration_note_points_only_at_rows_that_exist(run_copy):
    with open(run_copy / "links.csv", "a", newline="") as out:
        csv.writer(out).writerow(["trace", "access", "uplink", "udp_received_mbps", "", "5.1", "",
                                  "trace lte-variable.up (mean 5.20 Mbit/s over its whole period); "
                                  "see trace_window_error_pct"])
    text = _report(run_copy)
    assert "trace lte-variable.up (mean 5.20 Mbit/s over its whole period) |" in text
    assert "trace_window_error_pct" not in text
    with open(run_copy / "links.csv", "a", newline="") as out:
        csv.writer(out).writerow(["trace", "access", "uplink", "trace_window_error_pct", "0", "3.2", "", "x"])
    assert "see trace_window_error_pct" in _report(run_copy)


def test_link_note_keeps_what_is_there():
    note = "receiver-measured; see receiver_window_error_pct, see emulator_window_error_pct"
    assert link_note(note, {"emulator_window_error_pct"}) == "receiver-measured, see emulator_window_error_pct"
    assert link_note(note, set()) == "receiver-measured"


# ---------------------------------------------------------------- explanations from the run

FIXED_SENTENCES = ("our WAN is", "Both uploads cross the same access", "probably had more delay",
                   "penalises the cloud more", "implies a cloud path much slower")


def _comparisons(profiles):
    small = load_run(SMALL)
    rows = summarise(small.requests, profiles, SMALL)
    return {c.published.key: c for c in compare_with_published(rows, profiles, {})}


def test_explanations_carry_the_runs_numbers_and_no_fixed_cause():
    small = load_run(SMALL)
    comparisons = _comparisons(small.record["profiles"])
    response = comparisons["lte_response_60k"].explanation
    assert "+122.0 ms" in response and "upload +75.0 ms" in response and "server time +4.0 ms" in response
    assert "the largest part is the upload" in response and "1.82x" in response
    upload = comparisons["lte_upload_512k"].explanation
    assert "access uplink (8 Mbit/s) on the cloud path (the same link)" in upload and "1.08x" in upload
    for c in comparisons.values():
        assert not any(s in c.explanation for s in FIXED_SENTENCES), c.explanation


def test_upload_explanation_follows_the_profiles():
    profiles = copy.deepcopy(load_run(SMALL).record["profiles"])
    profiles["wan"]["up"]["rate_bps"] = 2e6
    upload = _comparisons(profiles)["lte_upload_512k"].explanation
    assert "the wan uplink (2 Mbit/s) on the cloud path" in upload and "the same link" not in upload


# ---------------------------------------------------------------- one module of published figures
# (no import cycle among the analysis modules, nor anywhere: tests/test_layout.py)

def test_published_numbers_live_in_one_module():
    for name in ("experiments/collaborate/analysis", "experiments/collaborate/report", "experiments/features/report",
                 "analysis/published_compare", "analysis/report"):
        tree = ast.parse((REPO / "harness" / f"{name}.py").read_text())
        assigned = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        assert not {a for a in assigned if a.startswith("PUBLISHED")}, name
