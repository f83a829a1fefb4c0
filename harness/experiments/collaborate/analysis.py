"""Analysis of a ``collaborate`` run folder: accuracy of each edge model version, response times by phase,
WAN bytes per phase, the EdgeCNN0-k vs EdgeCNN1-k table, figures and ``report.md``.

Reads only the run folder (and the model cache it names); can be re-run on a finished folder.
"""
from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import numpy as np

from harness.analysis.figure_files import save_line_figure
from harness.experiments.collaborate.spec import CollabSpec
from harness.orchestration.results import write_json_atomically
from nodes.csv_rows import CsvRows

REQUEST_FIELDS = ["request_id", "phase", "version_serving", "size_bytes", "send_start_ns", "reply_complete_ns",
                  "response_ms", "status", "error", "predicted_class", "true_label", "correct"]


def _events(run_dir: Path) -> list[dict]:
    path = run_dir / "logs" / "edge" / "collab.jsonl"
    out = []
    for line in (path.read_text().splitlines() if path.exists() else []):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _data(record: dict):
    from models.datasets import load_dataset

    manifest = json.loads((Path(record["models_dir"]) / "manifest.json").read_text())
    settings = manifest.get("settings", {})
    return load_dataset(settings.get("dataset", "digits"), Path(settings["data_dir"]) if settings.get("data_dir")
                        else None), manifest


def _onnx_accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    from models.runtime import open_session

    session = open_session(path, device="cpu", threads=1)
    probs = np.concatenate([session.run({"image": x[i:i + 256]})[0] for i in range(0, len(x), 256)])
    return float((probs.argmax(1) == y).mean())


def _phase(send_ns: int, updates: list[dict]) -> tuple[str, int]:
    """before / during / after a retrain, and the version serving when the request was sent."""
    version = 0
    for u in updates:
        if u["start_ns"] <= send_ns <= u["end_ns"]:
            return "during", version
        if send_ns > u["end_ns"]:
            version = u["version"]
    return ("before" if version == 0 else "after"), version


def _request_rows(run_dir: Path, updates: list[dict]) -> list[dict]:
    path = run_dir / "logs" / "device.csv"
    rows = []
    for row in (csv.DictReader(open(path, newline="")) if path.exists() else []):
        ok = str(row.get("status")) == "200"
        send = int(row["send_start_ns"]) if row.get("send_start_ns") else 0
        phase, version = _phase(send, updates)
        response = (int(row["reply_complete_ns"]) - send) / 1e6 if ok else None
        rows.append({"request_id": row["request_id"], "phase": phase, "version_serving": version,
                     "size_bytes": row.get("size_bytes"), "send_start_ns": send,
                     "reply_complete_ns": row.get("reply_complete_ns"), "response_ms": response,
                     "status": "ok" if ok else "error", "error": "" if ok else row.get("error"),
                     "predicted_class": row.get("label"), "true_label": row.get("true_label"),
                     "correct": int(ok and str(row.get("label")) == str(row.get("true_label")))})
    return rows


def _stats(values: list[float]) -> dict:
    if not values:
        return {"count": 0, "median_ms": None, "p90_ms": None}
    values = sorted(values)
    return {"count": len(values), "median_ms": round(statistics.median(values), 3),
            "p90_ms": round(values[min(len(values) - 1, int(0.9 * len(values)))], 3)}


def _scratch_after_update(run_dir: Path, update: dict, m: int, spec: CollabSpec, pool_stride: int, test) -> float:
    """EdgeCNN0-m trained from scratch on the same N + M images the update used (same labels from the cloud)."""
    from models.collaboration import train_edge
    from models.datasets import ImageSet
    from models.training import TrainSettings, accuracy, image_tensors
    from nodes.edge_update import load_labelled, object_pixels

    images, labels = load_labelled(run_dir / "data" / "labelled.npz")
    objects = run_dir / "logs" / "edge" / "objects"
    cloud_labels = json.loads((objects / "labels.json").read_text())
    names = sorted(cloud_labels)[: update["cloud_labels"]]
    if names:
        images = np.concatenate([images, np.stack([object_pixels((objects / n).read_bytes()) for n in names])])
        labels = np.concatenate([labels, np.array([cloud_labels[n] for n in names], dtype=np.int64)])
    settings = TrainSettings(max_epochs=spec.train_epochs, seed=spec.seed + update["version"])
    model, _ = train_edge(ImageSet(images, labels, "n+m"), settings, k=m, pool_stride=pool_stride)
    return accuracy(model, *image_tensors(test))


def _wan_cycles(events: list[dict]) -> list[dict]:
    cycles: dict[int, dict] = {}
    for e in events:
        if e["event"] != "labelled":
            continue
        c = cycles.setdefault(e["update"], {"update": e["update"], "batches": 0, "objects": 0, "payload_bytes": 0,
                                            "wan_tx_bytes": 0, "wan_rx_bytes": 0, "first_upload_ns": e["start_ns"]})
        c["batches"] += 1
        c["objects"] += e["objects"]
        c["payload_bytes"] += e["payload_bytes"]
        c["wan_tx_bytes"] += e["wan_tx_bytes"] or 0
        c["wan_rx_bytes"] += e["wan_rx_bytes"] or 0
    return list(cycles.values())


def accuracy_table(spec: CollabSpec, record: dict, data, manifest: dict, out: Path, progress) -> list[dict]:
    from models.collaboration import accuracy_by_labelled_size
    from models.training import TrainSettings

    cloud_onnx = (Path(record["models_dir"]) / manifest["models"]["cloudcnn"]["file"]).read_bytes()
    rows = []
    sizes = [s for s in spec.table_sizes if s <= len(data.train)]
    with CsvRows(out, ["labelled_images", "k", "repeat", "edgecnn0_accuracy", "edgecnn1_accuracy",
                      "edgecnn0_train_seconds", "edgecnn1_train_seconds", "edgecnn0_epochs", "edgecnn1_epochs"]) as log:
        for k in spec.table_depths:
            progress(f"table: EdgeCNN0-{k} vs EdgeCNN1-{k} at {', '.join(map(str, sizes))} labelled images "
                     f"x {spec.table_repeats} repeats")
            for row in accuracy_by_labelled_size(cloud_onnx, data, sizes, k=k, repeats=spec.table_repeats,
                                                 settings=TrainSettings(max_epochs=spec.table_epochs, seed=spec.seed),
                                                 pool_stride=int(record.get("edge_pool_stride", 2))):
                log.write(row)
                rows.append(row)
    return rows


def _table_means(rows: list[dict]) -> list[dict]:
    """Per (k, labelled images): mean and 95% CI over the seeds (repeats) of each model's accuracy and of the
    gain, with a paired t-test of EdgeCNN1-k against EdgeCNN0-k on the same seeds (harness.analysis.seed_stats)."""
    from harness.analysis.seed_stats import mean_ci, paired_test

    keys = sorted({(r["k"], r["labelled_images"]) for r in rows})
    out = []
    for k, n in keys:
        sel = sorted((r for r in rows if r["k"] == k and r["labelled_images"] == n), key=lambda r: r["repeat"])
        scratch = [100 * float(r["edgecnn0_accuracy"]) for r in sel]
        transfer = [100 * float(r["edgecnn1_accuracy"]) for r in sel]
        zero, one, test = mean_ci(scratch), mean_ci(transfer), paired_test(scratch, transfer)
        out.append({"k": k, "labelled_images": n, "repeats": len(sel),
                    "edgecnn0": zero.mean, "edgecnn0_ci": zero.half_width,
                    "edgecnn1": one.mean, "edgecnn1_ci": one.half_width,
                    "gain": test.difference.mean, "gain_ci": test.difference.half_width,
                    "gain_p": test.p_value, "gain_within_noise": test.within_noise, "gain_verdict": test.verdict(),
                    "edgecnn0_s": statistics.mean(float(r["edgecnn0_train_seconds"]) for r in sel),
                    "edgecnn1_s": statistics.mean(float(r["edgecnn1_train_seconds"]) for r in sel)})
    return out


def _figures(run_dir: Path, means: list[dict], versions: list[dict]) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    if means:
        fig, ax = plt.subplots(figsize=(6, 4))
        for k in sorted({r["k"] for r in means}):
            sel = [r for r in means if r["k"] == k]
            xs = [r["labelled_images"] for r in sel]
            ax.plot(xs, [r["edgecnn0"] for r in sel], "o--", label=f"EdgeCNN0-{k} (scratch)")
            ax.plot(xs, [r["edgecnn1"] for r in sel], "s-", label=f"EdgeCNN1-{k} (CloudCNN layers)")
        made.append(save_line_figure(fig, ax, "labelled training images", "test accuracy (%)",
                                     run_dir / "accuracy_by_size.png"))
    if versions:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([v["labelled_images"] for v in versions], [100 * v["test_accuracy"] for v in versions], "s-",
                label="EdgeCNN1 (live run, per version)")
        scratch = [v for v in versions if v.get("edgecnn0_test_accuracy") is not None]
        ax.plot([v["labelled_images"] for v in scratch], [100 * v["edgecnn0_test_accuracy"] for v in scratch], "o--",
                label="EdgeCNN0 on the same images")
        made.append(save_line_figure(fig, ax, "labelled images at the edge (N + cloud labels)", "test accuracy (%)",
                                     run_dir / "accuracy_by_update.png"))
    return made


def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.2f}%"


def analyse_collaboration(run_dir: Path, progress=print, with_table: bool = True) -> dict:
    from models.training import image_tensors

    record = json.loads((run_dir / "experiment.json").read_text())
    spec = CollabSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in record["spec"].items()})
    m, pool_stride = int(record["shared_layers_m"]), int(record.get("edge_pool_stride", 2))
    events = _events(run_dir)
    data, manifest = _data(record)
    x_test, y_test = (t.numpy() for t in image_tensors(data.test))
    updates = [e for e in events if e["event"] == "updated"]
    versions = []
    for e in events:
        if e["event"] not in ("initialised", "updated"):
            continue
        path = run_dir / "logs" / "edge" / "models" / f"{e['model']}.onnx"
        version = {"version": e["version"], "model": e["model"], "labelled_images": e["labelled_images"],
                   "cloud_labels": e.get("cloud_labels", 0), "train_seconds": e["train_seconds"],
                   "epochs": e["epochs"], "swap_ms": e.get("swap_ms"),
                   "test_accuracy": _onnx_accuracy(path, x_test, y_test) if path.exists() else None}
        progress(f"version {e['version']}: test accuracy {_pct(version['test_accuracy'])}")
        if e["event"] == "updated":
            version["edgecnn0_test_accuracy"] = _scratch_after_update(run_dir, e, m, spec, pool_stride, data.test)
        versions.append(version)
    if versions and versions[0]["version"] == 0:
        versions[0]["edgecnn0_test_accuracy"] = _scratch_after_update(
            run_dir, {"version": 0, "cloud_labels": 0}, m, spec, pool_stride, data.test)
    requests = _request_rows(run_dir, updates)
    with CsvRows(run_dir / "requests.csv", REQUEST_FIELDS) as log:
        for row in requests:
            log.write(row)
    phases = {}
    for phase in ("before", "during", "after"):
        sel = [r for r in requests if r["phase"] == phase]
        ok = [r for r in sel if r["status"] == "ok"]
        phases[phase] = {**_stats([r["response_ms"] for r in ok]), "errors": len(sel) - len(ok),
                         "online_accuracy": (sum(r["correct"] for r in ok) / len(ok)) if ok else None}
    block = next((e for e in events if e["event"] == "block_downloaded"), None)
    cycles = _wan_cycles(events)
    counters = record.get("wan_counters", {})
    wan_init = None
    if "before_edge" in counters and "edge_ready" in counters:
        wan_init = {d: counters["edge_ready"][f"{d}_bytes"] - counters["before_edge"][f"{d}_bytes"] for d in ("rx", "tx")}
    table = accuracy_table(spec, record, data, manifest, run_dir / "accuracy_by_size.csv", progress) \
        if with_table and spec.table_sizes else []
    means = _table_means(table)
    figures = _figures(run_dir, means, versions)
    first_upload = min((e["start_ns"] for e in events if e["event"] == "labelled"), default=None)
    busy_start = record.get("wan_busy_start_ns")
    wait = {"busy_s": spec.wan_busy_s, "idle_s": spec.idle_s,
            "first_upload_after_busy_start_s": None if first_upload is None or busy_start is None
            else round((first_upload - busy_start) / 1e9, 3)}
    analysis = {"wan_wait": wait, "versions": versions, "phases": phases, "block": block, "wan_cycles": cycles, "wan_init": wan_init,
                "table_means": means, "figures": figures, "dataset": data.name, "m": m}
    write_json_atomically(run_dir / "analysis.json", analysis)
    with CsvRows(run_dir / "updates.csv", ["version", "model", "labelled_images", "cloud_labels", "train_seconds",
                                          "epochs", "swap_ms", "test_accuracy", "edgecnn0_test_accuracy"]) as log:
        for v in versions:
            log.write(v)
    with CsvRows(run_dir / "wan_phases.csv", ["phase", "what", "payload_bytes", "wan_rx_bytes", "wan_tx_bytes"]) as log:
        if block:
            log.write({"phase": "initialisation", "what": f"{block['model']} download", "payload_bytes": block["bytes"],
                       "wan_rx_bytes": block["wan_rx_bytes"], "wan_tx_bytes": block["wan_tx_bytes"]})
        for c in cycles:
            log.write({"phase": f"update {c['update']}", "what": f"{c['objects']} objects up, labels down "
                       f"({c['batches']} batches)", "payload_bytes": c["payload_bytes"],
                       "wan_rx_bytes": c["wan_rx_bytes"], "wan_tx_bytes": c["wan_tx_bytes"]})
    from harness.experiments.collaborate.report import write_report
    write_report(run_dir, record, spec, analysis)
    return analysis
