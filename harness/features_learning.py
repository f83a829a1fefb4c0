"""System A's learning side, measured offline on the run's data set: accuracy vs feature dimension (PCA and
autoencoder), and the cloud's training time on raw images vs on features (same epochs, same recipe).

Raw baselines: CloudCNN on the images (the cloud-centric deep model) and the feature classifier's own
architecture on the 3,072 raw inputs (the same model family, only the input layer differs).
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


def learning_rows(data, dims: tuple[int, ...], epochs: int, ae_epochs: int, seed: int, cnn_epochs: int = 0,
                  progress: Callable[[str], None] = print) -> tuple[list[dict], list[dict]]:
    """(accuracy vs dimension rows, training-time rows)."""
    from models.cnn import CloudCNN
    from models.encoders import ConvAutoencoder, FeatureClassifier, fit_pca, pca_explained_variance
    from models.training import image_tensors, predict_logits, train_autoencoder

    x, y = image_tensors(data.train)
    x_test, y_test = image_tensors(data.test)
    raw_values = int(np.prod(x.shape[1:]))
    accuracy_rows, training_rows = [], []
    raw_cnn = {"accuracy": None}
    if cnn_epochs:
        progress(f"features: CloudCNN on raw images, {cnn_epochs} epochs ({len(x)} images)")
        raw_cnn = _train(CloudCNN(seed=seed), x, y, x_test, y_test, cnn_epochs, seed, "cloudcnn-raw")
        training_rows.append({"model": "CloudCNN on raw images", "input_values": raw_values, **raw_cnn})
    progress(f"features: classifier on the {raw_values} raw inputs, {epochs} epochs")
    raw_fc = _train(FeatureClassifier(raw_values, seed=seed), x.reshape(len(x), -1), y,
                    x_test.reshape(len(x_test), -1), y_test, epochs, seed, "fc-raw")
    training_rows.append({"model": "classifier on raw inputs", "input_values": raw_values, **raw_fc})
    accuracy_rows.append({"method": "raw", "feature_dim": raw_values, "accuracy": raw_fc["accuracy"],
                          "cnn_accuracy": raw_cnn["accuracy"], "extract_seconds": 0.0, "explained_variance": 1.0,
                          "feature_bytes": raw_values * FEATURE_BYTES_PER_VALUE})
    for dim in dims:
        if dim > min(len(x), raw_values):
            progress(f"features: dimension {dim} skipped (more than the {len(x)} training images)")
            continue
        progress(f"features: PCA and autoencoder at {dim} features")
        started = time.perf_counter()
        pca = fit_pca(x, dim)
        extract_s = time.perf_counter() - started
        result = _train(FeatureClassifier(dim, seed=seed), predict_logits(pca, x), y, predict_logits(pca, x_test),
                        y_test, epochs, seed, f"pca-{dim}")
        accuracy_rows.append({"method": "pca", "feature_dim": dim, "accuracy": result["accuracy"],
                              "extract_seconds": extract_s, "explained_variance": pca_explained_variance(x, dim),
                              "feature_bytes": dim * FEATURE_BYTES_PER_VALUE})
        training_rows.append({"model": f"classifier on PCA-{dim}", "input_values": dim, **result})
        autoencoder = ConvAutoencoder(dim, seed=seed)
        ae = train_autoencoder(autoencoder, x, epochs=ae_epochs, seed=seed, progress=False)
        result = _train(FeatureClassifier(dim, seed=seed), predict_logits(autoencoder.encoder, x), y,
                        predict_logits(autoencoder.encoder, x_test), y_test, epochs, seed, f"ae-{dim}")
        accuracy_rows.append({"method": "autoencoder", "feature_dim": dim, "accuracy": result["accuracy"],
                              "extract_seconds": ae["seconds"], "explained_variance": None,
                              "feature_bytes": dim * FEATURE_BYTES_PER_VALUE})
        training_rows.append({"model": f"classifier on AE-{dim}", "input_values": dim, **result})
    return accuracy_rows, training_rows
