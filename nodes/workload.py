"""A device workload that streams its rows: what the harness runs inside a device's host.

Unlike ``nodes.client``'s CLI (rows at the end), every row is appended to ``--out`` and
flushed as soon as its request completes, and a ``progress DONE TOTAL`` line goes to
stdout (TOTAL 0: not known, a closed loop for ``--duration-s``), so a run that is stopped
keeps every finished request and the harness can show progress. Every row names its
``--device`` and carries ``scheduled_ns`` and ``schedule_lateness_ms`` (``nodes.arrivals``) and the server it was
sent to (``server_url``: with ``--target-file`` the server can change between requests, ``nodes.serving_target``).

Arrivals (one of):
- closed loop (default): one request at a time, the next ``--think-ms`` after each reply (0: at
  once); repetition by repetition through the sizes (sizes interleaved, so slow drifts of the
  machine spread over all sizes); ``--duration-s`` keeps cycling until the time is up;
- open loop, ``--rate-hz R``: Poisson arrivals (``--seed``), ``--repetitions`` x sizes of them, or
  all those before ``--duration-s``; sent on schedule whatever the replies do (requests overlap);
- open loop, ``--arrivals FILE``: one send time per line, seconds since the start (cut at
  ``--duration-s``); the file sets the number of requests, images taken in turn.

Keeping time on a loaded machine (``nodes.device_timing``): set-up (imports, images) ends with one
collection and ``gc.freeze()``; ``--realtime-priority P`` asks for SCHED_FIFO at P for the schedule (a
``scheduling ...`` stdout line says what it got); ``--start-line`` says ``ready`` and starts the schedule
at the ``start NS`` (monotonic ns) line read from stdin, so many devices start together once all are set up.
A ``cpu S`` line at the end: the CPU seconds the schedule itself used (set-up excluded).

SIGINT (a terminal's Ctrl-C reaches the whole process group) or SIGTERM stops it at once:
no new request, the ones in flight are cancelled and give no row, every finished row is
already in the file, exit code 130 (SIGINT) or 143 (SIGTERM). A failed request becomes a
row only once ``FAILURE_GRACE_S`` passed without a stop signal: a server that went away
because it was stopped with us does not turn into error rows. A second signal exits at once.

    python -m nodes.workload --url http://10.0.2.2:8000 --model edgecnn1-3 --sizes 60K,512K \\
        --repetitions 5 --device ue3 --seed 3 --rate-hz 2 --out rows.csv
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

from nodes.arrivals import ThinkTime, before, poisson_offsets_ns, read_arrivals
from nodes.client import ROW_FIELDS, ClientSettings, mark_closed, on_schedule
from nodes.csv_rows import CsvRows
from nodes.device_timing import NoStartLine, describe, precise_loop, request_realtime, settle_memory, wait_for_start
from nodes.errors import NodeConfigError
from nodes.image_folder import IMAGE_FIELDS, IMAGE_MODES, device_images, image_fields, per_round, round_items
from nodes.jpeg_images import image_set
from nodes.serving_target import TARGET_FIELDS, SwitchingClient, device_client

WORKLOAD_FIELDS = ("device", *ROW_FIELDS, "repetition", "actual_bytes", *IMAGE_FIELDS, *TARGET_FIELDS)
DEVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
FAILURE_GRACE_S = 0.5  # a failed request is recorded only if no stop signal follows within this


def _progress(done: int, total: int) -> None:
    _progress_line(f"progress {done} {total}")


def _progress_line(line: str) -> None:
    try:
        print(line, flush=True)
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


async def closed(client: SwitchingClient, images, repetitions: int, duration_s: float, tag: str,
                 recorder: RowRecorder, think: ThinkTime = ThinkTime(), device: str = "ue1",
                 start_ns: int | None = None) -> None:
    """One request at a time, each due ``think`` after the previous reply; the first is due at ``start_ns``
    (None: when it is sent), and ``duration_s`` counts from there."""
    started_ns = time.monotonic_ns() if start_ns is None else start_ns
    rep, due_ns = 0, start_ns
    end_ns = started_ns + int(duration_s * 1e9)
    while (rep < repetitions) if not duration_s else (time.monotonic_ns() < end_ns):
        for size_bytes, jpeg, image_columns in round_items(images, rep):  # --images: a new photo each round
            if due_ns is not None and (delay_s := (due_ns - time.monotonic_ns()) / 1e9) > 0:
                await asyncio.sleep(delay_s)
            if duration_s and time.monotonic_ns() >= end_ns:
                break
            row = await client.infer_image(jpeg, f"{tag}-{size_bytes}-{rep}")
            returned_ns = time.monotonic_ns()  # no reply (a timeout): the think time counts from here
            mark_closed(row, due_ns).update(device=device, repetition=rep, actual_bytes=len(jpeg), **image_columns)
            recorder.add(row)
            due_ns = think.due_ns(row["reply_complete_ns"] or returned_ns)
        rep += 1


def open_offsets_ns(args, sizes: int):
    """The open loop's schedule (offsets in ns from its start) over ``sizes`` image sizes, or None: closed loop."""
    if args.arrivals is not None:
        offsets_ns = before(read_arrivals(args.arrivals), args.duration_s)
        if not len(offsets_ns):
            raise NodeConfigError(f"--arrivals {args.arrivals}: no send time before --duration-s {args.duration_s:g}")
        return offsets_ns
    if args.rate_hz is None:
        return None
    if args.duration_s:
        return poisson_offsets_ns(args.rate_hz, args.seed, duration_s=args.duration_s)
    return poisson_offsets_ns(args.rate_hz, args.seed, count=args.repetitions * sizes)


async def _requests(args, images, offsets_ns, recorder: RowRecorder, start_ns: int | None) -> None:
    settings = ClientSettings(url=args.url, model=args.model, timeout_s=args.timeout_s, retries=args.retries,
                              retry_backoff_s=args.retry_backoff_s)
    async with device_client(settings, args.target_file) as client:
        if offsets_ns is not None:
            if len(offsets_ns):
                def on_row(index: int, row: dict) -> None:
                    row.update(device=args.device, repetition=index // per_round(images), actual_bytes=row["size_bytes"],
                               **image_fields(images[index % len(images)]))
                    recorder.add(row)
                await on_schedule(client, images, offsets_ns, run_id=args.tag, on_row=on_row, start_ns=start_ns)
        else:
            await closed(client, images, args.repetitions, args.duration_s, args.tag, recorder,
                         ThinkTime(args.think_ms), args.device, start_ns)
    recorder.finish()


async def run(args, images, offsets_ns=None, start_ns: int | None = None) -> int:
    """The workload, its schedule from ``start_ns`` (None: now); returns the exit code (0, or 128 + the stop
    signal's number)."""
    loop = asyncio.get_running_loop()
    if offsets_ns is not None:
        total = len(offsets_ns)
    else:
        total = 0 if args.duration_s else args.repetitions * per_round(images)
    sink = CsvRows(args.out, WORKLOAD_FIELDS)
    recorder = RowRecorder(sink, total)
    stopped_by: list[int] = []
    work = asyncio.create_task(_requests(args, images, offsets_ns, recorder, start_ns))

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


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m nodes.workload", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="server URL, e.g. http://10.0.2.2:8000")
    parser.add_argument("--model", required=True, help="model name at that server")
    parser.add_argument("--target-file", type=Path, default=None, metavar="FILE", help="'URL MODEL' read before "
                        "each request, as the harness rewrites it (nodes.serving_target); --url/--model at first")
    parser.add_argument("--sizes", required=True, help="comma list of image sizes, K = 1024")
    parser.add_argument("--device", default="ue1", help="device name every row carries (default ue1)")
    parser.add_argument("--repetitions", type=int, default=None, help="requests per size (default 1; not with "
                                                                       "--arrivals: the file sets the requests)")
    parser.add_argument("--duration-s", type=float, default=0.0, help="send for this long instead of --repetitions "
                                                                       "(0: --repetitions)")
    parser.add_argument("--think-ms", type=float, default=0.0, help="closed loop: wait this long after each reply "
                                                                     "before the next request (default 0)")
    parser.add_argument("--rate-hz", type=float, default=None, help="open loop: Poisson arrivals per second")
    parser.add_argument("--rate", dest="rate_hz", type=float, help="deprecated spelling of --rate-hz")
    parser.add_argument("--arrivals", type=Path, default=None, metavar="FILE",
                        help="open loop: send times from FILE, one per line, seconds since the start")
    parser.add_argument("--seed", type=int, default=0, help="seed of the Poisson arrivals and of the images")
    parser.add_argument("--images-seed", type=int, default=None,
                        help="seed of the images alone (default --seed): devices sharing it send the same images")
    parser.add_argument("--tag", default="w", help="request id prefix (ids are TAG-SIZE-INDEX: give each device "
                                                   "its own tag where their requests meet at one server)")
    parser.add_argument("--timeout-s", type=float, default=120.0)
    parser.add_argument("--retries", type=int, default=0, help="retries of a failed request (no answer, 502-504)")
    parser.add_argument("--retry-backoff-s", type=float, default=0.5, help="seconds before the first retry, doubled")
    parser.add_argument("--images-dir", type=Path, default=None, help="cache of the images made (synthetic, resized)")
    parser.add_argument("--images", type=Path, default=None, metavar="DIR",
                        help="send the JPEG/PNG files of DIR (nodes.image_folder) instead of synthetic images")
    parser.add_argument("--image-mode", choices=IMAGE_MODES, default="resize",
                        help="with --images: re-encode each to every --sizes (resize, default) or send it as-is")
    parser.add_argument("--labels", type=Path, default=None, metavar="FILE.csv",
                        help="with --images: filename,label lines (default: labels from DIR/<label>/ folders)")
    parser.add_argument("--realtime-priority", type=int, default=0, metavar="P",
                        help="SCHED_FIFO priority for the schedule (1-99, below the link emulators'; 0: none)")
    parser.add_argument("--start-line", action="store_true",
                        help="once set up, print 'ready' and start the schedule at the 'start NS' line from stdin")
    parser.add_argument("--out", type=Path, required=True, help="CSV, one row per request, flushed per row")
    return parser.parse_args(argv)


def check_args(args) -> None:
    """NodeConfigError, one line naming the option, for a bad value or two arrival patterns at once."""
    if not DEVICE_NAME.fullmatch(args.device):
        raise NodeConfigError(f"--device {args.device!r}: a name of letters, digits, '.', '_' or '-' (e.g. ue3)")
    if args.arrivals is not None and args.repetitions is not None:
        raise NodeConfigError(f"--repetitions with --arrivals {args.arrivals}: the file sets the requests (one "
                              "per line); drop --repetitions")
    args.repetitions = 1 if args.repetitions is None else args.repetitions
    if not 0 <= args.realtime_priority <= 99:
        raise NodeConfigError(f"--realtime-priority {args.realtime_priority}: must be 0..99 (0: no real-time "
                              "scheduling)")
    if args.repetitions < 1 or args.duration_s < 0:
        raise NodeConfigError("--repetitions must be >= 1 and --duration-s >= 0")
    if args.rate_hz is not None and not args.rate_hz > 0:
        raise NodeConfigError(f"--rate-hz {args.rate_hz:g} must be > 0 arrivals per second (omit it: closed loop)")
    ThinkTime(args.think_ms)  # >= 0
    chosen = [flag for flag, given in (("--think-ms", args.think_ms > 0), ("--rate-hz", args.rate_hz is not None),
                                       ("--arrivals", args.arrivals is not None)) if given]
    if len(chosen) > 1:
        raise NodeConfigError(f"{' and '.join(chosen)} together: choose one arrival pattern (--think-ms: closed "
                              "loop, --rate-hz: Poisson, --arrivals FILE: open loop from a file)")


def main(argv=None) -> int:
    args = parse_args(argv)
    for signum in STOP_SIGNALS:  # until the event loop takes over: stop while the images are being made
        signal.signal(signum, _raise_stopped)
    try:
        check_args(args)
        sizes = [s for s in args.sizes.split(",") if s.strip()]
        if not sizes:
            raise NodeConfigError(f"--sizes {args.sizes!r} names no image size (e.g. 60K,512K)")
        slots = 1 if args.images is not None and args.image_mode == "as-is" else len(sizes)  # images per round
        offsets_ns = open_offsets_ns(args, slots)  # a bad arrival file fails before images are made
        images_seed = args.seed if args.images_seed is None else args.images_seed
        if args.images is not None:  # one round per repetition (every image of the folder for a duration)
            sends = 0 if offsets_ns is None else len(offsets_ns)
            rounds = None if args.duration_s else max(args.repetitions, -(-sends // slots))
            images = device_images(args.images, args.labels, args.image_mode, sizes, images_seed, rounds,
                                   args.images_dir)
        elif args.labels is not None:
            raise NodeConfigError(f"--labels {args.labels} needs --images DIR (the images it labels)")
        else:
            images = image_set(sizes, images_seed, args.images_dir)
        settle_memory()
        print(describe(request_realtime(args.realtime_priority)), flush=True)
        start_ns = wait_for_start() if args.start_line else None
        cpu_before_s = time.process_time()
        with asyncio.Runner(loop_factory=precise_loop) as runner:
            code = runner.run(run(args, images, offsets_ns, start_ns))
        _progress_line(f"cpu {time.process_time() - cpu_before_s:.3f}")  # the schedule's CPU, for the harness
        return code
    except NoStartLine as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NodeConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except _Stopped as stop:
        return 128 + stop.signum
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
