"""Node servers on loopback, unshaped: per-request server overhead and edge throughput.

    .venv/bin/python benchmarks/bench_nodes.py [--models DIR] [--requests 40] [--duration-s 8] [--out FILE]

1. Overhead (closed loop, one client, edge model "edgecnn"), per image size:
   response = reply complete - send start (client clock), upload = upload complete (server)
   - send start, decode = the server's JPEG decode, inference = session run.
   ``overhead_ms`` = response - upload - inference (the brief's formula: it still holds the decode) and
   ``protocol_ms`` = response - upload - decode - inference - waiting for a worker thread (what the
   HTTP/protocol code and the event loop cost: parsing, building the reply, sending it, reading it).
   Goals: protocol < 2 ms at 60K and < 10 ms at 4096K.
2. Throughput: 4 concurrent closed-loop clients sending 60K images for --duration-s: requests/s, and
   the share of the mean response time spent in upload, decode, inference, waiting for a worker thread
   and protocol; the edge process's CPU time per request.
3. Hot swap under the same load: swaps every 0.5 s; failed requests and p99 response time vs phase 2.
All processes share this machine's cores with the client: compare ratios within one run.
Runs on the real trained models: the default model set of models.zoo, built and cached under
``<repo>/.cache/models`` (trained first if it is not there: a few minutes) or ``--models DIR``; the
set's origin (data set, epochs, training settings) is recorded in the result. ``--quick`` is a short
validation run (fewer requests, shorter phases; with the tests' model set it needs no training:
``--quick --models .cache/models-test``) and writes .cache/bench-quick/nodes.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from nodes.client import ClientSettings, InferenceClient, closed_loop  # noqa: E402
from nodes.jpeg_images import image_set  # noqa: E402
from nodes.launch import NodeProcess  # noqa: E402
from models.zoo import DEFAULT_CACHE_DIR, ensure_models, model_origin  # noqa: E402

GOALS_PROTOCOL_MS = {61440: 2.0, 4194304: 10.0}


def ms(ns: float) -> float:
    return ns / 1e6


def pct(values, q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def breakdown(rows: list[dict]) -> dict:
    ok = [r for r in rows if r["status"] == 200]
    response = [ms(r["reply_complete_ns"] - r["send_start_ns"]) for r in ok]
    upload = [ms(r["upload_complete_ns"] - r["send_start_ns"]) for r in ok]
    decode = [ms(r["preprocess_end_ns"] - r["preprocess_start_ns"]) for r in ok]
    inference = [ms(r["inference_end_ns"] - r["inference_start_ns"]) for r in ok]
    queue = [ms(r["preprocess_start_ns"] - r["upload_complete_ns"] + r["inference_start_ns"] - r["preprocess_end_ns"])
             for r in ok]  # waiting for a worker thread of the server's pool
    overhead = [a - b - c for a, b, c in zip(response, upload, inference)]
    protocol = [o - d - q for o, d, q in zip(overhead, decode, queue)]
    summary = {"requests": len(rows), "failed": len(rows) - len(ok)}
    for name, values in (("response_ms", response), ("upload_ms", upload), ("decode_ms", decode),
                         ("inference_ms", inference), ("queue_ms", queue), ("overhead_ms", overhead),
                         ("protocol_ms", protocol)):
        summary[name] = {"median": round(statistics.median(values), 3), "p90": round(pct(values, 90), 3),
                         "p99": round(pct(values, 99), 3), "mean": round(statistics.fmean(values), 3)}
    return summary


async def concurrent_load(url: str, jpeg: bytes, clients: int, duration_s: float, tag: str) -> tuple[list, float]:
    rows: list[dict] = []
    deadline = time.monotonic() + duration_s

    async def one_client(index: int):
        async with InferenceClient(ClientSettings(url=url, model="edgecnn", timeout_s=60)) as client:
            n = 0
            while time.monotonic() < deadline:
                rows.append(await client.infer_image(jpeg, f"{tag}-{index}-{n}"))
                n += 1

    started = time.monotonic()
    await asyncio.gather(*(one_client(i) for i in range(clients)))
    return rows, time.monotonic() - started


def post_swap(url: str, model: str) -> int:
    data = json.dumps({"model": model}).encode()
    req = urllib.request.Request(f"{url}/v2/admin/swap", data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=None,
                        help="a built model set (default: the default set under .cache/models, built if absent)")
    parser.add_argument("--requests", type=int, default=None,
                        help="closed-loop requests per size (after 3 warm-up; default 40, quick 8)")
    parser.add_argument("--duration-s", type=float, default=None, help="throughput phase length (default 8, quick 2)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="a short validation run")
    parser.add_argument("--out", type=Path, default=None,
                        help="result file (default benchmarks/results/nodes.json; quick .cache/bench-quick/nodes.json)")
    args = parser.parse_args(argv)
    args.requests = args.requests or (8 if args.quick else 40)
    args.duration_s = args.duration_s or (2.0 if args.quick else 8.0)
    args.out = args.out or (REPO / ".cache" / "bench-quick" / "nodes.json" if args.quick
                            else REPO / "benchmarks" / "results" / "nodes.json")

    with tempfile.TemporaryDirectory(prefix="ect-bench-nodes-") as tmp:
        tmp = Path(tmp)
        models_dir = args.models
        if models_dir is None:
            print(f"bench_nodes: the default model set ({DEFAULT_CACHE_DIR}; trained first if absent)", flush=True)
            ensure_models(DEFAULT_CACHE_DIR, progress=True)
            models_dir = DEFAULT_CACHE_DIR
        elif not (models_dir / "manifest.json").is_file():
            print(f"bench_nodes: {models_dir} holds no model set (manifest.json); build one with "
                  "'python harness/run.py models' or leave --models out", file=sys.stderr)
            return 2
        model_source = str(models_dir)
        origin = model_origin(models_dir)
        manifest = json.loads((Path(models_dir) / "manifest.json").read_text())["models"]
        swap_to = "edgecnn1-5" if "edgecnn1-5" in manifest else "edgecnn1-3"
        images = image_set(["60K", "4096K"], seed=0, cache_dir=tmp / "images")
        print(f"bench_nodes: models {model_source}; {args.requests} requests per size, phases of "
              f"{args.duration_s:g} s", flush=True)
        if origin.get("test_models") or origin.get("reduced"):
            print("bench_nodes: note: this is a reduced/test model set; its timings are not the README's figures",
                  flush=True)
        result = {"benchmark": "nodes", "quick": args.quick, "models": model_source, "models_origin": origin,
                  "machine": {
            "cpus": psutil.cpu_count(), "python": platform.python_version(), "load_avg_1m": psutil.getloadavg()[0]}}
        with NodeProcess("cloud", ["--models", str(models_dir), "--threads", "1"], log_dir=tmp / "cloud") as cloud, \
                NodeProcess("edge", ["--cloud", cloud.url, "--threads", "1", "--keep-objects", "0"],
                            log_dir=tmp / "edge") as edge:
            edge_proc = psutil.Process(edge.pid)

            async def overhead_phase():
                async with InferenceClient(ClientSettings(url=edge.url, model="edgecnn", timeout_s=60)) as client:
                    out = {}
                    for size_bytes, jpeg in images:
                        await closed_loop(client, [(size_bytes, jpeg)], 3, run_id="warm")
                        rows = await closed_loop(client, [(size_bytes, jpeg)], args.requests, run_id="ovh")
                        out[size_bytes] = breakdown(rows)
                    return out

            overhead = asyncio.run(overhead_phase())
            result["overhead"] = {}
            for size_bytes, summary in overhead.items():
                goal = GOALS_PROTOCOL_MS.get(size_bytes)
                summary["goal_protocol_ms"] = goal
                summary["protocol_goal_met"] = summary["protocol_ms"]["median"] < goal if goal else None
                result["overhead"][f"{size_bytes // 1024}K"] = summary

            jpeg_60k = images[0][1]
            cpu_before = sum(edge_proc.cpu_times()[:2])
            rows, elapsed_s = asyncio.run(concurrent_load(edge.url, jpeg_60k, args.clients, args.duration_s, "tp"))
            cpu_s = sum(edge_proc.cpu_times()[:2]) - cpu_before
            ok = [r for r in rows if r["status"] == 200]
            summary = breakdown(rows)
            mean_response = summary["response_ms"]["mean"]
            result["throughput"] = {
                "clients": args.clients, "image": "60K", "duration_s": round(elapsed_s, 2),
                "requests_per_s": round(len(ok) / elapsed_s, 1), "failed": summary["failed"],
                "edge_cpu_ms_per_request": round(cpu_s * 1e3 / max(1, len(ok)), 3),
                "share_of_response_time": {
                    "decode": round(summary["decode_ms"]["mean"] / mean_response, 3),
                    "inference": round(summary["inference_ms"]["mean"] / mean_response, 3),
                    "upload": round(summary["upload_ms"]["mean"] / mean_response, 3),
                    "waiting_for_worker": round(summary["queue_ms"]["mean"] / mean_response, 3),
                    "protocol": round(summary["protocol_ms"]["mean"] / mean_response, 3)},
                "breakdown": summary}

            statuses: list[int] = []
            stop = threading.Event()

            def swapper():
                names = [swap_to, "edgecnn1-3"]
                i = 0
                while not stop.wait(0.5):
                    statuses.append(post_swap(edge.url, names[i % 2]))
                    i += 1

            thread = threading.Thread(target=swapper)
            thread.start()
            try:
                swap_rows, _ = asyncio.run(concurrent_load(edge.url, jpeg_60k, args.clients,
                                                           min(args.duration_s, 5.0), "swap"))
            finally:
                stop.set()
                thread.join()
            swap_summary = breakdown(swap_rows)
            result["hot_swap_under_load"] = {
                "swaps": len(statuses), "swaps_ok": statuses.count(200), "requests": len(swap_rows),
                "failed": swap_summary["failed"],
                "models_seen": sorted({r["served_by_model"] for r in swap_rows if r["status"] == 200}),
                "p99_response_ms": swap_summary["response_ms"]["p99"],
                "p99_response_ms_without_swaps": summary["response_ms"]["p99"],
                "max_response_ms": round(max(ms(r["reply_complete_ns"] - r["send_start_ns"])
                                             for r in swap_rows if r["status"] == 200), 3)}
            fetches = [json.loads(x) for x in (tmp / "edge" / "fetches.jsonl").read_text().splitlines()]
            result["model_download_ms"] = {f["name"]: f["duration_ms"] for f in fetches if f["verified"]}

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"models: {model_source}")
    print(f"{'size':>6} {'response':>9} {'upload':>8} {'decode':>8} {'infer':>7} {'overhead':>9} {'protocol':>9}  goal")
    for size, s in result["overhead"].items():
        print(f"{size:>6} {s['response_ms']['median']:>9.3f} {s['upload_ms']['median']:>8.3f} "
              f"{s['decode_ms']['median']:>8.3f} {s['inference_ms']['median']:>7.3f} {s['overhead_ms']['median']:>9.3f} "
              f"{s['protocol_ms']['median']:>9.3f}  <{s['goal_protocol_ms']} ms: "
              f"{'met' if s['protocol_goal_met'] else 'NOT met'}   (medians, ms)")
    t = result["throughput"]
    print(f"throughput: {t['requests_per_s']} req/s with {t['clients']} clients x 60K, failed {t['failed']}, "
          f"edge CPU {t['edge_cpu_ms_per_request']} ms/request; share of response time: {t['share_of_response_time']}")
    h = result["hot_swap_under_load"]
    print(f"hot swap: {h['swaps_ok']}/{h['swaps']} swaps, {h['failed']} failed of {h['requests']} requests, "
          f"p99 {h['p99_response_ms']} ms (without swaps {h['p99_response_ms_without_swaps']} ms), "
          f"models {h['models_seen']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
