"""The edge server: EdgeCNN-k on images, the features/split placements, model download and hot swap,
and the objects kept for the update phase (System B).

    python -m nodes.edge --host IP --port 8000 --cloud URL --log-dir DIR [--model edgecnn1-3]
                         [--placements edge,features,split] [--split-layers 3] [--device ...] [--threads N]
                         [--keep-objects N]

Kept objects are opt-in (``--keep-objects N``, what ``nodes.collab_edge`` turns on): by default the edge keeps,
hashes and writes nothing after a reply, the same work per request as the cloud.

At start the edge downloads its models from the cloud (``GET /v2/artifacts``),
verifies size and sha256, and only then reports ready. ``POST /v2/admin/swap
{"model": NAME}`` (or ``await EdgeServer.swap_model(NAME)``) replaces the model
while serving: requests already running finish on the old session, the next ones
use the new; a file that fails its check is refused and the old model keeps
serving.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

from aiohttp import web

from models.errors import ModelError
from models.runtime import open_session
from nodes.artifacts import ArtifactEntry, FetchRecord, verify, write_atomically
from nodes.cloud_link import CloudLink
from nodes.errors import ArtifactError, NodeConfigError, RequestError, UpstreamError
from nodes.http_server import NodeServer, run_cli, serve_forever, setup_logging
from nodes.node_cli import check_common, common_parser, pacer_of
from nodes.object_store import ObjectStore, ObjectStoreLimits
from nodes.placements import PlacementSpec, RemoteTailModel, placement_specs, with_user_pairs
from nodes.served_models import ImageModel
from nodes.server_limits import ServerLimits

log = logging.getLogger("nodes.edge")
EDGE_ALIAS = "edgecnn"
PLACEMENTS = ("edge", "features", "split")


class EdgeServer(NodeServer):
    kind = "edge"

    def __init__(self, cloud_url: str, log_dir: Path, *, node_name: str = "edge", model: str = "edgecnn1-3",
                 placements: tuple[str, ...] = ("edge",), split_layers: int = 3, device: str = "auto",
                 threads: int | None = None, limits: ServerLimits | None = None, worker_threads: int = 2,
                 keep_limits: ObjectStoreLimits = ObjectStoreLimits(), fetch_timeout_s: float = 60.0,
                 cloud_timeout_s: float = 30.0, cloud_retries: int = 0, pacer=None):
        super().__init__(node_name, log_dir, limits=limits, worker_threads=worker_threads)
        bad = [p for p in placements if p not in PLACEMENTS]
        if bad or "edge" not in placements:
            raise NodeConfigError(f"placements {','.join(placements)!r}: each must be one of {', '.join(PLACEMENTS)} "
                                  "and 'edge' must be among them")
        if fetch_timeout_s <= 0:
            raise NodeConfigError(f"fetch timeout {fetch_timeout_s} s must be > 0")
        self.model_name, self.device, self.threads, self.pacer = model, device, threads, pacer
        self.specs: list[PlacementSpec] = placement_specs(tuple(placements), split_layers)
        self.fetch_timeout_s = fetch_timeout_s
        if not 0 <= cloud_retries <= 10 or cloud_timeout_s <= 0:
            raise NodeConfigError(f"cloud retries {cloud_retries} must be 0..10 and cloud timeout {cloud_timeout_s} s > 0")
        self.cloud = CloudLink(cloud_url, request_timeout_s=cloud_timeout_s, retries=cloud_retries)
        self.objects = ObjectStore(self.log_dir / "objects", keep_limits)
        self.current: ImageModel | None = None
        self.remote: dict[str, RemoteTailModel] = {}
        self.fetches: list[dict] = []
        self._swap_lock = asyncio.Lock()
        self._keeping: set[asyncio.Future] = set()

    # --- models ---------------------------------------------------------------------------------
    def _log_fetch(self, record: FetchRecord) -> None:
        self.fetches.append(record.as_dict())
        with open(self.log_dir / "fetches.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record.as_dict()) + "\n")
        log.info("fetch %s: %d bytes in %.1f ms verified=%s %s", record.name, record.size_bytes,
                 record.duration_ms, record.verified, record.error)

    async def _fetch(self, entry: ArtifactEntry) -> bytes:
        start_ns = time.monotonic_ns()
        try:
            data, record = await self.cloud.fetch_artifact(entry)
        except (ArtifactError, UpstreamError) as exc:
            self._log_fetch(FetchRecord(entry.name, 0, start_ns, time.monotonic_ns(), False, str(exc)))
            raise
        self._log_fetch(record)
        # loading work runs on the loop's default pool, not the inference pool: serving is not held up
        await asyncio.get_running_loop().run_in_executor(
            None, write_atomically, self.log_dir / "models" / f"{entry.name}.onnx", data)
        return data

    async def _image_model(self, entry: ArtifactEntry, data: bytes) -> ImageModel:
        loop = asyncio.get_running_loop()
        try:
            session = await loop.run_in_executor(None, open_session, data, self.device, self.threads)
            return ImageModel(entry.name, session, self.executor, role=entry.role, sha256=entry.sha256,
                              pacer=self.pacer)
        except ModelError as exc:
            raise ArtifactError(f"{entry.name}: not loadable as an image model: {exc}; refused") from None

    async def _index_with_retry(self) -> dict[str, ArtifactEntry]:
        deadline = time.monotonic() + self.fetch_timeout_s
        delay_s = 0.2
        while True:
            try:
                return await self.cloud.artifact_index()
            except UpstreamError as exc:
                if time.monotonic() + delay_s > deadline:
                    raise UpstreamError(f"no model index from the cloud within {self.fetch_timeout_s} s: {exc}") \
                        from None
                log.info("cloud not reachable yet (%s); retrying in %.1f s", exc, delay_s)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 5.0)

    @staticmethod
    def _entry(index: dict[str, ArtifactEntry], name: str) -> ArtifactEntry:
        if name not in index:
            raise RequestError(f"the cloud has no model {name!r}; it has {', '.join(sorted(index))}", 404)
        return index[name]

    async def startup(self) -> None:
        started = time.monotonic()
        index = await self._index_with_retry()
        self.specs = with_user_pairs(self.specs, index)  # a user's split / features pair (nodes/placements.py)
        try:
            entry = self._entry(index, self.model_name)
            self.current = await self._image_model(entry, await self._fetch(entry))
            for spec in self.specs:
                head_entry = self._entry(index, spec.head_model)
                head = await self._image_model(head_entry, await self._fetch(head_entry))
                self.remote[spec.served_name] = RemoteTailModel(spec, head, self.cloud)
        except RequestError as exc:
            raise NodeConfigError(str(exc)) from None
        for remote in self.remote.values():
            try:
                await remote.cloud_input_name()
            except UpstreamError as exc:  # not fatal: looked up again on first use
                log.warning("placement %s: %s", remote.spec.served_name, exc)
        log.info("models ready in %.1f ms: %s + %s", (time.monotonic() - started) * 1e3, self.current.model_name,
                 ", ".join(self.remote) or "no remote placements")
        self.ready = True

    async def swap_model(self, name: str, data: bytes | None = None, entry: ArtifactEntry | None = None) -> dict:
        """Replace the served EdgeCNN: downloaded from the cloud, or from ``data`` checked against ``entry``.

        Raises ArtifactError (refused: the old model keeps serving) or UpstreamError (cloud unreachable).
        """
        async with self._swap_lock:
            started_ns = time.monotonic_ns()
            if data is None:
                entry = self._entry(await self.cloud.artifact_index(), name)
                data = await self._fetch(entry)
            elif entry is None:
                raise ArtifactError(f"{name}: bytes given without the manifest entry to check them against")
            else:
                verify(entry, data, "the caller")  # same check as a download
            if entry.role != "full":
                raise ArtifactError(f"{name}: role {entry.role!r} is not a full image model; refused")
            new_model = await self._image_model(entry, data)
            previous, self.current = self.current, new_model  # one assignment: requests see old or new
            result = {"model": new_model.model_name, "previous": previous.model_name if previous else None,
                      "sha256": entry.sha256, "swap_ms": round((time.monotonic_ns() - started_ns) / 1e6, 3)}
            log.info("swapped model: %s", result)
            return result

    # --- serving --------------------------------------------------------------------------------
    def resolve(self, name: str):
        current = self.current
        if current is not None and name in (EDGE_ALIAS, current.model_name):
            return current
        if name in self.remote:
            return self.remote[name]
        raise RequestError(f"model {name!r} is not served here; served models: {', '.join(self.served_names())}",
                           404)

    def served_names(self) -> list[str]:
        names = [EDGE_ALIAS] + ([self.current.model_name] if self.current else [])
        return names + sorted(self.remote)

    async def after_reply(self, served_name: str, model, request) -> None:
        # opt-in (--keep-objects N, what collaborate asks for): by default the edge does per request exactly
        # what the cloud does, and no hashing or disk writes after the reply compete with the next request
        if not isinstance(model, ImageModel) or not self.objects.limits.enabled:
            return
        loop = asyncio.get_running_loop()
        for image in request.inputs[0].data:
            future = loop.run_in_executor(None, self.objects.keep, image)
            self._keeping.add(future)
            future.add_done_callback(self._keeping.discard)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/admin/swap", self._admin_swap)
        app.router.add_post("/v2/admin/label", self._admin_label)
        app.router.add_get("/v2/admin/status", self._admin_status)

    async def _json_body(self, request) -> dict:
        try:
            body = json.loads(await self.read_body(request) or b"{}")
        except ValueError as exc:
            raise RequestError(f"admin request body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise RequestError("admin request body must be a JSON object")
        return body

    async def _admin_swap(self, request):
        body = await self._json_body(request)
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise RequestError('swap needs {"model": NAME}')
        try:
            return web.json_response(await self.swap_model(name))
        except ArtifactError as exc:
            return web.json_response({"error": str(exc), "serving": self.current.model_name}, status=422)
        except UpstreamError as exc:
            return web.json_response({"error": str(exc), "serving": self.current.model_name}, status=502)

    async def _admin_label(self, request):
        body = await self._json_body(request)
        limit = body.get("max_objects", 64)
        if not isinstance(limit, int) or not 1 <= limit <= 256:
            raise RequestError(f"max_objects {limit!r} must be an integer in 1..256")
        return web.json_response(await self.label_kept_objects(limit))

    async def label_kept_objects(self, max_objects: int = 64) -> dict:
        """Upload kept, unlabelled objects to the cloud's labeller; store the labels it returns."""
        loop = asyncio.get_running_loop()
        pending = await loop.run_in_executor(None, self.objects.unlabelled, max_objects)
        started_ns = time.monotonic_ns()
        if not pending:
            return {"labelled": 0, "duration_ms": 0.0, "bytes": 0}
        try:
            labels = await self.cloud.label([data for _, data in pending])
        except UpstreamError as exc:
            raise RequestError(str(exc), 502) from None
        await loop.run_in_executor(None, self.objects.set_labels,
                                   {name: label for (name, _), label in zip(pending, labels)})
        return {"labelled": len(labels), "bytes": sum(len(d) for _, d in pending),
                "duration_ms": round((time.monotonic_ns() - started_ns) / 1e6, 3)}

    async def _admin_status(self, request):
        return web.json_response({
            "node": self.node_name, "ready": self.ready, "model": self.current.model_name if self.current else None,
            "placements": sorted(self.remote), "kept_objects": len(self.objects),
            "kept_bytes": self.objects.total_bytes, "labelled_objects": len(self.objects.labels()),
            "fetches": self.fetches, "connections": self.guard.open_connections,
            "cloud_retries": {"configured": self.cloud.retries, "retried": self.cloud.retried}})

    async def close(self) -> None:
        if self._keeping:
            await asyncio.gather(*self._keeping, return_exceptions=True)
        await self.cloud.close()
        await super().close()


def _placements(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def main(argv=None) -> None:
    parser = common_parser("python -m nodes.edge", __doc__.splitlines()[0])
    parser.add_argument("--cloud", required=True, help="cloud URL, e.g. http://10.0.0.3:8000")
    parser.add_argument("--model", default="edgecnn1-3", help="EdgeCNN to serve (a 'full' model of the cloud)")
    parser.add_argument("--placements", type=_placements, default=("edge",),
                        help="comma list of edge,features,split (default edge)")
    parser.add_argument("--split-layers", type=int, default=3, help="m of cloudcnn-lower-m for 'split'")
    parser.add_argument("--keep-objects", type=int, default=0,
                        help="keep up to N uploaded objects for labelling (default 0: keep, hash and write nothing, "
                             "so the edge does the same work per request as the cloud)")
    parser.add_argument("--keep-bytes", type=int, default=256 * 1024 * 1024, help="bytes of kept objects at most")
    parser.add_argument("--fetch-timeout-s", type=float, default=60.0,
                        help="how long to wait for the cloud's model index at start")
    parser.add_argument("--cloud-timeout-s", type=float, default=30.0, help="timeout of one request to the cloud")
    parser.add_argument("--cloud-retries", type=int, default=0,
                        help="retries of a request to the cloud that got no answer or 502-504 (default 0)")
    args = parser.parse_args(argv)
    limits = check_common(args)
    name = args.name or "edge"
    setup_logging(args.log_dir, name)
    server = EdgeServer(args.cloud, args.log_dir, node_name=name, model=args.model, placements=args.placements,
                        split_layers=args.split_layers, device=args.device, threads=args.threads, limits=limits,
                        worker_threads=args.workers,
                        keep_limits=ObjectStoreLimits(max_objects=args.keep_objects, max_bytes=args.keep_bytes),
                        fetch_timeout_s=args.fetch_timeout_s, cloud_timeout_s=args.cloud_timeout_s,
                        cloud_retries=args.cloud_retries, pacer=pacer_of(args))
    serve_forever(server, args.host, args.port, args.ready_file, args.shutdown_timeout_s)


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
