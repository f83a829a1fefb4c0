"""The PNG figures of collaborate and features are written by one helper: each file exists and is a PNG."""
from __future__ import annotations

from harness.experiments.collaborate.analysis import _figures
from harness.experiments.features.report import _figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_collaborate_figures_are_pngs(tmp_path):
    means = [{"k": 3, "labelled_images": n, "edgecnn0": 50 + n / 100, "edgecnn1": 55 + n / 100} for n in (120, 600)]
    versions = [{"labelled_images": 100, "test_accuracy": 0.8, "edgecnn0_test_accuracy": 0.7},
                {"labelled_images": 200, "test_accuracy": 0.9, "edgecnn0_test_accuracy": None}]
    made = _figures(tmp_path, means, versions)
    assert made == ["accuracy_by_size.png", "accuracy_by_update.png"]
    for name in made:
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC


def test_features_figure_is_a_png(tmp_path):
    rows = [{"method": "pca", "feature_dim": 8, "accuracy": 0.7}, {"method": "pca", "feature_dim": 16, "accuracy": 0.8},
            {"method": "autoencoder", "feature_dim": 8, "accuracy": 0.75}, {"method": "raw", "feature_dim": 64,
                                                                            "accuracy": 0.85}]
    assert _figure(tmp_path, rows) == "accuracy_by_dim.png"
    assert (tmp_path / "accuracy_by_dim.png").read_bytes()[:8] == PNG_MAGIC
