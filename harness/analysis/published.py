"""Every published figure this testbed is set beside, of both systems (shared/SEEDS.md), as data only.

System B (cloud-edge collaboration, EdgeCNN assisted by CloudCNN): the edge-vs-cloud latency reductions
of its prototype (LTE uplink 8 Mbit/s, downlink 10.9 Mbit/s; WiFi 72 Mbit/s each way; edge server an
i5-4590 next to the base station, cloud a 16-core public-cloud VM) and the EdgeCNN0-k vs EdgeCNN1-k
accuracies. System A (edge learning, feature extraction at the edge): traffic and latency reductions and
the training speed-up. The code that compares a run with them lives beside the run's analysis
(``harness.analysis.published_compare``, ``harness.experiments.collaborate.report``, ``harness.experiments.features.report``).
"""
from __future__ import annotations

from dataclasses import dataclass

PUBLISHED_SOURCE = "System B (cloud-edge collaboration, EdgeCNN assisted by CloudCNN), SEEDS.md"
PROTOTYPE_HARDWARE = "edge i5-4590, cloud 16-core Xeon VM"


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


# System B: (edge - cloud) / cloud in percent of a median time.
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

# System B: accuracy (%) of EdgeCNN0-k vs EdgeCNN1-k: (data set, k, labelled images, EdgeCNN0, EdgeCNN1).
PUBLISHED_ACCURACY = (("MNIST", 3, 120, 74.36, 83.12), ("MNIST", 3, 1200, 93.46, 95.47),
                      ("Fashion-MNIST", 3, 120, 58.61, 75.77), ("Fashion-MNIST", 3, 1200, 78.77, 86.00),
                      ("CIFAR-10", 10, 500, None, None))
PUBLISHED_CIFAR_GAIN_POINTS = 26.70   # CIFAR-10, k = 10, 500 labelled images: EdgeCNN1-10 above EdgeCNN0-10

# System A
PUBLISHED_REDUCTION_PCT = {"pca": (60, 70), "autoencoder": (63, 72)}   # WAN traffic, raw vs features
PUBLISHED_LATENCY_CHANGE_PCT = -69
PUBLISHED_TRAFFIC_CHANGE_PCT = -80
PUBLISHED_TRAINING_FASTER_PCT = 65
PUBLISHED_RAW_IMAGE_BYTES = 1_089_000_000 // 100_000                 # ~11 KB face crops

# System B, the rest of its figures (issue 12's scorecard: harness.experiments.reproduce.catalogue)
PUBLISHED_CLOUDCNN_ACCURACY = {"MNIST": 99.48, "CIFAR-10": 87.80, "Fashion-MNIST": 93.50}   # test accuracy, %
PUBLISHED_FASHION_60000_EDGECNN1 = {3: 93.15, 5: 93.30, 10: 93.09}   # EdgeCNN1-k at 60,000 images, %
PUBLISHED_TRAIN_TIME_CHANGE_PCT = {("Fashion-MNIST", 3): -45.47, ("MNIST", 10): -45.15,
                                   ("CIFAR-10", 10): -86.57}         # EdgeCNN1-k vs EdgeCNN0-k wall time
PUBLISHED_INFERENCE_2000_CHANGE_PCT = {5: -23.28, 10: -51.87}       # EdgeCNN1-3 vs EdgeCNN1-k, 2,000 images

# System A, the rest of its figures
PUBLISHED_ACCURACY_GAP_15_EPOCHS_POINTS = -10   # edge learning vs cloud-only at 15 epochs, 60,000 images ("~10")
PUBLISHED_PCA_GAP_200_EPOCHS_POINTS = 0         # at 200 epochs "PCA matches cloud-only accuracy"
