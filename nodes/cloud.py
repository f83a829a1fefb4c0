"""The cloud server: CloudCNN on images, split upper parts and feature classifiers on tensors,
the model artifacts the edges download, and labelling of the objects edges upload (System B update phase).

    python -m nodes.cloud --host IP --port 8000 --models DIR --log-dir DIR [--device auto|cpu|cuda] [--threads N]
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import numpy as np
from aiohttp import web

from models.runtime import open_session
from nodes.artifacts import ArtifactEntry, read_manifest, read_verified
from nodes.errors import NodeConfigError, RequestError
from nodes.http_server import NodeServer, run_cli, serve_forever, setup_logging
from nodes.node_cli import check_common, common_parser, pacer_of
from nodes.protocol import HEADER_LENGTH, parse_infer_request
from nodes.served_models import ImageModel, TensorModel
from nodes.server_limits import ServerLimits

log = logging.getLogger("nodes.cloud")
SERVED_ROLES = ("full", "upper", "feature-classifier")
MAX_LABEL_BATCH = 256


class CloudServer(NodeServer):
    kind = "cloud"

    def __init__(self, models_dir: Path, log_dir: Path, *, node_name: str = "cloud", device: str = "auto",
                 threads: int | None = None, label_model: str = "cloudcnn", limits: ServerLimits | None = None,
                 worker_threads: int = 2, pacer=None):
        super().__init__(node_name, log_dir, limits=limits, worker_threads=worker_threads)
        self.models_dir = Path(models_dir)
        self.entries: dict[str, ArtifactEntry] = read_manifest(self.models_dir)
        if label_model not in self.entries or self.entries[label_model].role != "full":
            raise NodeConfigError(f"label model {label_model!r} is not a 'full' model in "
                                  f"{self.models_dir / 'manifest.json'}")
        self.device, self.threads, self.label_model, self.pacer = device, threads, label_model, pacer
        self.models: dict = {}

    async def startup(self) -> None:
        loop = asyncio.get_running_loop()
        for name, entry in self.entries.items():
            if entry.role not in SERVED_ROLES:
                continue
            data = read_verified(self.models_dir, entry)  # refuse a file that changed since the manifest
            session = await loop.run_in_executor(self.executor, open_session, data, self.device, self.threads)
            cls = ImageModel if entry.role == "full" else TensorModel
            self.models[name] = cls(name, session, self.executor, role=entry.role, sha256=entry.sha256,
                                    pacer=self.pacer)
            log.info("serving %s (%s, %d bytes) on %s", name, entry.role, entry.size_bytes, session.provider)
        self.ready = True

    def resolve(self, name: str):
        model = self.models.get(name)
        if model is None:
            raise RequestError(f"model {name!r} is not served here; served models: {', '.join(sorted(self.models))}",
                               404)
        return model

    def served_names(self) -> list[str]:
        return sorted(self.models)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v2/artifacts", self._artifact_index)
        app.router.add_get("/v2/artifacts/{name}", self._artifact_file)
        app.router.add_post("/v2/label", self._label)

    async def _artifact_index(self, request):
        return web.json_response({"artifacts": [e.index_entry() for e in self.entries.values()]})

    async def _artifact_file(self, request):
        name = request.match_info["name"]
        entry = self.entries.get(name)
        if entry is None:  # never a path from the client: only manifest names
            raise RequestError(f"no artifact named {name!r}; available: {', '.join(sorted(self.entries))}", 404)
        log.info("artifact %s requested by %s", name, request.remote)
        return web.FileResponse(self.models_dir / entry.file, headers={
            "Content-Type": "application/octet-stream", "X-Artifact-Sha256": entry.sha256})

    async def _label(self, request):
        """Label a batch of JPEG objects (input 'image', BYTES [N]) with CloudCNN; reply {"labels": [...]}."""
        if not self.ready:
            raise RequestError("the cloud is not ready yet (models still loading)", 503)
        model = self.models[self.label_model]
        body = await self.read_body(request)
        stamps = {"upload_complete_ns": time.monotonic_ns()}
        infer_request = parse_infer_request(body, request.headers.get(HEADER_LENGTH))
        images = model.images_of(infer_request)
        if len(images) > MAX_LABEL_BATCH:
            raise RequestError(f"a label batch holds at most {MAX_LABEL_BATCH} images, got {len(images)}", 413)
        outputs = await model.infer(infer_request, stamps)
        labels = np.asarray(outputs[0].data).reshape(len(images), -1).argmax(axis=1).tolist()
        return web.json_response({"model": self.label_model, "node": self.node_name, "labels": labels,
                                  "parameters": stamps})


def main(argv=None) -> None:
    parser = common_parser("python -m nodes.cloud", __doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, required=True, help="models dir holding manifest.json and *.onnx")
    parser.add_argument("--label-model", default="cloudcnn", help="model that labels uploaded objects")
    args = parser.parse_args(argv)
    limits = check_common(args)
    name = args.name or "cloud"
    setup_logging(args.log_dir, name)
    server = CloudServer(args.models, args.log_dir, node_name=name, device=args.device, threads=args.threads,
                         label_model=args.label_model, limits=limits, worker_threads=args.workers,
                         pacer=pacer_of(args))
    serve_forever(server, args.host, args.port, args.ready_file, args.shutdown_timeout_s)


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
