"""Real JPEG files of an exact byte size, made deterministically from a seed (the device's "camera").

The published experiments sent images of 60K ... 4096K bytes. Here K = 1024 (so
4096K = 4 MiB, the powers of two the paper's sizes follow). An image is a seeded
smooth pattern plus noise, encoded with Pillow at a resolution found so the JPEG
comes just under the target; JPEG comment (COM) segments right after the SOI
marker fill it to the exact size. Decoders skip COM segments, so the file
stays a valid JPEG of that resolution.
"""
from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np
from PIL import Image

from nodes.errors import NodeConfigError

PAPER_SIZES = ("60K", "124K", "256K", "512K", "1024K", "2048K", "4096K")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KkMm]?)(?:i?B)?\s*$")
_COM_MAX_PAYLOAD = 65533  # segment length field (2 bytes) counts itself
_QUALITY = 90


def parse_image_size(text: str) -> int:
    """'60K' -> 61440, '4096K' -> 4194304, '2M' -> 2097152, '5000' -> 5000 (K = 1024)."""
    match = _SIZE.match(str(text))
    if not match:
        raise NodeConfigError(f"image size {text!r} is not a byte count like 60K, 4096K, 2M or 5000 (K = 1024)")
    value = float(match.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2).lower()]
    if value < 1024 or value > 256 * 1024 * 1024:
        raise NodeConfigError(f"image size {text!r} is outside 1K..256M")
    return int(value)


def _pixels(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(max(2, height // 64), max(2, width // 64), 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BILINEAR), dtype=np.int16)
    noise = rng.normal(0.0, 48.0, size=(height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _encode(width: int, height: int, seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_pixels(width, height, seed)).save(buffer, format="JPEG", quality=_QUALITY)
    return buffer.getvalue()


def pad_jpeg(jpeg: bytes, size_bytes: int) -> bytes:
    """Insert COM segments after SOI so the file is exactly size_bytes long."""
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG (no SOI marker)")
    missing = size_bytes - len(jpeg)
    if missing == 0:
        return jpeg
    if missing < 4:
        raise ValueError(f"cannot pad by {missing} bytes: a COM segment takes at least 4")
    segments = []
    while missing > 0:
        payload = min(missing - 4, _COM_MAX_PAYLOAD)
        rest = missing - (payload + 4)
        if 0 < rest < 4:  # leave room for a last segment of at least 4 bytes
            payload -= 4 - rest
        segments.append(b"\xff\xfe" + (payload + 2).to_bytes(2, "big") + b"\x00" * payload)
        missing -= payload + 4
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def make_jpeg(size_bytes: int, seed: int = 0) -> bytes:
    """A decodable JPEG of exactly size_bytes (deterministic for the same size, seed and Pillow)."""
    if size_bytes < 1024:
        raise NodeConfigError(f"image size {size_bytes} bytes is below the 1024-byte minimum")
    best, pixels = None, size_bytes / 2.0  # first guess: ~2 bytes per pixel at quality 90 with this noise
    for _ in range(8):
        side = max(16, int(math.sqrt(pixels)))
        width, height = side, max(16, side * 3 // 4)
        jpeg = _encode(width, height, seed)
        if len(jpeg) <= size_bytes - 4 and (best is None or len(jpeg) > len(best)):
            best = jpeg
        if best is not None and len(best) >= 0.96 * size_bytes:
            break
        pixels *= (0.98 * size_bytes) / len(jpeg)
    if best is None:
        raise NodeConfigError(f"cannot make a JPEG as small as {size_bytes} bytes")
    return pad_jpeg(best, size_bytes)


def image_set(sizes, seed: int = 0, cache_dir: Path | None = None) -> list[tuple[int, bytes]]:
    """[(size_bytes, jpeg)] for each size; files cached as <cache_dir>/img-<size>-s<seed>.jpg."""
    result = []
    for size in sizes:
        size_bytes = parse_image_size(size) if isinstance(size, str) else int(size)
        path = None if cache_dir is None else Path(cache_dir) / f"img-{size_bytes}-s{seed}.jpg"
        if path is not None and path.exists() and path.stat().st_size == size_bytes:
            result.append((size_bytes, path.read_bytes()))
            continue
        data = make_jpeg(size_bytes, seed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        result.append((size_bytes, data))
    return result
