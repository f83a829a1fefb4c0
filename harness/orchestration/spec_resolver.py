"""Any experiment's spec (a frozen dataclass) from its defaults < a config file < the command line's flags.

A config file is TOML whose keys are the spec's field names, or a run's ``experiment.json`` (its ``spec``), so a
run can be repeated exactly; an unknown key is refused with the file and the key named. A flag's value may be
text (``"3"``, ``"lte,wifi"``) and is converted to the field's type; a file's values must have the field's type
already. The spec validates itself when it is built; its message gets the source of the values appended.
"""
from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path

from harness.errors import SpecError

_ALLOWED = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}


def _kind(cls, name: str) -> str:
    return {f.name: f.type if isinstance(f.type, str) else f.type.__name__ for f in dataclasses.fields(cls)}[name]


def _refuse(name: str, value, allowed: str, source: str | None, error: type[Exception]) -> Exception:
    if source is None:  # a flag
        return error(f"--{name.replace('_', '-')} {value!r}: must be {allowed}")
    return error(f"{source}: {name} must be {allowed}, got {value!r}")


def coerce(cls, name: str, value, source: str | None = None, error: type[Exception] = SpecError):
    """``value`` as the type of field ``name`` of ``cls``; ``source`` is the config file (None: a flag, whose text
    is converted)."""
    kind = _kind(cls, name)
    from_flag = source is None
    if kind.startswith("tuple"):
        item = "int" if "int" in kind else "float" if "float" in kind else "str"
        allowed = {"int": "a comma list of integers", "float": "a comma list of numbers"}.get(item, "a list of names")
        items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise _refuse(name, value, allowed, source, error)
        try:
            return tuple(_scalar(item, v, from_flag or isinstance(value, str)) for v in items)
        except (TypeError, ValueError):
            raise _refuse(name, value, allowed, source, error) from None
    try:
        return _scalar(kind, value, from_flag)
    except (TypeError, ValueError):
        raise _refuse(name, value, _ALLOWED.get(kind, kind), source, error) from None


def _scalar(kind: str, value, parse_text: bool):
    """One value of type ``kind`` ('int', 'float', 'bool', 'str'); text is parsed only when ``parse_text``."""
    if isinstance(value, str) and parse_text and kind in ("int", "float"):
        return int(value) if kind == "int" else float(value)
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "str" and isinstance(value, str):
        return value
    raise ValueError(f"not {kind}")


def load_spec_file(cls, path: Path, error: type[Exception] = SpecError) -> dict:
    """The options of a TOML config file, or the ``spec`` of a saved experiment.json, checked against ``cls``."""
    try:
        text = path.read_text()
    except OSError as err:
        raise error(f"{path}: cannot read config ({err.strerror})") from None
    except UnicodeDecodeError as err:
        raise error(f"{path}: not a text file ({err.reason} at byte {err.start})") from None
    try:
        data = json.loads(text)["spec"] if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise error(f"{path}: not a valid config ({err})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: not a valid config (expected a table of options, got {type(data).__name__})")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise error(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return {name: coerce(cls, name, value, str(path), error) for name, value in data.items()}


def resolve_spec(cls, config: Path | None, flags: dict, *, fixed: dict | None = None,
                 error: type[Exception] = SpecError):
    """``cls`` from its defaults < ``config`` < ``fixed`` (set by the command itself) < ``flags`` (None: not given)."""
    values = load_spec_file(cls, config, error) if config is not None else {}
    values.update(fixed or {})
    values.update({name: coerce(cls, name, value, None, error) for name, value in flags.items() if value is not None})
    try:
        return cls(**values)
    except error as err:
        raise error(f"{err} (from {config or 'the command line'})") from None


def check_rules(spec, rules, error: type[Exception] = SpecError) -> None:
    """``rules``: (field name, ok, what it must be) -- the first that is not ok is one line naming the option."""
    for name, ok, allowed in rules:
        if not ok:
            raise error(f"--{name.replace('_', '-')} {getattr(spec, name)!r}: must be {allowed}")
