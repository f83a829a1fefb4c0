"""Inference paced to other hardware, in the executor thread right after the real run.

- speed factor ``f >= 1`` (slower hardware): sleep ``(f - 1) x measured``, so the inference takes ``f x measured``;
- latency profile (faster hardware, e.g. a GPU): the inference takes a sample of the profile: sleep
  ``sample - measured``; when the real run was already slower than the sample, the profile could not be
  honoured (a testbed limit): the stamp ``compute_honoured`` is false and the excess is kept.

Each paced inference adds to the request's stamps ``inference_compute_ns`` (the real run), ``inference_target_ns``
(what the emulated hardware takes) and ``compute_honoured``; ``inference_end_ns`` is taken after the sleep, so
the rows' inference time is the emulated one. ``compute.json`` in the node's log folder says what the node got:
its factor or profile (path, sha256), and per model the provider and ONNX Runtime threads.
"""
from __future__ import annotations

import json
import math
import os
import random
import threading
import time
from pathlib import Path

from nodes.errors import NodeConfigError
from nodes.latency_profile import LatencyProfile, load_latency_profile

MAX_SPEED_FACTOR = 100.0


def own_cgroups() -> dict:
    """The cgroups this process is in, as /proc/self/cgroup lists them (controller(s) -> path)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and (parts[1] == "" or "cpu" in parts[1].split(",")):
            found[parts[1] or "unified"] = parts[2]
    return found


class InferencePacer:
    """One node's pacing; ``pace`` is thread-safe (the executor runs several inferences at once)."""

    def __init__(self, speed_factor: float = 1.0, profile: LatencyProfile | None = None, seed: int = 0,
                 record_path: Path | None = None):
        if isinstance(speed_factor, bool) or not isinstance(speed_factor, (int, float)) \
                or not math.isfinite(speed_factor) or not 1.0 <= speed_factor <= MAX_SPEED_FACTOR:
            raise NodeConfigError(f"speed factor {speed_factor!r} must be a number in 1..{MAX_SPEED_FACTOR:g} "
                                  "(1 = this machine's speed; faster hardware needs a latency profile)")
        if profile is not None and speed_factor != 1.0:
            raise NodeConfigError("give a node either a speed factor or a latency profile, not both")
        self.speed_factor, self.profile, self.seed = float(speed_factor), profile, seed
        self.record_path = record_path
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.models: dict[str, dict] = {}
        self.paced = self.not_honoured = 0

    @property
    def active(self) -> bool:
        return self.profile is not None or self.speed_factor != 1.0

    def register(self, model_name: str, session) -> None:
        """A model the node serves: refused if the profile has no times for it; recorded in compute.json."""
        if self.profile is not None:
            self.profile.check_model(model_name)
        with self._lock:
            self.models[model_name] = {"provider": getattr(session, "provider", ""),
                                       "threads": getattr(session, "threads", None),
                                       "ort_spinning": getattr(session, "spinning", None)}
        self.write_record()

    def target_ns(self, model_name: str, batch: int, measured_ns: int) -> tuple[int, int | None]:
        """What the emulated hardware takes, and the profile batch size it came from (None: a speed factor)."""
        if self.profile is None:
            return round(measured_ns * self.speed_factor), None
        with self._lock:
            sample_ms, base = self.profile.sample_ms(model_name, batch, self._rng)
        return round(sample_ms * 1e6), base

    def pace(self, model_name: str, batch: int, measured_ns: int, stamps: dict) -> None:
        """Sleep what the emulated hardware takes beyond the real run; stamp what happened."""
        if not self.active:
            return
        target, base = self.target_ns(model_name, batch, measured_ns)
        honoured = measured_ns <= target
        if target > measured_ns:
            time.sleep((target - measured_ns) / 1e9)
        stamps["inference_compute_ns"] = measured_ns
        stamps["inference_target_ns"] = target
        stamps["compute_honoured"] = honoured
        if base is not None and base != batch:
            stamps["compute_profile_batch"] = base
        with self._lock:
            self.paced += 1
            self.not_honoured += not honoured

    def record(self) -> dict:
        with self._lock:
            models = {name: dict(info) for name, info in self.models.items()}
        return {"pid": os.getpid(), "speed_factor": self.speed_factor,
                "latency_profile": self.profile.record() if self.profile is not None else None,
                "latency_seed": self.seed, "models": models, "cgroups_seen": own_cgroups()}

    def write_record(self) -> None:
        if self.record_path is None:
            return
        tmp = self.record_path.with_name(f".{self.record_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.record(), indent=1))
        os.replace(tmp, self.record_path)


NO_PACING = InferencePacer()


def pacer_from_options(speed_factor: float, latency_profile: str, seed: int, log_dir: Path | None) -> InferencePacer:
    """The pacer of a node's command line (``--speed-factor``, ``--latency-profile``, ``--latency-seed``)."""
    profile = load_latency_profile(latency_profile) if latency_profile else None
    record = Path(log_dir) / "compute.json" if log_dir is not None else None
    pacer = InferencePacer(speed_factor, profile, seed, record)
    pacer.write_record()
    return pacer
