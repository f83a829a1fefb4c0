"""Accuracy in the same run as latency: each row's ``correct`` at the join, the per-cell table with n and a Wilson
interval, the summary's columns, and the one line that says why a placement's accuracy is not measured."""
from __future__ import annotations

import pytest

from harness.analysis.accuracy_section import accuracy_fields, accuracy_section, accuracy_table, wilson_interval
from harness.orchestration.folder_images import accuracy_note, answer_correct
from nodes.image_labels import DATASET_CLASSES, NOT_IN_CLASSES

DIGITS = list(DATASET_CLASSES["digits"])
RECORD = {"images": {"images": 4, "dir": "/photos", "mode": "resize", "labelled": 4, "label_source": "folders",
                     "class_names": {"edge": DIGITS, "cloud": None},
                     "accuracy": {"edge": "measured", "cloud": accuracy_note(["3"], None)}}}


def row(placement, size, label, predicted, status="ok"):
    joined = {"access": "lte", "placement": placement, "size_bytes": str(size), "status": status, "model": "m",
              "true_label": label, "predicted_class": predicted}
    joined["correct"] = answer_correct(RECORD["images"], placement, joined)
    return joined


def test_wilson_interval():
    assert wilson_interval(0, 0) == (None, None)
    low, high = wilson_interval(9, 10)
    assert 0.59 < low < 0.60 and 0.98 < high < 0.99  # the textbook values for 9/10: 0.596 .. 0.982
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0) and wilson_interval(0, 5)[0] == pytest.approx(0.0)


def test_correct_at_the_join():
    assert row("edge", 61440, "3", "3")["correct"] == "1"
    assert row("edge", 61440, "3", "4")["correct"] == "0"
    assert row("edge", 61440, "3", "3", status="error")["correct"] == ""  # not answered: not judged
    assert row("cloud", 61440, "3", "3")["correct"] == ""                # its classes are unknown
    assert answer_correct(None, "edge", {"status": "ok", "true_label": "3", "predicted_class": "3"}) == ""


def test_table_per_cell_and_over_all_sizes():
    rows = [row("edge", 61440, "1", "1"), row("edge", 61440, "2", "2"), row("edge", 61440, "3", "0"),
            row("edge", 126976, "1", "1"), row("cloud", 61440, "1", "1")]
    table = {(r["placement"], r["size"]): r for r in accuracy_table(rows, RECORD)}
    cell = table[("edge", "60K")]
    assert (cell["judged"], cell["correct"]) == (3, 2) and cell["accuracy"] == pytest.approx(2 / 3)
    assert cell["ci95_low"] < 2 / 3 < cell["ci95_high"]
    assert table[("edge", "all")]["judged"] == 4 and table[("cloud", "60K")]["judged"] == 0
    assert NOT_IN_CLASSES not in table[("cloud", "60K")]["note"] and "class names are unknown" in \
        table[("cloud", "60K")]["note"]
    assert accuracy_fields(rows[:3]) == {"accuracy": pytest.approx(2 / 3), "accuracy_n": 3}
    assert accuracy_fields([row("cloud", 1, "1", "1")]) == {"accuracy": None, "accuracy_n": None}
    section = "\n".join(accuracy_section(rows, RECORD))
    assert "## Accuracy" in section and "| lte | edge | 60K | 3 | 2 | 66.7% |" in section
    assert "- cloud: accuracy not measured: the model's class names are unknown" in section
    assert accuracy_table(rows, {}) == [] and accuracy_section(rows, {}) == []


def test_why_accuracy_is_not_measured():
    assert accuracy_note([], DIGITS).startswith("not measured: the images have no labels")
    assert accuracy_note(["cat", "dog"], DIGITS).startswith(NOT_IN_CLASSES)
    assert "1 label(s) are not" in accuracy_note(["3", "cat"], DIGITS)
    assert accuracy_note(["3", "7"], DIGITS) == "measured"


def test_as_is_runs_expect_one_request_per_repetition_not_per_size():
    from harness.analysis.validity import expected_rows

    spec = {"accesses": ["lte"], "placements": ["edge", "cloud"], "sizes": ["60K", "512K"], "repetitions": 3}
    record = {"experiment": "compare", "status": "complete", "spec": spec}
    assert expected_rows(record)[0] == 12
    record["spec"] = {**spec, "images_dir": "/photos", "image_mode": "as-is"}
    assert expected_rows(record)[0] == 6  # a file per repetition, whatever --sizes says
    record["spec"] = {**spec, "images_dir": "/photos", "image_mode": "resize"}
    assert expected_rows(record)[0] == 12


def test_load_and_compare_devices_get_the_folder(tmp_path):
    from harness.experiments.compare.device_workload import compare_workload
    from harness.experiments.compare.spec import ExperimentSpec
    from harness.experiments.load.cells import Cell
    from harness.experiments.load.spec import LoadSpec

    labels = tmp_path / "l.csv"
    spec = ExperimentSpec(images_dir=str(tmp_path), image_mode="as-is", labels_file=str(labels))
    argv = compare_workload(spec, "edge").argv(1, tmp_path / "rows.csv")
    assert argv[argv.index("--images") + 1] == str(tmp_path.resolve()) and "as-is" in argv
    assert argv[argv.index("--labels") + 1] == str(labels.resolve())
    load = LoadSpec(images_dir=str(tmp_path))
    argv = Cell("lte", "cloud", 2, 0.0).workload(load).argv(2, tmp_path / "rows.csv")
    assert "--images" in argv and argv[argv.index("--image-mode") + 1] == "resize" and "--labels" not in argv
    assert "--images" not in compare_workload(ExperimentSpec(), "edge").argv(1, tmp_path / "rows.csv")


def test_spec_refuses_a_bad_mode_and_labels_without_images():
    from harness.errors import SpecError
    from harness.experiments.compare.spec import ExperimentSpec
    from harness.experiments.load.spec import LoadSpec

    with pytest.raises(SpecError, match="--image-mode 'crop'"):
        ExperimentSpec(images_dir="/x", image_mode="crop")
    with pytest.raises(SpecError, match="needs --images DIR"):
        LoadSpec(labels_file="l.csv")
