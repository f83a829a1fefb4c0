"""A model card: how an image becomes a model's input, and what its outputs mean.

Fields: ``input_name``, ``layout`` (NCHW or NHWC), ``height``, ``width``, ``channels`` (1 or 3), the normalisation
(``mean`` and ``std`` per channel in 0..1 pixel units, ``x = (pixel / 255 - mean) / std``; or ``scale``,
``x = pixel * scale``) and ``labels`` (class names, in output order). A card is read from TOML
(``FILE.card.toml`` next to ``FILE.onnx``, see models/onnx_file.py), from ``KEY=VALUE`` flags, and travels inside
the served ONNX file as the metadata property ``ect.card`` (JSON), so its sha256 covers it.

The default normalisation is the project's own: mean 0.5, std 0.5 (values in [-1, 1]), as models/preprocess.py.
"""
from __future__ import annotations

import io
import json
import math
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from models.errors import ModelError

LAYOUTS = ("NCHW", "NHWC")
METADATA_KEY = "ect.card"
MAX_SIDE = 4096
_MODES = {1: "L", 3: "RGB"}
KEYS = ("input_name", "layout", "height", "width", "channels", "mean", "std", "scale", "labels")


@dataclass(frozen=True)
class ModelCard:
    input_name: str
    height: int
    width: int
    channels: int = 3
    layout: str = "NCHW"
    mean: tuple[float, ...] = (0.5,)     # one value, or one per channel
    std: tuple[float, ...] = (0.5,)
    scale: float | None = None           # set: x = pixel * scale, and mean/std are not used
    labels: tuple[str, ...] = ()
    source: str = "defaults"             # where it came from (for messages)

    def __post_init__(self) -> None:
        where = f"model card ({self.source})"
        if not isinstance(self.input_name, str) or not self.input_name:
            raise ModelError(f"{where}: input_name must be a non-empty string, got {self.input_name!r}")
        if self.layout not in LAYOUTS:
            raise ModelError(f"{where}: layout must be NCHW or NHWC, got {self.layout!r}")
        for name in ("height", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIDE:
                raise ModelError(f"{where}: {name} must be an integer 1..{MAX_SIDE}, got {value!r}")
        if self.channels not in _MODES:
            raise ModelError(f"{where}: channels must be 1 or 3, got {self.channels!r}")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if len(values) not in (1, self.channels) or not all(_finite(v) for v in values):
                raise ModelError(f"{where}: {name} must be 1 or {self.channels} numbers, got {list(values)!r}")
        if any(v <= 0 for v in self.std):
            raise ModelError(f"{where}: std values must be > 0, got {list(self.std)!r}")
        if self.scale is not None and (not _finite(self.scale) or self.scale <= 0):
            raise ModelError(f"{where}: scale must be a number > 0, got {self.scale!r}")
        if not all(isinstance(label, str) for label in self.labels):
            raise ModelError(f"{where}: labels must be strings")

    @classmethod
    def from_dict(cls, values: dict, source: str, defaults: "ModelCard | None" = None) -> "ModelCard":
        """A card from ``values`` (card keys) over ``defaults``; an unknown key or a bad type is one line."""
        unknown = sorted(set(values) - set(KEYS))
        if unknown:
            raise ModelError(f"model card ({source}): unknown key(s) {', '.join(unknown)}; allowed: {', '.join(KEYS)}")
        merged = asdict(defaults) if defaults is not None else {}
        for key, value in values.items():
            merged[key] = _coerce(key, value, source)
        if "scale" in values and not ({"mean", "std"} & set(values)):
            merged["mean"], merged["std"] = (0.0,), (1.0,)
        if {"mean", "std"} & set(values) and "scale" not in values:
            merged["scale"] = None
        merged["source"] = source if defaults is None else f"{defaults.source} + {source}"
        missing = [k for k in ("input_name", "height", "width") if k not in merged]
        if missing:
            raise ModelError(f"model card ({source}): needs {', '.join(missing)}")
        return cls(**{f.name: merged[f.name] for f in fields(cls) if f.name in merged})

    def to_json(self) -> str:
        values = {k: v for k, v in asdict(self).items() if k != "source"}
        return json.dumps(values, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str) -> "ModelCard":
        try:
            values = json.loads(text)
        except ValueError as exc:
            raise ModelError(f"model card ({source}): not JSON ({exc})") from None
        if not isinstance(values, dict):
            raise ModelError(f"model card ({source}): not a JSON object")
        return cls.from_dict(values, source)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """One image's input shape, without the batch dimension, in the card's layout."""
        if self.layout == "NCHW":
            return self.channels, self.height, self.width
        return self.height, self.width, self.channels

    def normalise(self, pixels_uint8: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, C) -> float32 (N, ...) in the card's layout and normalisation."""
        x = pixels_uint8.astype(np.float32)
        if self.scale is not None:
            x = x * np.float32(self.scale)
        else:
            mean = np.asarray(self.mean, np.float32).reshape(1, 1, 1, -1)
            std = np.asarray(self.std, np.float32).reshape(1, 1, 1, -1)
            x = (x / np.float32(255.0) - mean) / std
        if self.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, dtype=np.float32)

    def preprocess(self, data: bytes) -> np.ndarray:
        """Encoded image bytes (JPEG, PNG, ...) -> float32 (1, ...) ready for the model, resized bilinearly."""
        try:
            with Image.open(io.BytesIO(bytes(data))) as image:
                image.load()
                converted = image.convert(_MODES[self.channels])
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ModelError(f"cannot decode {len(data)} bytes as an image ({exc.__class__.__name__})") from None
        if converted.size != (self.width, self.height):
            converted = converted.resize((self.width, self.height), Image.Resampling.BILINEAR)
        pixels = np.asarray(converted, dtype=np.uint8).reshape(1, self.height, self.width, self.channels)
        return self.normalise(pixels)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _numbers(key: str, value, source: str) -> tuple[float, ...]:
    if isinstance(value, str):
        value = [v for v in value.replace(",", "/").split("/") if v.strip()]
    if not isinstance(value, (list, tuple)):
        value = [value]
    try:
        return tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise ModelError(f"model card ({source}): {key} must be numbers (a list, or a/b/c), got {value!r}") from None


def _coerce(key: str, value, source: str):
    """A card value from TOML (typed) or from a KEY=VALUE flag (a string) -> the field's type."""
    if key in ("height", "width", "channels"):
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value
    if key == "layout":
        return value.upper() if isinstance(value, str) else value
    if key in ("mean", "std"):
        return _numbers(key, value, source)
    if key == "scale":
        if isinstance(value, str):
            text = value.strip()
            try:
                return float(text.split("/")[0]) / float(text.split("/")[1]) if "/" in text else float(text)
            except (ValueError, ZeroDivisionError):
                raise ModelError(f"model card ({source}): scale must be a number (or 1/255), got {value!r}") from None
        return float(value) if _finite(value) else value
    if key == "labels":
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split("/") if v.strip())
        return tuple(value) if isinstance(value, (list, tuple)) else value
    return value


def read_card_toml(path: Path) -> dict:
    """The key/value table of a card file; one line naming the file when it is not TOML or holds a sub-table."""
    try:
        values = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model card {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"model card {path}: cannot read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"model card {path}: not TOML ({exc})") from None
    if "labels_file" in values:
        labels_path = Path(path).parent / str(values.pop("labels_file"))
        try:
            values["labels"] = [line.strip() for line in labels_path.read_text(encoding="utf-8").splitlines()
                                if line.strip()]
        except OSError as exc:
            raise ModelError(f"model card {path}: labels_file {labels_path}: cannot read ({exc})") from None
    return values


def parse_card_flag(text: str, source: str) -> dict:
    """``KEY=VALUE[,KEY=VALUE...]`` (lists as a/b/c) -> card values; or a path to a card TOML file."""
    if "=" not in text:
        return read_card_toml(Path(text))
    values = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ModelError(f"{source}: {item!r} is not KEY=VALUE (keys: {', '.join(KEYS)}; lists as a/b/c)")
        values[key.strip()] = value.strip()
    return values
