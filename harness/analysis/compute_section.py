"""The report's lines on the nodes' compute: what each node was given (its node profile) and what it really got
(CPU quota and cgroup or why none, ONNX Runtime threads and provider, speed factor or latency profile with its
sha256), and how often a latency profile could not be honoured because this machine was slower than the sample.

Reads experiment.json's ``compute`` (harness.orchestration.node_processes.compute_records) and the nodes'
``timings.jsonl`` (``inference_compute_ns``, ``inference_target_ns``, ``compute_honoured``: nodes.inference_pacing).
"""
from __future__ import annotations

import json
from pathlib import Path

from harness.analysis.report_sections import table


def _quota(quota: dict) -> str:
    capped = f" ({quota['capped']})" if quota.get("capped") else ""
    if not quota.get("applied"):
        return f"not applied: {quota.get('why', '?')}{capped}"
    throttled = (f", {quota['throttled_periods']} of {quota['periods']} periods throttled"
                 if "periods" in quota else "")
    return f"{quota['cpus']:g} cores ({quota['cgroup_version']} {quota['cgroup']}){throttled}{capped}"


def _pacing(node: dict) -> str:
    profile = node.get("latency_profile")
    if profile:
        return f"latency profile {Path(profile['path']).name} (sha256 {profile['sha256'][:12]}; {profile['hardware']})"
    factor = node.get("speed_factor", 1.0)
    return f"speed factor {factor:g}" if factor != 1.0 else "none (this machine's speed)"


def paced_stats(timings: Path) -> dict:
    """Paced inferences in a node's timings.jsonl: count, not honoured, and the excess of those (ms)."""
    paced, excess = 0, []
    try:
        lines = timings.read_text().splitlines()
    except OSError:
        return {}
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "inference_target_ns" not in record:
            continue
        paced += 1
        if record.get("compute_honoured") is False:
            excess.append((record["inference_compute_ns"] - record["inference_target_ns"]) / 1e6)
    excess.sort()
    return {"paced": paced, "not_honoured": len(excess),
            "excess_median_ms": excess[len(excess) // 2] if excess else None,
            "excess_max_ms": excess[-1] if excess else None}


def _honoured(stats: dict) -> str:
    if not stats or not stats["paced"]:
        return "no paced inference"
    if not stats["not_honoured"]:
        return f"all {stats['paced']} honoured"
    return (f"{stats['not_honoured']} of {stats['paced']} not honoured (this machine slower than the profile by "
            f"{stats['excess_median_ms']:.2f} ms median, {stats['excess_max_ms']:.2f} ms max)")


def compute_section(run_dir: Path, record: dict) -> list[str]:
    compute = record.get("compute") or {}
    if not compute:
        return []
    out = ["## Compute of the nodes", ""]
    rows = []
    for access, entry in compute.items():
        profile = entry.get("node_profile") or {}
        for name, node in (entry.get("nodes") or {}).items():
            got = node.get("node") or {}
            models = got.get("models") or {}
            threads = sorted({str(m.get("threads")) for m in models.values()}) or ["?"]
            providers = sorted({m.get("provider", "?") for m in models.values()}) or ["?"]
            stats = paced_stats(run_dir / "logs" / access / name / "timings.jsonl")
            rows.append([access, name, node["given"].get("hardware") or profile.get("name", "?"),
                         _quota(node.get("quota") or {}), ", ".join(threads), ", ".join(providers),
                         _pacing(got) if "error" not in got else got["error"], _honoured(stats)])
    names = sorted({(e.get("node_profile") or {}).get("name", "?") for e in compute.values()})
    out += [f"Node profile: {', '.join(names)} (nodes/node_profiles/; flags --node-profile, --edge-cpus, ...). "
            "A latency profile that is not honoured is a limit of this testbed: the emulated hardware is faster "
            "than this machine could run the model.", "",
            table(["access", "node", "stands for", "CPU quota", "ORT threads", "provider", "pacing",
                   "profile honoured"], rows), ""]
    return out
