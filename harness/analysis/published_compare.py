"""Our edge-vs-cloud reductions beside System B's published ones, each with a sentence computed from the run.

Ours = (edge - cloud) / cloud of the medians of summary.csv. Every sentence is made of this run's numbers
(medians, server times, network floors, the configured paths); nothing in it asserts a cause the run did
not measure. The published figures themselves are in ``harness.analysis.published``.
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.analysis.floor import PATH_LINKS, path_of, profile_for
from harness.analysis.published import PROTOTYPE_HARDWARE, PUBLISHED, PublishedReduction


@dataclass(frozen=True)
class Comparison:
    published: PublishedReduction
    ours_pct: float | None      # None: not measured
    size_bytes: int | None      # the size ours was taken at
    edge_ms: float | None
    cloud_ms: float | None
    explanation: str

    @property
    def difference_points(self) -> float | None:
        return None if self.ours_pct is None else self.ours_pct - self.published.change_pct


def _row(summary: list[dict], access: str, placement: str, size_bytes: int) -> dict | None:
    for row in summary:
        if row["access"] == access and row["placement"] == placement and row["size_bytes"] == size_bytes:
            return row
    return None


def change_pct(summary: list[dict], access: str, metric: str, size_bytes: int) -> tuple:
    """(edge - cloud) / cloud in % of the medians, with the two medians; Nones where not measured."""
    edge, cloud = _row(summary, access, "edge", size_bytes), _row(summary, access, "cloud", size_bytes)
    edge_ms = edge.get(f"{metric}_median") if edge else None
    cloud_ms = cloud.get(f"{metric}_median") if cloud else None
    if edge_ms is None or not cloud_ms:
        return None, edge_ms, cloud_ms
    return (edge_ms - cloud_ms) / cloud_ms * 100.0, edge_ms, cloud_ms


def _ratio(change: float) -> float:
    """cloud / edge time of a change (edge - cloud) / cloud in %."""
    return 1 / (1 + change / 100)


def _num(row: dict, key: str) -> float | None:
    value = row.get(key)
    return value if isinstance(value, (int, float)) else None


def _bigger_or_smaller(ours: float, published: float) -> str:
    return "a larger" if abs(ours) > abs(published) else "a smaller"


def _bottleneck(placement: str, access: str, profiles: dict, side: str = "up") -> str | None:
    """'<link> <rate>' of the slowest link of a path in one direction, from the profiles; None if unknown."""
    path, _ = path_of(placement, access, profiles)
    if path is None:
        return None
    slowest = None
    for name in PATH_LINKS[placement]:
        link = profile_for(access, profiles) if name == "access" else profiles.get(name)
        rate = ((link or {}).get(side) or {}).get("rate_bps")
        if rate and (slowest is None or rate < slowest[1]):
            slowest = (name, rate)
    return None if slowest is None else f"the {slowest[0]} {side}link ({slowest[1] / 1e6:g} Mbit/s)"


def _explain_response(summary, item: PublishedReduction, size: int, ours: float) -> str:
    edge, cloud = _row(summary, item.access, "edge", size), _row(summary, item.access, "cloud", size)
    diff = {m: None if _num(edge, f"{m}_median") is None or _num(cloud, f"{m}_median") is None
            else cloud[f"{m}_median"] - edge[f"{m}_median"] for m in ("upload_ms", "server_ms", "response_ms")}
    parts = {"upload": diff["upload_ms"], "server time": diff["server_ms"]}
    if diff["upload_ms"] is not None and diff["server_ms"] is not None:
        parts["the rest (reply, client, queueing)"] = diff["response_ms"] - diff["upload_ms"] - diff["server_ms"]
    known = {k: v for k, v in parts.items() if v is not None}
    text = f"Cloud minus edge median response: {diff['response_ms']:+.1f} ms"
    if known:
        text += " (" + ", ".join(f"{k} {v:+.1f} ms" for k, v in known.items()) + ")"
        largest = max(known, key=lambda k: abs(known[k]))
        text += f"; the largest part is the {largest}"
    floors = [_num(edge, "network_floor_ms"), _num(cloud, "network_floor_ms")]
    if None not in floors:
        text += (f". Network floors: edge {floors[0]:.1f} ms, cloud {floors[1]:.1f} ms (propagation "
                 f"{_num(edge, 'floor_propagation_ms') or 0:g} vs {_num(cloud, 'floor_propagation_ms') or 0:g} ms)")
    return (f"{text}. The cloud took {_ratio(ours):.2f}x the edge's time here, {_ratio(item.change_pct):.2f}x in "
            f"the published figure: ours is {_bigger_or_smaller(ours, item.change_pct)} reduction.")


def _explain_upload(summary, item: PublishedReduction, size: int, ours: float, profiles: dict) -> str:
    edge, cloud = _row(summary, item.access, "edge", size), _row(summary, item.access, "cloud", size)
    text = (f"The published figure means the prototype's cloud upload took {_ratio(item.change_pct):.2f}x its "
            f"edge upload; ours took {_ratio(ours):.2f}x.")
    bottlenecks = [_bottleneck(p, item.access, profiles) for p in ("edge", "cloud")]
    if None not in bottlenecks:
        same = " (the same link)" if bottlenecks[0] == bottlenecks[1] else ""
        text += (f" In this run's profiles the slowest uplink is {bottlenecks[0]} on the edge path and "
                 f"{bottlenecks[1]} on the cloud path{same}.")
    floors = [_num(edge, "upload_floor_ms"), _num(cloud, "upload_floor_ms")]
    if None not in floors and floors[0]:
        text += (f" Upload floors: edge {floors[0]:.1f} ms, cloud {floors[1]:.1f} ms ({floors[1] / floors[0]:.2f}x); "
                 f"measured medians {edge['upload_ms_median']:.1f} and {cloud['upload_ms_median']:.1f} ms.")
    return text


def _explain_inference(summary, item: PublishedReduction, size: int, edge_ms, cloud_ms, ours,
                       providers: dict) -> str:
    where = ", ".join(f"{k}: {v}" for k, v in sorted(providers.items())) or "providers not recorded"
    edge_model = (_row(summary, item.access, "edge", size) or {}).get("model") or "the edge model"
    cloud_model = (_row(summary, item.access, "cloud", size) or {}).get("model") or "the cloud model"
    return (f"Server-side medians: {edge_model} {edge_ms:.1f} ms (edge) vs {cloud_model} {cloud_ms:.1f} ms "
            f"(cloud), both servers on this one machine ({where}); the prototype ran them on different machines "
            f"({PROTOTYPE_HARDWARE}), so its figure mixes model depth with hardware. Ours is "
            f"{_bigger_or_smaller(ours, item.change_pct)} reduction.")


def compare_with_published(summary: list[dict], profiles: dict, providers: dict) -> list[Comparison]:
    """Each published figure beside ours, with a sentence computed from the run's numbers."""
    out = []
    for item in PUBLISHED:
        size = item.size_bytes
        if size is None:  # the seeds do not say: take 60K, the LTE figures' size, if it was measured
            sizes = sorted({r["size_bytes"] for r in summary if r["access"] == item.access})
            size = 60 * 1024 if 60 * 1024 in sizes or not sizes else sizes[0]
        ours, edge_ms, cloud_ms = change_pct(summary, item.access, item.metric, size)
        if ours is None:
            missing = [n for n, v in (("edge", edge_ms), ("cloud", cloud_ms)) if v is None]
            out.append(Comparison(item, None, size, edge_ms, cloud_ms,
                                  f"Not measured: this run has no {' or '.join(missing) or 'edge/cloud'} "
                                  f"{item.metric} at {size // 1024}K over {item.access}."))
            continue
        if item.metric == "response_ms":
            text = _explain_response(summary, item, size, ours)
            if item.size_bytes is None:
                others = [change_pct(summary, item.access, item.metric, r["size_bytes"])[0]
                          for r in summary if r["access"] == item.access and r["placement"] == "edge"]
                others = [o for o in others if o is not None]
                if len(others) > 1:
                    text = (f"Taken at {size // 1024}K (the seeds give no size); over all sizes ours spans "
                            f"{min(others):+.1f}% to {max(others):+.1f}%. ") + text
        elif item.metric == "upload_ms":
            text = _explain_upload(summary, item, size, ours, profiles)
        else:
            text = _explain_inference(summary, item, size, edge_ms, cloud_ms, ours, providers)
        out.append(Comparison(item, ours, size, edge_ms, cloud_ms, text))
    return out


def applicable(comparisons: list[Comparison], summary: list[dict]) -> list[Comparison]:
    """The comparisons whose access network this run measured with both an edge and a cloud placement."""
    both = {a for a in {r["access"] for r in summary}
            if {"edge", "cloud"} <= {r["placement"] for r in summary if r["access"] == a and r.get("ok")}}
    return [c for c in comparisons if c.published.access in both]
