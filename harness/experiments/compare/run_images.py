"""compare / sweep / replay / load with ``--images DIR``: the folder's images made once before the run (for every
device's seed), and the run's record of them (``experiment.json["images"]``); see
harness/orchestration/folder_images.py."""
from __future__ import annotations

from pathlib import Path

from harness.experiments.compare.device_workload import IMAGES_DIR, placement_target
from harness.experiments.compare.spec import ExperimentSpec
from harness.orchestration.folder_images import prepare_images


def spec_images(spec, models_dir: Path, progress=print) -> dict | None:
    """None without --images; else the images prepared and their record (HarnessError: one line). ``spec``: an
    ExperimentSpec, or a LoadSpec (whose devices cycle through the whole folder for each cell's duration)."""
    if not spec.images_dir:
        return None
    if isinstance(spec, ExperimentSpec):
        rounds = None if spec.experiment == "replay" else spec.repetitions  # replay runs for a duration: all
        devices = spec.devices
        served = {p: placement_target(spec, p)[1] for p in spec.placements}
    else:
        rounds, devices = None, max(spec.devices)
        served = {p: spec.edge_model if p == "edge" else spec.cloud_model for p in spec.placements}
    return prepare_images(spec.images_dir, spec.image_mode, spec.labels_file, spec.sizes,
                          [spec.seed + i for i in range(devices)], rounds, IMAGES_DIR, served, models_dir, progress)
