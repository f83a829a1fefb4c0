"""Bad models and untrusted bytes: an ONNX with unexpected inputs is refused naming them; nothing received
is unpickled or used as a path."""
from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from onnx import TensorProto, helper

from nodes.artifacts import ArtifactEntry, sha256_hex
from nodes.edge import EdgeServer
from nodes.errors import ArtifactError, NodeConfigError

REPO = Path(__file__).resolve().parent.parent


def _onnx(inputs: list[tuple[str, list]]) -> bytes:
    """A model whose output is the sum of its (float) inputs."""
    names = [name for name, _ in inputs]
    node = helper.make_node("Sum", names, ["y"]) if len(names) > 1 else helper.make_node("Identity", names, ["y"])
    graph = helper.make_graph([node], "odd", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
                                              for n, s in inputs],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, inputs[0][1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


@pytest.mark.parametrize("inputs, named", [
    ([("image_a", [1, 1, 28, 28]), ("secret_b", [1, 1, 28, 28])], ["image_a", "secret_b"]),
    ([("flat_features", [1, 784])], ["flat_features"]),
])
def test_edge_refuses_onnx_with_unexpected_inputs_naming_them(tmp_path, inputs, named):
    data = _onnx(inputs)
    entry = ArtifactEntry("edgecnn-odd", "edgecnn-odd.onnx", sha256_hex(data), len(data), "full")
    server = EdgeServer("http://127.0.0.1:9", tmp_path)

    async def go():
        try:
            with pytest.raises(ArtifactError) as info:
                await server.swap_model("edgecnn-odd", data=data, entry=entry)
            return str(info.value)
        finally:
            await server.close()

    message = asyncio.run(go())
    assert "refused" in message and "\n" not in message
    for name in named:
        assert name in message, message
    assert server.current is None  # nothing was swapped in


SOURCES = sorted(p for folder in ("nodes", "harness", "topo") for p in (REPO / folder).rglob("*.py"))


def test_nothing_received_is_unpickled():
    """No pickle, marshal, torch.load, eval/exec or numpy pickles where network bytes are handled."""
    banned = re.compile(r"^\s*(import|from)\s+(pickle|marshal|shelve|dill)\b|\b(pickle|marshal|dill)\.loads?\(|"
                        r"torch\.load|allow_pickle\s*=\s*True|\beval\(|\bexec\(")
    hits = [f"{p.relative_to(REPO)}:{n}: {line.strip()}" for p in SOURCES for n, line in
            enumerate(p.read_text().splitlines(), 1) if banned.search(line) and not line.lstrip().startswith("#")]
    assert not [h for h in hits if "allow_pickle=False" not in h and ".eval()" not in h], hits


def test_network_names_are_never_paths():
    """The cloud serves only manifest names; the edge writes downloads under its own name, checked by a pattern."""
    for bad in ("../etc/passwd", "/etc/passwd", "a/b", "..", ".hidden", "x" * 200, "a\\b", "a\x00b",
                "cloudcnn\n", "cloudcnn\r\n", "\ncloudcnn", "cloud cnn", ""):
        with pytest.raises(NodeConfigError, match="the name must be"):
            ArtifactEntry(bad, "cloudcnn.onnx", "0" * 64, 1, "full")
    ArtifactEntry("cloudcnn-lower-3.v2_a", "cloudcnn.onnx", "0" * 64, 1, "full")  # what is allowed still is
    with pytest.raises(NodeConfigError, match="sha256"):  # a trailing newline after a good digest too
        ArtifactEntry("cloudcnn", "cloudcnn.onnx", "0" * 64 + "\n", 1, "full")
    with pytest.raises(ArtifactError, match="artifact index"):
        ArtifactEntry.from_index({"name": "../../etc/passwd", "sha256": "0" * 64, "bytes": 1, "role": "full"})
    with pytest.raises(ArtifactError, match="artifact index"):
        ArtifactEntry.from_index({"name": "cloudcnn\n", "sha256": "0" * 64, "bytes": 1, "role": "full"})
