"""``python -m nodes.workload --images DIR``: a device sends a folder's photos to a loopback server, closed and open
loop, resized or as-is, and every row names its image and true label; bad input is one line, exit code 2."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from image_fixtures import digit_folder
from nodes.launch import NodeProcess
from nodes.synthetic_models import write_model_set

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    write_model_set(models)
    with NodeProcess("cloud", ["--models", str(models), "--threads", "1"],
                     log_dir=tmp_path_factory.mktemp("cloud")) as node:
        yield node


def workload(cloud, tmp_path, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    out = tmp_path / "rows.csv"
    result = subprocess.run([sys.executable, "-m", "nodes.workload", "--url", cloud.url, "--model", "cloudcnn",
                             "--images-dir", str(tmp_path / "cache"), "--out", str(out), *args],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    rows = list(csv.DictReader(open(out, newline=""))) if out.is_file() else []
    return result, rows


@pytest.mark.parametrize("loop", [[], ["--rate-hz", "20"]], ids=["closed", "open"])
def test_resized_photos_one_per_repetition(cloud, tmp_path, loop):
    folder = digit_folder(tmp_path / "d", classes=range(3))
    result, rows = workload(cloud, tmp_path, "--sizes", "8K,20K", "--repetitions", "4", "--images", str(folder),
                            "--seed", "5", *loop)
    assert result.returncode == 0, result.stderr
    assert len(rows) == 8 and all(r["status"] == "200" for r in rows)
    assert sorted(int(r["size_bytes"]) for r in rows) == [8192] * 4 + [20480] * 4
    by_rep: dict[str, set] = {}
    for row in rows:
        assert row["true_label"] == row["image"].split("/")[0] and int(row["image_width"]) > 32
        by_rep.setdefault(row["repetition"], set()).add(row["image"])
    assert sorted(by_rep) == ["0", "1", "2", "3"] and all(len(v) == 1 for v in by_rep.values())
    assert by_rep["3"] == by_rep["0"]  # 3 photos: the 4th repetition starts over


def test_as_is_sends_the_files(cloud, tmp_path):
    folder = digit_folder(tmp_path / "d", classes=range(2), fmt="jpeg")
    result, rows = workload(cloud, tmp_path, "--sizes", "60K", "--repetitions", "2", "--images", str(folder),
                            "--image-mode", "as-is")
    assert result.returncode == 0, result.stderr
    assert len(rows) == 2 and {r["image"] for r in rows} == {"0/0-0.jpg", "1/1-0.jpg"}
    assert all(int(r["size_bytes"]) == (folder / r["image"]).stat().st_size for r in rows)


def test_bad_input_is_one_line(cloud, tmp_path):
    (tmp_path / "empty").mkdir()
    for args, words in ((["--images", str(tmp_path / "empty")], "no .jpg"),
                        (["--labels", str(tmp_path / "l.csv")], "needs --images")):
        result, rows = workload(cloud, tmp_path, "--sizes", "8K", *args)
        assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr
        assert not rows
