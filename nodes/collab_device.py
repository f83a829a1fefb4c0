"""A device of System B's update phase: uploads unlabelled images from a pool, open loop (Poisson, seeded).

    python -m nodes.collab_device --url http://10.0.2.2:8000 --pool pool.npz --rate 20 --out rows.csv
        [--model edgecnn] [--requests 0] [--seed 1] [--quality 90]

Each image of the pool (``.npz`` as ``nodes.edge_update.save_labelled``) is sent as a JPEG;
the true label travels only into the device's own CSV (``true_label``), never to the edge,
so the rows show how well the edge answered before, during and after its updates. Rows are
flushed as each request completes; ``--requests 0`` keeps cycling through the pool until
the process is stopped (SIGTERM / SIGINT end it cleanly).
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path

import numpy as np

from models.preprocess import encode_image
from nodes.client import ClientSettings, InferenceClient
from nodes.csv_rows import CsvRows
from nodes.edge_update import load_labelled
from nodes.errors import NodeConfigError
from nodes.workload import WORKLOAD_FIELDS

DEVICE_FIELDS = (*WORKLOAD_FIELDS, "true_label")


async def run(args) -> int:
    images, labels = load_labelled(args.pool)
    order = np.random.default_rng([args.seed, 1]).permutation(len(labels))
    jpegs = [(encode_image(images[i], "JPEG", args.quality), int(labels[i])) for i in order]
    rng = np.random.default_rng([args.seed, 2])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    sink = CsvRows(args.out, DEVICE_FIELDS)
    tasks: set[asyncio.Task] = set()
    done = 0

    async def one(client, index: int, scheduled_ns: int) -> None:
        nonlocal done
        jpeg, label = jpegs[index % len(jpegs)]
        row = await client.infer_image(jpeg, f"{args.tag}-{index}")
        row.update(pattern="open", scheduled_ns=scheduled_ns, repetition=index // len(jpegs),
                   actual_bytes=len(jpeg), true_label=label)
        sink.write(row)
        done += 1
        print(f"progress {done} {args.requests}", flush=True)

    try:
        async with InferenceClient(ClientSettings(url=args.url, model=args.model, timeout_s=args.timeout_s)) as client:
            next_ns, index = time.monotonic_ns(), 0
            while not stop.is_set() and (args.requests == 0 or index < args.requests):
                next_ns += int(rng.exponential(1.0 / args.rate) * 1e9)
                try:
                    await asyncio.wait_for(stop.wait(), max(0.0, (next_ns - time.monotonic_ns()) / 1e9))
                    break
                except asyncio.TimeoutError:
                    pass
                task = asyncio.create_task(one(client, index, next_ns))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                index += 1
            if tasks:  # let requests already sent finish (their rows are the interesting ones)
                await asyncio.wait(tasks, timeout=args.timeout_s)
    finally:
        sink.close()
    return done


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nodes.collab_device", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", default="edgecnn")
    parser.add_argument("--pool", type=Path, required=True, help=".npz of the images this device uploads")
    parser.add_argument("--rate", type=float, required=True, help="Poisson arrivals per second")
    parser.add_argument("--requests", type=int, default=0, help="0: until stopped")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality")
    parser.add_argument("--tag", default="u")
    parser.add_argument("--timeout-s", type=float, default=60.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.rate <= 0 or args.requests < 0 or not 1 <= args.quality <= 100:
            raise NodeConfigError(f"--rate {args.rate} must be > 0, --requests {args.requests} >= 0, "
                                  f"--quality {args.quality} in 1..100")
        asyncio.run(run(args))
    except NodeConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
