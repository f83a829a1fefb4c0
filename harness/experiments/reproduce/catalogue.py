"""Every published figure of SEEDS.md as data: what the scorecard sets each part's ``Measured`` beside.

The numbers come from ``harness.analysis.published`` (one source of published figures); this module adds what
the scorecard needs to judge them: the part that measures the figure, its unit, what "direction reproduced"
means for it (a sign, or an order against another figure), and its tolerance (10 % relative unless said).
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.analysis import published as pub

STRIDE_SUFFIX = "@stride1"   # the literal spec's variant (EdgeCNN max-pool stride 1) of a figure: an extra row
TOLERANCE_REL = 0.10
PARTS = ("system_b_models", "system_b_network", "system_a")
RELATIONS = ("<", ">", ">=")


@dataclass(frozen=True)
class Direction:
    """The claim the figure supports: ``ours RELATION than`` (a number, or another figure's key)."""
    relation: str
    than: float | str
    words: str

    def __post_init__(self):
        if self.relation not in RELATIONS:
            raise ValueError(f"direction {self.words!r}: relation {self.relation!r} is not one of {RELATIONS}")

    def holds(self, ours: float, other: float) -> bool:
        return {"<": ours < other, ">": ours > other, ">=": ours >= other}[self.relation]


@dataclass(frozen=True)
class PublishedFigure:
    key: str
    system: str                                   # "A" or "B"
    part: str                                     # the reproduce part that measures it
    what: str                                     # the figure in words
    unit: str
    published: float | None = None                # a point value ...
    published_range: tuple[float, float] | None = None   # ... or a range; neither: a direction only
    direction: Direction | None = None
    tolerance_rel: float = TOLERANCE_REL
    tolerance_abs: float | None = None            # for figures published at ~0, where relative means nothing

    def __post_init__(self):
        if self.system not in ("A", "B") or self.part not in PARTS:
            raise ValueError(f"figure {self.key}: system {self.system!r} / part {self.part!r} unknown")
        if self.published is not None and self.published_range is not None:
            raise ValueError(f"figure {self.key}: a point value or a range, not both")
        if self.published_range is not None and not self.published_range[0] <= self.published_range[1]:
            raise ValueError(f"figure {self.key}: range {self.published_range} is not low..high")
        if self.direction is None:
            raise ValueError(f"figure {self.key}: every figure says what its direction is")
        if self.published is None and self.published_range is None and self.tolerance_abs is not None:
            raise ValueError(f"figure {self.key}: a direction-only figure has no tolerance")

    def published_text(self) -> str:
        if self.published_range is not None:
            return f"{_num(self.published_range[0])}..{_num(self.published_range[1])}"
        if self.published is None:
            return self.direction.words
        return _num(self.published)

    def tolerance_text(self) -> str:
        if self.published is None and self.published_range is None:
            return "direction"
        if self.tolerance_abs is not None:
            unit = self.unit[:-1] if self.tolerance_abs == 1 and self.unit.endswith("s") else self.unit
            return f"±{_num(self.tolerance_abs)} {unit}".rstrip()
        return f"±{self.tolerance_rel * 100:g}% rel"


def _num(value: float) -> str:
    return f"{value:.2f}" if value != int(value) else f"{int(value)}"


def _acc_figures() -> list[PublishedFigure]:
    """Table 3 (EdgeCNN0-3 vs EdgeCNN1-3) and the CIFAR-10 gain."""
    names = {"MNIST": "mnist", "Fashion-MNIST": "fashion"}
    out = []
    for dataset, k, size, edge0, edge1 in pub.PUBLISHED_ACCURACY:
        if dataset not in names:
            continue
        base = f"b.{names[dataset]}.k{k}.n{size}"
        for which, value, relation, other in (("edge0", edge0, "<", "edge1"), ("edge1", edge1, ">", "edge0")):
            model = f"EdgeCNN{which[-1]}-{k}"
            what = f"{model} test accuracy, {dataset}, {size:,} labelled images"
            order = Direction(relation, f"{base}.{other}", f"EdgeCNN1-{k} above EdgeCNN0-{k} at {size:,} images")
            out.append(PublishedFigure(f"{base}.{which}", "B", "system_b_models", what, "%", value, direction=order))
    out.append(PublishedFigure(
        "b.cifar10.k10.n500.gain", "B", "system_b_models",
        "EdgeCNN1-10 minus EdgeCNN0-10 accuracy, CIFAR-10, 500 images", "points", pub.PUBLISHED_CIFAR_GAIN_POINTS,
        direction=Direction(">", 0.0, "EdgeCNN1-10 above EdgeCNN0-10")))
    return out


def _system_b_models() -> list[PublishedFigure]:
    cloud = pub.PUBLISHED_CLOUDCNN_ACCURACY
    out = [
        PublishedFigure("b.cloudcnn.fashion.acc", "B", "system_b_models", "CloudCNN test accuracy, Fashion-MNIST", "%",
                        cloud["Fashion-MNIST"], direction=Direction(">", "b.fashion.n60000.edge1-3",
                                                                    "CloudCNN above EdgeCNN1-3 at 60,000 images")),
        PublishedFigure("b.cloudcnn.mnist.acc", "B", "system_b_models", "CloudCNN test accuracy, MNIST", "%",
                        cloud["MNIST"], direction=Direction(">", "b.mnist.k3.n1200.edge1",
                                                            "CloudCNN above EdgeCNN1-3 at 1,200 images")),
        PublishedFigure("b.cloudcnn.cifar10.acc", "B", "system_b_models", "CloudCNN test accuracy, CIFAR-10", "%",
                        cloud["CIFAR-10"], direction=Direction(">", 10.0, "above chance (10%)")),
        *_acc_figures(),
    ]
    for k, value in pub.PUBLISHED_FASHION_60000_EDGECNN1.items():
        out.append(PublishedFigure(f"b.fashion.n60000.edge1-{k}", "B", "system_b_models",
                                   f"EdgeCNN1-{k} test accuracy, Fashion-MNIST, 60,000 images", "%", value,
                                   direction=Direction("<", "b.cloudcnn.fashion.acc", "below CloudCNN")))
    names = {"Fashion-MNIST": "fashion", "MNIST": "mnist", "CIFAR-10": "cifar10"}
    for (dataset, k), value in pub.PUBLISHED_TRAIN_TIME_CHANGE_PCT.items():
        out.append(PublishedFigure(f"b.train_time.{names[dataset]}.k{k}", "B", "system_b_models",
                                   f"training time, EdgeCNN1-{k} vs EdgeCNN0-{k}, {dataset}", "% change", value,
                                   direction=Direction("<", 0.0, "EdgeCNN1 trains faster")))
    for k, value in pub.PUBLISHED_INFERENCE_2000_CHANGE_PCT.items():
        out.append(PublishedFigure(f"b.inference2000.k3_vs_k{k}", "B", "system_b_models",
                                   f"inference over 2,000 test images, EdgeCNN1-3 vs EdgeCNN1-{k}", "% change", value,
                                   direction=Direction("<", 0.0, "EdgeCNN1-3 faster")))
    return out


def _system_b_network() -> list[PublishedFigure]:
    keys = {"lte_response_60k": "b.lte.response.60k", "lte_upload_512k": "b.lte.upload.512k",
            "lte_inference_60k": "b.lte.inference.60k", "wifi_response": "b.wifi.response"}
    return [PublishedFigure(keys[p.key], "B", "system_b_network", p.what, "% change", p.change_pct,
                            direction=Direction("<", 0.0, "edge faster than cloud")) for p in pub.PUBLISHED]


def _system_a() -> list[PublishedFigure]:
    pca, ae = pub.PUBLISHED_REDUCTION_PCT["pca"], pub.PUBLISHED_REDUCTION_PCT["autoencoder"]
    less = Direction(">", 0.0, "features carry less traffic than raw images")
    return [
        PublishedFigure("a.traffic_cut.pca", "A", "system_a", "edge->cloud traffic cut, PCA features vs raw images",
                        "%", published_range=(float(pca[0]), float(pca[1])), direction=less),
        PublishedFigure("a.traffic_cut.autoencoder", "A", "system_a",
                        "edge->cloud traffic cut, autoencoder features vs raw images", "%",
                        published_range=(float(ae[0]), float(ae[1])), direction=less),
        PublishedFigure("a.latency_change", "A", "system_a", "inference latency, edge learning vs cloud-only",
                        "% change", float(pub.PUBLISHED_LATENCY_CHANGE_PCT),
                        direction=Direction("<", 0.0, "edge learning answers faster")),
        PublishedFigure("a.traffic_change", "A", "system_a", "network traffic, edge learning vs cloud-only",
                        "% change", float(pub.PUBLISHED_TRAFFIC_CHANGE_PCT),
                        direction=Direction("<", 0.0, "edge learning sends less")),
        PublishedFigure("a.training_faster", "A", "system_a", "training at 15 epochs, edge learning faster by",
                        "%", float(pub.PUBLISHED_TRAINING_FASTER_PCT),
                        direction=Direction(">", 0.0, "edge learning trains faster")),
        PublishedFigure("a.accuracy_gap.15_epochs", "A", "system_a",
                        "accuracy at 15 epochs, edge learning minus cloud-only, 60,000 images", "points",
                        float(pub.PUBLISHED_ACCURACY_GAP_15_EPOCHS_POINTS),
                        direction=Direction("<", 0.0, "edge learning less accurate")),
        PublishedFigure("a.pca_matches.200_epochs", "A", "system_a",
                        "accuracy at 200 epochs, PCA minus cloud-only", "points",
                        float(pub.PUBLISHED_PCA_GAP_200_EPOCHS_POINTS), tolerance_abs=1.0,
                        direction=Direction(">=", -2.0, "PCA within 2 points of cloud-only, or above")),
        PublishedFigure("a.accuracy_rises_with_dim", "A", "system_a",
                        "accuracy vs feature dimension (Spearman rho)", "rho",
                        direction=Direction(">", 0.0, "rises (rho > 0)")),
    ]


CATALOGUE: tuple[PublishedFigure, ...] = (*_system_b_models(), *_system_b_network(), *_system_a())
BY_KEY = {f.key: f for f in CATALOGUE}
if len(BY_KEY) != len(CATALOGUE):
    raise ValueError("the catalogue holds a key twice")


def base_key(key: str) -> str:
    """The catalogue key of a measured key: ``b.fashion.k3.n120.edge1@stride1`` -> ``b.fashion.k3.n120.edge1``."""
    return key[:-len(STRIDE_SUFFIX)] if key.endswith(STRIDE_SUFFIX) else key


def figures_of(part: str) -> list[PublishedFigure]:
    return [f for f in CATALOGUE if f.part == part]
