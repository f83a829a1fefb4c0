"""A device workload that streams its rows: what the harness runs inside a device's host.

Unlike ``nodes.client``'s CLI (rows at the end), every row is appended to ``--out`` and
flushed as soon as its request completes, and a ``progress DONE TOTAL`` line goes to
stdout, so a run that is stopped keeps every finished request and the harness can show
progress. Closed loop goes repetition by repetition through the sizes (sizes
interleaved, so slow drifts of the machine spread over all sizes); ``--duration-s``
keeps cycling until the time is up (the replay workload).

    python -m nodes.workload --url http://10.0.2.2:8000 --model edgecnn1-3 --sizes 60K,512K \\
        --repetitions 5 --out rows.csv
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import time
from pathlib import Path

from nodes.client import ROW_FIELDS, ClientSettings, InferenceClient, open_loop
from nodes.errors import NodeConfigError
from nodes.jpeg_images import image_set

WORKLOAD_FIELDS = (*ROW_FIELDS, "repetition", "actual_bytes")


class RowSink:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=WORKLOAD_FIELDS, extrasaction="ignore")
        self._writer.writeheader()
        self._file.flush()

    def write(self, row: dict) -> None:
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def _progress(done: int, total: int) -> None:
    print(f"progress {done} {total}", flush=True)


async def closed(client: InferenceClient, images, repetitions: int, duration_s: float, tag: str,
                 sink: RowSink) -> int:
    total = 0 if duration_s else repetitions * len(images)
    started = time.monotonic()
    done = rep = 0
    while (rep < repetitions) if not duration_s else (time.monotonic() - started < duration_s):
        for size_bytes, jpeg in images:
            if duration_s and time.monotonic() - started >= duration_s:
                break
            row = await client.infer_image(jpeg, f"{tag}-{size_bytes}-{rep}")
            row.update(pattern="closed", repetition=rep, actual_bytes=len(jpeg))
            sink.write(row)
            done += 1
            _progress(done, total)
        rep += 1
    return done


async def run(args) -> int:
    settings = ClientSettings(url=args.url, model=args.model, timeout_s=args.timeout_s, retries=args.retries,
                              retry_backoff_s=args.retry_backoff_s)
    images = image_set([s for s in args.sizes.split(",") if s.strip()], args.seed, args.images_dir)
    sink = RowSink(args.out)
    try:
        async with InferenceClient(settings) as client:
            if args.rate:
                rows = await open_loop(client, images, args.rate, args.repetitions * len(images), args.seed,
                                       run_id=args.tag)
                for index, row in enumerate(rows):
                    row.update(repetition=index // len(images), actual_bytes=row["size_bytes"])
                    sink.write(row)
                _progress(len(rows), len(rows))
                return len(rows)
            return await closed(client, images, args.repetitions, args.duration_s, args.tag, sink)
    finally:
        sink.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nodes.workload", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="server URL, e.g. http://10.0.2.2:8000")
    parser.add_argument("--model", required=True, help="model name at that server")
    parser.add_argument("--sizes", required=True, help="comma list of image sizes, K = 1024")
    parser.add_argument("--repetitions", type=int, default=1, help="requests per size")
    parser.add_argument("--duration-s", type=float, default=0.0, help="cycle through the sizes for this long "
                                                                       "instead (0: --repetitions)")
    parser.add_argument("--rate", type=float, default=None, help="open loop: Poisson arrivals per second")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="w", help="request id prefix")
    parser.add_argument("--timeout-s", type=float, default=120.0)
    parser.add_argument("--retries", type=int, default=0, help="retries of a failed request (no answer, 502-504)")
    parser.add_argument("--retry-backoff-s", type=float, default=0.5, help="seconds before the first retry, doubled")
    parser.add_argument("--images-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True, help="CSV, one row per request, flushed per row")
    args = parser.parse_args(argv)
    try:
        if args.repetitions < 1 or args.duration_s < 0:
            raise NodeConfigError("--repetitions must be >= 1 and --duration-s >= 0")
        asyncio.run(run(args))
    except NodeConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
