"""``features``: System A (SEEDS.md) -- devices' raw images to the cloud vs PCA / autoencoder features from the
edge to the cloud, over the emulated LTE and WiFi networks and the WAN.

Live (per access network, under the run lock): the cloud and the edge (placements edge + features) start as in
``compare``; ``ue1`` sends the held-out images (JPEG, open loop at a light rate) along each path -- raw to the
cloud's CloudCNN, to the edge's ``features-pca`` and ``features-ae`` -- while the base station's WAN port
counters measure the bytes each path put on the WAN. Offline (``harness.experiments.features.learning``): accuracy vs
feature dimension and training time raw vs features. ``harness.experiments.features.report`` writes the report.
"""
from __future__ import annotations

import csv
import json
import statistics
import subprocess
from pathlib import Path

from harness.errors import HarnessError
from harness.experiments.features.spec import FeaturesSpec
from harness.orchestration.model_set import load_manifest, models_origin
from harness.orchestration.node_processes import (CLOUD_URL, EDGE_URL, NODE_STOP_TIMEOUT_S, compute_records,
                                                  edge_args, python_module,
                                                  start_nodes, stop)
from harness.orchestration.results import environment, utc_stamp, write_json_atomically
from harness.orchestration.wan_port import wan_counter_source
from harness.repo_paths import REPO_ROOT
from nodes.csv_rows import CsvRows
from nodes.launch import stop_nodes
from topo.network import Terminated, running_network
from topo.profiles import load_profile
from topo.topology import TopologySpec

PATHS = (("raw", CLOUD_URL, "cloudcnn", "raw image device -> cloud (CloudCNN)"),
         ("pca", EDGE_URL, "features-pca", "PCA features edge -> cloud (classifier)"),
         ("autoencoder", EDGE_URL, "features-ae", "autoencoder features edge -> cloud (classifier)"))
PATH_FIELDS = ["access", "path", "model", "requests", "ok", "median_response_ms", "p90_response_ms",
               "online_accuracy", "mean_image_bytes", "wan_to_cloud_bytes_per_image", "wan_from_cloud_bytes_per_image",
               "reduction_vs_raw_pct"]


def _data(manifest: dict):
    from models.datasets import load_dataset

    settings = manifest.get("settings", {})
    return load_dataset(settings.get("dataset", "digits"),
                        Path(settings["data_dir"]) if settings.get("data_dir") else None)


def _run_path(net, url: str, model: str, pool: Path, spec: FeaturesSpec, out: Path) -> list[dict]:
    proc = net.popen("ue1", python_module("nodes.collab_device", "--url", url, "--model", model, "--pool", str(pool),
                                           "--rate", f"{spec.rate_hz:g}", "--requests", str(spec.images),
                                           "--seed", str(spec.seed), "--out", str(out)),
                     "device", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO_ROOT)
    try:
        if proc.wait(timeout=spec.images / spec.rate_hz + 120) != 0:
            err = proc.stderr.read().decode(errors="replace").strip().splitlines()
            raise HarnessError(f"device workload to {model} failed: {err[-1] if err else proc.returncode}")
    except subprocess.TimeoutExpired:
        raise HarnessError(f"device workload to {model} did not finish in time") from None
    finally:
        stop(proc)
    with open(out, newline="") as f:
        return list(csv.DictReader(f))


def _path_row(access: str, name: str, model: str, rows: list[dict], wan: dict) -> dict:
    ok = [r for r in rows if str(r.get("status")) == "200"]
    times = sorted((int(r["reply_complete_ns"]) - int(r["send_start_ns"])) / 1e6 for r in ok)
    n = max(1, len(rows))
    return {"access": access, "path": name, "model": model, "requests": len(rows), "ok": len(ok),
            "median_response_ms": round(statistics.median(times), 3) if times else None,
            "p90_response_ms": round(times[min(len(times) - 1, int(0.9 * len(times)))], 3) if times else None,
            "online_accuracy": round(sum(str(r["label"]) == str(r["true_label"]) for r in ok) / len(ok), 4)
            if ok else None,
            "mean_image_bytes": round(statistics.mean(int(r["actual_bytes"]) for r in rows), 1) if rows else None,
            "wan_to_cloud_bytes_per_image": round(wan["tx_bytes"] / n, 1),
            "wan_from_cloud_bytes_per_image": round(wan["rx_bytes"] / n, 1)}


def execute_features(spec: FeaturesSpec, models_dir: Path, run_dir: Path, backend: str, progress=print) -> None:
    """The live part, into ``run_dir`` (made by harness.orchestration.running.run_with_lock, which also checked the profiles
    and resolved ``backend``). paths.csv gets one row per access x path."""
    from nodes.edge_update import save_labelled

    manifest = load_manifest(models_dir)
    profiles = {a: load_profile(a) for a in spec.accesses}
    wan, lan = load_profile(spec.wan), load_profile(spec.lan)
    record = {"experiment": "features", "status": "running", "spec": spec.to_dict(),
              "environment": environment(backend), "started_utc": utc_stamp(), "finished_utc": None,
              "models_dir": str(models_dir), "models_origin": models_origin(models_dir), "live_feature_dim": manifest.get("settings", {}).get("feature_dim"),
              "models": {n: {k: e.get(k) for k in ("bytes", "sha256", "role", "accuracy")}
                         for n, e in manifest["models"].items()}, "accesses_run": [], "compute": {}}
    save = lambda: write_json_atomically(run_dir / "experiment.json", record)  # noqa: E731
    save()
    data = _data(manifest)
    pool = run_dir / "data" / "test.npz"
    save_labelled(pool, data.test.images, data.test.labels)
    record["data"] = data.describe()
    edge = edge_args("edgecnn1-3", ("edge", "features"), cloud_timeout_s=30.0, cloud_retries=1)  # compare's defaults
    paths = CsvRows(run_dir / "paths.csv", PATH_FIELDS)
    try:
        for access, profile in profiles.items():
            log_dir = run_dir / "logs" / access
            log_dir.mkdir(parents=True, exist_ok=True)
            progress(f"[{access}] network up ({backend} links)")
            with running_network(TopologySpec(access=profile, wan=wan, lan=lan, ues=1, backend=backend),
                                 run_dir=log_dir, log_dir=log_dir) as net:
                counters = wan_counter_source(net)
                nodes = ()
                try:
                    nodes = start_nodes(net, models_dir, log_dir, edge, compute=spec.compute)[:2]
                    results = {}
                    for name, url, model, what in PATHS:
                        progress(f"[{access}] {spec.images} images: {what}")
                        before = counters.read()
                        rows = _run_path(net, url, model, pool, spec, log_dir / f"device-{name}.csv")
                        results[name] = _path_row(access, name, model, rows, counters.read().minus(before).__dict__)
                    raw = results["raw"]["wan_to_cloud_bytes_per_image"]
                    for row in results.values():
                        row["reduction_vs_raw_pct"] = round(100 * (1 - row["wan_to_cloud_bytes_per_image"] / raw), 2) \
                            if raw else None
                        paths.write(row)
                finally:
                    stop_nodes(reversed(nodes), NODE_STOP_TIMEOUT_S)
                    record["compute"][access] = compute_records(nodes, spec.compute)
            record["accesses_run"].append(access)
            save()
        record["status"] = "complete"
    except BaseException as exc:
        record["status"] = "interrupted" if isinstance(exc, (KeyboardInterrupt, Terminated)) else "failed"
        record["error"] = str(exc) or type(exc).__name__
        raise
    finally:
        paths.close()
        record["finished_utc"] = utc_stamp()
        save()


def _features_run(run_dir: Path) -> tuple[dict, FeaturesSpec]:
    """experiment.json of a features run and its spec; a HarnessError naming the file for anything else."""
    path = run_dir / "experiment.json"
    try:
        record = json.loads(path.read_text())
        if not (isinstance(record, dict) and record.get("experiment") == "features"
                and isinstance(record.get("spec"), dict) and isinstance(record.get("models_dir"), str)):
            raise ValueError("expected the record of a features run: experiment 'features', its spec, models_dir")
        spec = FeaturesSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in record["spec"].items()})
    except (OSError, ValueError, TypeError) as err:
        raise HarnessError(f"{path}: not a features run's record ({err})") from None
    return record, spec


def analyse_features(run_dir: Path, progress=print) -> dict:
    """The offline learning measurements, then the report (reads the run folder and its model cache)."""
    from harness.experiments.features.learning import learning_rows
    from harness.experiments.features.report import write_features_report

    record, spec = _features_run(run_dir)
    data = _data(load_manifest(Path(record["models_dir"])))
    if spec.max_train_images and spec.max_train_images < len(data.train):
        from models.collaboration import stratified_subset
        from models.datasets import DataSplits

        data = DataSplits(data.name, data.source, stratified_subset(data.train, spec.max_train_images, spec.seed),
                          data.test)
    accuracy_rows, training_rows = learning_rows(data, spec.feature_dims, spec.train_epochs, spec.ae_epochs,
                                                 spec.seed, cnn_epochs=spec.cnn_epochs, progress=progress,
                                                 repeats=spec.accuracy_repeats)
    with CsvRows(run_dir / "accuracy_by_dim.csv", ["method", "feature_dim", "accuracy", "cnn_accuracy",
                                                  "extract_seconds", "explained_variance", "feature_bytes"]) as log:
        for row in accuracy_rows:
            log.write(row)
    with CsvRows(run_dir / "training.csv", ["model", "input_values", "train_seconds", "epochs", "accuracy"]) as log:
        for row in training_rows:
            log.write(row)
    with open(run_dir / "paths.csv", newline="") as f:
        path_rows = list(csv.DictReader(f))
    analysis = {"accuracy": accuracy_rows, "training": training_rows, "paths": path_rows, "dataset": data.name}
    write_json_atomically(run_dir / "analysis.json", analysis)
    write_features_report(run_dir, record, spec, analysis)
    return analysis
