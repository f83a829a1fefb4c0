"""The mobile-device client: sends JPEG images to a node and records per-request timings.

Load patterns as in MLPerf LoadGen: closed loop (one request at a time, the next
when the reply is complete) and open loop (sent on a schedule, ``nodes.arrivals``:
Poisson arrivals at a fixed rate, seeded, or an arrival file; regardless of replies).
Each request gives one row (dict, keys ``ROW_FIELDS``) with the client's monotonic
scheduled time, send start and reply complete, how late it left against its schedule,
the server's stamps and queueing (``queue_ms``, ``in_progress_at_arrival``) from the
reply parameters, and ``reply_sent_ns`` from the server's ``GET /v2/timings`` (it
cannot travel in the reply itself).

    python -m nodes.client --url http://127.0.0.1:8000 --model edgecnn --sizes 60K,4096K --requests 20 --out rows.csv
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np

from nodes.arrivals import lateness_ms, poisson_offsets_ns
from nodes.errors import NodeConfigError, ProtocolError
from nodes.jpeg_images import image_set
from nodes.protocol import BINARY_CONTENT_TYPE, HEADER_LENGTH, Tensor, encode_infer_request, parse_infer_response

SERVER_STAMPS = ("request_received_ns", "upload_complete_ns", "preprocess_start_ns", "preprocess_end_ns",
                 "inference_start_ns", "inference_end_ns", "cloud_request_start_ns", "cloud_upload_complete_ns",
                 "cloud_inference_start_ns", "cloud_inference_end_ns", "cloud_reply_complete_ns")
SERVER_LOAD = ("queue_ms", "in_progress_at_arrival")  # the answering server's queueing (nodes.http_server)
ROW_FIELDS = ("request_id", "pattern", "model", "size_bytes", "scheduled_ns", "schedule_lateness_ms", "send_start_ns",
              "reply_complete_ns", *SERVER_STAMPS, *SERVER_LOAD, "reply_start_ns", "reply_sent_ns", "status", "error",
              "node", "served_by_model", "provider", "label", "attempts", "attempt_errors")
RETRY_STATUSES = (0, 502, 503, 504)  # no answer, or the server could not answer now; a 4xx is never retried


@dataclass(frozen=True)
class ClientSettings:
    url: str
    model: str = "edgecnn"
    timeout_s: float = 120.0          # one request, send start -> reply complete; 0 is not allowed
    connect_timeout_s: float = 10.0
    connections: int = 64             # open connections at most (open loop)
    retries: int = 0                  # attempts after a failed one (RETRY_STATUSES); 0: a failure is final
    retry_backoff_s: float = 0.5      # wait before the first retry, doubled after each

    def __post_init__(self):
        if not self.url.startswith(("http://", "https://")):
            raise NodeConfigError(f"url {self.url!r} must start with http://")
        for name in ("timeout_s", "connect_timeout_s"):
            if getattr(self, name) <= 0:
                raise NodeConfigError(f"{name}={getattr(self, name)!r} must be > 0 seconds")
        if self.connections < 1:
            raise NodeConfigError(f"connections={self.connections} must be >= 1")
        if not 0 <= self.retries <= 10 or self.retry_backoff_s < 0:
            raise NodeConfigError(f"retries={self.retries} must be 0..10 and retry_backoff_s="
                                  f"{self.retry_backoff_s} >= 0")


class InferenceClient:
    """``async with InferenceClient(settings) as client: row = await client.infer_image(jpeg, "r1")``."""

    def __init__(self, settings: ClientSettings):
        self.settings = settings
        self.base = settings.url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "InferenceClient":
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.settings.connections),
            timeout=aiohttp.ClientTimeout(total=self.settings.timeout_s, connect=self.settings.connect_timeout_s))
        return self

    async def __aexit__(self, *exc) -> None:
        await self._session.close()

    async def infer_image(self, jpeg: bytes, request_id: str, model: str | None = None) -> dict:
        """One request, retried per the settings. The row is the last attempt's answer, but its ``send_start_ns``
        is the FIRST attempt's: upload and response of a retried request include the failed attempts and the
        backoff. ``attempts`` counts them; ``attempt_errors`` lists each failed one ("1:timeout;2:HTTP 503"),
        empty when the first attempt succeeded."""
        failures, backoff_s, first_send_ns = [], self.settings.retry_backoff_s, None
        for attempt in range(1, self.settings.retries + 2):
            row = await self._infer_once(jpeg, request_id, model)
            first_send_ns = first_send_ns or row["send_start_ns"]
            if row["status"] != 200 or row["error"]:
                failures.append(f"{attempt}:{attempt_error(row)}")
            if row["status"] == 200 or row["status"] not in RETRY_STATUSES or attempt > self.settings.retries:
                break
            await asyncio.sleep(backoff_s)
            backoff_s *= 2
        row.update(send_start_ns=first_send_ns, attempts=attempt, attempt_errors=";".join(failures))
        return row

    async def _infer_once(self, jpeg: bytes, request_id: str, model: str | None = None) -> dict:
        model = model or self.settings.model
        body, json_length = encode_infer_request([Tensor.from_bytes_list("image", [jpeg])], request_id=request_id)
        headers = {"Content-Type": BINARY_CONTENT_TYPE, HEADER_LENGTH: str(json_length)}
        row = dict.fromkeys(ROW_FIELDS, "")
        row.update(request_id=request_id, model=model, size_bytes=len(jpeg))
        url = f"{self.base}/v2/models/{model}/infer"
        row["send_start_ns"] = time.monotonic_ns()
        try:
            async with self._session.post(url, data=body, headers=headers) as response:
                reply = await response.read()
                row["reply_complete_ns"] = time.monotonic_ns()
                row["status"] = response.status
                reply_header_length = response.headers.get(HEADER_LENGTH)
        except asyncio.TimeoutError:
            row.update(status=0, error=f"timeout after {self.settings.timeout_s} s")
            return row
        except (aiohttp.ClientError, OSError) as exc:
            row.update(status=0, error=f"{type(exc).__name__}: {exc}")
            return row
        if row["status"] != 200:
            row["error"] = reply[:300].decode("utf-8", "replace")
            return row
        try:
            parsed = parse_infer_response(reply, reply_header_length)
        except ProtocolError as exc:
            row.update(error=f"malformed reply: {exc}")
            return row
        params = parsed.parameters
        for key in (*SERVER_STAMPS, *SERVER_LOAD):
            if key in params:
                row[key] = params[key]
        row.update(node=params.get("node", ""), served_by_model=params.get("model", ""),
                   provider=params.get("provider", ""))
        if parsed.outputs:
            first = next(iter(parsed.outputs.values()))
            if first.datatype != "BYTES" and first.element_count:
                row["label"] = int(np.asarray(first.data).reshape(len(first.data), -1)[0].argmax())
        return row

    async def server_last_seq(self) -> int:
        """The server's timing-log position now (0 if it has no timing log), to fetch only later records."""
        try:
            async with self._session.get(f"{self.base}/v2/timings", params={"since": str(2**62)}) as response:
                return int((await response.json())["last_seq"]) if response.status == 200 else 0
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError, KeyError):
            return 0

    async def server_timings(self, since: int = 0) -> list[dict]:
        records = []
        while True:
            async with self._session.get(f"{self.base}/v2/timings", params={"since": str(since)}) as response:
                if response.status != 200:
                    return records
                page = await response.json()
            if not page["records"]:
                return records
            records.extend(page["records"])
            since = page["records"][-1]["seq"]


def attempt_error(row: dict) -> str:
    """A failed attempt in a few words, for ``attempt_errors``: timeout, HTTP 503, ClientConnectorError, ..."""
    if row["status"] == 0:
        error = str(row["error"])
        return "timeout" if error.startswith("timeout") else error.split(":", 1)[0].strip() or "no answer"
    if row["status"] != 200:
        return f"HTTP {row['status']}"
    return "malformed reply"


def attach_reply_sent(rows: list[dict], records: list[dict]) -> None:
    """Copy reply_start_ns / reply_sent_ns from the server's timing records into the rows, by request id."""
    by_id = {r.get("request_id"): r for r in records if r.get("request_id") is not None}
    for row in rows:
        record = by_id.get(row["request_id"])
        if record is not None:
            for key in ("reply_start_ns", "reply_sent_ns"):
                if record.get(key) is not None:
                    row[key] = record[key]


async def closed_loop(client: InferenceClient, images: list[tuple[int, bytes]], requests_per_image: int,
                      run_id: str = "c") -> list[dict]:
    """One request at a time: each image ``requests_per_image`` times, in the given order."""
    rows = []
    for size_bytes, jpeg in images:
        for index in range(requests_per_image):
            row = await client.infer_image(jpeg, f"{run_id}-{size_bytes}-{index}")
            rows.append(mark_closed(row, rows[-1]["reply_complete_ns"] if rows else None))
    return rows


def mark_closed(row: dict, due_ns) -> dict:
    """A closed loop's row, due at ``due_ns`` (previous reply + think time; None: the first, lateness 0)."""
    scheduled_ns = due_ns if due_ns not in (None, "") else row["send_start_ns"]
    row.update(pattern="closed", scheduled_ns=scheduled_ns,
               schedule_lateness_ms=lateness_ms(row["send_start_ns"], scheduled_ns))
    return row


async def open_loop(client: InferenceClient, images: list[tuple[int, bytes]], rate_per_s: float, requests: int,
                    seed: int = 0, run_id: str = "o", on_row=None) -> list[dict]:
    """Poisson arrivals at ``rate_per_s`` (seeded), images taken in turn; see ``on_schedule``."""
    offsets_ns = poisson_offsets_ns(rate_per_s, seed, count=requests)
    return await on_schedule(client, images, offsets_ns, run_id=run_id, on_row=on_row)


async def on_schedule(client: InferenceClient, images: list[tuple[int, bytes]], offsets_ns, run_id: str = "o",
                      on_row=None, start_ns: int | None = None) -> list[dict]:
    """Open loop: request i is sent ``offsets_ns[i]`` after ``start_ns`` (a ``time.monotonic_ns()`` time; None:
    now; ``nodes.arrivals``), whatever the replies do
    (requests overlap), images taken in turn; returns rows in issue order. Each row has ``scheduled_ns`` and
    ``schedule_lateness_ms``.

    With ``on_row(index, row)`` each row goes there as soon as its request completes and none is kept
    (returns []): the workload streams them. Cancelling stops issuing at once and cancels the requests in
    flight (they give no row)."""
    requests = len(offsets_ns)
    if requests < 1 or not images:
        raise NodeConfigError(f"open loop needs at least one arrival and one image, got {requests}, {len(images)}")
    start_ns = time.monotonic_ns() if start_ns is None else start_ns
    rows: list = [] if on_row else [None] * requests
    in_flight: set[asyncio.Task] = set()

    async def one(index: int, scheduled_ns: int) -> None:
        size_bytes, jpeg = images[index % len(images)]
        row = await client.infer_image(jpeg, f"{run_id}-{size_bytes}-{index}")
        row.update(pattern="open", scheduled_ns=scheduled_ns,
                   schedule_lateness_ms=lateness_ms(row["send_start_ns"], scheduled_ns))
        if on_row:
            on_row(index, row)
        else:
            rows[index] = row

    try:
        for index in range(requests):
            scheduled_ns = start_ns + int(offsets_ns[index])
            delay_s = (scheduled_ns - time.monotonic_ns()) / 1e9
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            task = asyncio.create_task(one(index, scheduled_ns))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        while in_flight:
            await asyncio.gather(*in_flight)
    finally:
        for task in in_flight:
            task.cancel()
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)
    return rows


def write_rows(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=ROW_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def summarise(rows: list[dict]) -> str:
    lines = []
    for size in sorted({r["size_bytes"] for r in rows}):
        ok = [r for r in rows if r["size_bytes"] == size and r["status"] == 200]
        failed = sum(1 for r in rows if r["size_bytes"] == size) - len(ok)
        if not ok:
            lines.append(f"{size:>9} B: {failed} failed")
            continue
        response_ms = [(r["reply_complete_ns"] - r["send_start_ns"]) / 1e6 for r in ok]
        upload_ms = [(r["upload_complete_ns"] - r["send_start_ns"]) / 1e6 for r in ok]
        infer_ms = [(r["inference_end_ns"] - r["inference_start_ns"]) / 1e6 for r in ok]
        lines.append(f"{size:>9} B: n={len(ok)} failed={failed} response median {statistics.median(response_ms):.2f} ms"
                     f"  upload {statistics.median(upload_ms):.2f} ms  inference {statistics.median(infer_ms):.2f} ms")
    return "\n".join(lines)


async def run(settings: ClientSettings, images, *, requests: int, rate_per_s: float | None, seed: int) -> list[dict]:
    async with InferenceClient(settings) as client:
        before = await client.server_last_seq()
        if rate_per_s:
            rows = await open_loop(client, images, rate_per_s, requests * len(images), seed)
        else:
            rows = await closed_loop(client, images, requests)
        try:
            attach_reply_sent(rows, await client.server_timings(before))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            pass  # reply_sent_ns stays empty; the server's timings.jsonl still has it
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nodes.client", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="server URL, e.g. http://10.0.0.2:8000")
    parser.add_argument("--model", default="edgecnn", help="model name at that server (edgecnn, cloudcnn, "
                                                           "features-pca, split-3, ...)")
    parser.add_argument("--sizes", default="60K", help="comma list of image sizes, K = 1024 (default 60K)")
    parser.add_argument("--requests", type=int, default=10, help="requests per image size")
    parser.add_argument("--rate", type=float, default=None, help="open loop: Poisson arrivals per second "
                                                                 "(default: closed loop)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the images and of the arrivals")
    parser.add_argument("--timeout-s", type=float, default=120.0, help="timeout of one request")
    parser.add_argument("--images-dir", type=Path, default=None, help="cache of generated JPEG files")
    parser.add_argument("--out", type=Path, default=None, help="CSV of one row per request")
    args = parser.parse_args(argv)
    try:
        if args.requests < 1:
            raise NodeConfigError(f"--requests {args.requests} must be >= 1")
        settings = ClientSettings(url=args.url, model=args.model, timeout_s=args.timeout_s)
        images = image_set([s for s in args.sizes.split(",") if s.strip()], args.seed, args.images_dir)
        rows = asyncio.run(run(settings, images, requests=args.requests, rate_per_s=args.rate, seed=args.seed))
    except NodeConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    if args.out:
        write_rows(args.out, rows)
    print(summarise(rows))
    return 0 if all(r["status"] == 200 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
