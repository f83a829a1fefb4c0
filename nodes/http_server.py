"""The HTTP side shared by the edge and cloud servers: Open Inference Protocol routes, timestamps, limits, lifecycle.

A node subclasses ``NodeServer`` (``resolve`` a model name, add routes, ``startup``)
and is run by ``serve_forever``: it listens, runs ``startup``, prints one line
``ready`` (and writes the ready file), serves until SIGTERM/SIGINT, then stops
accepting, lets in-flight requests finish (``shutdown_timeout_s``) and closes its
logs. Errors go out as ``{"error": "..."}`` with a 4xx/5xx status. Each inference request's
record and reply carry its queueing (``nodes.timing_log``: received_ns, queue_ms, in_progress_at_arrival).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiohttp import web

from nodes.errors import NodeConfigError, RequestError, UpstreamError
from nodes.protocol import BINARY_CONTENT_TYPE, HEADER_LENGTH, JSON_CONTENT_TYPE, encode_infer_response, \
    parse_infer_request
from nodes.server_limits import ConnectionGuard, GuardedProtocol, ServerLimits
from nodes.timing_log import TimingLog, queue_ms

SERVER_VERSION = "0.1.0"
log = logging.getLogger("nodes")


def json_error(message: str, status: int) -> web.Response:
    return web.json_response({"error": message}, status=status)


def setup_logging(log_dir: Path, node_name: str) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_dir / "node.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter(f"%(asctime)s {node_name} %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def write_json_atomically(path: Path, payload) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class NodeServer:
    """One node process: its models, its timing log, its HTTP routes."""

    kind = "node"

    def __init__(self, node_name: str, log_dir: Path, *, limits: ServerLimits | None = None,
                 worker_threads: int = 2):
        self.node_name = node_name
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.limits = limits or ServerLimits()
        self.executor = ThreadPoolExecutor(max_workers=worker_threads, thread_name_prefix=f"{node_name}-infer")
        self.timings = TimingLog(self.log_dir / "timings.jsonl")
        self.ready = False
        self.inflight = 0          # inference requests in progress (for the 503 limit)
        self.in_progress = 0       # inference requests received (body complete) and not yet answered
        self.active_requests = 0   # any request in progress (for the drain at shutdown)
        self.stopping = False
        self.guard = ConnectionGuard(self.limits)

    # --- for subclasses -------------------------------------------------------------------------
    def resolve(self, name: str):
        """The served model for a name; raise RequestError(404) naming the served models."""
        raise NotImplementedError

    def served_names(self) -> list[str]:
        raise NotImplementedError

    def add_routes(self, app: web.Application) -> None:
        pass

    async def startup(self) -> None:
        self.ready = True

    async def after_reply(self, served_name: str, model, request) -> None:
        """Runs after a successful reply was sent (the edge keeps the uploaded objects here)."""

    async def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=False)
        self.timings.close()

    # --- application ------------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], **self.limits.application_kwargs())
        app.router.add_get("/v2/health/live", self._live)
        app.router.add_get("/v2/health/ready", self._ready)
        app.router.add_get("/v2", self._server_metadata)
        app.router.add_get("/v2/models", self._model_index)
        app.router.add_get("/v2/models/{model}", self._model_metadata)
        app.router.add_get("/v2/models/{model}/versions/{version}", self._model_metadata)
        app.router.add_get("/v2/models/{model}/ready", self._model_ready)
        app.router.add_get("/v2/models/{model}/versions/{version}/ready", self._model_ready)
        app.router.add_post("/v2/models/{model}/infer", self._infer)
        app.router.add_post("/v2/models/{model}/versions/{version}/infer", self._infer)
        app.router.add_get("/v2/timings", self._timings)
        self.add_routes(app)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        self.guard.request_started(request)
        if self.stopping:
            self.guard.request_finished(request)
            return web.json_response({"error": f"node {self.node_name} is shutting down"}, status=503,
                                     headers={"Connection": "close"})
        self.active_requests += 1
        try:
            return await handler(request)
        except RequestError as exc:
            return json_error(str(exc), exc.status)
        except web.HTTPRequestEntityTooLarge:
            return json_error(f"request body larger than the limit of {self.limits.max_request_bytes} bytes", 413)
        except web.HTTPException as exc:
            if exc.status >= 400:
                return json_error(f"{exc.reason}: {request.method} {request.path}", exc.status)
            raise
        finally:
            self.active_requests -= 1
            self.guard.request_finished(request)

    async def drain(self, timeout_s: float) -> None:
        """After stop: refuse new requests, wait (at most timeout_s) until the running ones have finished."""
        self.stopping = True
        deadline = time.monotonic() + timeout_s
        while self.active_requests and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.active_requests:
            log.warning("%d request(s) still running after %.1f s; closing their connections",
                        self.active_requests, timeout_s)

    async def _live(self, request):
        return web.json_response({"live": True})

    async def _ready(self, request):
        return web.json_response({"ready": self.ready}, status=200 if self.ready else 503)

    async def _server_metadata(self, request):
        return web.json_response({"name": self.node_name, "version": SERVER_VERSION, "kind": self.kind,
                                  "extensions": ["binary_tensor_data", "timings"]})

    async def _model_index(self, request):
        return web.json_response({"models": self.served_names()})

    async def _model_metadata(self, request):
        name = request.match_info["model"]
        return web.json_response(self.resolve(name).metadata(name))

    async def _model_ready(self, request):
        self.resolve(request.match_info["model"])
        return web.json_response({"ready": self.ready}, status=200 if self.ready else 503)

    async def _timings(self, request):
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            raise RequestError(f"since={request.query.get('since')!r} must be an integer sequence number") from None
        return web.json_response({"node": self.node_name, "last_seq": self.timings.last_seq,
                                  "records": self.timings.since(since)})

    async def read_body(self, request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > self.limits.max_request_bytes:
            raise RequestError(f"request body of {request.content_length} bytes is larger than the limit of "
                               f"{self.limits.max_request_bytes} bytes", 413)
        try:
            async with asyncio.timeout(self.limits.body_timeout_s):
                return await request.read()
        except TimeoutError:
            raise RequestError(f"request body not received within {self.limits.body_timeout_s} s", 408) from None
        except web.HTTPRequestEntityTooLarge:  # a chunked body without Content-Length that grew too large
            raise RequestError(f"request body larger than the limit of {self.limits.max_request_bytes} bytes",
                               413) from None

    async def _infer(self, request: web.Request) -> web.StreamResponse:
        record = {"node": self.node_name, "request_received_ns": time.monotonic_ns(),
                  "model": request.match_info["model"], "status": 200, "error": ""}
        self.inflight += 1
        stamps: dict = {}
        try:
            response, infer_request, model = await self._infer_timed(request, record, stamps)
        except RequestError as exc:
            record.update(status=exc.status, error=str(exc))
            response, infer_request, model = json_error(str(exc), exc.status), None, None
        except UpstreamError as exc:
            record.update(status=502, error=str(exc))
            response, infer_request, model = json_error(str(exc), 502), None, None
        except Exception as exc:  # a bug: answer 500, keep serving, leave the traceback in the log
            log.error("infer failed: %s", traceback.format_exc())
            record.update(status=500, error=f"internal error: {type(exc).__name__}: {exc}")
            response, infer_request, model = json_error(record["error"], 500), None, None
        finally:
            self.inflight -= 1
            if "received_ns" in record:  # it had been counted in in_progress
                self.in_progress -= 1
        if record["status"] != 200 and "received_ns" in record:  # an error after the body came: its queueing
            record.update({k: v for k, v in stamps.items() if k.endswith("_ns")}, queue_ms=queue_ms(record, stamps))
        record["reply_start_ns"] = time.monotonic_ns()
        try:
            await response.prepare(request)
            await response.write_eof()
            record["reply_sent_ns"] = time.monotonic_ns()
        except (ConnectionError, RuntimeError) as exc:
            record.update(status=499, error=f"reply not sent: {exc}")
        self.timings.add(record)
        if model is not None and record["status"] == 200:
            await self.after_reply(request.match_info["model"], model, infer_request)
        return response

    async def _infer_timed(self, request: web.Request, record: dict, stamps: dict):
        name = request.match_info["model"]
        if not self.ready:
            raise RequestError(f"node {self.node_name} is not ready yet (models still loading)", 503)
        model = self.resolve(name)
        if self.inflight > self.limits.max_inflight_inferences:
            raise RequestError(f"too many requests in progress (limit {self.limits.max_inflight_inferences})", 503)
        body = await self.read_body(request)
        stamps["upload_complete_ns"] = record["received_ns"] = time.monotonic_ns()
        record["in_progress_at_arrival"] = self.in_progress
        self.in_progress += 1
        record["request_bytes"] = len(body)
        infer_request = parse_infer_request(body, request.headers.get(HEADER_LENGTH))
        record["request_id"] = infer_request.request_id
        outputs = await model.infer(infer_request, stamps)
        parameters = {"node": self.node_name, "model": model.model_name, "provider": model.provider,
                      "request_received_ns": record["request_received_ns"], **stamps,
                      "received_ns": record["received_ns"], "queue_ms": queue_ms(record, stamps),
                      "in_progress_at_arrival": record["in_progress_at_arrival"]}
        record.update(parameters)
        body, json_length = encode_infer_response(name, infer_request, outputs, parameters)
        headers = {}
        if json_length is not None:
            headers[HEADER_LENGTH] = str(json_length)
        response = web.Response(body=body, headers=headers,
                                content_type=BINARY_CONTENT_TYPE if json_length is not None else JSON_CONTENT_TYPE)
        record["reply_bytes"] = len(body)
        return response, infer_request, model


async def _run(node: NodeServer, host: str, port: int, ready_file: Path | None,
               shutdown_timeout_s: float, started: asyncio.Future | None = None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (RuntimeError, ValueError):  # not the main thread (tests run servers in a thread)
            pass
    runner = web.AppRunner(node.build_app(), access_log=None, shutdown_timeout=shutdown_timeout_s,
                           **node.limits.handler_kwargs())
    await runner.setup()
    try:
        tcp_server = await loop.create_server(
            lambda: GuardedProtocol(runner.server, node.guard), host, port,
            reuse_address=True, backlog=min(1024, node.limits.max_connections))
    except OSError as exc:
        await runner.cleanup()
        await node.close()
        raise NodeConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                              "(another process on that port, or an address this host does not have)") from None
    node.guard.start()
    try:
        actual_port = tcp_server.sockets[0].getsockname()[1]
        log.info("listening on %s:%d", host, actual_port)
        await node.startup()
        url = f"http://{host}:{actual_port}"
        if ready_file is not None:
            write_json_atomically(ready_file, {"url": url, "port": actual_port, "pid": os.getpid(),
                                               "node": node.node_name})
        print("ready", flush=True)
        log.info("ready at %s", url)
        if started is not None:
            started.set_result((url, stop))
        await stop.wait()
        log.info("stopping: no new connections, finishing in-flight requests")
    finally:
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)  # a stale ready file must not look like a live node
        tcp_server.close()
        # aiohttp drops the body bytes of a request still uploading once it closes its connections:
        # let those requests finish first, then close.
        await node.drain(shutdown_timeout_s)
        node.guard.stop()
        await runner.cleanup()
        await node.close()
        log.info("stopped")


def serve_forever(node: NodeServer, host: str, port: int, ready_file: Path | None = None,
                  shutdown_timeout_s: float = 30.0) -> None:
    asyncio.run(_run(node, host, port, ready_file, shutdown_timeout_s))


def run_cli(main, argv=None) -> int:
    """Run a node CLI: one line on stderr and exit 2 for bad input or a failed start, no traceback."""
    from models.errors import ModelError
    from nodes.errors import ArtifactError

    try:
        main(argv)
    except (NodeConfigError, ArtifactError, UpstreamError, ModelError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
