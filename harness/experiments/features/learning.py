"""System A's learning side, measured offline on the run's data set: accuracy vs feature dimension (PCA and
autoencoder), and the cloud's training time on raw images vs on features (same epochs, same recipe).

Raw baselines: CloudCNN on the images (the cloud-centric deep model) and the feature classifier's own
architecture on the 3,072 raw inputs (the same model family, only the input layer differs).

``repeats`` seeds (seed, seed + 1, ...) each train every classifier (raw and on features) once; the
features themselves are fitted once (PCA is deterministic, the autoencoder is trained with ``seed``). Each
accuracy row gives the mean, its 95% CI and, for the features, a paired t-test against the raw classifier
on the same seeds (harness.analysis.seed_stats).
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

FEATURE_BYTES_PER_VALUE = 4  # FP32 on the wire (binary tensor extension)


def _settings(epochs: int, seed: int):
    from models.training import TrainSettings

    # a fixed number of epochs (no early stop) so the times compare work for work
    return TrainSettings(max_epochs=epochs, seed=seed, early_stop_patience_epochs=0, min_learning_rate=1e-9)


def _train(model, x, y, x_test, y_test, epochs: int, seed: int, name: str) -> dict:
    from models.training import accuracy, train_classifier

    started = time.perf_counter()
    report = train_classifier(model, x, y, _settings(epochs, seed), progress=False, description=name)
    return {"train_seconds": time.perf_counter() - started, "epochs": report.epochs_run,
            "accuracy": accuracy(model, x_test, y_test)}


def _over_seeds(train_one, seeds: list[int]) -> dict:
    """Train once per seed; the mean accuracy and time, and every seed's accuracy."""
    runs = [train_one(s) for s in seeds]
    return {"train_seconds": sum(r["train_seconds"] for r in runs) / len(runs), "epochs": runs[0]["epochs"],
            "accuracy": sum(r["accuracy"] for r in runs) / len(runs), "accuracy_seeds": [r["accuracy"] for r in runs]}


def _spread(row: dict, raw_seeds: list[float] | None) -> dict:
    from harness.analysis.seed_stats import mean_ci, paired_test

    ci = mean_ci(row["accuracy_seeds"])
    out = {"accuracy_ci": ci.half_width, "seeds": ci.n}
    if raw_seeds is not None:
        test = paired_test(raw_seeds, row["accuracy_seeds"])
        out.update(vs_raw_points=100 * test.difference.mean,
                   vs_raw_ci_points=None if test.difference.half_width is None else 100 * test.difference.half_width,
                   vs_raw_p=test.p_value, vs_raw_verdict=test.verdict())
    return out


def learning_rows(data, dims: tuple[int, ...], epochs: int, ae_epochs: int, seed: int, cnn_epochs: int = 0,
                  progress: Callable[[str], None] = print, repeats: int = 1) -> tuple[list[dict], list[dict]]:
    """(accuracy vs dimension rows, training-time rows)."""
    from models.cnn import CloudCNN
    from models.encoders import ConvAutoencoder, FeatureClassifier, fit_pca, pca_explained_variance
    from models.reconstruction import train_autoencoder
    from models.training import image_tensors, predict_logits

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    seeds = [seed + r for r in range(repeats)]
    x, y = image_tensors(data.train)
    x_test, y_test = image_tensors(data.test)
    raw_values = int(np.prod(x.shape[1:]))
    accuracy_rows, training_rows = [], []
    raw_cnn = {"accuracy": None}
    if cnn_epochs:
        progress(f"features: CloudCNN on raw images, {cnn_epochs} epochs ({len(x)} images)")
        raw_cnn = _train(CloudCNN(seed=seed), x, y, x_test, y_test, cnn_epochs, seed, "cloudcnn-raw")
        training_rows.append({"model": "CloudCNN on raw images", "input_values": raw_values, **raw_cnn})
    progress(f"features: classifier on the {raw_values} raw inputs, {epochs} epochs, {repeats} seed(s)")
    flat, flat_test = x.reshape(len(x), -1), x_test.reshape(len(x_test), -1)
    raw_fc = _over_seeds(lambda s: _train(FeatureClassifier(raw_values, seed=s), flat, y, flat_test, y_test, epochs,
                                          s, "fc-raw"), seeds)
    training_rows.append({"model": "classifier on raw inputs", "input_values": raw_values,
                          **{k: v for k, v in raw_fc.items() if k != "accuracy_seeds"}})
    raw_row = {"method": "raw", "feature_dim": raw_values, "accuracy": raw_fc["accuracy"],
               "accuracy_seeds": raw_fc["accuracy_seeds"], "cnn_accuracy": raw_cnn["accuracy"],
               "extract_seconds": 0.0, "explained_variance": 1.0, "feature_bytes": raw_values * FEATURE_BYTES_PER_VALUE}
    accuracy_rows.append({**raw_row, **_spread(raw_row, None)})
    for dim in dims:
        if dim > min(len(x), raw_values):
            progress(f"features: dimension {dim} skipped (more than the {len(x)} training images)")
            continue
        progress(f"features: PCA and autoencoder at {dim} features")
        started = time.perf_counter()
        pca = fit_pca(x, dim)
        extract_s = time.perf_counter() - started
        train_x, test_x = predict_logits(pca, x), predict_logits(pca, x_test)
        result = _over_seeds(lambda s: _train(FeatureClassifier(dim, seed=s), train_x, y, test_x, y_test, epochs, s,
                                              f"pca-{dim}"), seeds)
        row = {"method": "pca", "feature_dim": dim, "accuracy": result["accuracy"],
               "accuracy_seeds": result["accuracy_seeds"], "extract_seconds": extract_s,
               "explained_variance": pca_explained_variance(x, dim), "feature_bytes": dim * FEATURE_BYTES_PER_VALUE}
        accuracy_rows.append({**row, **_spread(row, raw_fc["accuracy_seeds"])})
        training_rows.append({"model": f"classifier on PCA-{dim}", "input_values": dim,
                              **{k: v for k, v in result.items() if k != "accuracy_seeds"}})
        autoencoder = ConvAutoencoder(dim, seed=seed)
        ae = train_autoencoder(autoencoder, x, epochs=ae_epochs, seed=seed, progress=False)
        train_x, test_x = predict_logits(autoencoder.encoder, x), predict_logits(autoencoder.encoder, x_test)
        result = _over_seeds(lambda s: _train(FeatureClassifier(dim, seed=s), train_x, y, test_x, y_test, epochs, s,
                                              f"ae-{dim}"), seeds)
        row = {"method": "autoencoder", "feature_dim": dim, "accuracy": result["accuracy"],
               "accuracy_seeds": result["accuracy_seeds"], "extract_seconds": ae["seconds"],
               "explained_variance": None, "feature_bytes": dim * FEATURE_BYTES_PER_VALUE}
        accuracy_rows.append({**row, **_spread(row, raw_fc["accuracy_seeds"])})
        training_rows.append({"model": f"classifier on AE-{dim}", "input_values": dim,
                              **{k: v for k, v in result.items() if k != "accuracy_seeds"}})
    return accuracy_rows, training_rows
