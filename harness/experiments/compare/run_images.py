"""compare / sweep / replay with ``--images DIR``: the folder's images made once before the run (every device's
seed), and the run's record of them (``experiment.json["images"]``); see harness/orchestration/folder_images.py."""
from __future__ import annotations

from pathlib import Path

from harness.experiments.compare.device_workload import IMAGES_DIR, placement_target
from harness.experiments.compare.spec import ExperimentSpec
from harness.orchestration.folder_images import prepare_images


def spec_images(spec: ExperimentSpec, models_dir: Path, progress=print) -> dict | None:
    """None without --images; else the images prepared and their record (HarnessError: one line)."""
    if not spec.images_dir:
        return None
    rounds = None if spec.experiment == "replay" else spec.repetitions  # replay cycles for a duration: all
    return prepare_images(spec.images_dir, spec.image_mode, spec.labels_file, spec.sizes,
                          [spec.seed + i for i in range(spec.devices)], rounds, IMAGES_DIR,
                          {p: placement_target(spec, p)[1] for p in spec.placements}, models_dir, progress)
