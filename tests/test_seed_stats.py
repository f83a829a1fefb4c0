"""Accuracy differences over seeds: mean ± 95% CI (Student's t) and a paired t-test, and what the collaborate
report says with them (issue 11)."""
from __future__ import annotations

import math
import statistics

import pytest

from harness.analysis.seed_stats import mean_ci, paired_test
from harness.experiments.collaborate.analysis import _table_means
from harness.experiments.collaborate.report import _accuracy_table


def test_mean_ci_uses_the_t_distribution():
    ci = mean_ci([1, 2, 3, 4, 5])
    # t(0.975, 4 df) = 2.7764; sd = 1.5811; half width = 2.7764 * 1.5811 / sqrt(5)
    assert ci.mean == 3 and ci.n == 5 and ci.half_width == pytest.approx(2.7764 * 1.5811 / math.sqrt(5), rel=1e-3)
    assert mean_ci([0.7]).half_width is None


def test_paired_t_test_on_the_per_seed_differences():
    a, b = [1, 2, 3, 4, 5], [2, 3, 5, 4, 6]          # differences 1, 1, 2, 0, 1
    test = paired_test(a, b)
    t_stat = 1 / (statistics.stdev([1, 1, 2, 0, 1]) / math.sqrt(5))
    from scipy.stats import t

    assert test.difference.mean == pytest.approx(1.0)
    assert test.p_value == pytest.approx(2 * t.sf(t_stat, 4))  # 0.034
    assert not test.within_noise and test.verdict().startswith("paired t-test p=0.03")
    noisy = paired_test([80, 82, 79, 81, 80], [81, 80, 80, 82, 79])
    assert noisy.within_noise and noisy.verdict().startswith("within noise, paired t-test p=")
    assert paired_test([1], [2]).verdict() == "not tested (1 seed)"
    with pytest.raises(ValueError, match="equally long"):
        paired_test([1, 2], [1])


def _rows(k, n, scratch, transfer):
    return [{"k": k, "labelled_images": n, "repeat": i, "edgecnn0_accuracy": a, "edgecnn1_accuracy": b,
             "edgecnn0_train_seconds": 1.0, "edgecnn1_train_seconds": 1.0}
            for i, (a, b) in enumerate(zip(scratch, transfer))]


def test_collaborate_table_says_within_noise_beside_a_published_gain():
    rows = (_rows(3, 120, [0.80, 0.82, 0.79, 0.81, 0.80], [0.81, 0.80, 0.80, 0.82, 0.79])    # no real gain
            + _rows(10, 500, [0.50, 0.52, 0.49, 0.51, 0.50], [0.70, 0.73, 0.69, 0.72, 0.71]))  # a clear one
    means = _table_means(rows)
    assert [m["repeats"] for m in means] == [5, 5]
    first, second = means
    assert first["gain_within_noise"] and not second["gain_within_noise"]
    assert first["edgecnn0_ci"] > 0 and second["gain"] == pytest.approx(20.6)
    text = "\n".join(_accuracy_table(means, "digits"))
    assert "| 3 | 120 | 5 | 80.40 ± " in text
    assert "k = 3, 120 images: ours +0.00 points (within noise, paired t-test p=" in text
    assert "published +8.76 on MNIST: ours is within noise, so it is no evidence of a gain." in text
    assert "k = 10, 500 images: ours +20.60 points (paired t-test p=" in text and "published +26.70 on CIFAR-10." in text
    assert "fewer than 5" not in text


def test_collaborate_table_warns_with_fewer_than_five_seeds():
    means = _table_means(_rows(3, 120, [0.8, 0.82, 0.79], [0.85, 0.86, 0.84]))
    assert "Only 3 seed(s) per cell (fewer than 5)" in "\n".join(_accuracy_table(means, "digits"))


def test_features_report_gives_the_spread_and_the_paired_test(tmp_path):
    import types

    from harness.experiments.features.report import write_features_report

    raw = {"method": "raw", "feature_dim": 3072, "accuracy": 0.9, "accuracy_ci": 0.01, "seeds": 5,
           "explained_variance": 1.0, "feature_bytes": 12288}
    pca = {"method": "pca", "feature_dim": 16, "accuracy": 0.89, "accuracy_ci": 0.02, "seeds": 5,
           "explained_variance": 0.93, "feature_bytes": 64, "vs_raw_points": -1.0, "vs_raw_ci_points": 1.5,
           "vs_raw_p": 0.2, "vs_raw_verdict": "within noise, paired t-test p=0.2"}
    analysis = {"accuracy": [raw, pca], "training": [], "paths": [], "dataset": "digits"}
    write_features_report(tmp_path, {"status": "complete", "environment": {"link_backend": "userspace"}},
                          types.SimpleNamespace(images=3, rate_hz=5.0), analysis)
    text = (tmp_path / "report.md").read_text()
    assert "| pca | 16 | 5 | 89.00% ± 2.00 | -1.00 ± 1.50 (within noise, paired t-test p=0.2) |" in text
    assert "PCA explains 93.0% of the variance at 16" in text and "resampling noise" not in text
