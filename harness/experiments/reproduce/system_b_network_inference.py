"""The LTE inference figure's pieces: what compute the nodes had, whether the time moves with the image size
(Spearman over the requests: the figure pools the sizes only when it does not), and the sentences that say so."""
from __future__ import annotations

import json
from pathlib import Path

from harness.analysis.published import PUBLISHED

BUDGET_NOTE = ("per-node compute budgets (issue 13: the prototype's i5-4590 edge vs a 16-core cloud VM) are not "
               "applied yet: both servers share this machine's CPUs")


def compute_note(run: Path | None) -> str:
    """What compute the LTE run's nodes were given (experiment.json's ``compute``), or that none was."""
    record = {}
    if run is not None:
        try:
            record = json.loads((run / "experiment.json").read_text()).get("compute") or {}
        except (OSError, ValueError):
            pass
    for access_record in record.values():
        nodes = access_record.get("nodes") or {}
        if nodes:
            profile = (access_record.get("node_profile") or {}).get("name") or "given settings"
            parts = [f"{name} {(n.get('given') or {}).get('hardware') or 'budgeted'} (speed factor "
                     f"{(n.get('given') or {}).get('speed_factor', 1):g}, {(n.get('given') or {}).get('cpus', 0):g} cpus)"
                     for name, n in sorted(nodes.items())]
            return f"per-node compute budgets applied (node profile {profile}: {'; '.join(parts)})"
    return BUDGET_NOTE


def fixed_cost_text(edge_ms: float, cloud_ms: float) -> str:
    """What per-request cost, the same on both nodes, would turn our inference ratio into the published one: the
    published -37.68 % (CloudCNN only 1.6x EdgeCNN1-3's time for ~50x its arithmetic) is what a per-call framework
    cost gives; ONNX Runtime's is a fraction of a millisecond."""
    published = next(p.change_pct for p in PUBLISHED if p.key == "lte_inference_60k")
    ratio = 1 + published / 100
    fixed = (ratio * cloud_ms - edge_ms) / (1 - ratio)
    if fixed <= 0:
        return ""
    return (f"; the published {published:+.2f}% would follow from these times if both nodes added the same "
            f"{fixed:.1f} ms to every request (a per-call framework cost, e.g. System B's Keras / TensorFlow "
            f"serving; the arithmetic alone makes CloudCNN the slower by far)")


SIZE_EFFECT_P = 0.05   # below it (Spearman, either node) the LTE inference is not pooled over the image sizes


def size_effect(cells: dict, access: str = "lte", metric: str = "inference_ms") -> dict:
    """Per placement, Spearman's rho (and p) of ``metric`` against the image size over every request of
    ``access``: pooling the sizes assumes there is none (the model input is the same resized tensor)."""
    from scipy.stats import spearmanr

    out = {}
    for placement in ("edge", "cloud"):
        pairs = [(size, v) for (a, pl, size, m), values in cells.items() if (a, pl, m) == (access, placement, metric)
                 for v in values]
        if len({size for size, _ in pairs}) >= 3 and len({v for _, v in pairs}) >= 2:
            result = spearmanr([size for size, _ in pairs], [v for _, v in pairs])
            out[placement] = {"rho": float(result.statistic), "p": float(result.pvalue), "n": len(pairs)}
    return out


def depends_on_size(effect: dict) -> bool:
    return any(e["p"] < SIZE_EFFECT_P for e in effect.values())


def inference_by_size(found: list, pooled=None, effect: dict | None = None) -> str:
    """How the LTE inference medians move with the image size (the model input is the same resized tensor, yet
    what ran just before on the shared CPUs differs: the upload, the decode), the size effect's test, and the
    change pooled over the sizes."""
    cells = sorted((x for x in found if x.access == "lte" and x.metric == "inference_ms"), key=lambda x: x.size_bytes)
    if len(cells) < 2:
        return ""
    first, last = cells[0], cells[-1]
    changes = [x.change_pct for x in cells]
    text = (f"; by image size EdgeCNN1-3 takes {first.edge_ms:.2f} ms at {first.size_bytes // 1024}K .. "
            f"{last.edge_ms:.2f} ms at {last.size_bytes // 1024}K and CloudCNN {first.cloud_ms:.2f} .. "
            f"{last.cloud_ms:.2f} ms, the change per size {min(changes):+.1f} .. {max(changes):+.1f}%")
    if effect:
        test = ", ".join(f"{p} rho {e['rho']:+.2f} (p {e['p']:.2g})" for p, e in effect.items())
        text += (f"; the time {'rises' if depends_on_size(effect) else 'does not move'} with the size (Spearman over "
                 f"the requests: {test})")
    if pooled is not None:
        text += (f", so the figure is the published size's alone (pooled over the {len(cells)} sizes: "
                 f"{pooled.change_pct:+.1f}%)" if effect and depends_on_size(effect) else
                 f", so the figure pools the {len(cells)} sizes (the 60K cell alone: {first.change_pct:+.1f}%)"
                 if effect else f" (pooled over the {len(cells)} sizes: {pooled.change_pct:+.1f}%)")
    return text
