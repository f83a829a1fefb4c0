"""ONNX Runtime sessions in one place: device choice, explicit threads, the provider actually obtained.

``device``: ``"auto"`` (CUDA when it really works here, else CPU), ``"cuda"`` (required; DeviceError if it
cannot load) or ``"cpu"``. onnxruntime-gpu lists CUDA as *available* even where its libraries cannot load,
so CUDA is probed once per process with a tiny model while ORT's logger is silenced; a failed probe means
CPU without any provider error printed. Where CUDA works and TensorRT's provider also really runs the probe,
sessions ask for TensorRT first (then CUDA, then CPU); ``Session.provider`` says which one a session got.

Spinning: ORT's intra-op threads busy-wait after every run by default. On a testbed where the servers, the
link emulators and the devices share a few cores, that burns a core at ~40 runs/s (measured: 23 ms of CPU per
2.4 ms inference) and makes the testbed its own bottleneck, so sessions here do NOT spin unless
``$ECT_ORT_SPINNING=1`` (a single run then costs ~1.5 ms more on this 2-core VM). ``Session.spinning``
records what a session got.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from models.errors import DeviceError, ModelError
from models.onnx_import import parse_onnx

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
DEVICES = ("auto", "cpu", "cuda")
SPINNING_ENV = "ECT_ORT_SPINNING"
_QUIET_SEVERITY = 3  # ORT: 0 verbose, 1 info, 2 warning, 3 error, 4 fatal
_ORT_TO_KSERVE = {
    "tensor(float)": "FP32", "tensor(float16)": "FP16", "tensor(double)": "FP64", "tensor(int64)": "INT64",
    "tensor(int32)": "INT32", "tensor(int16)": "INT16", "tensor(int8)": "INT8", "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16", "tensor(uint32)": "UINT32", "tensor(uint64)": "UINT64", "tensor(bool)": "BOOL",
    "tensor(string)": "BYTES", "tensor(bfloat16)": "BF16",
}
_probe_lock = threading.Lock()
_works: dict[str, bool] = {}  # provider -> it really ran the probe model here


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int | None, ...]  # None for dynamic dimensions
    datatype: str  # KServe name: FP32, INT64, ...


def _tiny_model() -> bytes:
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "probe",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    return proto.SerializeToString()


def provider_works(provider: str) -> bool:
    """True if a session on ``provider`` can really be created and run here (probed once per provider, quietly)."""
    with _probe_lock:
        if provider not in _works:
            _works[provider] = False
            if provider in ort.get_available_providers():
                ort.set_default_logger_severity(4)
                try:
                    options = ort.SessionOptions()
                    options.log_severity_level = 4
                    session = ort.InferenceSession(_tiny_model(), options, providers=[provider])
                    if session.get_providers()[0] == provider:
                        session.run(None, {"x": np.ones(1, np.float32)})
                        _works[provider] = True
                except Exception:  # noqa: BLE001 - any failure means "this provider does not work here"
                    _works[provider] = False
                finally:
                    ort.set_default_logger_severity(_QUIET_SEVERITY)
        return _works[provider]


def cuda_works() -> bool:
    """True if a CUDA session can really be created and run here."""
    return provider_works(CUDA)


def _providers(device: str) -> list[str]:
    if device not in DEVICES:
        raise DeviceError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cpu":
        return [CPU]
    if cuda_works():
        return [TENSORRT, CUDA, CPU] if provider_works(TENSORRT) else [CUDA, CPU]
    if device == "cuda":
        raise DeviceError("device 'cuda' requested but ONNX Runtime cannot use CUDA on this machine "
                          "(libraries missing or no GPU); use --device cpu or auto")
    return [CPU]


def _tensor_infos(args) -> list[TensorInfo]:
    infos = []
    for arg in args:
        shape = tuple(d if isinstance(d, int) and d >= 0 else None for d in (arg.shape or []))
        infos.append(TensorInfo(arg.name, shape, _ORT_TO_KSERVE.get(arg.type, arg.type)))
    return infos


class Session:
    """One loaded model. ``run`` is thread-safe (ORT's InferenceSession.run is)."""

    def __init__(self, data: bytes, device: str = "auto", threads: int | None = None, name: str = "model") -> None:
        parse_onnx(data, what=name)
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ModelError(f"threads must be a positive integer or None, got {threads!r}")
        providers = _providers(device)
        options = ort.SessionOptions()
        options.log_severity_level = _QUIET_SEVERITY
        options.intra_op_num_threads = threads if threads is not None else min(4, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        spinning = spinning_wanted()
        for key in ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning"):
            options.add_session_config_entry(key, "1" if spinning else "0")
        ort.set_default_logger_severity(_QUIET_SEVERITY)
        try:
            self._session = ort.InferenceSession(bytes(data), options, providers=providers)
        except Exception as exc:  # noqa: BLE001 - ORT raises several private exception types
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise ModelError(f"{name}: ONNX Runtime cannot load the model ({first})") from None
        obtained = self._session.get_providers()
        if device == "cuda" and obtained[0] not in (CUDA, TENSORRT):
            raise DeviceError(f"{name}: CUDA requested but the session got {obtained[0]}")
        self.name = name
        self.provider: str = obtained[0]
        self.threads: int = options.intra_op_num_threads
        self.spinning: bool = spinning
        self.inputs: list[TensorInfo] = _tensor_infos(self._session.get_inputs())
        self.outputs: list[TensorInfo] = _tensor_infos(self._session.get_outputs())
        self.metadata: dict[str, str] = dict(self._session.get_modelmeta().custom_metadata_map or {})

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        expected = {info.name for info in self.inputs}
        if set(feeds) != expected:
            raise ModelError(f"{self.name}: feeds {sorted(feeds)} do not match the model inputs {sorted(expected)}")
        try:
            return self._session.run(None, feeds)
        except Exception as exc:  # noqa: BLE001
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise ModelError(f"{self.name}: inference failed ({first})") from None

    def __repr__(self) -> str:
        return f"Session({self.name!r}, provider={self.provider!r}, threads={self.threads})"


def spinning_wanted() -> bool:
    """Whether ORT's threads may busy-wait between runs: only with ``$ECT_ORT_SPINNING=1`` (see the module)."""
    return os.environ.get(SPINNING_ENV, "0").strip() == "1"


def open_session(model: str | Path | bytes, device: str = "auto", threads: int | None = None) -> Session:
    """Open an ONNX model from a path or bytes on ``device`` with ``threads`` intra-op threads."""
    if isinstance(model, (bytes, bytearray, memoryview)):
        return Session(bytes(model), device, threads, name="model bytes")
    path = Path(model)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"model file {path}: cannot read ({exc.strerror or exc})") from None
    return Session(data, device, threads, name=str(path))
