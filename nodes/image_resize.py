"""One real image re-encoded as a JPEG of a requested byte size: a resolution and a quality that reach it.

The size a device sends is what the network sees, so ``--image-mode resize`` turns each photo into a JPEG
of each requested size (60K ... 4096K, K = 1024): at quality 90 first, the resolution is searched (the
photo's aspect kept, bicubic resampling) until the JPEG comes within ``FILL_FRACTION`` below the target; the
few bytes left are JPEG comment (COM) segments (``nodes.jpeg_images.pad_jpeg``, skipped by every decoder),
so the file is exactly the requested size, like the synthetic images. Where even the largest resolution
(``MAX_PIXELS``) is too small at quality 90, higher qualities are tried (95, then 100 with full chroma);
where the smallest (``MIN_SIDE_PX``) is too large, lower ones. A size none of them reaches is an
``ImageSizeError`` naming the image, the size and the range that can be reached.

Each result records the resolution, the quality and the JPEG's own bytes (before the comment fill), which
the device's rows carry (``image_width``, ``image_height``, ``image_quality``, ``image_encoded_bytes``).
Deterministic: the same image, size and Pillow give the same bytes.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image

from nodes.errors import NodeConfigError
from nodes.jpeg_images import pad_jpeg

FILL_FRACTION = 0.97          # a JPEG of at least 97% of the target is accepted, the rest is comment fill
MIN_SIDE_PX = 8
MAX_PIXELS = 8192 * 8192  # 64 Mpixel: beyond this a server's decode alone would dominate everything
DEFAULT_QUALITY = 90
HIGHER_QUALITIES = (95, 100)      # tried in turn when even MAX_PIXELS is too small at 90
LOWER_QUALITIES = (75, 50, 25, 10)  # when even MIN_SIDE_PX is too large
_SEARCH_STEPS = 14


class ImageSizeError(NodeConfigError):
    """A requested size that no resolution and quality of this image reaches."""


@dataclass(frozen=True)
class ResizedImage:
    data: bytes                # the JPEG sent, exactly the requested size
    width_px: int
    height_px: int
    quality: int
    encoded_bytes: int         # the JPEG's own bytes, before the comment fill

    def __post_init__(self):
        if self.data[:2] != b"\xff\xd8" or self.encoded_bytes > len(self.data):
            raise ValueError("ResizedImage: data must be a JPEG at least encoded_bytes long")


def encode_jpeg(image: Image.Image, width_px: int, height_px: int, quality: int) -> bytes:
    """``image`` at width x height (bicubic), as a baseline JPEG of ``quality`` (100: no chroma subsampling)."""
    resized = image if image.size == (width_px, height_px) else image.resize((width_px, height_px),
                                                                            Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    extra = {"subsampling": 0} if quality >= 100 else {}
    resized.save(buffer, format="JPEG", quality=quality, optimize=False, **extra)
    return buffer.getvalue()


def _dimensions(pixels: float, aspect: float) -> tuple[int, int]:
    """Width and height of about ``pixels`` pixels at ``aspect`` (width / height), each >= MIN_SIDE_PX."""
    width = max(MIN_SIDE_PX, int(round(math.sqrt(pixels * aspect))))
    height = max(MIN_SIDE_PX, int(round(width / aspect)))
    while width * height > MAX_PIXELS:
        width, height = width - 1, max(MIN_SIDE_PX, int(round((width - 1) / aspect)))
    return width, height


def _fits(length: int, size_bytes: int) -> bool:
    return length == size_bytes or length <= size_bytes - 4  # a comment segment takes at least 4 bytes


def _search(image: Image.Image, size_bytes: int, quality: int) -> tuple[bytes, int, int] | tuple[str, int]:
    """The best JPEG at ``quality`` within [FILL_FRACTION x size, size] as (data, width, height), or
    ("small", bytes) / ("large", bytes): even the largest (smallest) resolution gives that many bytes, below
    (above) the target."""
    aspect = image.size[0] / image.size[1]
    smallest, largest = _dimensions(0, aspect), _dimensions(MAX_PIXELS, aspect)
    best: tuple[bytes, int, int] | None = None
    fits_at, over_at = None, None     # pixel counts known to fit / to overflow (a bracket once both are set)
    pixels = size_bytes / 0.5         # first guess: ~0.5 bytes per pixel
    for _ in range(_SEARCH_STEPS):
        width, height = _dimensions(pixels, aspect)
        data = encode_jpeg(image, width, height, quality)
        if _fits(len(data), size_bytes):
            if best is None or len(data) > len(best[0]):
                best = (data, width, height)
            if len(data) >= FILL_FRACTION * size_bytes:
                return best
            if (width, height) == largest:
                return ("small", len(data))
            fits_at = width * height
        else:
            if (width, height) == smallest:
                return ("large", len(data))
            over_at = width * height
        # JPEG bytes grow a little slower than the pixels: aim just under the target
        guess = width * height * (0.985 * size_bytes / len(data)) ** 1.1
        if fits_at is not None and over_at is not None:  # stay strictly inside the bracket
            if over_at - fits_at <= 2:
                break
            if not fits_at < guess < over_at:
                guess = math.sqrt(fits_at * over_at)
        pixels = min(float(MAX_PIXELS), guess)
    if best is not None and len(best[0]) >= 0.8 * size_bytes:
        return best
    return ("small", len(best[0])) if best is not None else ("large", 0)


def resize_to_size(image: Image.Image, size_bytes: int, what: str = "image") -> ResizedImage:
    """``image`` (any mode: converted to RGB) as a JPEG of exactly ``size_bytes``; ImageSizeError when no
    resolution from MIN_SIDE_PX to MAX_PIXELS at any quality of the ladder reaches it (``what`` names it)."""
    if size_bytes < 1024:
        raise ImageSizeError(f"{what}: image size {size_bytes} bytes is below the 1024-byte minimum")
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    found = _search(rgb, size_bytes, DEFAULT_QUALITY)
    quality = DEFAULT_QUALITY
    if isinstance(found[0], str):
        for quality in (HIGHER_QUALITIES if found[0] == "small" else LOWER_QUALITIES):
            found = _search(rgb, size_bytes, quality)
            if not isinstance(found[0], str):
                break
    if not isinstance(found[0], str):
        data, width, height = found
        return ResizedImage(pad_jpeg(data, size_bytes), width, height, quality, len(data))
    side, reached = found
    if side == "small":
        raise ImageSizeError(
            f"{what}: no resolution reaches {size_bytes / 1024:g}K ({size_bytes} bytes) as a JPEG: the largest, "
            f"{MAX_PIXELS // 1024 // 1024} Mpixel at quality {quality}, is {reached} bytes; ask smaller --sizes or "
            "send the files as they are (--image-mode as-is)")
    raise ImageSizeError(
        f"{what}: no resolution reaches {size_bytes / 1024:g}K ({size_bytes} bytes) as a JPEG: the smallest, "
        f"{MIN_SIDE_PX} px a side at quality {quality}, is already {reached} bytes; ask larger --sizes")
