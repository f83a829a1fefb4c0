"""Image bytes <-> model input, with the one normalisation used both in training and at inference.

Model input: float32, NCHW, values ``pixel / 255 * 2 - 1`` (so in [-1, 1]).
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from models.errors import ModelError

_MODES = {1: "L", 3: "RGB"}


def normalise(images_uint8: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W, C) -> float32 (N, C, H, W) in [-1, 1]; the training and inference normalisation."""
    if images_uint8.dtype != np.uint8 or images_uint8.ndim != 4:
        raise ModelError(
            f"normalise: expected uint8 array of shape (N, H, W, C), got {images_uint8.dtype} {images_uint8.shape}")
    scaled = images_uint8.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
    return np.ascontiguousarray(scaled.transpose(0, 3, 1, 2))


def decode_image(data: bytes, height: int = 32, width: int = 32, channels: int = 3) -> np.ndarray:
    """Encoded image (JPEG, PNG, ...) -> float32 (1, channels, height, width), resized bilinearly, normalised."""
    if channels not in _MODES:
        raise ModelError(f"decode_image: channels must be 1 or 3, got {channels}")
    if height <= 0 or width <= 0:
        raise ModelError(f"decode_image: height and width must be positive, got {height}x{width}")
    try:
        with Image.open(io.BytesIO(bytes(data))) as image:
            image.load()
            converted = image.convert(_MODES[channels])
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ModelError(f"decode_image: cannot decode {len(data)} bytes as an image ({exc.__class__.__name__})") from None
    if converted.size != (width, height):
        converted = converted.resize((width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(converted, dtype=np.uint8).reshape(height, width, channels)
    return normalise(pixels[np.newaxis])


def encode_image(array: np.ndarray, format: str = "PNG", quality: int = 95) -> bytes:
    """uint8 (H, W), (H, W, 1) or (H, W, 3) -> encoded bytes (PNG lossless by default, or JPEG)."""
    pixels = np.asarray(array)
    if pixels.dtype != np.uint8:
        raise ModelError(f"encode_image: expected a uint8 array, got {pixels.dtype}")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)):
        raise ModelError(f"encode_image: expected shape (H, W), (H, W, 1) or (H, W, 3), got {pixels.shape}")
    fmt = format.upper()
    if fmt not in ("PNG", "JPEG"):
        raise ModelError(f"encode_image: format must be PNG or JPEG, got {format!r}")
    buffer = io.BytesIO()
    options = {"quality": int(quality)} if fmt == "JPEG" else {}
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()
