"""Open Inference Protocol (KServe v2 / Triton REST) messages with the binary tensor data extension.

A body is a JSON object, optionally followed by raw tensor bytes; the HTTP header
``Inference-Header-Content-Length`` gives the JSON length. A tensor sent as binary
carries ``parameters.binary_data_size``; its bytes are little-endian, row major;
a BYTES element is a 4-byte little-endian unsigned length followed by the bytes.
Both sides (servers and clients) use this module; it knows nothing of HTTP.
"""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field

import numpy as np

from nodes.errors import ProtocolError, RequestError

HEADER_LENGTH = "Inference-Header-Content-Length"
JSON_CONTENT_TYPE = "application/json"
BINARY_CONTENT_TYPE = "application/octet-stream"

NUMPY_DTYPES = {
    "BOOL": np.dtype(np.bool_), "UINT8": np.dtype(np.uint8), "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"), "UINT64": np.dtype("<u8"), "INT8": np.dtype(np.int8),
    "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"), "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
}
DATATYPES = tuple(NUMPY_DTYPES) + ("BYTES",)
_LENGTH_PREFIX = struct.Struct("<I")


@dataclass(frozen=True)
class Tensor:
    """One named tensor: numeric data as a numpy array, BYTES data as a tuple of bytes."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: object = field(repr=False)

    def __post_init__(self):
        if self.datatype not in DATATYPES:
            raise ValueError(f"tensor {self.name!r}: datatype {self.datatype!r} is not one of {', '.join(DATATYPES)}")
        if any((not isinstance(d, int)) or d < 0 for d in self.shape):
            raise ValueError(f"tensor {self.name!r}: shape {list(self.shape)} must be non-negative integers")

    @property
    def element_count(self) -> int:
        return math.prod(self.shape)

    @classmethod
    def from_array(cls, name: str, array: np.ndarray) -> "Tensor":
        for datatype, dtype in NUMPY_DTYPES.items():
            if array.dtype == dtype:
                return cls(name, datatype, tuple(int(d) for d in array.shape), array)
        raise ValueError(f"tensor {name!r}: numpy dtype {array.dtype} has no KServe datatype")

    @classmethod
    def from_bytes_list(cls, name: str, elements) -> "Tensor":
        elements = tuple(bytes(e) if not isinstance(e, bytes) else e for e in elements)
        return cls(name, "BYTES", (len(elements),), elements)

    def to_binary(self) -> bytes:
        if self.datatype == "BYTES":
            return b"".join(_LENGTH_PREFIX.pack(len(e)) + e for e in self.data)
        return np.ascontiguousarray(self.data, dtype=NUMPY_DTYPES[self.datatype]).tobytes()

    def to_json_data(self) -> list:
        if self.datatype == "BYTES":
            return [e.decode("utf-8", errors="replace") for e in self.data]
        return np.asarray(self.data).reshape(-1).tolist()


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool


@dataclass(frozen=True)
class InferRequest:
    request_id: str | None
    inputs: tuple[Tensor, ...]
    outputs: tuple[RequestedOutput, ...]
    binary_outputs: bool
    parameters: dict

    def wants_binary(self, output_name: str) -> bool:
        for requested in self.outputs:
            if requested.name == output_name:
                return requested.binary
        return self.binary_outputs


@dataclass(frozen=True)
class InferResponse:
    model_name: str
    request_id: str | None
    outputs: dict
    parameters: dict


def _split_body(body: bytes, header_length: str | int | None, error) -> tuple[dict, memoryview]:
    view = memoryview(body)
    if header_length in (None, ""):
        json_length = len(body)
    else:
        try:
            json_length = int(header_length)
        except ValueError:
            raise error(f"{HEADER_LENGTH} {header_length!r} is not an integer") from None
        if not 0 < json_length <= len(body):
            raise error(f"{HEADER_LENGTH} {json_length} is outside 1..{len(body)} (the body length)")
    try:
        header = json.loads(view[:json_length].tobytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"the JSON part of the body is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise error("the JSON part of the body must be an object")
    return header, view[json_length:]


def _decode_bytes_elements(name: str, raw: memoryview, count: int, error) -> tuple[bytes, ...]:
    elements, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise error(f"input {name!r}: BYTES data ends inside a 4-byte length prefix")
        (length,) = _LENGTH_PREFIX.unpack_from(raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise error(f"input {name!r}: BYTES element {len(elements)} claims {length} bytes, "
                        f"only {len(raw) - offset} remain")
        elements.append(raw[offset:offset + length].tobytes())
        offset += length
    if len(elements) != count:
        raise error(f"input {name!r}: shape holds {count} BYTES elements, the data holds {len(elements)}")
    return tuple(elements)


def _decode_tensor(entry, binary: memoryview, offset: int, error, what: str) -> tuple[Tensor, int]:
    if not isinstance(entry, dict):
        raise error(f"each {what} must be a JSON object")
    name, datatype, shape = entry.get("name"), entry.get("datatype"), entry.get("shape")
    if not isinstance(name, str) or not name:
        raise error(f"a {what} has no 'name'")
    if datatype not in DATATYPES:
        raise error(f"{what} {name!r}: datatype {datatype!r} is not one of {', '.join(DATATYPES)}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                              for d in shape):
        raise error(f"{what} {name!r}: shape {shape!r} must be a list of non-negative integers")
    count = math.prod(shape)
    params = entry.get("parameters") or {}
    size = params.get("binary_data_size") if isinstance(params, dict) else None
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise error(f"{what} {name!r}: binary_data_size {size!r} exceeds the {len(binary) - offset} "
                        "binary bytes left in the body")
        raw = binary[offset:offset + size]
        offset += size
        if datatype == "BYTES":
            data = _decode_bytes_elements(name, raw, count, error)
        else:
            dtype = NUMPY_DTYPES[datatype]
            if size != count * dtype.itemsize:
                raise error(f"{what} {name!r}: shape {shape} of {datatype} needs {count * dtype.itemsize} bytes, "
                            f"binary_data_size is {size}")
            data = np.frombuffer(raw, dtype=dtype).reshape(shape)
    else:
        if "data" not in entry:
            raise error(f"{what} {name!r} has neither 'data' nor parameters.binary_data_size")
        if datatype == "BYTES":
            flat = np.asarray(entry["data"], dtype=object).reshape(-1).tolist()
            if len(flat) != count or not all(isinstance(x, str) for x in flat):
                raise error(f"{what} {name!r}: BYTES JSON data must hold {count} strings")
            data = tuple(x.encode("utf-8") for x in flat)
        else:
            try:
                data = np.asarray(entry["data"], dtype=NUMPY_DTYPES[datatype]).reshape(shape)
            except (ValueError, TypeError, OverflowError) as exc:  # OverflowError: -1 as UINT8, 1e400 as INT64
                raise error(f"{what} {name!r}: JSON data does not fit shape {shape} of {datatype} ({exc})") from None
    return Tensor(name, datatype, tuple(shape), data), offset


def parse_infer_request(body: bytes, header_length: str | int | None = None) -> InferRequest:
    """Parse a request body (server side); raises RequestError (400) naming the bad field."""
    header, binary = _split_body(body, header_length, RequestError)
    raw_inputs = header.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise RequestError("the request needs a non-empty 'inputs' list")
    inputs, offset = [], 0
    for entry in raw_inputs:
        tensor, offset = _decode_tensor(entry, binary, offset, RequestError, "input")
        inputs.append(tensor)
    if offset != len(binary):
        raise RequestError(f"the body holds {len(binary) - offset} binary bytes that no input claims")
    params = header.get("parameters") or {}
    if not isinstance(params, dict):
        raise RequestError("'parameters' must be an object")
    outputs = []
    for entry in header.get("outputs") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise RequestError("each requested output must be an object with a 'name'")
        out_params = entry.get("parameters") or {}
        outputs.append(RequestedOutput(entry["name"], bool(out_params.get("binary_data", False))))
    request_id = header.get("id")
    return InferRequest(
        request_id=None if request_id is None else str(request_id),
        inputs=tuple(inputs), outputs=tuple(outputs),
        binary_outputs=bool(params.get("binary_data_output", False)), parameters=params)


def _encode(header: dict, tensors_key: str, tensors, binary_of) -> tuple[bytes, int | None]:
    entries, chunks = [], []
    for tensor in tensors:
        entry = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
        if binary_of(tensor.name):
            raw = tensor.to_binary()
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = tensor.to_json_data()
        entries.append(entry)
    header[tensors_key] = entries
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    if not chunks:
        return head, None
    return b"".join([head, *chunks]), len(head)


def encode_infer_request(inputs, *, request_id: str | None = None, output_names=(),
                         binary_outputs: bool = True, parameters: dict | None = None) -> tuple[bytes, int | None]:
    """Build a request body with every input as binary; returns (body, JSON length for the header)."""
    header: dict = {}
    if request_id is not None:
        header["id"] = request_id
    header["parameters"] = dict(parameters or {}, binary_data_output=binary_outputs)
    if output_names:
        header["outputs"] = [{"name": n, "parameters": {"binary_data": binary_outputs}} for n in output_names]
    return _encode(header, "inputs", inputs, lambda _name: True)


def encode_infer_response(model_name: str, request: InferRequest, outputs, parameters: dict,
                          model_version: str = "1") -> tuple[bytes, int | None]:
    """Build a reply body; outputs go binary where the request asked for it."""
    header = {"model_name": model_name, "model_version": model_version}
    if request.request_id is not None:
        header["id"] = request.request_id
    header["parameters"] = parameters
    if request.outputs:
        wanted = {o.name for o in request.outputs}
        unknown = wanted - {t.name for t in outputs}
        if unknown:
            raise RequestError(f"requested output(s) {sorted(unknown)} do not exist; the model has "
                               f"{[t.name for t in outputs]}")
        outputs = [t for t in outputs if t.name in wanted]
    return _encode(header, "outputs", outputs, request.wants_binary)


def parse_infer_response(body: bytes, header_length: str | int | None = None) -> InferResponse:
    """Parse a reply body (client side); raises ProtocolError."""
    header, binary = _split_body(body, header_length, ProtocolError)
    if not isinstance(header.get("outputs") or [], list) or not isinstance(header.get("parameters") or {}, dict):
        raise ProtocolError("the reply's 'outputs' must be a list and its 'parameters' an object")
    outputs, offset = {}, 0
    for entry in header.get("outputs") or []:
        tensor, offset = _decode_tensor(entry, binary, offset, ProtocolError, "output")
        outputs[tensor.name] = tensor
    return InferResponse(model_name=str(header.get("model_name", "")), request_id=header.get("id"),
                         outputs=outputs, parameters=header.get("parameters") or {})
