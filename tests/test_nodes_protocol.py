"""Unit tests of the node pieces that need no server: protocol messages, JPEG sizes, limits, stores, manifests."""
from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
from PIL import Image

from models.preprocess import decode_image
from nodes.artifacts import ArtifactEntry, read_manifest, verify
from nodes.errors import ArtifactError, NodeConfigError, RequestError
from nodes.jpeg_images import PAPER_SIZES, make_jpeg, pad_jpeg, parse_image_size
from nodes.object_store import ObjectStore, ObjectStoreLimits
from nodes.protocol import HEADER_LENGTH, InferRequest, Tensor, encode_infer_request, encode_infer_response, \
    parse_infer_request, parse_infer_response
from nodes.server_limits import ServerLimits
from nodes.synthetic_models import write_model_set


def test_bytes_element_has_a_4_byte_little_endian_length_prefix():
    body, json_length = encode_infer_request([Tensor.from_bytes_list("image", [b"abc", b"\xff" * 300])])
    binary = body[json_length:]
    assert binary == struct.pack("<I", 3) + b"abc" + struct.pack("<I", 300) + b"\xff" * 300
    header = json.loads(body[:json_length])
    assert header["inputs"][0] == {"name": "image", "datatype": "BYTES", "shape": [2],
                                   "parameters": {"binary_data_size": 311}}


def test_request_round_trip_numeric_and_bytes():
    features = np.arange(12, dtype=np.float32).reshape(3, 4)
    body, json_length = encode_infer_request(
        [Tensor.from_array("x", features), Tensor.from_bytes_list("image", [b"jpeg"])], request_id="r1",
        output_names=["probabilities"])
    request = parse_infer_request(body, str(json_length))
    assert request.request_id == "r1"
    np.testing.assert_array_equal(request.inputs[0].data, features)
    assert request.inputs[1].data == (b"jpeg",)
    assert request.wants_binary("probabilities")


def test_json_inputs_and_json_outputs_when_binary_not_asked():
    body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2], "data": [1.5, 2.5]}]}).encode()
    request = parse_infer_request(body, None)
    np.testing.assert_array_equal(request.inputs[0].data, np.array([[1.5, 2.5]], np.float32))
    reply, json_length = encode_infer_response("m", request, [Tensor.from_array("y", np.ones((1, 2), np.float32))],
                                               {"node": "n"})
    assert json_length is None
    parsed = parse_infer_response(reply)
    assert parsed.outputs["y"].data.tolist() == [[1.0, 1.0]] and parsed.parameters == {"node": "n"}


def test_response_round_trip_binary():
    request = InferRequest("7", (), (), True, {})
    probabilities = np.random.default_rng(0).random((2, 10), dtype=np.float32)
    reply, json_length = encode_infer_response("m", request, [Tensor.from_array("p", probabilities)], {"a": 1})
    parsed = parse_infer_response(reply, json_length)
    np.testing.assert_array_equal(parsed.outputs["p"].data, probabilities)
    assert parsed.request_id == "7"


@pytest.mark.parametrize("body, header_length, message", [
    (b"not json", None, "not valid JSON"),
    (b"[]", None, "must be an object"),
    (b'{"inputs": []}', None, "non-empty 'inputs'"),
    (b'{"inputs": [{"name": "x", "datatype": "FP99", "shape": [1], "data": [1]}]}', None, "datatype"),
    (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1], "data": [1]}]}', None, "shape"),
    (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [1]}]}', None, "does not fit"),
    (b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]}', None, "neither"),
    (b'{}xx', "abc", "not an integer"),
    (b'{}', "99", "outside"),
])
def test_malformed_requests_are_refused_with_a_reason(body, header_length, message):
    with pytest.raises(RequestError, match=message) as info:
        parse_infer_request(body, header_length)
    assert info.value.status == 400


def test_binary_sizes_must_add_up():
    head = b'{"inputs":[{"name":"x","datatype":"FP32","shape":[2],"parameters":{"binary_data_size":8}}]}'
    with pytest.raises(RequestError, match="needs 8 bytes|exceeds"):
        parse_infer_request(head + b"\x00" * 4, len(head))
    with pytest.raises(RequestError, match="no input claims"):
        parse_infer_request(head + b"\x00" * 12, len(head))
    bad_bytes = b'{"inputs":[{"name":"i","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":6}}]}'
    with pytest.raises(RequestError, match="claims 100 bytes"):
        parse_infer_request(bad_bytes + struct.pack("<I", 100) + b"ab", len(bad_bytes))


@pytest.mark.parametrize("size", PAPER_SIZES[:5])
def test_jpeg_of_exact_size_decodes(size):
    size_bytes = parse_image_size(size)
    data = make_jpeg(size_bytes, seed=1)
    assert len(data) == size_bytes
    assert decode_image(data).shape == (1, 3, 32, 32)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG" and image.width > 100
    assert make_jpeg(size_bytes, seed=1) == data  # deterministic
    assert make_jpeg(size_bytes, seed=2) != data


@pytest.mark.slow
def test_largest_paper_size():
    data = make_jpeg(parse_image_size("4096K"), seed=0)
    assert len(data) == 4 * 1024 * 1024 and decode_image(data).shape == (1, 3, 32, 32)


def test_image_size_parsing():
    assert parse_image_size("60K") == 61440 and parse_image_size("2M") == 2 * 1024 * 1024
    assert parse_image_size("5000") == 5000
    for bad in ("60X", "", "1", "-5K"):
        with pytest.raises(NodeConfigError, match="image size"):
            parse_image_size(bad)


@pytest.mark.parametrize("missing", [4, 5, 7, 65537, 65538, 65540, 65541, 200_003])
def test_padding_hits_every_size(missing):
    base = make_jpeg(2048, seed=0)
    stripped_len = len(base)
    padded = pad_jpeg(base, stripped_len + missing)
    assert len(padded) == stripped_len + missing
    decode_image(padded)
    with pytest.raises(ValueError, match="at least 4"):
        pad_jpeg(base, stripped_len + 3)


def test_limits_are_validated():
    with pytest.raises(NodeConfigError, match="max_connections=0"):
        ServerLimits(max_connections=0)
    with pytest.raises(NodeConfigError, match="header_timeout_s"):
        ServerLimits(header_timeout_s=0)


def test_object_store_is_bounded_and_evicts_oldest(tmp_path):
    store = ObjectStore(tmp_path / "objects", ObjectStoreLimits(max_objects=3, max_bytes=250))
    names = [store.keep(bytes([i]) * 100) for i in range(4)]
    assert names[0] is not None and store.keep(b"x" * 251) is None
    kept = sorted(p.name for p in (tmp_path / "objects").glob("*.jpg"))
    assert kept == sorted(names[2:]) and store.total_bytes == 200
    store.set_labels({names[3]: 7, "unknown.jpg": 1})
    assert json.loads((tmp_path / "objects" / "labels.json").read_text()) == {names[3]: 7}
    assert [n for n, _ in store.unlabelled(10)] == [names[2]]
    reopened = ObjectStore(tmp_path / "objects", ObjectStoreLimits(max_objects=3, max_bytes=250))
    assert len(reopened) == 2 and reopened.labels() == {names[3]: 7}
    assert not list((tmp_path / "objects").glob(".*.tmp"))


def test_manifest_and_verification(tmp_path):
    manifest = write_model_set(tmp_path)
    entries = read_manifest(tmp_path)
    assert set(entries) == set(manifest["models"]) and entries["cloudcnn"].role == "full"
    data = (tmp_path / "cloudcnn.onnx").read_bytes()
    verify(entries["cloudcnn"], data, "test")
    with pytest.raises(ArtifactError, match="truncated"):
        verify(entries["cloudcnn"], data[:-1], "test")
    with pytest.raises(ArtifactError, match="sha256"):
        verify(entries["cloudcnn"], data[:-1] + bytes([data[-1] ^ 1]), "test")


@pytest.mark.parametrize("field, value, message", [
    ("file", "../etc/passwd", "plain file name"), ("sha256", "xyz", "64 lowercase hex"),
    ("role", "weird", "role"), ("bytes", 0, "positive integer")])
def test_manifest_entries_are_validated(tmp_path, field, value, message):
    manifest = write_model_set(tmp_path)
    manifest["models"]["cloudcnn"][field] = value
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(NodeConfigError, match=message):
        read_manifest(tmp_path)


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00", b"[1, 2]", b""])
def test_manifest_that_is_not_json_names_the_file_and_what_to_do(tmp_path, content):
    (tmp_path / "manifest.json").write_bytes(content)
    with pytest.raises(NodeConfigError) as info:
        read_manifest(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "manifest.json") in message and "python -m models build --force" in message
    assert "\n" not in message and type(info.value) is NodeConfigError


def test_missing_manifest_says_how_to_build(tmp_path):
    with pytest.raises(NodeConfigError, match="python -m models build"):
        read_manifest(tmp_path)
    with pytest.raises(NodeConfigError, match="plain file name"):
        ArtifactEntry("x", "a/b.onnx", "0" * 64, 1, "full")


@pytest.mark.parametrize("body", [
    b'{"inputs": [{"shape": [], "name": "image", "datatype": "UINT8", "data": -1}]}',  # found by hypothesis
    b'{"inputs": [{"shape": [1], "name": "x", "datatype": "INT64", "data": [1e400]}]}',
])
def test_json_data_out_of_range_for_its_datatype_is_a_request_error(body):
    from nodes.errors import RequestError
    from nodes.protocol import parse_infer_request

    with pytest.raises(RequestError, match="does not fit"):
        parse_infer_request(body)
