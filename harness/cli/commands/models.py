"""`models`: build, train and export the default model set into the cache (``python -m models build``)."""
from __future__ import annotations

import argparse

from harness.cli.help_text import add_command, examples_block


EXAMPLES = [
    "python harness/run.py models",
    "python harness/run.py models --dataset fashion --force   # Debian's Fashion-MNIST, no --data needed",
]


def add_parser(sub) -> None:
    parser = add_command(
        sub, "models", summary="build, train and export the default model set (cached)",
        description="Train CloudCNN, EdgeCNN0/1-k, the PCA and autoencoder encoders and their classifiers on the "
                    "embedded data set (or --data DIR --dataset NAME), export them to ONNX in .cache/models, and "
                    "reuse them while the inputs are unchanged. Options are those of 'python -m models build --help'.",
        examples=EXAMPLES, add_help=False)
    parser.add_argument("-h", "--help", action="store_true", help="show the options of the model build")
    parser.add_argument("build_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def run(args) -> int:
    from models.__main__ import main as models_main

    argv = ["build", *args.build_args]
    if args.help:
        argv.append("--help")
    try:
        return int(models_main(argv) or 0)
    except SystemExit as done:  # argparse's --help and usage errors
        if args.help:
            print(f"\n{examples_block(EXAMPLES)}")  # the model build's options, then this command's examples
        return int(done.code or 0)
