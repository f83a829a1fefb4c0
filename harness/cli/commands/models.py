"""`models`: build, train and export the default model set into the cache (``python -m models build``), or
`models split FILE.onnx --at TENSOR`: cut a model into the head and tail of a ``split`` placement."""
from __future__ import annotations

import argparse

from harness.cli.help_text import add_command, examples_block
from harness.errors import HarnessError

EXAMPLES = [
    "python harness/run.py models",
    "python harness/run.py models --dataset fashion --force   # Debian's Fashion-MNIST, no --data needed",
    "python harness/run.py models split .cache/models/resnet18.onnx --at /0/stages/stages.3/Relu_1_output_0 --out split/",
]
SPLIT_EXAMPLES = [
    "python harness/run.py models split my.onnx --at TENSOR --out split/",
    "sudo python harness/run.py compare --placements split --split-head split/my-head.onnx "
    "--split-tail split/my-tail.onnx",
]


def add_parser(sub) -> None:
    parser = add_command(
        sub, "models", summary="build the default model set (cached), or split an ONNX model (models split)",
        description="Train CloudCNN, EdgeCNN0/1-k, the PCA and autoencoder encoders and their classifiers on the "
                    "embedded data set (or --data DIR --dataset NAME), export them and MobileNetV2 / ResNet-18 "
                    "(random weights) to ONNX in .cache/models, and reuse them while the inputs are unchanged. "
                    "Options are those of 'python -m models build --help'. 'models split FILE.onnx --at TENSOR "
                    "[--out DIR]' writes FILE-head.onnx and FILE-tail.onnx and checks head + tail == the whole "
                    "model on random inputs ('models split --help').",
        examples=EXAMPLES, add_help=False)
    parser.add_argument("-h", "--help", action="store_true", help="show the options of the model build")
    parser.add_argument("build_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def split_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python harness/run.py models split", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Cut FILE.onnx at one tensor (or the node producing it) with onnx.utils.extract_model into "
                    "FILE-head.onnx (the edge's part: the images in, the tensor out; it keeps the model's card) "
                    "and FILE-tail.onnx (the cloud's part), check tail(head(x)) == FILE(x) on random inputs, and "
                    "print the largest absolute difference. The pair is a split placement's models "
                    "(--split-head / --split-tail).", epilog=examples_block(SPLIT_EXAMPLES))
    parser.add_argument("file", metavar="FILE.onnx", help="the ONNX model to cut")
    parser.add_argument("--at", required=True, metavar="TENSOR_OR_NODE",
                        help="where to cut: a tensor that alone crosses the cut, or the node producing it")
    parser.add_argument("--out", metavar="DIR", help="folder for the two files (default: beside FILE)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the random check inputs")
    return parser


def run_split(argv: list[str]) -> int:
    from models.errors import ModelError
    from models.onnx_split import ATOL, RTOL, split_model

    args = split_parser().parse_args(argv)
    try:
        result = split_model(args.file, args.at, args.out, seed=args.seed)
    except ModelError as exc:
        raise HarnessError(str(exc)) from None
    print(f"head: {result.head_path}")
    print(f"tail: {result.tail_path}")
    print(f"cut at {result.tensor}: {list(result.cut_shape)} per image, {result.cut_bytes_per_image:,d} bytes "
          "from the edge to the cloud")
    verdict = "equal" if result.equal else "NOT equal"
    print(f"head + tail vs whole on random inputs: {verdict} (max abs diff {result.max_abs_diff:.3g}; "
          f"np.allclose rtol={RTOL:g}, atol={ATOL:g})")
    if not result.equal:
        raise HarnessError(f"the parts of {args.file} cut at {result.tensor} do not reproduce the whole model "
                           f"(max abs diff {result.max_abs_diff:.3g}); try another --at")
    return 0


def run(args) -> int:
    if args.build_args[:1] == ["split"]:
        return run_split(args.build_args[1:] + (["--help"] if args.help else []))
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
