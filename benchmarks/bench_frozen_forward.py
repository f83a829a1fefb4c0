#!/usr/bin/env python3
"""What EdgeCNN1's training time depends on: its frozen layers' forward computed once, or run on every batch.

    .venv/bin/python benchmarks/bench_frozen_forward.py [--images 1200] [--epochs 3] [--repeats 3] [--ks 3,10]

Trains, on the same stratified Fashion-MNIST subset, EdgeCNN0-k (from scratch) and EdgeCNN1-k on CloudCNN's k
lower layers in both ways (``models.collaboration.train_edge(frozen_forward=...)``): "once" (the testbed's edge:
the frozen activations computed once and reused) and "every_batch" (what a framework does with frozen layers,
and what reproduce's Table 3 cells now time). It reports seconds per epoch, so the epoch counts of a stopping
rule do not enter. The CloudCNN is untrained (seed 0): per-epoch time depends on the architecture, not on the
weights. The three ways take turns in each repeat, so a drift of the shared machine lands on all of them.
Writes benchmarks/results/frozen-forward.{json,md}.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness_runs import RESULTS_OUT, host_fields, md_table, write_outputs  # noqa: E402

WAYS = ("edgecnn0", "edgecnn1-once", "edgecnn1-every_batch")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1200, help="labelled Fashion-MNIST images (9:1 split)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per training (no early stop)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ks", default="3,10", help="EdgeCNN depths, comma-separated")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args(argv)
    try:
        ks = [int(k) for k in args.ks.split(",")]
    except ValueError:
        print(f"error: --ks {args.ks!r} must be integers separated by commas, e.g. 3,10", file=sys.stderr)
        return 2

    from models.cnn import CloudCNN
    from models.collaboration import shared_block_bytes, stratified_subset, train_edge
    from models.datasets import load_dataset
    from models.errors import DatasetError, SettingsError
    from models.training import TrainSettings, set_torch_threads

    try:
        data = load_dataset("fashion")
        labelled = stratified_subset(data.train, args.images, 0)
        settings = TrainSettings(max_epochs=args.epochs, seed=0, early_stop_patience_epochs=0,
                                 min_learning_rate=1e-12)
        blocks = {k: shared_block_bytes(CloudCNN(seed=0).eval(), k) for k in ks}
    except (DatasetError, SettingsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    threads = set_torch_threads(args.threads)
    host = host_fields()
    per_epoch = {k: {way: [] for way in WAYS} for k in ks}
    for repeat in range(args.repeats):
        for k in ks:
            for way in WAYS:
                kwargs = ({"k": k} if way == "edgecnn0" else
                          {"shared_block_onnx": blocks[k], "frozen_forward": way.split("-", 1)[1]})
                _, report = train_edge(labelled, settings, **kwargs)
                per_epoch[k][way].append(report.seconds / report.epochs_run)
                print(f"repeat {repeat + 1}/{args.repeats}: k={k} {way}: {per_epoch[k][way][-1]:.3f} s per epoch",
                      flush=True)
    rows, result = [], {"host": host, "images": args.images, "epochs": args.epochs, "repeats": args.repeats,
                        "torch_threads": threads, "per_epoch_s": per_epoch, "change_pct": {}}
    for k in ks:
        med = {way: statistics.median(per_epoch[k][way]) for way in WAYS}
        change = {way: 100 * (med[way] / med["edgecnn0"] - 1) for way in WAYS[1:]}
        spread = {way: [round(100 * (a / b - 1), 1) for a, b in zip(per_epoch[k][way], per_epoch[k]["edgecnn0"])]
                  for way in WAYS[1:]}
        result["change_pct"][k] = {"median": change, "per_repeat": spread}
        rows.append([k, f"{med['edgecnn0']:.3f}", f"{med['edgecnn1-once']:.3f}", f"{med['edgecnn1-every_batch']:.3f}",
                     f"{change['edgecnn1-once']:+.1f}% ({min(spread['edgecnn1-once']):+.1f}..{max(spread['edgecnn1-once']):+.1f})",
                     f"{change['edgecnn1-every_batch']:+.1f}% ({min(spread['edgecnn1-every_batch']):+.1f}.."
                     f"{max(spread['edgecnn1-every_batch']):+.1f})"])
    markdown = [f"# EdgeCNN1's frozen layers: forward once or on every batch (benchmarks/bench_frozen_forward.py)", "",
                f"Host {host['host']} ({host['cpus']} CPUs), started {host['started']}; {args.images} labelled "
                f"Fashion-MNIST images, {args.epochs} epochs per training, {args.repeats} repeats (the ways taking "
                f"turns), torch {threads} threads, CloudCNN untrained (timing only). Seconds per epoch, median; "
                f"change vs EdgeCNN0-k, median (range over repeats).", "",
                *md_table(["k", "EdgeCNN0-k s", "EdgeCNN1-k once s", "EdgeCNN1-k every batch s", "once vs EdgeCNN0",
                           "every batch vs EdgeCNN0"], rows)]
    write_outputs(RESULTS_OUT, "frozen-forward", result, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
