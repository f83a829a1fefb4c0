"""The seeds' node profiles from this host's measured times and the cited ratios (bench_compute.py writes them).

CPU nodes slower than this host get a speed factor (ratio of PassMark single-thread ratings) and a CPU quota of
their cores in this host's cores (cores x rating ratio; the harness caps it at the cores this machine has). GPU
nodes get a latency profile: this host's measured samples scaled to the GPU's FP32 peak, plus a launch floor.
"""
from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NODE_PROFILES = REPO / "nodes" / "node_profiles"
LATENCY_PROFILES = REPO / "nodes" / "latency_profiles"
PASSMARK = "PassMark single-thread rating, cpubenchmark.net (transcribed by hand, not re-checked from this machine)"

# name -> (single-thread rating, physical cores, source); the host's row is the closest match to what this VM
# reports (AMD family 25 model 1 = Zen 3 "Milan"; 2.45 GHz = the EPYC 7763's base clock, per AMD's specification).
CITED_CPUS = {
    "host": (2550, None, f"AMD EPYC 7763 (assumed: this VM's CPU, family 25 model 1, 2.45 GHz): {PASSMARK}"),
    "i5-4590": (2137, 4, f"Intel Core i5-4590, 4 cores / 4 threads, 3.3-3.7 GHz: {PASSMARK}"),
    "xeon-vm": (1850, 16, "16 Xeon cores of a public-cloud VM (SEEDS, System B; model not given): assumed a Broadwell "
                          f"Xeon E5-2680 v4 (2.4-3.3 GHz), the era's common cloud part: {PASSMARK}"),
    "i7-3770": (2070, 4, f"Intel Core i7-3770, 4 cores / 8 threads, 3.4-3.9 GHz: {PASSMARK}"),
    "i7-6850K": (2237, 6, f"Intel Core i7-6850K, 6 cores / 12 threads, 3.6-4.0 GHz: {PASSMARK}"),
}
# name -> (CUDA cores, base clock MHz, source): FP32 peak = cores x clock x 2 (one FMA per core per cycle)
CITED_GPUS = {
    "gtx960": (1024, 1127, "NVIDIA GeForce GTX 960 specifications: 1024 CUDA cores, 1127 MHz base clock"),
    "gtx1080ti": (3584, 1480, "NVIDIA GeForce GTX 1080 Ti specifications: 3584 CUDA cores, 1480 MHz base clock"),
}
ASSUMED = {
    "gpu_efficiency": (0.25, "fraction of FP32 peak a GPU reaches on these small (32x32) convolutions; this host's "
                             "one-thread sgemm stands for the CPU's reach"),
    "launch_us_per_kernel": (10.0, "GPU kernel launch + ONNX Runtime CUDA EP overhead per compute node, microseconds"),
    "copy_us": (20.0, "host-to-device and device-to-host copies of one small batch, microseconds"),
}


def _cpu_budget(cpu: str, host_rating: float, threads: int | None = None) -> dict:
    rating, cores, _ = CITED_CPUS[cpu]
    return {"cpus": round(cores * rating / host_rating, 2), "threads": threads or cores,
            "speed_factor": round(max(1.0, host_rating / rating), 3)}


def _gpu_samples(measured: dict, gpu: str, host_gflops: float) -> dict:
    cores, clock_mhz, _ = CITED_GPUS[gpu]
    peak_gflops = cores * clock_mhz * 2 / 1e3
    scale = host_gflops / (peak_gflops * ASSUMED["gpu_efficiency"][0])
    models = {}
    for name, by_batch in measured["models"].items():
        floor_ms = (measured["kernels"][name] * ASSUMED["launch_us_per_kernel"][0] + ASSUMED["copy_us"][0]) / 1e3
        models[name] = {str(b): [round(floor_ms + ms * scale, 4) for ms in samples] for b, samples in by_batch.items()}
    return {"peak_gflops": round(peak_gflops, 1), "scale": scale, "models": models}


def _write_latency(name: str, hardware: str, gpu: str, host: dict, host_gflops: float, measured: dict) -> str:
    scaled = _gpu_samples(measured, gpu, host_gflops)
    doc = {"format": "ect-latency-profile/1", "hardware": hardware,
           "basis": (f"this host's measured ONNX Runtime CPU times (1 thread; {host.get('model_name', '?')}, "
                     f"one-thread sgemm {host_gflops:.1f} GFLOPS) x {scaled['scale']:.5f} (= sgemm / (FP32 peak "
                     f"{scaled['peak_gflops']} GFLOPS x efficiency {ASSUMED['gpu_efficiency'][0]})) + a launch floor "
                     f"of {ASSUMED['launch_us_per_kernel'][0]:g} us per compute node + {ASSUMED['copy_us'][0]:g} us "
                     "of copies. Scaled, not measured: no such GPU was available."),
           "sources": [CITED_GPUS[gpu][2], *(f"assumed {k} = {v[0]:g}: {v[1]}" for k, v in ASSUMED.items())],
           "models": scaled["models"]}
    LATENCY_PROFILES.mkdir(parents=True, exist_ok=True)
    (LATENCY_PROFILES / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    return name


def _toml_value(value) -> str:
    return json.dumps(value) if isinstance(value, str) else (f"{value:g}" if isinstance(value, float) else str(value))


def _write_node_profile(name: str, description: str, nodes: dict, comments: list[str]) -> dict:
    lines = [f"# Node profile {name}: written by benchmarks/bench_compute.py from this host's measurement and the",
             "# cited ratios below; re-run it on another host rather than editing numbers by hand.", "#"]
    lines += [f"# {c}" for c in comments]
    lines += ["", f"name = {json.dumps(name)}", f"description = {json.dumps(description)}"]
    for node, table in nodes.items():
        lines += ["", f"[{node}]"] + [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    NODE_PROFILES.mkdir(parents=True, exist_ok=True)
    (NODE_PROFILES / f"{name}.toml").write_text("\n".join(lines) + "\n")
    return {node: {k: v for k, v in t.items() if k not in ("basis",)} for node, t in nodes.items()}


def write_profiles(host: dict, host_gflops: float, measured: dict) -> dict:
    """Write system-b.toml, system-a.toml and the two GPU latency profiles; return what was written."""
    host_rating = CITED_CPUS["host"][0]
    sources = [f"{k}: {v[2]}" for k, v in CITED_CPUS.items()]
    host_line = (f"host: {host.get('model_name', '?')} family {host.get('cpu_family', '?')} model "
                 f"{host.get('model', '?')}, {host['cpus']} CPUs, bogomips {host.get('bogomips', '?')}")
    rule = ("speed_factor = host rating / node rating (>= 1); cpus = node cores x node rating / host rating "
            "(capped by the harness at this machine's cores); threads = the node's cores (capped at the quota)")
    written = {}
    b_edge, b_cloud = _cpu_budget("i5-4590", host_rating), _cpu_budget("xeon-vm", host_rating)
    written["system-b"] = _write_node_profile(
        "system-b", "System B (SEEDS): edge i5-4590 (4 cores, 12 GB), cloud a 16-Xeon-core public-cloud VM",
        {"edge": {"hardware": "Intel Core i5-4590, 4 cores, 12 GB (System B edge)", **b_edge,
                  "basis": f"PassMark single-thread {host_rating} (host) / {CITED_CPUS['i5-4590'][0]} (i5-4590)"},
         "cloud": {"hardware": "public-cloud VM, 16 Xeon cores, 16 GB (System B cloud)", **b_cloud,
                   "basis": f"PassMark single-thread {host_rating} (host) / {CITED_CPUS['xeon-vm'][0]} (Xeon VM)"}},
        [host_line, rule, *sources])
    a_edge = _write_latency("system-a-edge", "GTX 960 in an i7-3770 desktop (System A edge)", "gtx960", host,
                            host_gflops, measured)
    a_cloud = _write_latency("system-a-cloud", "one of the two GTX 1080 Ti of an i7-6850K (System A cloud)",
                             "gtx1080ti", host, host_gflops, measured)
    edge_cpu, cloud_cpu = _cpu_budget("i7-3770", host_rating), _cpu_budget("i7-6850K", host_rating)
    written["system-a"] = _write_node_profile(
        "system-a", "System A (SEEDS): edge i7-3770 + GTX 960, cloud i7-6850K + 2x GTX 1080 Ti; inference on the GPU",
        {"edge": {"hardware": "Intel Core i7-3770 + GeForce GTX 960, 16 GB (System A edge)",
                  "cpus": edge_cpu["cpus"], "threads": edge_cpu["threads"], "latency_profile": a_edge,
                  "basis": "inference: the GPU latency profile; cpus: the i7-3770 (decoding stays on the CPU)"},
         "cloud": {"hardware": "Intel Core i7-6850K + 2x GeForce GTX 1080 Ti (System A cloud)",
                   "cpus": cloud_cpu["cpus"], "threads": cloud_cpu["threads"], "latency_profile": a_cloud,
                   "basis": "inference: one GTX 1080 Ti's latency profile; cpus: the i7-6850K"}},
        [host_line, rule, "GPU nodes: nodes/latency_profiles/system-a-*.json say how their times were scaled",
         *sources, *(f"{k}: {v[2]}" for k, v in CITED_GPUS.items())])
    return written
