"""A short `compare` with ``--images``: the device sends held-out digits (PNG files in DIR/<digit>/) re-encoded to
each size; every row names its image, resolution, quality and true label and whether the answer matched, and
the summary, accuracy.csv and the report give accuracy per placement and size with n and a 95% interval. With
Fashion-MNIST photos (labels that are none of the digit models' classes) the run still completes and says
"not measured" in one line."""
from __future__ import annotations

import csv
import json

import pytest

from conftest import leaked_since, run_cli
from image_fixtures import digit_folder, fashion_folder

pytestmark = [pytest.mark.root, pytest.mark.slow]
SIZES = {"60K": 61440, "124K": 126976}


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def images_run(leak_baseline, tmp_path_factory, models_dir):
    folder = digit_folder(tmp_path_factory.mktemp("digits"), per_class=1)
    results = tmp_path_factory.mktemp("results")
    result = run_cli("compare", "--access", "lte", "--placements", "edge,cloud", "--sizes", ",".join(SIZES),
                     "--repetitions", "3", "--calibrate-seconds", "0", "--no-capture", "--images", str(folder),
                     "--models-dir", str(models_dir), "--results-dir", str(results), timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = list(results.iterdir())
    return run_dir


def test_rows_carry_the_image_its_label_and_whether_it_was_right(images_run, leak_baseline):
    assert not leaked_since(leak_baseline)
    rows = read(images_run / "requests.csv")
    assert len(rows) == 2 * 2 * 3 and all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    for row in rows:
        assert int(row["size_bytes"]) in SIZES.values() and int(row["actual_bytes"]) == int(row["size_bytes"])
        assert row["image"].split("/")[0] == row["true_label"] and row["true_label"] in "0123456789"
        assert int(row["image_width"]) > 32 and int(row["image_quality"]) in (90, 95, 100)
        assert 0.9 * int(row["size_bytes"]) <= int(row["image_encoded_bytes"]) <= int(row["size_bytes"])
        assert row["correct"] == ("1" if row["predicted_class"] == row["true_label"] else "0")
    by_rep = {}
    for row in rows:  # one photo per repetition, the same at both sizes and for both placements
        by_rep.setdefault(row["repetition"], set()).add(row["image"])
    assert all(len(images) == 1 for images in by_rep.values()) and len(by_rep) == 3


def test_accuracy_per_placement_and_size_with_n_and_interval(images_run):
    rows = read(images_run / "requests.csv")
    table = read(images_run / "accuracy.csv")
    cells = [r for r in table if r["size"] != "all"]
    assert {(r["placement"], r["size"]) for r in cells} == {(p, s) for p in ("edge", "cloud") for s in SIZES}
    for cell in table:
        mine = [r for r in rows if r["placement"] == cell["placement"]
                and (cell["size"] == "all" or int(r["size_bytes"]) == int(cell["size_bytes"]))]
        assert int(cell["judged"]) == len(mine) and int(cell["correct"]) == sum(r["correct"] == "1" for r in mine)
        assert float(cell["ci95_low"]) <= float(cell["accuracy"]) <= float(cell["ci95_high"])
        assert cell["note"] == "measured"
    summary = read(images_run / "summary.csv")
    assert all(int(r["accuracy_n"]) == 3 and r["accuracy"] != "" for r in summary)
    report = (images_run / "report.md").read_text()
    assert "## Accuracy" in report and "95% CI" in report
    record = json.loads((images_run / "experiment.json").read_text())
    assert record["images"]["images"] == 10 and record["images"]["label_source"] == "folders"
    assert record["images"]["class_names"]["edge"] == [str(d) for d in range(10)]


def test_as_is_photos_whose_labels_are_not_among_the_classes_are_not_measured_not_a_failure(tmp_path, models_dir):
    folder = fashion_folder(tmp_path / "fashion", count=3)
    if folder is None:
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    results = tmp_path / "results"
    result = run_cli("compare", "--access", "lte", "--placements", "edge", "--sizes", "60K", "--repetitions", "2",
                     "--calibrate-seconds", "0", "--no-capture", "--images", str(folder), "--image-mode", "as-is",
                     "--models-dir",
                     str(models_dir), "--results-dir", str(results), timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    notes = [l for l in result.stderr.splitlines() if "not measured: labels not in the model's classes" in l]
    assert len(notes) == 1, result.stderr
    (run_dir,) = list(results.iterdir())
    rows = read(run_dir / "requests.csv")
    assert len(rows) == 2 and all(r["status"] == "ok" and r["true_label"] and r["correct"] == "" for r in rows)
    for row in rows:  # the files as they are: their own sizes, not --sizes
        assert int(row["size_bytes"]) == (folder / row["image"]).stat().st_size and row["image_quality"] == ""
    validity = json.loads((run_dir / "validity.json").read_text())
    lost = [c for c in validity["constraints"] if c["name"].startswith("rows lost")]
    assert lost and lost[0]["outcome"] == "met", lost  # one file per repetition was expected, not one per size
    assert "not measured: labels not in the model's classes" in (run_dir / "report.md").read_text()
