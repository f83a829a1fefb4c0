"""Model cards: defaults from the ONNX graph, FILE.card.toml, KEY=VALUE flags, checks against the graph, the
preprocessing they describe, and the card a served file carries (nodes.served_models)."""
from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from models.errors import ModelError
from models.model_card import METADATA_KEY, ModelCard, parse_card_flag
from models.onnx_file import card_path_for, image_card, read_onnx_file, with_card
from models.runtime import open_session
from nodes.served_models import ImageModel


def mean_model(shape, name: str = "pixels", axes=(1, 2), classes: int = 3) -> bytes:
    """x -> ReduceMean over the spatial axes: the output is the input's per-channel mean (checks normalisation)."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", [name, "axes"], ["mean"], keepdims=0)], "mean",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("mean", TensorProto.FLOAT, ["N", classes])],
        [onnx.numpy_helper.from_array(np.asarray(axes, np.int64), "axes")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    proto.ir_version = 8
    return proto.SerializeToString()


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def write(tmp_path, data: bytes, name: str = "m.onnx"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_graph_defaults_nchw_and_nhwc(tmp_path):
    nchw = image_card(read_onnx_file(write(tmp_path, mean_model(["N", 3, 20, 24], axes=(2, 3)), "a.onnx")))
    assert (nchw.layout, nchw.channels, nchw.height, nchw.width, nchw.input_name) == ("NCHW", 3, 20, 24, "pixels")
    nhwc = image_card(read_onnx_file(write(tmp_path, mean_model(["N", 20, 24, 3]), "b.onnx")))
    assert (nhwc.layout, nhwc.input_shape) == ("NHWC", (20, 24, 3))
    assert nchw.mean == (0.5,) and nchw.std == (0.5,)  # the project's [-1, 1] by default


def test_card_file_next_to_the_model_and_flags_override_it(tmp_path):
    path = write(tmp_path, mean_model(["N", "H", "W", 3]))
    with pytest.raises(ModelError, match=r"do not say height, width.*m\.card\.toml"):
        image_card(read_onnx_file(path))
    assert card_path_for(path).name == "m.card.toml"
    card_path_for(path).write_text('height = 16\nwidth = 8\nscale = 0.00392156862745098\nlabels = ["r", "g", "b"]\n')
    card = image_card(read_onnx_file(path))
    assert (card.height, card.width, card.layout, card.labels) == (16, 8, "NHWC", ("r", "g", "b"))
    assert card.scale == pytest.approx(1 / 255)
    card = image_card(read_onnx_file(path), parse_card_flag("width=12,mean=0.1/0.2/0.3,std=0.5", "--edge-card"))
    assert card.width == 12 and card.scale is None and card.mean == (0.1, 0.2, 0.3)
    assert "m.card.toml" in card.source and "flags" in card.source


@pytest.mark.parametrize("values, message", [
    ({"layout": "NCHW"}, r"card says NCHW \[3, 16, 16\] but input 'pixels' is \[\?, 16, 16, 3\]"),
    ({"input_name": "image"}, r"input_name 'image' is not an input of the graph \(its input is 'pixels'\)"),
    ({"labels": "a/b"}, r"2 labels but output 'mean' has 3 classes"),
    ({"layout": "CHW"}, r"layout must be NCHW or NHWC, got 'CHW'"),
    ({"std": "0/1/1"}, r"std values must be > 0"),
    ({"colour": "yes"}, r"unknown key\(s\) colour"),
])
def test_a_card_that_does_not_describe_the_inputs_is_one_line(tmp_path, values, message):
    model = read_onnx_file(write(tmp_path, mean_model(["N", 16, 16, 3])))
    with pytest.raises(ModelError, match=message) as raised:
        image_card(model, values)
    assert "\n" not in str(raised.value)


def test_not_onnx_and_other_refusals_are_one_line(tmp_path):
    with pytest.raises(ModelError, match=r"are not a valid ONNX model"):
        read_onnx_file(write(tmp_path, b"\x89PNG not a model", "x.onnx"))
    with pytest.raises(ModelError, match=r"cannot read"):
        read_onnx_file(tmp_path / "missing.onnx")
    proto = onnx.load_from_string(mean_model(["N", 8, 8, 3]))  # then retype the input to uint8
    proto.graph.input[0].type.tensor_type.elem_type = TensorProto.UINT8
    with pytest.raises(ModelError, match=r"is UINT8; only float32 image inputs"):
        image_card(read_onnx_file(write(tmp_path, proto.SerializeToString(), "u.onnx")))
    with pytest.raises(ModelError, match=r"not KEY=VALUE"):
        parse_card_flag("height=2,oops", "--edge-card")


def test_normalisation_and_layout_of_the_card():
    pixels = np.zeros((1, 2, 2, 3), np.uint8)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = 255, 0, 51
    card = ModelCard("x", 2, 2, mean=(0.5, 0.0, 0.2), std=(0.5, 1.0, 0.1))
    x = card.normalise(pixels)
    assert x.shape == (1, 3, 2, 2) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, 0, 0], [1.0, 0.0, 0.0], atol=1e-6)
    scaled = ModelCard("x", 2, 2, layout="NHWC", scale=1 / 255).normalise(pixels)
    assert scaled.shape == (1, 2, 2, 3)
    np.testing.assert_allclose(scaled[0, 0, 0], [1.0, 0.0, 0.2], atol=1e-6)
    assert ModelCard.from_json(card.to_json(), "json") == ModelCard("x", 2, 2, mean=(0.5, 0.0, 0.2),
                                                                    std=(0.5, 1.0, 0.1), source="json")


def test_a_served_file_carries_its_card_and_the_server_decodes_by_it(tmp_path):
    """NHWC model, scale 1/255: the served output is the image's per-channel mean in [0, 1]."""
    path = write(tmp_path, mean_model(["N", "H", "W", 3]))
    card = image_card(read_onnx_file(path), {"height": "6", "width": "4", "scale": "1/255"})
    data = with_card(read_onnx_file(path), card)
    session = open_session(data, device="cpu", threads=1)
    assert METADATA_KEY in session.metadata
    with ThreadPoolExecutor(1) as pool:
        model = ImageModel("mine", session, pool)
        assert (model.height, model.width, model.channels) == (6, 4, 3)
        assert model.input_metadata()[0]["parameters"]["layout"] == "NHWC"
        image = np.zeros((10, 10, 3), np.uint8)
        image[..., 1] = 255
        x = model._decode_one(png(image))
    assert x.shape == (1, 6, 4, 3)
    np.testing.assert_allclose(session.run({"pixels": x})[0][0], [0.0, 1.0, 0.0], atol=1e-6)


def test_a_card_that_contradicts_the_served_file_is_refused(tmp_path):
    path = write(tmp_path, mean_model(["N", 8, 8, 3]))
    bad = ModelCard("pixels", 8, 8, layout="NCHW", source="test")
    proto = onnx.load_from_string(read_onnx_file(path).data)
    proto.metadata_props.add(key=METADATA_KEY, value=bad.to_json())
    session = open_session(proto.SerializeToString(), device="cpu", threads=1)
    with ThreadPoolExecutor(1) as pool, pytest.raises(ModelError, match=r"does not match its input 'pixels'"):
        ImageModel("mine", session, pool)
