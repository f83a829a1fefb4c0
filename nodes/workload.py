"""A device workload that streams its rows: what the harness runs inside a device's host.

Unlike ``nodes.client``'s CLI (rows at the end), every row is appended to ``--out`` and
flushed as soon as its request completes, and a ``progress DONE TOTAL`` line goes to
stdout, in the closed and the open loop alike, so a run that is stopped keeps every
finished request and the harness can show progress. Closed loop goes repetition by
repetition through the sizes (sizes interleaved, so slow drifts of the machine spread
over all sizes); ``--duration-s`` keeps cycling until the time is up (the replay workload).

SIGINT (a terminal's Ctrl-C reaches the whole process group) or SIGTERM stops it at once:
no new request, the ones in flight are cancelled and give no row, every finished row is
already in the file, exit code 130 (SIGINT) or 143 (SIGTERM). A failed request becomes a
row only once ``FAILURE_GRACE_S`` passed without a stop signal: a server that went away
because it was stopped with us does not turn into error rows. A second signal exits at once.

    python -m nodes.workload --url http://10.0.2.2:8000 --model edgecnn1-3 --sizes 60K,512K \\
        --repetitions 5 --out rows.csv
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from nodes.client import ROW_FIELDS, ClientSettings, InferenceClient, open_loop
from nodes.csv_rows import CsvRows
from nodes.errors import NodeConfigError
from nodes.jpeg_images import image_set

WORKLOAD_FIELDS = (*ROW_FIELDS, "repetition", "actual_bytes")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
FAILURE_GRACE_S = 0.5  # a failed request is recorded only if no stop signal follows within this


def _progress(done: int, total: int) -> None:
    try:
        print(f"progress {done} {total}", flush=True)
    except (BrokenPipeError, ValueError):  # nobody reads the progress any more (the harness went): rows still count
        pass


class RowRecorder:
    """Rows to the sink as their requests finish; after ``stop()`` nothing more (see the module's doc)."""

    def __init__(self, sink: CsvRows, total: int, grace_s: float = FAILURE_GRACE_S):
        self.sink, self.total, self.grace_s = sink, total, grace_s
        self.done = 0
        self.stopped = False
        self._held: dict[int, tuple[asyncio.TimerHandle, dict]] = {}

    def add(self, row: dict) -> None:
        if self.stopped:
            return
        if row["status"] == 200 and not row["error"]:
            self._write(row)
            return
        key = id(row)
        handle = asyncio.get_running_loop().call_later(self.grace_s, self._release, key)
        self._held[key] = (handle, row)

    def _release(self, key: int) -> None:
        _, row = self._held.pop(key)
        if not self.stopped:
            self._write(row)

    def _write(self, row: dict) -> None:
        self.sink.write(row)
        self.done += 1
        _progress(self.done, self.total)

    def stop(self) -> None:
        """A stop signal came: drop the failures still held, record nothing more."""
        self.stopped = True
        for handle, _ in self._held.values():
            handle.cancel()
        self._held.clear()

    def finish(self) -> None:
        """The workload ended by itself: the failures still held are real, write them now."""
        for key in list(self._held):
            handle, _ = self._held[key]
            handle.cancel()
            self._release(key)


async def closed(client: InferenceClient, images, repetitions: int, duration_s: float, tag: str,
                 recorder: RowRecorder) -> None:
    started = time.monotonic()
    rep = 0
    while (rep < repetitions) if not duration_s else (time.monotonic() - started < duration_s):
        for size_bytes, jpeg in images:
            if duration_s and time.monotonic() - started >= duration_s:
                break
            row = await client.infer_image(jpeg, f"{tag}-{size_bytes}-{rep}")
            row.update(pattern="closed", repetition=rep, actual_bytes=len(jpeg))
            recorder.add(row)
        rep += 1


async def _requests(args, images, recorder: RowRecorder) -> None:
    settings = ClientSettings(url=args.url, model=args.model, timeout_s=args.timeout_s, retries=args.retries,
                              retry_backoff_s=args.retry_backoff_s)
    async with InferenceClient(settings) as client:
        if args.rate:
            def on_row(index: int, row: dict) -> None:
                row.update(repetition=index // len(images), actual_bytes=row["size_bytes"])
                recorder.add(row)
            await open_loop(client, images, args.rate, args.repetitions * len(images), args.seed, run_id=args.tag,
                            on_row=on_row)
        else:
            await closed(client, images, args.repetitions, args.duration_s, args.tag, recorder)
    recorder.finish()


async def run(args, images) -> int:
    """The workload; returns the exit code (0, or 128 + the stop signal's number)."""
    loop = asyncio.get_running_loop()
    total = args.repetitions * len(images) if args.rate or not args.duration_s else 0
    sink = CsvRows(args.out, WORKLOAD_FIELDS)
    recorder = RowRecorder(sink, total)
    stopped_by: list[int] = []
    work = asyncio.create_task(_requests(args, images, recorder))

    def on_signal(signum: int) -> None:
        if stopped_by:  # a second signal: every finished row is already flushed
            os._exit(128 + stopped_by[0])
        stopped_by.append(signum)
        recorder.stop()
        work.cancel()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await work
    except asyncio.CancelledError:
        if not stopped_by:
            raise
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        sink.close()
    return 128 + stopped_by[0] if stopped_by else 0


class _Stopped(BaseException):
    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_stopped(signum, frame):
    raise _Stopped(signum)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nodes.workload", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="server URL, e.g. http://10.0.2.2:8000")
    parser.add_argument("--model", required=True, help="model name at that server")
    parser.add_argument("--sizes", required=True, help="comma list of image sizes, K = 1024")
    parser.add_argument("--repetitions", type=int, default=1, help="requests per size")
    parser.add_argument("--duration-s", type=float, default=0.0, help="closed loop: cycle through the sizes for "
                                                                       "this long instead (0: --repetitions)")
    parser.add_argument("--rate", type=float, default=None, help="open loop: Poisson arrivals per second")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="w", help="request id prefix")
    parser.add_argument("--timeout-s", type=float, default=120.0)
    parser.add_argument("--retries", type=int, default=0, help="retries of a failed request (no answer, 502-504)")
    parser.add_argument("--retry-backoff-s", type=float, default=0.5, help="seconds before the first retry, doubled")
    parser.add_argument("--images-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True, help="CSV, one row per request, flushed per row")
    args = parser.parse_args(argv)
    for signum in STOP_SIGNALS:  # until the event loop takes over: stop while the images are being made
        signal.signal(signum, _raise_stopped)
    try:
        if args.repetitions < 1 or args.duration_s < 0:
            raise NodeConfigError("--repetitions must be >= 1 and --duration-s >= 0")
        if args.rate is not None and args.rate <= 0:
            raise NodeConfigError(f"--rate {args.rate:g} must be > 0 arrivals per second (omit it: closed loop)")
        images = image_set([s for s in args.sizes.split(",") if s.strip()], args.seed, args.images_dir)
        return asyncio.run(run(args, images))
    except NodeConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except _Stopped as stop:
        return 128 + stop.signum
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
