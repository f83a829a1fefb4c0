"""The model set a run serves: which folder, its manifest, and where its models came from."""
from __future__ import annotations

import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.repo_paths import REPO_ROOT

DEFAULT_MODELS_DIR = REPO_ROOT / ".cache" / "models"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_models(models_dir: Path, progress=_say) -> Path:
    """The default model set: built (trained + exported) once, then reused from the cache."""
    from models.zoo import ensure_models as build

    progress(f"models: {models_dir} (built once, then reused)")
    build(models_dir, progress=True)
    return models_dir


def models_for(models_dir_option: str) -> Path:
    """The user's model set as it is (``--models-dir``), or the default set, built once and cached.

    Its manifest is read here, so a missing or malformed one is one line before anything starts."""
    if models_dir_option:
        models_dir = Path(models_dir_option)
        if not (models_dir / "manifest.json").is_file():
            raise HarnessError(f"--models-dir {models_dir} has no manifest.json: build one with "
                               f"'python harness/run.py models --cache {models_dir}' or leave it out")
    else:
        models_dir = ensure_models(DEFAULT_MODELS_DIR)
    load_manifest(models_dir)
    return models_dir


def load_manifest(models_dir: Path) -> dict:
    """manifest.json of ``models_dir``; a HarnessError naming the file when it is not a manifest."""
    from models.errors import ModelError
    from models.zoo import load_manifest as load

    try:
        return load(models_dir)
    except UnicodeDecodeError:
        err = f"{models_dir / 'manifest.json'}: not a text file"
    except (ModelError, OSError) as exc:
        err = str(exc)
    raise HarnessError(f"{err}: rebuild it with 'python harness/run.py models --force' or give another "
                       f"--models-dir")


def models_origin(models_dir: Path) -> dict:
    """Where the model set came from (data set, epochs, training settings, subset or whole training split,
    ``test_models`` for a reduced set), as experiment.json records it under "models_origin"."""
    from models.zoo import model_origin

    load_manifest(models_dir)  # a bad manifest: one line naming it
    return model_origin(models_dir)
