"""What sets the LTE inference ratio on this machine: the served models' own run time, warm and after an idle gap.

In a compare run a request reaches its server after its upload, so each inference starts after the node sat idle
(the median gap between a node's inferences is read from its ``timings.jsonl``), while the link emulator, the
client and the other node kept the shared CPUs busy. A model run right after an idle gap is slower than one run
back to back, and not by the same factor for every model: EdgeCNN1-3 at pool stride 2 carries a 22 MB FC-1024,
CloudCNN 5 MB of weights. So the ratio measured in the run need not be the one the two models give back to back
(the probe's record has each file's size beside its times). The probe times
both ONNX files (the files the nodes served, with the threads they ran with) in turns, once right after an idle
gap like the run's ("cold") and once right after two runs ("warm"), and sets both ratios beside the run's own.
It runs on the host after the compare runs (about 30 s).
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np

PROBE_REPEATS = 30
MIN_GAP_S, MAX_GAP_S = 0.02, 0.5      # the idle gap is the run's median, kept in this range (the probe's cost)
WARM_RUNS = 2                         # runs just before the warm one is timed


def inferences(records: dict, access: str, node: str) -> list[dict]:
    """The records of ``node`` on ``access`` that ran an inference, from ``read_node_records``'s table (one per
    request id: a retried request keeps its answered record)."""
    return [r for (a, n, _), r in records.items() if (a, n) == (access, node)
            and isinstance(r.get("inference_start_ns"), int) and isinstance(r.get("inference_end_ns"), int)]


def in_run(records: list[dict]) -> dict | None:
    """A node's own run time per inference in the run (before any speed-factor pacing), its median idle gap
    between inferences, and the model it served."""
    if len(records) < 2:
        return None
    run_ms = [(r.get("inference_compute_ns") or (r["inference_end_ns"] - r["inference_start_ns"])) / 1e6
              for r in records]
    starts = sorted(int(r["inference_start_ns"]) for r in records)
    ends = {int(r["inference_start_ns"]): int(r["inference_end_ns"]) for r in records}
    gaps = [(b - ends[a]) / 1e9 for a, b in zip(starts, starts[1:]) if b > ends[a]]
    models = sorted({str(r.get("model")) for r in records if r.get("model")})
    return {"model": models[0] if len(models) == 1 else ",".join(models), "inferences": len(records),
            "run_ms_median": statistics.median(run_ms), "idle_gap_s_median": statistics.median(gaps) if gaps else None}


def _input_for(session) -> dict:
    spec = session.inputs[0]
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in spec.shape]
    return {spec.name: np.random.default_rng(0).random(shape, dtype=np.float32)}


def probe(files: dict[str, Path], threads: dict[str, int], gap_s: float, repeats: int = PROBE_REPEATS,
          sleep=time.sleep) -> dict:
    """Per node, its model's run time (median ms) right after ``gap_s`` idle ("cold") and right after
    ``WARM_RUNS`` runs ("warm"), the nodes taking turns so a drift of the machine lands on both."""
    from models.runtime import open_session

    sessions = {node: open_session(path, device="cpu", threads=threads.get(node) or None)
                for node, path in files.items()}
    feeds = {node: _input_for(s) for node, s in sessions.items()}
    times = {node: {"cold": [], "warm": []} for node in sessions}
    for node, s in sessions.items():       # first runs (arena, kernels) are not part of either
        s.run(feeds[node])
    for _ in range(repeats):
        for node, s in sessions.items():
            sleep(gap_s)
            started = time.perf_counter()
            s.run(feeds[node])
            times[node]["cold"].append(time.perf_counter() - started)
            for _ in range(WARM_RUNS):
                s.run(feeds[node])
            started = time.perf_counter()
            s.run(feeds[node])
            times[node]["warm"].append(time.perf_counter() - started)
    return {node: {"file": str(files[node]), "weights_mb": files[node].stat().st_size / 1e6,
                   "threads": sessions[node].threads, "provider": sessions[node].provider,
                   "cold_ms": 1000 * statistics.median(t["cold"]), "warm_ms": 1000 * statistics.median(t["warm"])}
            for node, t in times.items()} | {"gap_s": gap_s, "repeats": repeats}


def probe_run(run_dir: Path, access: str, model_set: Callable[[], Path], repeats: int = PROBE_REPEATS) -> dict | None:
    """The probe for one compare run's access: the edge's and the cloud's models from ``model_set()`` (the folder
    of the set the run served, asked only when the run has inferences of both nodes), their threads from the nodes'
    compute.json, the idle gap from the edge's timings. None when the run has no inference of both nodes or a
    model file is missing."""
    from models.zoo import load_manifest

    from harness.analysis.node_records import read_node_records

    records = read_node_records(run_dir)
    nodes = {node: in_run(inferences(records, access, node)) for node in ("edge", "cloud")}
    if not all(nodes.values()):
        return None
    models_dir = Path(model_set())
    entries = load_manifest(models_dir)["models"]
    files, threads = {}, {}
    for node, seen in nodes.items():
        entry = entries.get(seen["model"])
        if not entry or not (models_dir / entry["file"]).is_file():
            return None
        files[node] = models_dir / entry["file"]
        try:
            compute = json.loads((run_dir / "logs" / access / node / "compute.json").read_text())
            threads[node] = int((compute.get("models") or {}).get(seen["model"], {}).get("threads") or 0)
        except (OSError, ValueError, TypeError, AttributeError):
            threads[node] = 0
    gap = nodes["edge"]["idle_gap_s_median"] or MIN_GAP_S
    measured = probe(files, threads, min(MAX_GAP_S, max(MIN_GAP_S, gap)), repeats)
    return {"access": access, "in_run": nodes, "probe": measured}


def _change(edge: float, cloud: float) -> float:
    return 100.0 * (edge / cloud - 1.0)


def probe_text(found: dict | None) -> str:
    """The sentence the LTE inference figure gets from ``probe_run``'s record ("" without one)."""
    if not found:
        return ""
    run, p = found["in_run"], found["probe"]
    e, c = p["edge"], p["cloud"]
    in_run_change = _change(run["edge"]["run_ms_median"], run["cloud"]["run_ms_median"])
    cold, warm = _change(e["cold_ms"], c["cold_ms"]), _change(e["warm_ms"], c["warm_ms"])
    nearer = "cold" if abs(in_run_change - cold) <= abs(in_run_change - warm) else "warm"
    return (f"; the models' own run on this machine (before the pacing) took {run['edge']['run_ms_median']:.2f} ms "
            f"(edge, {run['edge']['model']}, {e['weights_mb']:.1f} MB file) vs {run['cloud']['run_ms_median']:.2f} ms "
            f"(cloud, {run['cloud']['model']}, {c['weights_mb']:.1f} MB) in the run ({in_run_change:+.1f}%); timed "
            f"again here in turns, back to back they take {e['warm_ms']:.2f} vs {c['warm_ms']:.2f} ms "
            f"({warm:+.1f}%), right after an idle gap like the run's ({1000 * p['gap_s']:.0f} ms) "
            f"{e['cold_ms']:.2f} vs {c['cold_ms']:.2f} ms ({cold:+.1f}%): the run's ratio is the {nearer} one"
            + (" (each request reaches its node after an idle upload)" if nearer == "cold" else ""))
