"""Model artifacts: the manifest the cloud serves from, sha256 checks, and the edge's verified download.

The manifest is ``<models dir>/manifest.json`` as written by ``models.zoo``:
``{"models": {NAME: {"file", "sha256", "bytes", "role", ...}}}``. Only names in it
are ever served, and each ``file`` must be a plain file name inside the models dir.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from nodes.errors import ArtifactError, NodeConfigError

ROLES = ("full", "lower", "upper", "encoder", "feature-classifier")
PAIR_PLACEMENTS = ("split", "features")  # a user's pair (manifest "placement"): replaces the placement's default pair
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # always fullmatch: "$" would let "name\n" through
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ArtifactEntry:
    name: str
    file: str
    sha256: str
    size_bytes: int
    role: str
    placement: str = ""  # "split" / "features": this entry is one half of a user's pair for that placement

    def __post_init__(self):
        where = f"manifest entry {self.name!r}"
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise NodeConfigError(f"{where}: the name must be 1-128 of A-Z a-z 0-9 . _ - (starting with a letter "
                                  "or digit), nothing else")
        if not self.file or Path(self.file).name != self.file or self.file in (".", ".."):
            raise NodeConfigError(f"{where}: 'file' {self.file!r} must be a plain file name in the models dir")
        if not isinstance(self.sha256, str) or not _SHA256.fullmatch(self.sha256):
            raise NodeConfigError(f"{where}: 'sha256' {self.sha256!r} is not 64 lowercase hex digits")
        if not isinstance(self.size_bytes, int) or self.size_bytes < 1:
            raise NodeConfigError(f"{where}: 'bytes' {self.size_bytes!r} must be a positive integer")
        if self.role not in ROLES:
            raise NodeConfigError(f"{where}: 'role' {self.role!r} is not one of {', '.join(ROLES)}")
        if self.placement not in ("", *PAIR_PLACEMENTS):
            raise NodeConfigError(f"{where}: 'placement' {self.placement!r} is not one of {', '.join(PAIR_PLACEMENTS)}")

    def index_entry(self) -> dict:
        entry = {"name": self.name, "sha256": self.sha256, "bytes": self.size_bytes, "role": self.role}
        return {**entry, "placement": self.placement} if self.placement else entry

    @classmethod
    def from_index(cls, entry: dict) -> "ArtifactEntry":
        try:
            return cls(name=entry["name"], file=f"{entry['name']}.onnx", sha256=entry["sha256"],
                       size_bytes=entry["bytes"], role=entry["role"], placement=entry.get("placement", ""))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ArtifactError(f"artifact index entry {entry!r} lacks field {exc}") from None
        except NodeConfigError as exc:
            raise ArtifactError(f"artifact index: {exc}") from None


def load_manifest_json(models_dir: Path) -> dict:
    """``<models_dir>/manifest.json`` as a dict; NodeConfigError naming the file and what to do otherwise."""
    path = Path(models_dir) / "manifest.json"
    rebuild = f"rebuild the model set: python -m models build --force --cache {models_dir}"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NodeConfigError(f"{path} does not exist: build the models first (python -m models build "
                              f"--cache {models_dir})") from None
    except IsADirectoryError:
        raise NodeConfigError(f"{path} is a folder, not a manifest file: remove it and {rebuild}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NodeConfigError(f"{path} is not a JSON model manifest ({exc}): {rebuild}") from None
    except OSError as exc:
        raise NodeConfigError(f"{path} cannot be read ({exc.strerror or exc}): check its permissions, "
                              f"or {rebuild}") from None
    if not isinstance(manifest, dict):
        raise NodeConfigError(f"{path} holds JSON {type(manifest).__name__}, not a model manifest object: {rebuild}")
    return manifest


def read_manifest(models_dir: Path) -> dict[str, ArtifactEntry]:
    path = Path(models_dir) / "manifest.json"
    manifest = load_manifest_json(models_dir)
    models = manifest.get("models")
    if not isinstance(models, dict) or not models:
        raise NodeConfigError(f"{path}: needs a non-empty object 'models' of NAME -> {{file, sha256, bytes, role}}")
    entries = {}
    for name, fields in models.items():
        if not isinstance(fields, dict):
            raise NodeConfigError(f"{path}: entry {name!r} must be an object")
        missing = [k for k in ("file", "sha256", "bytes", "role") if k not in fields]
        if missing:
            raise NodeConfigError(f"{path}: entry {name!r} lacks {', '.join(missing)}")
        entries[name] = ArtifactEntry(name=name, file=fields["file"], sha256=fields["sha256"],
                                      size_bytes=fields["bytes"], role=fields["role"],
                                      placement=fields.get("placement", ""))
    return entries


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify(entry: ArtifactEntry, data: bytes, source: str) -> None:
    """Refuse truncated, padded or altered bytes: size first (cheap), then sha256."""
    if len(data) != entry.size_bytes:
        raise ArtifactError(f"{entry.name} from {source}: {len(data)} bytes, expected {entry.size_bytes} "
                            "(truncated or wrong file); refused")
    digest = sha256_hex(data)
    if digest != entry.sha256:
        raise ArtifactError(f"{entry.name} from {source}: sha256 {digest[:16]}... does not match the expected "
                            f"{entry.sha256[:16]}...; refused")


def read_verified(models_dir: Path, entry: ArtifactEntry) -> bytes:
    path = Path(models_dir) / entry.file
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{entry.name}: cannot read {path}: {exc}") from None
    verify(entry, data, str(path))
    return data


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@dataclass(frozen=True)
class FetchRecord:
    """One model download, as logged by the edge (``fetches.jsonl``)."""

    name: str
    size_bytes: int
    start_ns: int
    end_ns: int
    verified: bool
    error: str = ""

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    def as_dict(self) -> dict:
        return {"name": self.name, "bytes": self.size_bytes, "start_ns": self.start_ns, "end_ns": self.end_ns,
                "duration_ms": round(self.duration_ms, 3), "verified": self.verified, "error": self.error,
                "time_unix_s": round(time.time(), 3)}
