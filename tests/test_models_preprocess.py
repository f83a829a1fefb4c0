import numpy as np
import pytest

from models.errors import ModelError
from models.preprocess import decode_image, encode_image, normalise


def _image(seed=0, shape=(32, 32, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_normalise_range_and_layout():
    pixels = np.array([[[[0, 255, 51]]]], dtype=np.uint8)  # (1, 1, 1, 3)
    out = normalise(pixels)
    assert out.dtype == np.float32 and out.shape == (1, 3, 1, 1)
    np.testing.assert_allclose(out.ravel(), [-1.0, 1.0, 51 * 2 / 255 - 1], atol=1e-6)


def test_png_round_trip_matches_training_normalisation():
    image = _image()
    decoded = decode_image(encode_image(image))
    assert decoded.shape == (1, 3, 32, 32) and decoded.dtype == np.float32
    np.testing.assert_array_equal(decoded, normalise(image[np.newaxis]))


def test_jpeg_and_resize_and_grey():
    big = _image(1, (100, 80, 3))
    decoded = decode_image(encode_image(big, "JPEG"), height=32, width=32)
    assert decoded.shape == (1, 3, 32, 32)
    assert decoded.min() >= -1.0 and decoded.max() <= 1.0
    grey = decode_image(encode_image(_image(2, (32, 32))), channels=1)
    assert grey.shape == (1, 1, 32, 32)


@pytest.mark.parametrize("data", [b"", b"not an image", encode_image(_image())[:40]])
def test_undecodable_bytes_raise_model_error(data):
    with pytest.raises(ModelError, match="decode_image"):
        decode_image(data)


def test_bad_arguments():
    with pytest.raises(ModelError, match="channels"):
        decode_image(encode_image(_image()), channels=2)
    with pytest.raises(ModelError, match="uint8"):
        encode_image(np.zeros((4, 4), np.float32))
    with pytest.raises(ModelError, match="format"):
        encode_image(_image(), "GIF")
