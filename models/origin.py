"""Where a model set came from, summarised from its manifest: data set, images, epochs, training settings,
each model's accuracy on the held-out test split, and whether it is a reduced (test) set.

A run records this (experiment.json, report), so numbers measured on the tiny 1-epoch models the tests build
cannot pass for the real ones. Manifests written before the ``origin`` block existed are read too: what they
do not hold is ``None`` (and the training settings are the code's, said so in ``train_settings_source``).
"""
from __future__ import annotations

from pathlib import Path

TEST_SPLIT = "the data set's held-out test split (never trained on)"


def _reduced_because(settings: dict, defaults: dict, train_used, train_available) -> list[str]:
    reasons = []
    for name in ("epochs", "ae_epochs"):
        value, default = settings.get(name), defaults.get(name)
        if isinstance(value, int) and isinstance(default, int) and value < default:
            reasons.append(f"{name} {value} < the real set's {default}")
    if settings.get("max_train_images"):
        of = f" of {train_available}" if train_available else ""
        reasons.append(f"trained on {train_used}{of} training images (max_train_images "
                       f"{settings['max_train_images']})")
    return reasons


def describe(manifest: dict, models_dir: Path, default_settings: dict, default_train_settings: dict) -> dict:
    """The JSON-able origin of the model set whose manifest is ``manifest`` (see the module's doc)."""
    settings = manifest.get("settings") or {}
    dataset = manifest.get("dataset") or {}
    origin = manifest.get("origin") or {}
    training = manifest.get("training") or {}
    train_used = dataset.get("train_images")
    train_available = origin.get("train_images_available")
    reasons = _reduced_because(settings, default_settings, train_used, train_available)
    epochs_below_default = any(r.startswith(("epochs ", "ae_epochs ")) for r in reasons)
    if origin.get("train_settings"):
        train_settings, source = origin["train_settings"], "manifest"
    else:
        train_settings = {**default_train_settings, "max_epochs": settings.get("epochs"),
                          "seed": settings.get("seed")}
        source = "code defaults (manifest predates the record)"
    return {
        "models_dir": str(models_dir),
        "manifest_key": manifest.get("key"),
        "dataset": dataset.get("name"),
        "dataset_source": dataset.get("source"),
        "dataset_sha256": dataset.get("sha256"),
        "train_images": train_used,
        "train_images_available": train_available,
        "test_images": dataset.get("test_images"),
        "test_split": origin.get("test_split", TEST_SPLIT),
        "training_set": "subset" if settings.get("max_train_images") else "full",
        "epochs": settings.get("epochs"),
        "ae_epochs": settings.get("ae_epochs"),
        "default_epochs": default_settings.get("epochs"),
        "epochs_run": {name: report.get("epochs_run") for name, report in training.items()
                       if isinstance(report, dict) and "epochs_run" in report},
        "build_settings": settings,
        "train_settings": train_settings,
        "train_settings_source": source,
        "test_accuracy": {name: entry.get("accuracy") for name, entry in (manifest.get("models") or {}).items()
                          if isinstance(entry, dict) and entry.get("accuracy") is not None},
        "test_models": epochs_below_default,
        "reduced": bool(reasons),
        "reduced_because": reasons,
        "note": ("REDUCED model set (" + "; ".join(reasons) + "): its accuracies and inference times are not "
                 "those of the real models; build them with 'python harness/run.py models --force'") if reasons
                else "full model set (default epochs, whole training split)",
    }
