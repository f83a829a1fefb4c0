"""The analytic network floor of one request: the least time the emulated network allows it, server time apart.

    network_floor_ms = handshake + request transfer + one-way delays up + reply transfer + one-way delays down
    upload_floor_ms  = handshake + request transfer + one-way delays up

- transfer: the wire bytes (payload + 52 bytes of IPv4/TCP/timestamp headers per segment of at most 1448
  bytes) serialised at the path's bottleneck rate in that direction, plus the time TCP's slow start leaves
  the bottleneck idle waiting for ACKs (a fluid model: bursts of cwnd segments, cwnd doubling each round,
  the next burst no earlier than the first ACK of the last one);
- handshake: one path RTT, on a new connection only (SYN -> SYN/ACK before any data);
- slow start from the initial window (10 segments, RFC 6928) on a new connection and on one idle longer
  than its RTO (Linux ``tcp_slow_start_after_idle=1``); RTO = RTT + 200 ms (Linux: srtt + max(4 rttvar,
  tcp_rto_min = 200 ms); rttvar is ~0 on a constant-delay path). A kept-alive connection is taken as
  having its window open (no wait): where the state is unknown the floor assumes the cheaper one, so it
  may be low, never high.

No floor holds where the path varies in a way a constant cannot bound: a rate or delay trace, jitter, or
loss (``path_of`` says which link and direction). Store-and-forward at the non-bottleneck hops, ACK
serialisation and delayed ACKs are left out (each only adds time). A radio link (a profile's ``[radio]``) is
taken at its peak rate (LTE: rate / (1 - BLER)) with none of its access delays (promotion, DRX, grants, TTIs,
HARQ each only add time), so the floor stays a lower bound there too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from topo.emulator.radio import peak_rate_bps

MSS_BYTES = 1448                 # TCP payload of a full 1500-byte IP packet (20 IP + 20 TCP + 12 timestamps)
SEGMENT_HEADER_BYTES = 52
INITIAL_CWND_SEGMENTS = 10       # Linux's initial window (RFC 6928)
RTO_MIN_MS = 200.0               # Linux tcp_rto_min
NO_FLOOR = "no floor"
PATH_LINKS = {"edge": ("access", "lan"), "cloud": ("access", "wan"), "features": ("access", "lan"),
              "split": ("access", "lan")}
STATES = ("new", "idle", "warm")  # new connection; idle past its RTO (slow start again); kept alive


def wire_bytes(payload_bytes: float) -> int:
    """IP bytes of a TCP payload sent in full-size segments."""
    segments = max(1, math.ceil(payload_bytes / MSS_BYTES))
    return int(payload_bytes) + SEGMENT_HEADER_BYTES * segments


def transfer_ms(payload_bytes: float, rate_bps: float | None, rtt_ms: float, cwnd_segments: int | None) -> float:
    """First byte sent -> last byte through the bottleneck. ``cwnd_segments`` None: the window is open."""
    serialise_ms = wire_bytes(payload_bytes) * 8 / rate_bps * 1000 if rate_bps else 0.0
    if cwnd_segments is None:
        return serialise_ms
    segment_ms = (MSS_BYTES + SEGMENT_HEADER_BYTES) * 8 / rate_bps * 1000 if rate_bps else 0.0
    left, window, waited_ms = max(1, math.ceil(payload_bytes / MSS_BYTES)), cwnd_segments, 0.0
    while True:
        burst = min(window, left)
        left -= burst
        if left == 0:
            return serialise_ms + waited_ms
        waited_ms += max(0.0, segment_ms + rtt_ms - burst * segment_ms)  # first ACK back after one RTT
        window *= 2


@dataclass(frozen=True)
class PathModel:
    """A request's path: bottleneck rate each way (None: unlimited) and the one-way delays summed."""

    up_bps: float | None
    down_bps: float | None
    up_delay_ms: float
    down_delay_ms: float

    def __post_init__(self):
        for name in ("up_bps", "down_bps"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"PathModel.{name} must be > 0 bit/s or None (unlimited), got {value}")
        if self.up_delay_ms < 0 or self.down_delay_ms < 0:
            raise ValueError(f"PathModel delays must be >= 0 ms, got {self.up_delay_ms}, {self.down_delay_ms}")

    @property
    def rtt_ms(self) -> float:
        return self.up_delay_ms + self.down_delay_ms

    @property
    def rto_ms(self) -> float:
        return self.rtt_ms + RTO_MIN_MS


def request_floor(path: PathModel, request_payload_bytes: float, reply_payload_bytes: float, state: str) -> dict:
    """The floor of one request; ``state`` one of STATES (its connection when the request started)."""
    if state not in STATES:
        raise ValueError(f"connection state must be one of {', '.join(STATES)}, got {state!r}")
    cwnd = None if state == "warm" else INITIAL_CWND_SEGMENTS
    handshake_ms = path.rtt_ms if state == "new" else 0.0
    up_ms = transfer_ms(request_payload_bytes, path.up_bps, path.rtt_ms, cwnd)
    down_ms = transfer_ms(reply_payload_bytes, path.down_bps, path.rtt_ms, cwnd)
    slow_start_ms = (up_ms - transfer_ms(request_payload_bytes, path.up_bps, path.rtt_ms, None)
                     + down_ms - transfer_ms(reply_payload_bytes, path.down_bps, path.rtt_ms, None))
    upload_ms = handshake_ms + up_ms + path.up_delay_ms
    return {"upload_floor_ms": upload_ms, "network_floor_ms": upload_ms + down_ms + path.down_delay_ms,
            "handshake_ms": handshake_ms, "slow_start_ms": slow_start_ms}


def _no_floor_reason(name: str, side: str, spec: dict) -> str | None:
    where = f"{name} {side}"
    if spec.get("rate_trace"):
        return f"{where} replays the trace {Path(spec['rate_trace']).name} (capacity varies: no constant bottleneck)"
    if spec.get("delay_trace"):
        return f"{where} follows a delay trace"
    if float(spec.get("jitter_ms") or 0) > 0:
        return f"{where} has {float(spec['jitter_ms']):g} ms jitter (a delay can fall below the mean)"
    if spec.get("loss_model") == "gilbert-elliott" and float(spec.get("ge_p_good_bad") or 0) > 0 and (
            float(spec.get("ge_loss_bad") or 0) > 0 or float(spec.get("ge_loss_good") or 0) > 0):
        return f"{where} has Gilbert-Elliott loss (each loss costs a retransmission the floor cannot place)"
    if spec.get("loss_model") != "gilbert-elliott" and float(spec.get("loss") or 0) > 0:
        return (f"{where} has {float(spec['loss']) * 100:g}% loss (each loss costs a retransmission the floor "
                "cannot place)")
    return None


def profile_for(access: str, profiles: dict) -> dict | None:
    """The profile entry of an access name (a path given as the access is looked up by its stem)."""
    return profiles.get(access) or profiles.get(Path(access).stem)


def path_of(placement: str, access: str, profiles: dict) -> tuple[PathModel | None, list[str]]:
    """The placement's device <-> server path from experiment.json's profiles, or None and why not.
    The notes (second item) also say what was assumed when the path is there."""
    names = PATH_LINKS.get(placement)
    if names is None:
        return None, [f"no floor for placement {placement!r}"]
    access_profile = profile_for(access, profiles)
    if access_profile is None:
        return None, [f"no profile for access {access!r} in experiment.json"]
    return _path_model(placement, [(n, access_profile if n == "access" else profiles.get(n), "up") for n in names])


def route_path_of(placement: str, route: list | None, profiles: dict) -> tuple[PathModel | None, list[str]]:
    """A scenario row's path: ``route``, the links from its cell to its node in order, each ``[name, side]``
    (experiment.json's ``scenario.routes``; side "up": the request takes the profile's up side, the reply its
    down side; "down": the other way round), profiles by link name."""
    if placement not in PATH_LINKS:
        return None, [f"no floor for placement {placement!r}"]
    if not route:
        return None, ["no route recorded for this row's cell and node"]
    return _path_model(placement, [(name, profiles.get(name), side) for name, side in route])


def _path_model(placement: str, links: list[tuple[str, dict | None, str]]) -> tuple[PathModel | None, list[str]]:
    """The PathModel of ``links`` ((name, profile entry or None, the side the request takes)), or why none."""
    notes = [f"no {n} profile recorded: taken as an unshaped wire" for n, link, _ in links if link is None]
    reasons = [r for n, link, _ in links if link for side in ("up", "down")
               if (r := _no_floor_reason(n, side, link.get(side) or {}))]
    if reasons:
        return None, [f"{NO_FLOOR}: {'; '.join(reasons)}"]
    ups = [(link.get(side) or {}) for _, link, side in links if link]
    downs = [(link.get("down" if side == "up" else "up") or {}) for _, link, side in links if link]

    def bottleneck(sides):  # a radio model can deliver above its nominal rate: take its peak (lower bound)
        rates = [float(s["rate_bps"]) if not s.get("radio_model") else
                 peak_rate_bps(s["radio_model"], [tuple(p) for p in s.get("radio_params") or ()],
                               float(s["rate_bps"])) for s in sides if s.get("rate_bps")]
        return min(rates) if rates else None

    path = PathModel(bottleneck(ups), bottleneck(downs), sum(float(s.get("delay_ms") or 0) for s in ups),
                     sum(float(s.get("delay_ms") or 0) for s in downs))
    if placement in ("features", "split"):
        notes.append("device <-> edge legs only (the edge -> cloud hop is in server_ms)")
    return path, notes


def connection_states(rows: list[dict], rto_ms: float, open_loop: bool = False) -> list[str]:
    """The state of each row's connection (rows of one access x placement workload, in send order): the
    first is new; one sent more than ``rto_ms`` after the previous reply completed is idle; the rest are
    kept alive. Open loop: a pool of connections, so only the first is known to be new."""
    states, last_reply_ns = [], None
    for index, row in enumerate(rows):
        send_ns = _int(row.get("client_send_start_ns"))
        if index == 0:
            states.append("new")
        elif not open_loop and send_ns is not None and last_reply_ns is not None \
                and (send_ns - last_reply_ns) / 1e6 > rto_ms:
            states.append("idle")
        else:
            states.append("warm")
        reply_ns = _int(row.get("client_reply_complete_ns"))
        last_reply_ns = reply_ns if reply_ns is not None else last_reply_ns
    return states


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
