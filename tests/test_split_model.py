"""`models split FILE.onnx --at TENSOR`: only single-tensor cuts, head + tail == whole, the head keeps the card,
and a bad --at is one line listing valid cuts (models/onnx_split.py, harness/cli/commands/models.py)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.errors import ModelError
from models.model_card import METADATA_KEY
from models.onnx_split import cut_points, split_model
from models.runtime import open_session
from tests.conftest import run_cli


def residual_model() -> bytes:
    """x -> Conv a -> Relu b -> Conv c -> Add(b, c) d -> Relu e -> GlobalAveragePool f -> Flatten y.
    b is used after c (a skip connection): c is not a valid cut, b, d, e and f are."""
    rng = np.random.default_rng(0)
    w1, w2 = (numpy_helper.from_array(rng.standard_normal((4, c, 3, 3)).astype(np.float32) * 0.3, n)
              for c, n in ((3, "w1"), (4, "w2")))
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["b"], name="relu1"),
             helper.make_node("Conv", ["b", "w2"], ["c"], name="conv2", pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["b", "c"], ["d"], name="add"),
             helper.make_node("Relu", ["d"], ["e"], name="relu2"),
             helper.make_node("GlobalAveragePool", ["e"], ["f"], name="pool"),
             helper.make_node("Flatten", ["f"], ["y"], name="flatten")]
    graph = helper.make_graph(nodes, "residual", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], [w1, w2])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    proto.metadata_props.add(key="author", value="test")
    return proto.SerializeToString()


@pytest.fixture
def model_file(tmp_path):
    path = tmp_path / "res.onnx"
    path.write_bytes(residual_model())
    return path


def test_cut_points_skip_what_a_skip_connection_crosses():
    assert cut_points(onnx.load_from_string(residual_model())) == ["a", "b", "d", "e", "f"]


@pytest.mark.parametrize("at, tensor", [("b", "b"), ("relu2", "e"), ("pool", "f")])
def test_head_plus_tail_equals_the_whole(model_file, tmp_path, at, tensor):
    result = split_model(model_file, at, tmp_path / "out")
    assert result.tensor == tensor and result.equal and result.max_abs_diff < 1e-5
    head, tail = onnx.load(str(result.head_path)), onnx.load(str(result.tail_path))
    assert [o.name for o in head.graph.output] == [tensor] and [i.name for i in tail.graph.input] == [tensor]
    card = {p.key: p.value for p in head.metadata_props}
    assert card["author"] == "test" and '"height": 8' in card[METADATA_KEY]  # the head takes the images
    x = np.random.default_rng(9).standard_normal((5, 3, 8, 8)).astype(np.float32)
    whole, h, t = (open_session(p, "cpu", 1) for p in (model_file, result.head_path, result.tail_path))
    np.testing.assert_allclose(t.run({tensor: h.run({"x": x})[0]})[0], whole.run({"x": x})[0], rtol=1e-5, atol=1e-6)


def test_a_bad_cut_lists_valid_ones(model_file):
    with pytest.raises(ModelError, match=r"--at 'c' is not a single-tensor cut .*valid cuts \(5\) include: a, b, d"):
        split_model(model_file, "c", None)
    with pytest.raises(ModelError, match=r"--at 'zzz' is neither a tensor nor a node"):
        split_model(model_file, "zzz", None)
    with pytest.raises(ModelError, match=r"--at 'y'"):  # the output itself leaves an empty tail
        split_model(model_file, "y", None)


def test_the_command_writes_the_pair_and_says_the_difference(model_file, tmp_path):
    done = run_cli("models", "split", str(model_file), "--at", "d", "--out", str(tmp_path / "o"), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "head + tail vs whole on random inputs: equal (max abs diff" in done.stdout
    assert (tmp_path / "o" / "res-head.onnx").is_file() and (tmp_path / "o" / "res-tail.onnx").is_file()
    bad = run_cli("models", "split", str(model_file), "--at", "c", timeout=120)
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and "valid cuts" in bad.stderr
    (tmp_path / "x.onnx").write_text("hello")
    bad = run_cli("models", "split", str(tmp_path / "x.onnx"), "--at", "c", timeout=120)
    assert bad.returncode != 0 and "not a valid ONNX model" in bad.stderr and "Traceback" not in bad.stderr
