"""The edge of System B's collaboration: EdgeCNN1-k built here from CloudCNN's downloaded lower layers,
then kept up to date with labels the cloud gives to the objects devices uploaded.

    python -m nodes.collab_edge --host IP --cloud URL --log-dir DIR --labelled-set N.npz
        [--shared-block cloudcnn-lower-3] [--labels-per-update 200] [--max-updates 1] [--label-batch 50]
        [--wan-counters /proc/PID/net/dev:IFACE] [--idle-s 3] [--idle-rate-bytes-per-s 20000]

Initialisation: download the shared block (verified), train the head on the labelled
set with the block frozen, serve the result as ``edgecnn`` (and its own name).
Update: every reply keeps the uploaded object (``EdgeServer.after_reply``); when the WAN
counters have been below the threshold for ``--idle-s``, kept unlabelled objects go to
the cloud's labeller in batches (paused again as soon as anyone else loads the WAN); after
M new labels the head is retrained on N + all labels in a separate process and hot-swapped.
Every step is a JSON line in ``<log-dir>/collab.jsonl`` (what the harness reads); each model
version is kept in ``<log-dir>/models/``.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import numpy as np

from nodes.artifacts import ArtifactEntry, sha256_hex, write_atomically
from nodes.edge import EdgeServer
from nodes.edge_update import RetrainPool, UpdateSettings, load_labelled, object_pixels
from nodes.errors import NodeConfigError, RequestError
from nodes.http_server import run_cli, serve_forever, setup_logging
from nodes.node_cli import check_common, common_parser
from nodes.object_store import ObjectStoreLimits
from nodes.wan_counters import CounterError, CounterSource, IdleSettings, InterfaceBytes, WanIdleDetector

log = logging.getLogger("nodes.collab_edge")


class CollaborativeEdgeServer(EdgeServer):
    def __init__(self, cloud_url: str, log_dir: Path, update: UpdateSettings, *, counters: CounterSource | None,
                 idle: IdleSettings = IdleSettings(), **kwargs):
        depth = update.shared_block.rsplit("-", 1)[-1]
        super().__init__(cloud_url, log_dir, model=f"edgecnn1-{depth}", **kwargs)
        self.update, self.counters, self.idle = update, counters, idle
        self.labelled_images, self.labelled_labels = load_labelled(Path(update.labelled_set))
        self.block: bytes | None = None
        self.trainer = RetrainPool()
        self.updates_done = 0
        self.labels_used = 0
        self._task: asyncio.Task | None = None

    # --- records ---------------------------------------------------------------------------------
    def _event(self, kind: str, **fields) -> None:
        record = {"event": kind, "time_ns": time.monotonic_ns(), **fields}
        with open(self.log_dir / "collab.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        log.info("%s %s", kind, fields)

    def _wan(self) -> InterfaceBytes | None:
        if self.counters is None:
            return None
        try:
            return self.counters.read()
        except CounterError as exc:
            log.warning("WAN counters: %s", exc)
            return None

    @staticmethod
    def _delta(after: InterfaceBytes | None, before: InterfaceBytes | None) -> dict:
        if after is None or before is None:
            return {"wan_rx_bytes": None, "wan_tx_bytes": None}
        diff = after.minus(before)
        return {"wan_rx_bytes": diff.rx_bytes, "wan_tx_bytes": diff.tx_bytes}

    # --- initialisation --------------------------------------------------------------------------
    async def _install(self, name: str, result: dict) -> dict:
        data = result["onnx"]
        entry = ArtifactEntry(name=name, file=f"{name}.onnx", sha256=sha256_hex(data), size_bytes=len(data),
                              role="full")
        await asyncio.get_running_loop().run_in_executor(
            None, write_atomically, self.log_dir / "models" / f"{name}.onnx", data)
        if self.current is None:
            self.current = await self._image_model(entry, data)
            return {"model": name, "previous": None, "sha256": entry.sha256, "swap_ms": 0.0}
        return await self.swap_model(name, data, entry)

    async def startup(self) -> None:
        started_ns = time.monotonic_ns()
        index = await self._index_with_retry()
        try:
            entry = self._entry(index, self.update.shared_block)
        except RequestError as exc:
            raise NodeConfigError(str(exc)) from None
        if entry.role != "lower":
            raise NodeConfigError(f"{entry.name}: role {entry.role!r}, expected 'lower' (CloudCNN's m lower layers)")
        before = self._wan()
        self.block = await self._fetch(entry)
        fetched = self._wan()
        self._event("block_downloaded", model=entry.name, bytes=len(self.block), **self._delta(fetched, before))
        result = await self.trainer.train(self.block, self.labelled_images, self.labelled_labels, self.update,
                                          self.update.seed)
        swap = await self._install(f"{self.model_name}-v0", result)
        self._event("initialised", version=0, model=swap["model"], sha256=swap["sha256"],
                    labelled_images=result["images"], train_seconds=round(result["train_seconds"], 3),
                    epochs=result["epochs"], onnx_bytes=len(result["onnx"]),
                    duration_ms=round((time.monotonic_ns() - started_ns) / 1e6, 3))
        self.ready = True
        self._task = asyncio.create_task(self._update_loop())

    # --- update phase ----------------------------------------------------------------------------
    def _pending(self) -> int:
        return len(self.objects) - len(self.objects.labels())

    def _batch_wanted(self) -> int:
        """Full batches only, except the last few labels an update still needs."""
        missing = self.update.labels_per_update - (len(self.objects.labels()) - self.labels_used)
        return max(1, min(self.update.label_batch, missing))

    async def _update_loop(self) -> None:
        if self.counters is None or self.update.max_updates == 0:
            return
        try:
            detector = WanIdleDetector(lambda: self.counters.read().total_bytes, self.idle)
            while self.updates_done < self.update.max_updates:
                await asyncio.sleep(self.idle.poll_s)
                detector.sample()
                if self._pending() < self._batch_wanted() or not detector.is_idle():
                    continue
                await self._label_batch(detector)
                detector.resync()  # our own upload is not someone else's load
                if len(self.objects.labels()) - self.labels_used >= self.update.labels_per_update:
                    await self._retrain()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded, the edge keeps serving
            self._event("update_failed", error=f"{type(exc).__name__}: {exc}")

    async def _label_batch(self, detector: WanIdleDetector) -> None:
        before, start_ns = self._wan(), time.monotonic_ns()
        try:
            result = await self.label_kept_objects(self.update.label_batch)
        except RequestError as exc:  # the cloud failed: try again after the next idle period
            self._event("label_failed", error=str(exc))
            return
        self._event("labelled", objects=result["labelled"], payload_bytes=result["bytes"], start_ns=start_ns,
                    idle_for_s=round(detector.idle_for_s(), 3), duration_ms=result["duration_ms"],
                    labelled_total=len(self.objects.labels()), update=self.updates_done + 1,
                    **self._delta(self._wan(), before))

    def _training_set(self) -> tuple[np.ndarray, np.ndarray, int]:
        labels = self.objects.labels()
        names = sorted(labels)
        pixels = [object_pixels((self.objects.folder / n).read_bytes()) for n in names]
        images = np.concatenate([self.labelled_images, np.stack(pixels)]) if pixels else self.labelled_images
        targets = np.concatenate([self.labelled_labels, np.array([labels[n] for n in names], dtype=np.int64)])
        return images, targets, len(names)

    async def _retrain(self) -> None:
        version = self.updates_done + 1
        start_ns = time.monotonic_ns()
        images, labels, from_cloud = await asyncio.get_running_loop().run_in_executor(None, self._training_set)
        result = await self.trainer.train(self.block, images, labels, self.update, self.update.seed + version)
        trained_ns = time.monotonic_ns()
        swap = await self._install(f"{self.model_name}-v{version}", result)
        self.updates_done, self.labels_used = version, from_cloud
        self._event("updated", version=version, model=swap["model"], previous=swap["previous"], sha256=swap["sha256"],
                    labelled_images=result["images"], cloud_labels=from_cloud, train_seconds=round(result["train_seconds"], 3),
                    epochs=result["epochs"], swap_ms=swap["swap_ms"], start_ns=start_ns, trained_ns=trained_ns,
                    end_ns=time.monotonic_ns())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(None, self.trainer.close)
        await super().close()


def main(argv=None) -> None:
    parser = common_parser("python -m nodes.collab_edge", __doc__.splitlines()[0])
    parser.add_argument("--cloud", required=True, help="cloud URL, e.g. http://10.0.3.2:8000")
    parser.add_argument("--labelled-set", required=True, type=Path, help=".npz of the edge's labelled images")
    parser.add_argument("--shared-block", default="cloudcnn-lower-3", help="CloudCNN lower-layer artifact to build on")
    parser.add_argument("--labels-per-update", type=int, default=200, help="M: new labels that trigger a retrain")
    parser.add_argument("--max-updates", type=int, default=1, help="retrains at most (0: none)")
    parser.add_argument("--label-batch", type=int, default=50, help="objects per upload to the labeller (<= 256)")
    parser.add_argument("--train-epochs", type=int, default=30)
    parser.add_argument("--train-threads", type=int, default=1)
    parser.add_argument("--pool-stride", type=int, default=2, choices=(1, 2))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--wan-counters", type=CounterSource.parse, default=None,
                        help="PATH:IFACE of the WAN port's counters (/proc/PID/net/dev of a process in that "
                             "namespace); without it the update phase never starts")
    parser.add_argument("--idle-s", type=float, default=IdleSettings.idle_s)
    parser.add_argument("--idle-rate-bytes-per-s", type=float, default=IdleSettings.idle_rate_bytes_per_s)
    parser.add_argument("--poll-s", type=float, default=IdleSettings.poll_s)
    parser.add_argument("--keep-objects", type=int, default=5000,
                        help="uploaded objects kept for labelling (>= 1: the update phase labels kept objects)")
    parser.add_argument("--cloud-timeout-s", type=float, default=60.0)
    args = parser.parse_args(argv)
    limits = check_common(args)
    if args.keep_objects < 1:
        raise NodeConfigError(f"--keep-objects {args.keep_objects}: the update phase labels the objects the edge "
                              "keeps, so it must be >= 1 (default 5000)")
    name = args.name or "edge"
    setup_logging(args.log_dir, name)
    update = UpdateSettings(labelled_set=str(args.labelled_set), shared_block=args.shared_block,
                            labels_per_update=args.labels_per_update, max_updates=args.max_updates,
                            label_batch=args.label_batch, train_epochs=args.train_epochs,
                            train_threads=args.train_threads, pool_stride=args.pool_stride, seed=args.seed)
    idle = IdleSettings(idle_s=args.idle_s, idle_rate_bytes_per_s=args.idle_rate_bytes_per_s, poll_s=args.poll_s)
    server = CollaborativeEdgeServer(args.cloud, args.log_dir, update, counters=args.wan_counters, idle=idle,
                                     node_name=name, device=args.device, threads=args.threads, limits=limits,
                                     worker_threads=args.workers, cloud_timeout_s=args.cloud_timeout_s,
                                     keep_limits=ObjectStoreLimits(max_objects=args.keep_objects))
    serve_forever(server, args.host, args.port, args.ready_file, args.shutdown_timeout_s)


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
