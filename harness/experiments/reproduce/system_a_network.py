"""System A's network figures: the ``features`` experiment's paths at System A's image size, live.

One network (the access named in the settings, the default WAN and LAN), the cloud and the edge started as
``features`` starts them (placements edge + features). ``ue1`` sends JPEGs of exactly
``image_bytes`` (System A's face crops average 1,089 MB / 100,000 = 10,890 B; the testbed's camera,
``nodes.jpeg_images``) along four paths, closed loop (one request in flight), and the base station's WAN
port counters give the bytes each path put on the WAN per image:

- the three paths of ``features`` (raw image -> the cloud's CloudCNN; the edge's PCA / autoencoder
  features -> the cloud's classifier): System A's training phase, what crosses the WAN;
- ``edge``: the edge answers with its own model, no WAN leg (System A's inference phase, after the trained
  model was pushed to the edge).

``rounds`` rounds run every path in turn (the order rotates, so a drift of the shared machine spreads over
all paths); each round is checkpointed as ``round-<r>.json`` in the work folder and is not redone.
"""
from __future__ import annotations

import csv
import json
import signal
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.errors import HarnessError
from harness.experiments.features.run import PATHS as FEATURES_PATHS
from harness.orchestration.node_processes import (EDGE_URL, NODE_STOP_TIMEOUT_S, edge_args, python_module,
                                                  start_nodes, stop)
from harness.orchestration.results import write_json_atomically
from harness.orchestration.wan_port import wan_counter_source
from harness.repo_paths import REPO_ROOT

EDGE_MODEL = "edgecnn1-3"   # the edge's own model (compare's and features' edge)
PATHS = (*FEATURES_PATHS,
         ("edge", EDGE_URL, EDGE_MODEL, "the edge answers with its own model (inference at the edge)"))
WORKLOAD_STOP_TIMEOUT_S = 3.0
COUNTER_SETTLE_S = 0.3      # the last ACK / FIN of a path crosses the WAN before its counters are read


@dataclass(frozen=True)
class NetworkSettings:
    access: str = "wifi"               # System A's tablets on a WLAN
    image_bytes: int = 10_890          # harness.analysis.published.PUBLISHED_RAW_IMAGE_BYTES
    images_per_path: int = 10          # requests per path per round
    rounds: int = 3                    # repetitions behind every CI
    request_timeout_s: float = 30.0
    wan: str = "wan"
    lan: str = "lan"
    models_dir: str = ""               # "": the default cache if it exists, else a reduced set (models_for_network)
    feature_dim: int = 0               # the PCA / autoencoder output size served (0: whatever the model set has)

    def __post_init__(self):
        for name, ok, allowed in (("image_bytes", 1024 <= self.image_bytes <= 256 * 1024 * 1024, "in 1024..256M"),
                                  ("images_per_path", self.images_per_path >= 1, ">= 1"),
                                  ("rounds", self.rounds >= 1, ">= 1"),
                                  ("feature_dim", 0 <= self.feature_dim <= 3072, "0 (as served) or 1..3072"),
                                  ("request_timeout_s", self.request_timeout_s > 0, "> 0"),
                                  ("access", bool(self.access), "an access profile name")):
            if not ok:
                raise HarnessError(f"System A network setting {name}={getattr(self, name)!r} must be {allowed}")


REDUCED_SET = {"epochs": 1, "ae_epochs": 1, "max_train_images": 300}   # the test suite's model set


def models_for_network(settings: NetworkSettings, work_dir: Path, progress: Callable[[str], None]) -> Path:
    """The model set the nodes serve. Bytes and times on these paths depend on the models' architectures, not on
    how well they were trained: the one named, else the default cache as it is (never rebuilt here), else a
    reduced set (1 epoch, 300 images) built once into ``work_dir/models``. With ``feature_dim`` set, a set whose
    encoders have another size is not used: a reduced set at that size is built into ``work_dir/models-d<dim>``
    (1,088 images for 1,024-d: a PCA has at most as many components as images)."""
    from harness.orchestration.model_set import DEFAULT_MODELS_DIR, load_manifest, models_for
    from models.zoo import ensure_models

    def serves(folder: Path) -> bool:
        return not settings.feature_dim or \
            load_manifest(folder).get("settings", {}).get("feature_dim") == settings.feature_dim

    if settings.models_dir and serves(models_for(settings.models_dir)):
        return models_for(settings.models_dir)
    if not settings.models_dir and (DEFAULT_MODELS_DIR / "manifest.json").is_file() and serves(DEFAULT_MODELS_DIR):
        return models_for(str(DEFAULT_MODELS_DIR))
    reduced = dict(REDUCED_SET)
    target = work_dir / "models"
    if settings.feature_dim:
        target = work_dir / f"models-d{settings.feature_dim}"
        # a PCA has at most as many components as images; the paths serve no MobileNetV2 / ResNet-18
        reduced.update(feature_dim=settings.feature_dim, architectures=False,
                       max_train_images=max(reduced["max_train_images"], settings.feature_dim + 64))
    images = reduced["max_train_images"]
    progress(f"system-a network: building a reduced model set in {target} (architectures as served; "
             f"{reduced['epochs']} epoch on {images} images"
             + (f", {settings.feature_dim}-d features)" if settings.feature_dim else ")"))
    ensure_models(target, progress=False, **reduced)
    return target


def _round_path(work_dir: Path, index: int) -> Path:
    return work_dir / f"round-{index}.json"


def path_row(name: str, model: str, rows: list[dict], wan_tx_bytes: int, wan_rx_bytes: int) -> dict:
    """One path of one round: requests, median response, bytes on the WAN per image (each direction)."""
    ok = [r for r in rows if str(r.get("status")) == "200" and not r.get("error")]
    times = sorted((int(r["reply_complete_ns"]) - int(r["send_start_ns"])) / 1e6 for r in ok)
    n = max(1, len(rows))
    return {"path": name, "model": model, "requests": len(rows), "ok": len(ok),
            "median_response_ms": round(statistics.median(times), 3) if times else None,
            "mean_image_bytes": round(statistics.fmean(int(r["actual_bytes"]) for r in rows), 1) if rows else None,
            "wan_to_cloud_bytes_per_image": round(wan_tx_bytes / n, 1),
            "wan_from_cloud_bytes_per_image": round(wan_rx_bytes / n, 1)}


def _run_path(net, url: str, model: str, settings: NetworkSettings, seed: int, out: Path) -> list[dict]:
    """``python -m nodes.workload`` from ue1, closed loop, JPEGs of exactly ``image_bytes``; its rows."""
    argv = python_module("nodes.workload", "--url", url, "--model", model, "--sizes", str(settings.image_bytes),
                          "--repetitions", str(settings.images_per_path), "--seed", str(seed), "--tag", out.stem,
                          "--timeout-s", f"{settings.request_timeout_s:g}",
                          "--images-dir", str(REPO_ROOT / ".cache" / "images"), "--out", str(out))
    proc = net.popen("ue1", argv, "device", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO_ROOT)
    limit_s = settings.images_per_path * (settings.request_timeout_s + 5) + 60
    try:
        if proc.wait(timeout=limit_s) != 0:
            err = proc.stderr.read().decode(errors="replace").strip().splitlines()
            raise HarnessError(f"System A: the device workload to {model} failed: {err[-1] if err else proc.returncode}"
                               f" (rows in {out})")
    except subprocess.TimeoutExpired:
        raise HarnessError(f"System A: the device workload to {model} did not finish in {limit_s:.0f} s") from None
    finally:  # Ctrl-C: the workload runs in its own session, so it is told here, as a terminal would
        stop(proc, WORKLOAD_STOP_TIMEOUT_S, signals=(signal.SIGINT, signal.SIGTERM))
    with open(out, newline="") as f:
        return list(csv.DictReader(f))


def _one_round(net, counters, index: int, settings: NetworkSettings, log_dir: Path,
               progress: Callable[[str], None]) -> list[dict]:
    order = PATHS[index % len(PATHS):] + PATHS[:index % len(PATHS)]
    results = {}
    for name, url, model, what in order:
        progress(f"system-a network round {index + 1}/{settings.rounds}: {settings.images_per_path} images of "
                 f"{settings.image_bytes:,} B, {what}")
        before = counters.read()
        rows = _run_path(net, url, model, settings, seed=index, out=log_dir / f"device-{name}-r{index}.csv")
        time.sleep(COUNTER_SETTLE_S)
        moved = counters.read().minus(before)
        results[name] = path_row(name, model, rows, moved.tx_bytes, moved.rx_bytes)
        if results[name]["ok"] == 0:
            raise HarnessError(f"System A: no request to {model} succeeded (see {log_dir})")
    return [results[name] for name, *_ in PATHS]


def load_rounds(work_dir: Path, settings: NetworkSettings) -> dict[int, dict]:
    """The rounds already measured with these settings (a round of other settings is measured again): index ->
    its record (``paths``: a row per path; ``models_dir``, ``feature_dim``, ``backend``)."""
    done = {}
    for index in range(settings.rounds):
        path = _round_path(work_dir, index)
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if record.get("settings") == _comparable(settings) and len(record.get("paths", [])) == len(PATHS):
            done[index] = record
    return done


def _comparable(settings: NetworkSettings) -> dict:
    return {k: getattr(settings, k) for k in ("access", "image_bytes", "images_per_path", "wan", "lan", "feature_dim")}


def measure_rounds(work_dir: Path, settings: NetworkSettings, progress: Callable[[str], None]) -> list[dict]:
    """Every round's record (checkpointed ones read back, the rest measured in one network)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    done = load_rounds(work_dir, settings)
    missing = [i for i in range(settings.rounds) if i not in done]
    if missing:
        _measure(work_dir, settings, missing, done, progress)
    return [done[i] for i in range(settings.rounds)]


def _measure(work_dir: Path, settings: NetworkSettings, missing: list[int], done: dict,
             progress: Callable[[str], None]) -> None:
    from harness.orchestration.model_set import load_manifest
    from harness.orchestration.preflight import check_traces
    from nodes.launch import stop_nodes
    from topo.commands import missing_tools
    from topo.links import resolve_backend
    from topo.network import require_root, running_network
    from topo.profiles import load_profile
    from topo.run_lock import exclusive_run
    from topo.topology import TopologySpec

    require_root("reproduce system-a")
    tools = missing_tools()
    if tools:
        raise HarnessError(f"missing tools: {', '.join(sorted(set(tools)))}: run 'sudo ./setup.sh'")
    access, wan, lan = (load_profile(p) for p in (settings.access, settings.wan, settings.lan))
    check_traces([access, wan, lan])
    backend = resolve_backend("auto", [access, wan, lan])
    models_dir = models_for_network(settings, work_dir, progress)
    feature_dim = load_manifest(models_dir).get("settings", {}).get("feature_dim")
    log_dir = work_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    edge = edge_args(EDGE_MODEL, ("edge", "features"), cloud_timeout_s=30.0, cloud_retries=1)  # features' edge
    with exclusive_run():
        progress(f"system-a network: {settings.access} + WAN up ({backend} links), cloud and edge starting")
        with running_network(TopologySpec(access=access, wan=wan, lan=lan, ues=1, backend=backend),
                             run_dir=log_dir, log_dir=log_dir) as net:
            counters = wan_counter_source(net)
            nodes = ()
            try:
                nodes = start_nodes(net, models_dir, log_dir, edge)[:2]
                for index in missing:
                    record = {"settings": _comparable(settings), "backend": backend, "models_dir": str(models_dir),
                              "feature_dim": feature_dim,
                              "paths": _one_round(net, counters, index, settings, log_dir, progress)}
                    write_json_atomically(_round_path(work_dir, index), record)
                    done[index] = record
            finally:
                stop_nodes(reversed(nodes), NODE_STOP_TIMEOUT_S)
