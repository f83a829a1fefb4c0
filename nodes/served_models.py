"""Models as the servers expose them: metadata, input checks, and timed inference.

``ImageModel`` takes a batch of JPEG images (one BYTES input named ``image``),
decodes each with ``models.preprocess.decode_image`` and runs an ONNX session on
the stacked tensor. ``TensorModel`` takes the session's own tensor inputs
(split upper parts, feature classifiers). Both run the CPU-heavy work in the
server's thread pool so the event loop keeps serving other connections, and
write ``preprocess_*`` / ``inference_*`` monotonic timestamps into ``stamps``. A node's ``InferencePacer``
(``nodes.inference_pacing``: speed factor or latency profile) runs in the same thread right after the session,
before ``inference_end_ns``.
"""
from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor

import numpy as np

from models.errors import ModelError
from models.model_card import METADATA_KEY, ModelCard
from models.preprocess import decode_image
from nodes.errors import RequestError
from nodes.inference_pacing import NO_PACING, InferencePacer
from nodes.protocol import NUMPY_DTYPES, InferRequest, Tensor

IMAGE_INPUT = "image"


def _shape_for_metadata(shape) -> list[int]:
    return [-1 if (d is None or isinstance(d, str)) else int(d) for d in shape]


def _batch_of(feeds: dict) -> int:
    first = next(iter(feeds.values()), None)
    return int(first.shape[0]) if getattr(first, "ndim", 0) else 1


class OnnxModel:
    """Common part: one ONNX Runtime session, its name and its outputs."""

    def __init__(self, model_name: str, session, executor: Executor, *, role: str = "", sha256: str = "",
                 pacer: InferencePacer | None = None):
        self.model_name = model_name
        self.session = session
        self.executor = executor
        self.role = role
        self.sha256 = sha256
        self.pacer = pacer if pacer is not None else NO_PACING
        self.pacer.register(model_name, session)  # a latency profile without this model: NodeConfigError

    @property
    def provider(self) -> str:
        return self.session.provider

    def output_metadata(self) -> list[dict]:
        return [{"name": t.name, "datatype": t.datatype, "shape": _shape_for_metadata(t.shape)}
                for t in self.session.outputs]

    def metadata(self, served_name: str) -> dict:
        return {"name": served_name, "versions": ["1"], "platform": "onnxruntime_onnx",
                "inputs": self.input_metadata(), "outputs": self.output_metadata(),
                "parameters": {"model": self.model_name, "role": self.role, "sha256": self.sha256,
                               "provider": self.provider}}

    def input_metadata(self) -> list[dict]:
        raise NotImplementedError

    async def run_session(self, feeds: dict, stamps: dict) -> list[Tensor]:
        def run():
            stamps["inference_start_ns"] = start_ns = time.monotonic_ns()
            results = self.session.run(feeds)
            self.pacer.pace(self.model_name, _batch_of(feeds), time.monotonic_ns() - start_ns, stamps)
            stamps["inference_end_ns"] = time.monotonic_ns()
            return results

        results = await asyncio.get_running_loop().run_in_executor(self.executor, run)
        return [Tensor.from_array(info.name, np.asarray(value)) for info, value in zip(self.session.outputs, results)]

    async def infer(self, request: InferRequest, stamps: dict) -> list[Tensor]:
        raise NotImplementedError


class ImageModel(OnnxModel):
    """JPEG bytes in, the session's outputs back."""

    def __init__(self, model_name: str, session, executor: Executor, **kwargs):
        super().__init__(model_name, session, executor, **kwargs)
        if len(session.inputs) != 1 or len(session.inputs[0].shape) != 4:
            raise ModelError(f"model {model_name!r} is not an image model: it needs one (N, C, H, W) or (N, H, W, C) "
                             f"input, it has {[(t.name, t.shape) for t in session.inputs]}")
        self.card: ModelCard | None = image_card_of(model_name, session)
        if self.card is None:  # the project's own models: NCHW, [-1, 1] (models.preprocess)
            _, self.channels, self.height, self.width = session.inputs[0].shape
        else:
            self.channels, self.height, self.width = self.card.channels, self.card.height, self.card.width

    def input_metadata(self) -> list[dict]:
        parameters = {"content": "JPEG images, one per element",
                      "decoded_shape": list(self.card.input_shape) if self.card else
                      [self.channels, self.height, self.width]}
        if self.card is not None:
            parameters.update(layout=self.card.layout, labels=list(self.card.labels))
        return [{"name": IMAGE_INPUT, "datatype": "BYTES", "shape": [-1], "parameters": parameters}]

    def _decode_one(self, data: bytes) -> np.ndarray:
        if self.card is not None:
            return self.card.preprocess(data)
        return decode_image(data, height=self.height, width=self.width, channels=self.channels)

    def images_of(self, request: InferRequest) -> tuple[bytes, ...]:
        if len(request.inputs) != 1:
            raise RequestError(f"model {self.model_name!r} takes exactly one input {IMAGE_INPUT!r} (BYTES), "
                               f"got {len(request.inputs)}")
        tensor = request.inputs[0]
        if tensor.name != IMAGE_INPUT or tensor.datatype != "BYTES":
            raise RequestError(f"model {self.model_name!r} takes input {IMAGE_INPUT!r} of datatype BYTES, "
                               f"got {tensor.name!r} of {tensor.datatype}")
        if len(tensor.shape) != 1 or tensor.shape[0] < 1:
            raise RequestError(f"input {IMAGE_INPUT!r} must have shape [N] with N >= 1 images, got {list(tensor.shape)}")
        return tensor.data

    async def decode(self, images, stamps: dict) -> np.ndarray:
        def run():
            stamps["preprocess_start_ns"] = time.monotonic_ns()
            arrays = []
            for index, jpeg in enumerate(images):
                try:
                    arrays.append(self._decode_one(jpeg))
                except ModelError as exc:
                    raise RequestError(f"image {index} ({len(jpeg)} bytes) cannot be decoded: {exc}") from None
            stamps["preprocess_end_ns"] = time.monotonic_ns()
            return np.concatenate(arrays, axis=0) if len(arrays) > 1 else arrays[0]

        return await asyncio.get_running_loop().run_in_executor(self.executor, run)

    async def infer(self, request: InferRequest, stamps: dict) -> list[Tensor]:
        batch = await self.decode(self.images_of(request), stamps)
        return await self.run_session({self.session.inputs[0].name: batch}, stamps)

    async def infer_decoded(self, batch: np.ndarray, stamps: dict) -> list[Tensor]:
        return await self.run_session({self.session.inputs[0].name: batch}, stamps)


def image_card_of(model_name: str, session) -> ModelCard | None:
    """The card a served file carries (``ect.card`` metadata, models/model_card.py), checked against the session's
    input; None for a file without one (the project's own models)."""
    text = (getattr(session, "metadata", None) or {}).get(METADATA_KEY)
    if text is None:
        if any(not isinstance(d, int) for d in session.inputs[0].shape[1:]):
            raise ModelError(f"model {model_name!r}: input {session.inputs[0].name!r} has dynamic dimensions "
                             f"{list(session.inputs[0].shape)} and the file carries no model card saying the size")
        return None
    card = ModelCard.from_json(text, f"model {model_name!r}")
    info = session.inputs[0]
    if card.input_name != info.name or any(isinstance(have, int) and have != want
                                           for have, want in zip(info.shape[1:], card.input_shape)):
        raise ModelError(f"model {model_name!r}: its card ({card.input_name} {card.layout} {list(card.input_shape)}) "
                         f"does not match its input {info.name!r} {list(info.shape)}")
    return card


def check_tensor_inputs(model_name: str, expected, given) -> dict:
    """Feeds for a session from request tensors; RequestError names the bad name/datatype/shape."""
    by_name = {t.name: t for t in given}
    wanted = {t.name for t in expected}
    extra = sorted(set(by_name) - wanted)
    if extra:
        raise RequestError(f"model {model_name!r} has no input(s) {extra}; its inputs are {sorted(wanted)}")
    feeds = {}
    for info in expected:
        tensor = by_name.get(info.name)
        if tensor is None:
            raise RequestError(f"model {model_name!r} needs input {info.name!r} ({info.datatype} "
                               f"{_shape_for_metadata(info.shape)})")
        if tensor.datatype != info.datatype:
            raise RequestError(f"input {info.name!r} of model {model_name!r} must be {info.datatype}, "
                               f"got {tensor.datatype}")
        want = _shape_for_metadata(info.shape)
        if len(tensor.shape) != len(want) or any(w != -1 and w != g for w, g in zip(want, tensor.shape)):
            raise RequestError(f"input {info.name!r} of model {model_name!r} must have shape {want} "
                               f"(-1 = any), got {list(tensor.shape)}")
        feeds[info.name] = np.asarray(tensor.data, dtype=NUMPY_DTYPES[info.datatype])
    return feeds


class TensorModel(OnnxModel):
    """The session's own tensor inputs in (split upper parts, feature classifiers)."""

    def input_metadata(self) -> list[dict]:
        return [{"name": t.name, "datatype": t.datatype, "shape": _shape_for_metadata(t.shape)}
                for t in self.session.inputs]

    async def infer(self, request: InferRequest, stamps: dict) -> list[Tensor]:
        feeds = check_tensor_inputs(self.model_name, self.session.inputs, request.inputs)
        return await self.run_session(feeds, stamps)
