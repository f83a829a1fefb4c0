"""The default model set: build, train, export, cache (``<repo>/.cache/models``) and describe in a manifest.

The cache is reused while its key (sha256 of the models/ source, the settings and the data) is unchanged
and every file still has the recorded sha256. CloudCNN's training is checkpointed, so an interrupted
build resumes where it stopped.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from models.architectures import ARCHITECTURES, export_architecture
from models.cnn import EDGE_DEPTHS, EDGE_POOL_STRIDE, CloudCNN
from models.collaboration import shared_block_bytes, stratified_subset, train_edge
from models.datasets import DATASETS, DataSplits, load_dataset
from models.encoders import ConvAutoencoder, FeatureClassifier, fit_pca
from models.errors import ModelError, SettingsError
from models.export import OPSET, to_onnx_bytes, write_onnx
from models.origin import TEST_SPLIT, describe
from models.runtime import open_session
from models.reconstruction import train_autoencoder
from models.training import TrainSettings, image_tensors, predict_logits, train_classifier

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE_DIR = REPO_ROOT / ".cache" / "models"
MANIFEST_NAME = "manifest.json"
ROLES = ("full", "lower", "upper", "encoder", "feature-classifier")
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class BuildSettings:
    dataset: str = "digits"
    data_dir: str | None = None
    epochs: int = 15  # max epochs of every SGD training (early stop usually ends sooner)
    ae_epochs: int = 5
    shared_layers_m: int = 3  # CloudCNN layers in the shared block / the split point
    feature_dim: int = 64  # PCA and autoencoder output size
    max_train_images: int = 0  # 0: the whole training split
    edge_pool_stride: int = EDGE_POOL_STRIDE  # EdgeCNN max-pool stride (see docs/models.md: 1 is SEEDS.md's, 2 keeps edge < cloud)
    seed: int = 0
    architectures: bool = True  # MobileNetV2 + ResNet-18 (random weights, 224 x 224; models/architectures.py)

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise SettingsError(f"setting dataset={self.dataset!r}: must be one of {', '.join(DATASETS)}")
        for name, minimum in (("epochs", 1), ("ae_epochs", 1), ("shared_layers_m", 1), ("feature_dim", 1),
                              ("max_train_images", 0), ("seed", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise SettingsError(f"setting {name}={value!r}: must be an integer >= {minimum}")
        if self.shared_layers_m >= CloudCNN.depth:
            raise SettingsError(f"setting shared_layers_m={self.shared_layers_m}: must be < {CloudCNN.depth}")
        if not isinstance(self.architectures, bool):
            raise SettingsError(f"setting architectures={self.architectures!r}: must be true or false")
        if self.edge_pool_stride not in (1, 2):
            raise SettingsError(f"setting edge_pool_stride={self.edge_pool_stride!r}: must be 1 or 2")

    @classmethod
    def from_kwargs(cls, settings: dict) -> "BuildSettings":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise SettingsError(f"unknown model build setting(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
        values = dict(settings)
        if values.get("data_dir") is not None:
            values["data_dir"] = str(values["data_dir"])
        return cls(**values)


def model_names(m: int = 3, architectures: bool = False) -> list[str]:
    return ["cloudcnn", *(f"edgecnn1-{k}" for k in EDGE_DEPTHS), "edgecnn0-3", f"cloudcnn-lower-{m}",
            f"cloudcnn-upper-{m}", "pca-encoder", "pca-classifier", "ae-encoder", "ae-classifier",
            *(ARCHITECTURES if architectures else ())]


# modules that read, check, split or serve ONNX files but never change what a build writes: not in the cache key
NOT_BUILD_INPUTS = frozenset({"__main__.py", "onnx_file.py", "byo_set.py", "onnx_split.py"})


def code_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        if path.name in NOT_BUILD_INPUTS:
            continue
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_manifest(cache_dir: Path | None = None) -> dict:
    """The manifest of a built cache; ModelError if missing or unreadable."""
    path = Path(cache_dir or DEFAULT_CACHE_DIR) / MANIFEST_NAME
    rebuild = f"rebuild it: python -m models build --force --cache {path.parent}"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: no model manifest; build the models first (python -m models build)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: not a JSON model manifest ({exc}); {rebuild}") from None
    except OSError as exc:
        raise ModelError(f"{path}: unreadable model manifest ({exc}); {rebuild}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), dict):
        raise ModelError(f"{path}: manifest has no 'models' table; {rebuild}")
    return manifest


def model_origin(models_dir: Path | None = None) -> dict:
    """Where the model set in ``models_dir`` came from, JSON-able: data set, train/test images, epochs,
    training settings, each model's test accuracy, and ``test_models`` (True when its epochs are below the
    real default, as the tests' 1-epoch set) and ``reduced`` (any shortcut). See models/origin.py."""
    models_dir = Path(models_dir or DEFAULT_CACHE_DIR)
    return describe(load_manifest(models_dir), models_dir, asdict(BuildSettings()), asdict(TrainSettings()))


def _cache_valid(cache_dir: Path, manifest: dict, key: str) -> bool:
    if manifest.get("key") != key:
        return False
    for entry in manifest["models"].values():
        path = cache_dir / entry["file"]
        if not path.is_file() or path.stat().st_size != entry["bytes"] or _sha256(path.read_bytes()) != entry["sha256"]:
            return False
    return True


@contextlib.contextmanager
def _cache_lock(cache_dir: Path):
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"models: {message}", file=sys.stderr, flush=True)


def _run_batched(session, name: str, x: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([session.run({name: x[i:i + batch]})[0] for i in range(0, len(x), batch)])


class _Exporter:
    """Writes ONNX files into the cache and collects their manifest entries."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self.entries: dict[str, dict] = {}
        self.sessions: dict = {}

    def add(self, name: str, data: bytes, role: str) -> None:
        write_onnx(data, self.cache_dir / f"{name}.onnx")
        session = open_session(data, device="cpu")
        self.sessions[name] = session
        self.entries[name] = {
            "file": f"{name}.onnx", "sha256": _sha256(data), "bytes": len(data), "role": role,
            "inputs": [{"name": t.name, "shape": list(t.shape), "datatype": t.datatype} for t in session.inputs],
            "outputs": [{"name": t.name, "shape": list(t.shape), "datatype": t.datatype} for t in session.outputs],
            "accuracy": None,
        }

    def score(self, name: str, pipeline: list[str], x_test: np.ndarray, y_test: np.ndarray) -> None:
        values = x_test
        for stage in pipeline:
            session = self.sessions[stage]
            values = _run_batched(session, session.inputs[0].name, values)
        self.entries[name]["accuracy"] = float((values.argmax(1) == y_test).mean())


def _prepare_data(settings: BuildSettings) -> tuple[DataSplits, int]:
    """The data to train on, and how many training images the whole split holds."""
    data = load_dataset(settings.dataset, Path(settings.data_dir) if settings.data_dir else None)
    available = len(data.train)
    if settings.max_train_images and settings.max_train_images < len(data.train):
        data = DataSplits(data.name, data.source, stratified_subset(data.train, settings.max_train_images,
                                                                    settings.seed), data.test)
    return data, available


def _build(cache_dir: Path, settings: BuildSettings, data: DataSplits, key: str, progress: bool,
           train_images_available: int) -> dict:
    torch.manual_seed(settings.seed)
    m = settings.shared_layers_m
    train_settings = TrainSettings(max_epochs=settings.epochs, seed=settings.seed)
    x_train, y_train = image_tensors(data.train)
    x_test, y_test = image_tensors(data.test)
    x_test_np, y_test_np = x_test.numpy(), y_test.numpy()
    exporter = _Exporter(cache_dir)
    seconds: dict[str, float] = {}
    reports: dict[str, dict] = {}
    started = time.perf_counter()

    _say(progress, f"training CloudCNN on {len(data.train)} {data.name} images (max {settings.epochs} epochs)")
    cloud = CloudCNN(seed=settings.seed)
    report = train_classifier(cloud, x_train, y_train, train_settings, progress=progress, description="cloudcnn",
                              checkpoint_path=cache_dir / "checkpoints" / "cloudcnn.pt", run_key=key)
    seconds["cloudcnn"], reports["cloudcnn"] = report.seconds, report.as_dict()
    exporter.add("cloudcnn", to_onnx_bytes(cloud, (3, 32, 32), softmax=True, graph_name="cloudcnn",
                                           metadata={"role": "full"}), "full")
    side = 32 - 2 * m
    exporter.add(f"cloudcnn-lower-{m}", shared_block_bytes(cloud, m), "lower")
    exporter.add(f"cloudcnn-upper-{m}", to_onnx_bytes(cloud.upper(m), (cloud[2 * m - 2].out_channels, side, side),
                                                      input_name="activation", softmax=True,
                                                      graph_name=f"cloudcnn-upper-{m}", metadata={"role": "upper"}),
                 "upper")
    exporter.score("cloudcnn", ["cloudcnn"], x_test_np, y_test_np)
    exporter.score(f"cloudcnn-upper-{m}", [f"cloudcnn-lower-{m}", f"cloudcnn-upper-{m}"], x_test_np, y_test_np)

    edge_runs = [(f"edgecnn1-{k}", k, True) for k in EDGE_DEPTHS] + [("edgecnn0-3", 3, False)]
    for name, k, transferred in edge_runs:
        _say(progress, f"training {name}" + (" on CloudCNN's received lower block" if transferred else " from scratch"))
        block = shared_block_bytes(cloud, k) if transferred else None
        model, report = train_edge(data.train, train_settings, k=k, shared_block_onnx=block, progress=progress,
                                   pool_stride=settings.edge_pool_stride)
        seconds[name], reports[name] = report.seconds, report.as_dict()
        exporter.add(name, to_onnx_bytes(model, (3, 32, 32), softmax=True, graph_name=name,
                                         metadata={"role": "full"}), "full")
        exporter.score(name, [name], x_test_np, y_test_np)

    _say(progress, f"fitting PCA ({settings.feature_dim} features) and its classifier")
    t0 = time.perf_counter()
    pca = fit_pca(x_train, settings.feature_dim)
    classifier = FeatureClassifier(settings.feature_dim, seed=settings.seed)
    report = train_classifier(classifier, predict_logits(pca, x_train), y_train, train_settings, progress=progress,
                              description="pca-classifier")
    seconds["pca-encoder+classifier"], reports["pca-classifier"] = time.perf_counter() - t0, report.as_dict()
    exporter.add("pca-encoder", to_onnx_bytes(pca, (3, 32, 32), output_name="features", graph_name="pca-encoder",
                                              metadata={"role": "encoder"}), "encoder")
    exporter.add("pca-classifier", to_onnx_bytes(classifier, (settings.feature_dim,), input_name="features",
                                                 softmax=True, graph_name="pca-classifier",
                                                 metadata={"role": "feature-classifier"}), "feature-classifier")
    exporter.score("pca-classifier", ["pca-encoder", "pca-classifier"], x_test_np, y_test_np)

    _say(progress, f"training the autoencoder ({settings.feature_dim} features) and its classifier")
    t0 = time.perf_counter()
    autoencoder = ConvAutoencoder(settings.feature_dim, seed=settings.seed)
    reports["ae"] = train_autoencoder(autoencoder, x_train, epochs=settings.ae_epochs, seed=settings.seed,
                                      progress=progress)
    classifier = FeatureClassifier(settings.feature_dim, seed=settings.seed)
    report = train_classifier(classifier, predict_logits(autoencoder.encoder, x_train), y_train, train_settings,
                              progress=progress, description="ae-classifier")
    seconds["ae-encoder+classifier"], reports["ae-classifier"] = time.perf_counter() - t0, report.as_dict()
    exporter.add("ae-encoder", to_onnx_bytes(autoencoder.encoder, (3, 32, 32), output_name="features",
                                             graph_name="ae-encoder", metadata={"role": "encoder"}), "encoder")
    exporter.add("ae-classifier", to_onnx_bytes(classifier, (settings.feature_dim,), input_name="features",
                                                softmax=True, graph_name="ae-classifier",
                                                metadata={"role": "feature-classifier"}), "feature-classifier")
    exporter.score("ae-classifier", ["ae-encoder", "ae-classifier"], x_test_np, y_test_np)
    if settings.architectures:
        for name in ARCHITECTURES:
            _say(progress, f"exporting {name} (random weights, seed {settings.seed}; inference time, not accuracy)")
            t0 = time.perf_counter()
            exporter.add(name, export_architecture(name, seed=settings.seed), "full")
            seconds[name] = time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - started

    return {
        "manifest_version": MANIFEST_VERSION, "key": key, "onnx_opset": OPSET,
        "models": {name: exporter.entries[name] for name in model_names(m, settings.architectures)},
        "dataset": data.describe(), "settings": asdict(settings), "train_seconds": seconds, "training": reports,
        "origin": {"train_images_available": train_images_available, "train_settings": asdict(train_settings),
                   "test_split": TEST_SPLIT},
    }


def ensure_models(cache_dir: Path | None = None, *, force: bool = False, progress: bool = True, **settings) -> dict:
    """Build (or reuse) the default model set in ``cache_dir``; returns the manifest (also manifest.json)."""
    build_settings = BuildSettings.from_kwargs(settings)
    cache_dir = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    data, available = _prepare_data(build_settings)
    key = _sha256(json.dumps({"code": code_version(), "settings": asdict(build_settings),
                              "data": data.describe()["sha256"]}, sort_keys=True).encode())
    with _cache_lock(cache_dir):
        manifest_path = cache_dir / MANIFEST_NAME
        if not force and manifest_path.is_file():
            try:
                existing = load_manifest(cache_dir)
            except ModelError:
                existing = {"models": {}}
            if _cache_valid(cache_dir, existing, key):
                _say(progress, f"reusing models in {cache_dir} (inputs unchanged)")
                return existing
        if force:
            checkpoint = cache_dir / "checkpoints" / "cloudcnn.pt"
            checkpoint.unlink(missing_ok=True)
        manifest = _build(cache_dir, build_settings, data, key, progress, available)
        write_onnx((json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode(), manifest_path)
        _say(progress, f"built {len(manifest['models'])} models in {manifest['train_seconds']['total']:.0f} s "
                       f"into {cache_dir}")
        return manifest
