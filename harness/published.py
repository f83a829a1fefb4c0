"""The published figures this testbed is compared against (shared/SEEDS.md, System B).

Each is a relative change, ``(edge - cloud) / cloud`` in percent, of a median time. System B's
prototype: LTE uplink 8 Mbit/s, downlink 10.9 Mbit/s; WiFi 72 Mbit/s each way; edge server an
i5-4590 next to the base station, cloud a 16-core public-cloud VM.
"""
from __future__ import annotations

from dataclasses import dataclass

PUBLISHED_SOURCE = "System B (cloud-edge collaboration, EdgeCNN assisted by CloudCNN), SEEDS.md"


@dataclass(frozen=True)
class PublishedReduction:
    key: str
    access: str
    metric: str                 # a requests.csv column: response_ms, upload_ms, inference_ms
    size_bytes: int | None      # None: the seeds do not say at which size
    change_pct: float           # negative = edge faster
    what: str                   # what is compared, in words

    def __post_init__(self):
        if self.metric not in ("response_ms", "upload_ms", "inference_ms"):
            raise ValueError(f"published figure {self.key}: unknown metric {self.metric!r}")


PUBLISHED = (
    PublishedReduction("lte_response_60k", "lte", "response_ms", 60 * 1024, -55.08,
                       "LTE response time at 60K, edge (EdgeCNN1-3) vs cloud (CloudCNN)"),
    PublishedReduction("lte_upload_512k", "lte", "upload_ms", 512 * 1024, -55.42,
                       "LTE upload time at 512K, edge vs cloud"),
    PublishedReduction("lte_inference_60k", "lte", "inference_ms", 60 * 1024, -37.68,
                       "inference time at 60K, EdgeCNN1-3 (edge) vs CloudCNN (cloud)"),
    PublishedReduction("wifi_response", "wifi", "response_ms", None, -40.26,
                       "WiFi response time, edge vs cloud (size not stated in the seeds)"),
)


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


def _wan(profiles: dict) -> tuple[float | None, float | None]:
    """(configured WAN RTT ms, WAN uplink Mbit/s) of the run."""
    wan = profiles.get("wan") or {}
    up, down = wan.get("up") or {}, wan.get("down") or {}
    if not up:
        return None, None
    rtt = float(up.get("delay_ms") or 0) + float(down.get("delay_ms") or 0)
    return rtt, (up["rate_bps"] / 1e6 if up.get("rate_bps") else None)


def _ms(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.1f} ms"


def _bigger_or_smaller(ours: float, published: float) -> str:
    return "a larger" if abs(ours) > abs(published) else "a smaller"


def _explain_response(summary, item: PublishedReduction, size: int, ours, profiles) -> str:
    edge, cloud = _row(summary, item.access, "edge", size), _row(summary, item.access, "cloud", size)
    parts = {}
    for metric in ("upload_ms", "inference_ms", "response_ms"):
        e, c = edge.get(f"{metric}_median"), cloud.get(f"{metric}_median")
        parts[metric] = None if e is None or c is None else c - e
    wan_rtt, wan_mbps = _wan(profiles)
    text = [f"Cloud minus edge median response here is {parts['response_ms']:.1f} ms"]
    split = []
    if parts["upload_ms"] is not None:
        split.append(f"upload {parts['upload_ms']:+.1f} ms")
    if parts["inference_ms"] is not None:
        split.append(f"inference {parts['inference_ms']:+.1f} ms")
    if parts["upload_ms"] is not None and parts["inference_ms"] is not None:
        split.append(f"reply and server overhead {parts['response_ms'] - parts['upload_ms'] - parts['inference_ms']:+.1f} ms")
    if split:
        text[0] += " (" + ", ".join(split) + ")"
    if wan_rtt is not None:
        text.append(f"the WAN profile adds {wan_rtt:g} ms of RTT" + (f" at {wan_mbps:g} Mbit/s" if wan_mbps else ""))
    cause = ("the prototype's path to its public cloud probably had more delay or less throughput than our WAN "
             "profile, and/or a larger inference gap" if abs(ours) < abs(item.change_pct) else
             "our WAN profile or this machine's inference gap penalises the cloud more than the prototype's did")
    return "; ".join(text) + f". Ours is {_bigger_or_smaller(ours, item.change_pct)} reduction: {cause}."


def _explain_upload(summary, item: PublishedReduction, size: int, ours, profiles) -> str:
    wan_rtt, wan_mbps = _wan(profiles)
    implied = 1 / (1 + item.change_pct / 100)
    wan = (f"our WAN ({wan_mbps:g} Mbit/s, {wan_rtt:g} ms RTT)" if wan_mbps and wan_rtt is not None
           else "our WAN profile")
    return (f"Both uploads cross the same access uplink; the cloud's adds only the WAN's RTT and TCP's window growth "
            f"over it. The published figure means the prototype's cloud upload took {implied:.2f}x its edge upload, "
            f"which implies a cloud path much slower than its access uplink; {wan} is not "
            f"(ours: {1 / (1 + ours / 100):.2f}x).")


def _explain_inference(summary, item: PublishedReduction, size: int, edge_ms, cloud_ms, ours, providers: dict) -> str:
    where = ", ".join(f"{k}: {v}" for k, v in sorted(providers.items())) or "providers not recorded"
    edge_model = (_row(summary, item.access, "edge", size) or {}).get("model") or "the edge model"
    cloud_model = (_row(summary, item.access, "cloud", size) or {}).get("model") or "the cloud model"
    return (f"Both servers run on this one machine ({where}), so only the models differ "
            f"({edge_model} {edge_ms:.1f} ms vs {cloud_model} {cloud_ms:.1f} ms, server-side). The prototype ran them on "
            f"different machines (edge i5-4590, cloud 16-core Xeon VM), so its figure mixes model depth with "
            f"hardware; ours is {_bigger_or_smaller(ours, item.change_pct)} reduction.")


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
            text = _explain_response(summary, item, size, ours, profiles)
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
