"""Settings of the ``collaborate`` (System B) and ``features`` (System A) experiments: frozen, validated here."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from topo.links import BACKENDS


class CollabSpecError(ValueError):
    """A bad option of collaborate / features; the message names it, the value and what is allowed."""


def _check(spec, rules) -> None:
    for name, ok, allowed in rules:
        if not ok:
            raise CollabSpecError(f"--{name.replace('_', '-')} {getattr(spec, name)!r}: must be {allowed}")


@dataclass(frozen=True)
class CollabSpec:
    access: str = "lte"
    labelled_images: int = 120          # N: the edge's own labelled set
    labels_per_update: int = 200        # M: new cloud labels per retrain
    updates: int = 2                    # retrains in the live run
    label_batch: int = 50               # objects per upload to the cloud's labeller
    device_rate_hz: float = 20.0        # devices' open-loop upload rate (Poisson)
    after_update_s: float = 5.0         # devices keep sending this long after the last swap
    idle_s: float = 2.0                 # the WAN must be quiet this long before an upload
    idle_rate_bytes_per_s: float = 20_000.0
    wan_busy_s: float = 6.0             # background WAN load when the update phase starts (0: none)
    wan_busy_rate_mbps: float = 20.0
    train_epochs: int = 30              # max epochs of each edge (re)training
    table_sizes: tuple[int, ...] = (120, 500)
    table_depths: tuple[int, ...] = (3, 10)
    table_repeats: int = 5            # seeds of the EdgeCNN0/1 table (mean, 95% CI, paired test)
    table_epochs: int = 30
    seed: int = 1
    link_backend: str = "auto"
    wan: str = "wan"
    lan: str = "lan"
    models_dir: str = ""
    results_dir: str = "results"
    timeout_s: float = 600.0            # the live part, at most

    def __post_init__(self):
        _check(self, [
            ("labelled_images", self.labelled_images >= 20, "an integer >= 20 (2 per class, 9:1 split)"),
            ("labels_per_update", self.labels_per_update >= 1, "an integer >= 1"),
            ("updates", self.updates >= 1, "an integer >= 1"),
            ("label_batch", 1 <= self.label_batch <= 256, "an integer in 1..256"),
            ("device_rate_hz", 0 < self.device_rate_hz <= 500, "in (0, 500] requests/s"),
            ("after_update_s", self.after_update_s >= 0, ">= 0 s"),
            ("idle_s", self.idle_s > 0, "> 0 s"),
            ("idle_rate_bytes_per_s", self.idle_rate_bytes_per_s > 0, "> 0"),
            ("wan_busy_s", self.wan_busy_s >= 0, ">= 0 s (0: no background load)"),
            ("wan_busy_rate_mbps", self.wan_busy_rate_mbps > 0, "> 0"),
            ("train_epochs", self.train_epochs >= 1, "an integer >= 1"),
            ("table_sizes", all(s >= 20 for s in self.table_sizes), "labelled-set sizes >= 20 (empty: no table)"),
            ("table_depths", all(k in (3, 5, 10) for k in self.table_depths), "depths among 3, 5, 10"),
            ("table_repeats", self.table_repeats >= 1, "an integer >= 1"),
            ("table_epochs", self.table_epochs >= 1, "an integer >= 1"),
            ("link_backend", self.link_backend in BACKENDS, f"one of {', '.join(BACKENDS)}"),
            ("timeout_s", self.timeout_s > 0, "> 0 s"),
        ])

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FeaturesSpec:
    accesses: tuple[str, ...] = ("lte", "wifi")
    feature_dims: tuple[int, ...] = (16, 32, 64, 128)
    images: int = 30                    # requests per access x path (dataset images as JPEG)
    train_epochs: int = 15              # epochs of every classifier (raw inputs and features alike)
    cnn_epochs: int = 5                 # epochs of CloudCNN on raw images (the cloud-centric deep model)
    ae_epochs: int = 5
    rate_hz: float = 5.0                # device requests per second (open loop, light load)
    max_train_images: int = 0           # 0: the whole training split
    accuracy_repeats: int = 5           # seeds of the accuracy-vs-dimension table (mean, 95% CI, paired test)
    seed: int = 1
    link_backend: str = "auto"
    wan: str = "wan"
    lan: str = "lan"
    models_dir: str = ""
    results_dir: str = "results"

    def __post_init__(self):
        _check(self, [
            ("accesses", bool(self.accesses), "a non-empty list of access profiles (empty: nothing to run)"),
            ("feature_dims", bool(self.feature_dims) and all(1 <= d <= 512 for d in self.feature_dims),
             "dimensions in 1..512"),
            ("images", self.images >= 1, "an integer >= 1"),
            ("train_epochs", self.train_epochs >= 1, "an integer >= 1"),
            ("ae_epochs", self.ae_epochs >= 1, "an integer >= 1"),
            ("cnn_epochs", self.cnn_epochs >= 0, "an integer >= 0 (0: no CloudCNN baseline)"),
            ("rate_hz", 0 < self.rate_hz <= 500, "in (0, 500]"),
            ("accuracy_repeats", self.accuracy_repeats >= 1, "an integer >= 1"),
            ("max_train_images", self.max_train_images >= 0, "an integer >= 0 (0: all)"),
            ("link_backend", self.link_backend in BACKENDS, f"one of {', '.join(BACKENDS)}"),
        ])

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _coerce(cls, name: str, value, source: str):
    kind = {f.name: f.type for f in dataclasses.fields(cls)}[name]
    try:
        if kind.startswith("tuple"):
            items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)
            return tuple(int(v) for v in items) if "int" in kind else tuple(str(v) for v in items)
        if kind == "int" and not isinstance(value, bool):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if kind == "float" and not isinstance(value, bool):
            return float(value)
        if kind == "str" and isinstance(value, str):
            return value
    except (TypeError, ValueError):
        pass
    allowed = {"int": "an integer", "float": "a number", "str": "text"}.get(
        kind, "a comma list of integers" if "int" in kind else "a comma list of names")
    raise CollabSpecError(f"{source} {value!r}: must be {allowed}")


def resolve(cls, config: Path | None, flags: dict):
    """Defaults < TOML config file (keys = field names; or a run's experiment.json) < flags (None = not given)."""
    import json
    import tomllib

    values: dict = {}
    if config is not None:
        try:
            text = config.read_text()
            data = json.loads(text)["spec"] if config.suffix == ".json" else tomllib.loads(text)
        except OSError as err:
            raise CollabSpecError(f"{config}: cannot read config ({err.strerror})") from None
        except (tomllib.TOMLDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
            raise CollabSpecError(f"{config}: not a valid config ({err})") from None
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CollabSpecError(f"{config}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
        values.update({k: _coerce(cls, k, v, f"{config}: {k}") for k, v in data.items()})
    values.update({k: _coerce(cls, k, v, f"--{k.replace('_', '-')}") for k, v in flags.items() if v is not None})
    return cls(**values)
