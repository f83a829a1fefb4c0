"""Radio access models: a rate service that behaves like a radio link, not a pipe.

The hook (stable; LTE and WiFi plug in here). A profile's ``[radio]`` table names a model and
its parameters; both directions get ``DirectionSpec.radio_model`` and ``radio_params`` (sorted
(key, value) pairs, as written in the file). ``RADIO_MODELS`` maps a model name to a
``RadioModel``:

* ``params``: a frozen dataclass with ``from_mapping(mapping) -> params`` that validates the
  values and raises ``ValueError`` naming the key (the profile loader adds the file);
* ``build(spec, params, side, start_s, shared, on_drop) -> service``;
* ``needs_constant_rate`` (default True): the profile must give each direction a ``rate``;
* ``peak_rate`` (optional): ``peak_rate(params, rate_bps)``, the most the model ever delivers at
  (an analytic floor must use it to stay a lower bound); default: the profile's rate;
* ``tcp_goodput`` (optional): ``tcp_goodput(params, rate_bps)``, the analytic goodput of one
  saturating TCP flow (what ``calibrate`` compares its measurement with); default: the profile's rate.

The service has the rate-service contract of topo/emulator/rate_schedule.py plus three things:
``advance(now_s, queue, depart)`` (it may move packets from the shaper's queue into its own
per-device queues; it reports a packet it drops with ``on_drop(packet, now_s)``),
``next_event_s(queue)`` (``inf`` when nothing is pending: no wakeup every TTI on an idle link),
``immediate = False``, ``radio = True``, ``release_transit()`` (None), ``set_rate(rate_bps,
now_s)`` (``None``: back to the configured rate) and ``__len__`` (packets it holds).
``side`` is "uplink" or "downlink"; ``shared`` is ONE dict per emulator process, the same for
both directions (state that spans them: LTE's RRC state per device, WiFi's half-duplex medium).
A device is its IPv4 address (topo/emulator/radio/addresses.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from topo.emulator.radio.lte_cell import LteCellService
from topo.emulator.radio.lte_params import LteParams
from topo.emulator.radio.cellreplay_params import CellReplayParams
from topo.emulator.radio.cellreplay_service import CellReplayService
from topo.emulator.radio.wifi_airtime import saturated_tcp_goodput_bps
from topo.emulator.radio.wifi_params import WifiParams
from topo.emulator.radio.wifi_service import WifiService

SIDES = ("uplink", "downlink")


@dataclass(frozen=True)
class RadioModel:
    params: type
    build: Callable
    needs_constant_rate: bool = True
    peak_rate: Callable | None = None
    tcp_goodput: Callable | None = None


def _build_lte(spec, params, side, start_s, shared, on_drop):
    return LteCellService(spec, params, side, start_s, shared, on_drop)


def _wifi_tcp_goodput(params, rate_bps):
    return saturated_tcp_goodput_bps(rate_bps, params.max_ampdu_mpdus, params.mpdu_error_rate,
                                     symbol_us=params.symbol_us)


def _lte_peak_rate(params, rate_bps):
    return rate_bps / (1.0 - params.bler)  # a block carries rate * TTI / (1 - BLER) bytes


RADIO_MODELS: dict[str, RadioModel] = {
    "lte": RadioModel(LteParams, _build_lte, peak_rate=_lte_peak_rate),
    "wifi": RadioModel(WifiParams, WifiService, peak_rate=WifiParams.peak_rate_bps,
                       tcp_goodput=_wifi_tcp_goodput),  # radio/wifi_medium.py
    "cellreplay": RadioModel(CellReplayParams, CellReplayService, needs_constant_rate=False),  # traces/cellreplay.py
}


def _model(name):
    if name not in RADIO_MODELS:
        raise ValueError(f"model {name!r} is not a radio model (known: {', '.join(sorted(RADIO_MODELS))})")
    return RADIO_MODELS[name]


def parse_radio_params(model: str, pairs) -> object:
    """The model's validated parameters from (key, value) pairs; ValueError names the key."""
    return _model(model).params.from_mapping(dict(pairs))


def peak_rate_bps(model: str, pairs, rate_bps: float) -> float:
    """The highest rate ``model`` delivers at when the profile says ``rate_bps`` (floors use it)."""
    entry = _model(model)
    if entry.peak_rate is None:
        return rate_bps
    return entry.peak_rate(entry.params.from_mapping(dict(pairs)), rate_bps)


def _frozen(key, value):
    """A ``[radio]`` value made immutable (arrays become tuples); nested tables are refused."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(key, item) for item in value)
    if isinstance(value, dict):
        raise ValueError(f"parameter {key!r} is a table; give the model's parameters as plain keys")
    return value


def checked_radio_pairs(model: str | None, pairs, rate_bps, rate_trace) -> tuple:
    """A DirectionSpec's radio fields checked: the sorted, immutable pairs; ValueError says what is wrong."""
    if isinstance(pairs, dict):
        pairs = pairs.items()
    try:
        pairs = tuple(sorted((str(key), _frozen(key, value)) for key, value in pairs))
    except TypeError as err:
        raise ValueError(f"parameters must be (key, value) pairs, got {pairs!r} ({err})") from None
    if model is None:
        if pairs:
            raise ValueError("parameters given without a radio model (model = ...)")
        return pairs
    parse_radio_params(model, pairs)
    if _model(model).needs_constant_rate and (rate_bps is None or rate_trace):
        raise ValueError(f"model {model!r} needs a constant rate in each direction (rate = \"8 Mbit/s\"), "
                         "not a trace or unlimited")
    return pairs


def build_radio_service(spec, side: str, start_s: float, shared: dict, on_drop=None):
    """The rate service for ``spec.radio_model`` in direction ``side`` (see the module doc)."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {', '.join(SIDES)}, got {side!r}")
    model = _model(spec.radio_model)
    params = model.params.from_mapping(dict(spec.radio_params))
    return model.build(spec, params, side, start_s, shared, on_drop or _ignore_drop)


def _ignore_drop(packet, now_s) -> None:
    return None


def tcp_goodput_bps(model: str, pairs, rate_bps: float) -> float:
    """What one saturating TCP flow should get from ``model`` when the profile says ``rate_bps``."""
    entry = _model(model)
    if entry.tcp_goodput is None:
        return rate_bps
    return entry.tcp_goodput(entry.params.from_mapping(dict(pairs)), rate_bps)
