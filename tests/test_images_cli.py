"""``--images`` refused before anything is built, in one line without a traceback: an empty folder, an unreadable
image, a labels CSV naming missing files, a size no resolution reaches, labels without images. No network is
built (the checks come before the run lock), so these need no net lock; they need root as compare does."""
from __future__ import annotations

import pytest
from PIL import Image

from conftest import run_cli
from image_fixtures import digit_folder

pytestmark = pytest.mark.root


def refused(tmp_path, models_dir, *args: str) -> str:
    results = tmp_path / "results"
    result = run_cli("compare", "--access", "lte", "--sizes", "60K", "--repetitions", "1", "--models-dir",
                     str(models_dir), "--results-dir", str(results), *args, timeout=180)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.startswith("error")]
    assert len(lines) == 1, result.stderr
    assert not results.exists() or not any(results.iterdir())  # nothing was started: no run folder
    return lines[0]


def test_an_empty_folder(tmp_path, models_dir):
    (tmp_path / "empty").mkdir()
    assert "no .jpg, .jpeg or .png" in refused(tmp_path, models_dir, "--images", str(tmp_path / "empty"))


def test_an_unreadable_image(tmp_path, models_dir):
    folder = digit_folder(tmp_path / "d", classes=range(2))
    (folder / "1" / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    assert "1/cut.png cannot be read" in refused(tmp_path, models_dir, "--images", str(folder))


def test_a_labels_csv_naming_missing_files(tmp_path, models_dir):
    folder = digit_folder(tmp_path / "d", classes=range(2))
    labels = tmp_path / "labels.csv"
    labels.write_text("filename,label\n0/0-0.png,0\nholiday.jpg,7\n")
    line = refused(tmp_path, models_dir, "--images", str(folder), "--labels", str(labels))
    assert "holiday.jpg" in line and "not images of the folder" in line


def test_a_size_no_resolution_reaches(tmp_path, models_dir):
    folder = tmp_path / "flat"
    folder.mkdir()
    Image.new("RGB", (8, 8), (128, 128, 128)).save(folder / "grey.png")  # flat: compresses to nothing at any size
    line = refused(tmp_path, models_dir, "--images", str(folder), "--sizes", "4096K")
    assert "grey.png" in line and "no resolution reaches 4096K" in line and "--image-mode as-is" in line


def test_labels_without_images(tmp_path, models_dir):
    labels = tmp_path / "labels.csv"
    labels.write_text("a.png,0\n")
    assert "needs --images DIR" in refused(tmp_path, models_dir, "--labels", str(labels))


@pytest.mark.parametrize("command", ["compare", "load"])
def test_a_bad_folder_is_refused_before_any_model_is_built(tmp_path, command):
    models = tmp_path / "no-models-yet"  # an empty model folder would be built first if the check came later
    result = run_cli(command, "--access", "lte", "--sizes", "60K", "--models-dir", str(models), "--results-dir",
                     str(tmp_path / "results"), "--images", str(tmp_path / "missing"), timeout=120)
    assert result.returncode != 0 and "no such folder" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not models.exists() or not any(models.iterdir())
