"""Link profiles: what one shaped link does in each direction.

A profile is a TOML file with an ``[up]`` and a ``[down]`` table (uplink = away from
the mobile device, downlink = towards it). The shipped ones live in
``topo/profiles/``; a user adds a file there (or passes a path) and names it.

Per direction (every key optional except one of ``rate`` / ``rate_trace``)::

    rate = "8 Mbit/s"             # constant rate; "unlimited" for none
    rate_trace = "traces/lte-variable.up"   # Mahimahi trace or time_s,rate_mbps CSV
    trace_mode = "loop"           # or "once"
    delay = "20 ms"               # one-way propagation delay
    jitter = "2 ms"               # std. deviation of a normal jitter (see jitter_distribution)
    jitter_distribution = "normal" # or "uniform" (+-jitter) or "pareto"
    allow_reorder = false         # jitter never reorders unless true
    delay_trace = "traces/x.csv"  # time_s,delay_ms; replaces the constant delay
    loss = "0.1 %"                # independent (Bernoulli) loss
    loss_model = "bernoulli"      # or "gilbert-elliott" with the ge_* keys
    ge_p_good_bad = 0.01          # P(good -> bad) per packet
    ge_p_bad_good = 0.3           # P(bad -> good) per packet
    ge_loss_good = 0.0            # loss probability in the good state
    ge_loss_bad = 0.5             # loss probability in the bad state
    queue = "droptail"            # or "drophead"
    queue_limit = "100 packets"   # or "150 KB", or "unlimited"
    seed = 1                      # loss / jitter random seed

A top-level ``[radio]`` table makes the link a radio model instead of a pipe (both directions;
the userspace emulator only): ``model = "lte"`` and the model's parameters (their defaults and
sources: topo/emulator/radio/lte_params.py). Without it the link is the pipe above.

Paths are relative to the profile file first, then to the repository root.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path

from topo import units

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
REPO_ROOT = PROFILE_DIR.parent.parent

DEFAULT_QUEUE_PACKETS = 1000  # used only when a direction names no limit


class ProfileError(ValueError):
    """A profile file or value that cannot be used; the message names file and field."""


@dataclass(frozen=True)
class DirectionSpec:
    """How one direction of a link treats packets. Units are in the field names."""

    rate_bps: float | None = None          # None with no trace: unlimited
    rate_trace: str | None = None          # absolute path of a trace file
    trace_mode: str = "loop"               # "loop" | "once"
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    jitter_distribution: str = "normal"    # "normal" | "uniform" | "pareto"
    allow_reorder: bool = False
    delay_trace: str | None = None         # absolute path, time_s,delay_ms CSV
    loss: float = 0.0                      # fraction 0..1 (Bernoulli, or unused with GE)
    loss_model: str = "bernoulli"          # "bernoulli" | "gilbert-elliott"
    ge_p_good_bad: float = 0.0
    ge_p_bad_good: float = 1.0
    ge_loss_good: float = 0.0
    ge_loss_bad: float = 1.0
    queue: str = "droptail"                # "droptail" | "drophead"
    queue_limit_packets: int | None = DEFAULT_QUEUE_PACKETS
    queue_limit_bytes: int | None = None   # both limits None: unlimited
    seed: int = 1
    radio_model: str | None = None         # a model of topo/emulator/radio (RADIO_MODELS), or a pipe
    radio_params: tuple = ()               # sorted (key, value) pairs of the profile's [radio] table

    def __post_init__(self):
        self._check_radio()
        if self.rate_bps is not None and self.rate_bps <= 0:
            raise ProfileError(f"rate must be positive, got {self.rate_bps} bit/s")
        if self.rate_bps is not None and self.rate_trace is not None:
            raise ProfileError("give either rate or rate_trace, not both")
        if self.trace_mode not in ("loop", "once"):
            raise ProfileError(f"trace_mode must be 'loop' or 'once', got {self.trace_mode!r}")
        for name in ("delay_ms", "jitter_ms"):
            if getattr(self, name) < 0:
                raise ProfileError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.jitter_distribution not in ("normal", "uniform", "pareto"):
            raise ProfileError("jitter_distribution must be normal, uniform or pareto, "
                               f"got {self.jitter_distribution!r}")
        if self.loss_model not in ("bernoulli", "gilbert-elliott"):
            raise ProfileError(f"loss_model must be 'bernoulli' or 'gilbert-elliott', got {self.loss_model!r}")
        for name in ("loss", "ge_p_good_bad", "ge_p_bad_good", "ge_loss_good", "ge_loss_bad"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ProfileError(f"{name} must lie in 0..1, got {getattr(self, name)}")
        if self.queue not in ("droptail", "drophead"):
            raise ProfileError(f"queue must be 'droptail' or 'drophead', got {self.queue!r}")
        for name in ("queue_limit_packets", "queue_limit_bytes"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ProfileError(f"{name} must be >= 1 or unlimited, got {value}")

    def _check_radio(self) -> None:
        from topo.emulator.radio import checked_radio_pairs  # here: the radio package imports no profiles
        try:
            pairs = checked_radio_pairs(self.radio_model, self.radio_params, self.rate_bps, self.rate_trace)
        except ValueError as err:
            raise ProfileError(f"[radio] {err}") from None
        object.__setattr__(self, "radio_params", pairs)

    @property
    def shaped(self) -> bool:
        """True when anything beyond a plain wire is asked for."""
        return (self.radio_model is not None or self.rate_bps is not None or self.rate_trace is not None
                or self.delay_ms > 0
                or self.jitter_ms > 0 or self.delay_trace is not None or self.loss > 0
                or self.loss_model != "bernoulli")

    @property
    def needs_userspace(self) -> bool:
        """Features the kernel backend (HTB + netem) cannot provide."""
        return (self.radio_model is not None or self.rate_trace is not None or self.delay_trace is not None
                or self.loss_model != "bernoulli" or self.queue == "drophead"
                or self.queue_limit_bytes is not None)

    def describe_queue(self) -> str:
        if self.queue_limit_packets is None and self.queue_limit_bytes is None:
            return f"{self.queue} unlimited"
        if self.queue_limit_bytes is not None:
            return f"{self.queue} {self.queue_limit_bytes} B"
        return f"{self.queue} {self.queue_limit_packets} pkt"

    def describe_rate(self) -> str:
        if self.rate_trace is not None:
            return f"trace {Path(self.rate_trace).name} ({self.trace_mode})"
        return units.format_rate(self.rate_bps)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["radio_params"] = [list(pair) for pair in self.radio_params]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "DirectionSpec":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ProfileError(f"unknown field(s) {', '.join(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class LinkProfile:
    name: str
    up: DirectionSpec
    down: DirectionSpec
    description: str = ""
    source: str = ""  # the file it came from

    def replace(self, **changes) -> "LinkProfile":
        return dataclasses.replace(self, **changes)


_DIRECTION_KEYS = {
    "rate", "rate_trace", "trace_mode", "delay", "jitter", "jitter_distribution",
    "allow_reorder", "delay_trace", "loss", "loss_model", "ge_p_good_bad", "ge_p_bad_good",
    "ge_loss_good", "ge_loss_bad", "queue", "queue_limit", "seed",
}
_TOP_KEYS = {"name", "description", "up", "down", "radio"}


def _resolve_path(value, base: Path, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ProfileError(f"{where}: expected a file path, got {value!r}")
    for candidate in (base / value, REPO_ROOT / value, Path(value)):
        if candidate.is_file():
            return str(candidate.resolve())
    raise ProfileError(f"{where}: file {value!r} not found (relative to {base} or {REPO_ROOT})")


def _queue_limit(value) -> dict:
    if isinstance(value, str) and value.strip().lower() == "unlimited":
        return {"queue_limit_packets": None, "queue_limit_bytes": None}
    if isinstance(value, int) and not isinstance(value, bool):
        return {"queue_limit_packets": value, "queue_limit_bytes": None}
    text = str(value).strip()
    for suffix in (" packets", " packet", " pkts", " pkt", "packets", "pkt"):
        if text.lower().endswith(suffix):
            number = text[: -len(suffix)].strip()
            if not number.isdigit():
                raise ValueError(f"queue_limit: {value!r} is not a whole number of packets")
            return {"queue_limit_packets": int(number), "queue_limit_bytes": None}
    return {"queue_limit_packets": None,
            "queue_limit_bytes": units.parse_size_bytes(value, "queue_limit")}


def direction_from_table(table: dict, base: Path, where: str) -> DirectionSpec:
    """Turn one ``[up]``/``[down]`` table into a DirectionSpec; ``where`` prefixes errors."""
    if not isinstance(table, dict):
        raise ProfileError(f"{where}: expected a table of fields")
    unknown = sorted(set(table) - _DIRECTION_KEYS)
    if unknown:
        raise ProfileError(f"{where}: unknown field {unknown[0]!r} "
                           f"(known: {', '.join(sorted(_DIRECTION_KEYS))})")
    fields: dict = {}
    try:
        for key, value in table.items():
            if key == "rate":
                if isinstance(value, str) and value.strip().lower() == "unlimited":
                    fields["rate_bps"] = None
                else:
                    fields["rate_bps"] = units.parse_rate_bps(value)
                    if fields["rate_bps"] <= 0:
                        raise ValueError(f"rate must be positive, got {value!r}")
            elif key in ("rate_trace", "delay_trace"):
                fields[key] = _resolve_path(value, base, f"{where}.{key}")
            elif key in ("delay", "jitter"):
                if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                    raise ValueError(f"{key} must be >= 0, got {value!r}")
                if isinstance(value, str) and value.strip().startswith("-"):
                    raise ValueError(f"{key} must be >= 0, got {value!r}")
                fields[f"{key}_ms"] = units.parse_time_ms(value, key)
            elif key == "loss":
                fields["loss"] = units.parse_fraction(value, "loss")
            elif key.startswith("ge_"):
                fields[key] = units.parse_fraction(value, key)
            elif key == "queue_limit":
                fields.update(_queue_limit(value))
            elif key == "seed":
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError(f"seed must be an integer, got {value!r}")
                fields["seed"] = value
            elif key == "allow_reorder":
                if not isinstance(value, bool):
                    raise ValueError(f"allow_reorder must be true or false, got {value!r}")
                fields["allow_reorder"] = value
            else:
                if not isinstance(value, str):
                    raise ValueError(f"{key} must be a string, got {value!r}")
                fields[key] = value
        return DirectionSpec(**fields)
    except ProfileError as err:
        if str(err).startswith(where):
            raise
        raise ProfileError(f"{where}: {err}") from None
    except ValueError as err:
        raise ProfileError(f"{where}: {err}") from None


def load_profile_file(path: Path | str) -> LinkProfile:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such profile file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ProfileError(f"{path}: not valid TOML ({err})") from None
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ProfileError(f"{path}: unknown field {unknown[0]!r} (known: {', '.join(sorted(_TOP_KEYS))})")
    for side in ("up", "down"):
        if side not in data:
            raise ProfileError(f"{path}: missing [{side}] table")
    base = path.resolve().parent
    up = direction_from_table(data["up"], base, f"{path} [up]")
    down = direction_from_table(data["down"], base, f"{path} [down]")
    if "radio" in data:
        up, down = _with_radio(data["radio"], up, down, f"{path} [radio]", base)
    return LinkProfile(
        name=str(data.get("name", path.stem)),
        up=up,
        down=down,
        description=str(data.get("description", "")),
        source=str(path),
    )


def _with_radio(table, up: DirectionSpec, down: DirectionSpec, where: str, base: Path | None = None) -> tuple:
    """Both directions with the ``[radio]`` table's model and parameters (validated by the model).

    A parameter whose name ends in ``_trace`` is a file, resolved like ``rate_trace``."""
    if not isinstance(table, dict):
        raise ProfileError(f"{where}: expected a table with model = \"...\" and the model's parameters")
    if "model" not in table or not isinstance(table["model"], str):
        raise ProfileError(f"{where}: missing model = \"...\" (a radio model name, e.g. \"lte\")")
    params = tuple(sorted((key, _resolve_path(value, base, f"{where} {key}") if base and key.endswith("_trace")
                           else value) for key, value in table.items() if key != "model"))
    try:
        return tuple(dataclasses.replace(spec, radio_model=table["model"], radio_params=params)
                     for spec in (up, down))
    except ProfileError as err:
        message = str(err).removeprefix("[radio] ")
        raise ProfileError(f"{where}: {message}") from None


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str) -> LinkProfile:
    """A shipped profile by name (``lte``) or any profile file by path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.is_file():
        return load_profile_file(candidate)
    path = PROFILE_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise ProfileError(f"unknown profile {name_or_path!r} (available: {', '.join(available_profiles())}; "
                           f"or give the path of a .toml file)")
    return load_profile_file(path)


def trace_profile(uplink_trace: str, downlink_trace: str, base: LinkProfile) -> LinkProfile:
    """``base`` (an access profile) with its rates replaced by trace files; a radio model is dropped
    (the trace replaces the link's capacity), so the result is a trace-driven pipe."""
    up = dataclasses.replace(base.up, rate_bps=None, radio_model=None, radio_params=(),
                             rate_trace=_resolve_path(uplink_trace, Path.cwd(), "--uplink"))
    down = dataclasses.replace(base.down, rate_bps=None, radio_model=None, radio_params=(),
                               rate_trace=_resolve_path(downlink_trace, Path.cwd(), "--downlink"))
    return base.replace(name="trace", up=up, down=down,
                        description=f"{base.name} delays and queues, rates from traces")
