"""A recorded latency profile of other hardware: per model and batch size, a distribution of inference times.

A node given one replays it instead of its own speed (``nodes.inference_pacing``): each inference takes a sample
of the profile. The file is JSON (``nodes/latency_profiles/*.json``, written by ``benchmarks/bench_compute.py``):

    {"format": "ect-latency-profile/1", "hardware": "2x GTX 1080 Ti ...", "basis": "how the numbers were had",
     "sources": ["..."], "models": {"cloudcnn": {"1": [0.41, 0.43, ...], "8": [...]}, ...}}

Times are milliseconds. A batch size the profile lacks takes the nearest smaller one's samples scaled by the
batch ratio (the largest smaller batch; the smallest batch for a batch below it), and says so.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from nodes.errors import NodeConfigError

FORMAT = "ect-latency-profile/1"
PROFILES_DIR = Path(__file__).resolve().parent / "latency_profiles"
MAX_SAMPLE_MS = 60_000.0


def profile_path(name_or_path: str) -> Path:
    """A shipped profile by name (``system-a-cloud``) or any path to a profile file."""
    path = Path(name_or_path)
    if path.suffix != ".json" and not path.exists():
        path = PROFILES_DIR / f"{name_or_path}.json"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.json"))) or "none"
        raise NodeConfigError(f"latency profile {name_or_path!r}: no such file (shipped profiles: {shipped})")
    return path


@dataclass(frozen=True)
class LatencyProfile:
    path: str
    sha256: str
    hardware: str
    samples_ms: dict = field(repr=False)   # model -> {batch: tuple of ms}

    def models(self) -> list[str]:
        return sorted(self.samples_ms)

    def check_model(self, model: str) -> None:
        if model not in self.samples_ms:
            raise NodeConfigError(f"latency profile {self.path} has no times for model {model!r} (it has "
                                  f"{', '.join(self.models())}): record one with benchmarks/bench_compute.py")

    def sample_ms(self, model: str, batch: int, rng: random.Random) -> tuple[float, int]:
        """One inference time for ``batch`` images of ``model`` and the batch size it was recorded at."""
        self.check_model(model)
        by_batch = self.samples_ms[model]
        smaller = [b for b in by_batch if b <= batch]
        base = max(smaller) if smaller else min(by_batch)
        return rng.choice(by_batch[base]) * batch / base, base

    def record(self) -> dict:
        return {"path": self.path, "sha256": self.sha256, "hardware": self.hardware,
                "models": {m: sorted(b) for m, b in self.samples_ms.items()}}


def _samples(path: Path, model: str, batch: str, values) -> tuple[float, ...]:
    where = f"{path}: models.{model}.{batch}"
    if not batch.isdigit() or int(batch) < 1:
        raise NodeConfigError(f"{where}: a batch size must be a positive integer")
    if not isinstance(values, list) or not values:
        raise NodeConfigError(f"{where}: must be a non-empty list of milliseconds")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not 0 < value <= MAX_SAMPLE_MS:
            raise NodeConfigError(f"{where}: {value!r} is not a time in (0, {MAX_SAMPLE_MS:g}] ms")
    return tuple(float(v) for v in values)


def load_latency_profile(name_or_path: str) -> LatencyProfile:
    path = profile_path(name_or_path)
    data = path.read_bytes()
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NodeConfigError(f"{path}: not a latency profile (not JSON: {exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise NodeConfigError(f"{path}: not a latency profile (\"format\" must be {FORMAT!r})")
    models = doc.get("models")
    if not isinstance(models, dict) or not models or not all(isinstance(v, dict) and v for v in models.values()):
        raise NodeConfigError(f"{path}: \"models\" must map each model to {{batch size: [ms, ...]}}")
    samples = {model: {b: _samples(path, model, b, values) for b, values in batches.items()}
               for model, batches in models.items()}
    samples = {model: {int(b): values for b, values in batches.items()} for model, batches in samples.items()}
    return LatencyProfile(str(path), hashlib.sha256(data).hexdigest(), str(doc.get("hardware", "")), samples)
