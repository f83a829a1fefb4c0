"""ONNX Runtime sessions do not busy-wait between runs unless $ECT_ORT_SPINNING=1, and say what they got."""
from __future__ import annotations

import numpy as np

from onnx import TensorProto, helper

from models.runtime import open_session


def _identity_model() -> bytes:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8).SerializeToString()


def test_no_spinning_by_default(monkeypatch):
    monkeypatch.delenv("ECT_ORT_SPINNING", raising=False)
    session = open_session(_identity_model(), device="cpu", threads=2)
    assert session.spinning is False
    out = session.run({"x": np.array([[-1, 0, 1, 2]], dtype=np.float32)})[0]
    assert out.tolist() == [[0, 0, 1, 2]]


def test_spinning_on_request(monkeypatch):
    monkeypatch.setenv("ECT_ORT_SPINNING", "1")
    assert open_session(_identity_model(), device="cpu", threads=2).spinning is True
