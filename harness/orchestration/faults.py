"""Fault schedules: what goes wrong during a run, when, and for how long.

One fault is ``AT:KIND:TARGET[:VALUE][:DURATION]``, times with a unit (``s`` or ``ms``),
counted from the start of the device workload of each access network:

    10s:link-down:wan:5s          take the WAN link down at 10 s, up again 5 s later
    30s:kill:cloud:3s             SIGKILL the cloud server at 30 s, restart it (same arguments) 3 s later
    40s:rate:access:2Mbit/s       the access link's rate becomes 2 Mbit/s both ways from 40 s on
    40s:rate:access/up:2Mbit/s:10s   only the uplink, and back to the profile's rate after 10 s

On a scenario (``--scenario``) the targets are its links (access1, lan2, backhaul1, wan, ...) and its nodes
(edge1, edge2, cloud, ...), counted from the devices' shared start of the first workload.

A :class:`FaultRunner` plays a schedule in a thread against an *actions* object
(``begin(fault)`` / ``end(fault)``; the network's is in harness/orchestration/fault_actions.py, tests
pass a fake) and records one window per fault with its monotonic start and end.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

from harness.errors import SpecError
from topo.units import parse_rate_bps, parse_time_ms

KINDS = ("link-down", "kill", "rate")
LINKS = ("access", "lan", "wan")
NODES = ("cloud", "edge")
DIRECTIONS = ("up", "down")
SYNTAX = "AT:KIND:TARGET[:VALUE][:DURATION], e.g. 10s:link-down:wan:5s, 30s:kill:cloud:3s, 40s:rate:access:2Mbit/s"
_TIME = re.compile(r"^\s*[0-9]*\.?[0-9]+\s*(s|ms)\s*$")


class FaultError(SpecError):
    """A fault that cannot be parsed or applied; the message quotes the fault and says what is allowed."""


@dataclass(frozen=True)
class Fault:
    text: str                       # as the user wrote it (recorded)
    at_s: float
    kind: str                       # link-down | kill | rate
    target: str                     # a link (access, lan, wan) or a node (cloud, edge)
    duration_s: float | None = None  # None: until the end of the workload (rate only)
    rate_bps: float | None = None   # rate only
    direction: str | None = None    # rate only: "up", "down" or None (both)
    # the targets allowed (a scenario's links and nodes; None: any, checked against the network later)
    links: tuple[str, ...] | None = field(default=LINKS, compare=False, repr=False)
    nodes: tuple[str, ...] | None = field(default=NODES, compare=False, repr=False)

    def __post_init__(self):
        where = f"fault {self.text!r}"
        if self.kind not in KINDS:
            raise FaultError(f"{where}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        allowed = self.nodes if self.kind == "kill" else self.links
        if allowed is not None and self.target not in allowed:
            raise FaultError(f"{where}: {self.kind} needs a target among {', '.join(allowed)}, got {self.target!r}")
        if not 0 <= self.at_s < 86400:
            raise FaultError(f"{where}: the start time must lie in 0..86400 s, got {self.at_s:g} s")
        if self.duration_s is not None and not 0 < self.duration_s <= 86400:
            raise FaultError(f"{where}: the duration must lie in (0, 86400] s, got {self.duration_s:g} s")
        if self.kind != "rate" and self.duration_s is None:
            raise FaultError(f"{where}: {self.kind} needs a duration ({SYNTAX})")
        if self.kind == "rate" and not (self.rate_bps and self.rate_bps > 0):
            raise FaultError(f"{where}: rate needs a rate > 0 with a unit, e.g. 2Mbit/s")
        if self.direction not in (None, *DIRECTIONS):
            raise FaultError(f"{where}: direction {self.direction!r} must be up or down")

    @property
    def end_s(self) -> float | None:
        return None if self.duration_s is None else self.at_s + self.duration_s

    @property
    def resource(self) -> str:
        """What two faults must not both hold at once."""
        return f"{self.kind}:{self.target}" if self.kind == "rate" else self.target

    def to_dict(self) -> dict:
        return {"fault": self.text, "kind": self.kind, "target": self.target, "direction": self.direction,
                "at_s": self.at_s, "duration_s": self.duration_s, "rate_bps": self.rate_bps}


def _seconds(text: str, what: str, fault: str) -> float:
    if not _TIME.match(text):
        raise FaultError(f"fault {fault!r}: {what} {text!r} needs a unit, e.g. 10s or 500ms ({SYNTAX})")
    return parse_time_ms(text.strip(), what) / 1000.0


def parse_fault(text, links: tuple[str, ...] | None = LINKS, nodes: tuple[str, ...] | None = NODES) -> Fault:
    """One fault from its text; FaultError (one line) when it does not parse. ``links`` / ``nodes``: the
    targets allowed (a scenario's link and node names; None: any)."""
    if not isinstance(text, str) or not text.strip():
        raise FaultError(f"a fault must be a non-empty string ({SYNTAX}), got {text!r}")
    if len(text) > 200:
        raise FaultError(f"fault {text[:40]!r}...: longer than 200 characters")
    parts = [p.strip() for p in text.strip().split(":")]
    if len(parts) < 3:
        raise FaultError(f"fault {text!r}: expected {SYNTAX}")
    at_s = _seconds(parts[0], "the start time", text)
    kind, target, rest = parts[1].lower(), parts[2].lower(), parts[3:]
    direction = None
    if "/" in target and kind == "rate":
        target, direction = target.split("/", 1)
    if kind == "rate":
        if not 1 <= len(rest) <= 2:
            raise FaultError(f"fault {text!r}: rate takes a rate and an optional duration, e.g. "
                             "40s:rate:access:2Mbit/s or 40s:rate:access:2Mbit/s:10s")
        try:
            rate_bps = parse_rate_bps(rest[0])
        except ValueError as err:
            raise FaultError(f"fault {text!r}: {err}") from None
        duration_s = _seconds(rest[1], "the duration", text) if len(rest) == 2 else None
        return Fault(text.strip(), at_s, kind, target, duration_s, rate_bps, direction, links, nodes)
    if kind in ("link-down", "kill"):
        if len(rest) != 1:
            raise FaultError(f"fault {text!r}: {kind} takes one duration, e.g. 10s:{kind}:"
                             f"{'wan' if kind == 'link-down' else 'cloud'}:5s")
        return Fault(text.strip(), at_s, kind, target, _seconds(rest[0], "the duration", text), links=links,
                     nodes=nodes)
    raise FaultError(f"fault {text!r}: kind {parts[1]!r} is not one of {', '.join(KINDS)}")


def parse_schedule(texts, links: tuple[str, ...] | None = LINKS,
                   nodes: tuple[str, ...] | None = NODES) -> tuple[Fault, ...]:
    """Every fault of a schedule, sorted by start; refuses two faults holding one target at once. ``links`` /
    ``nodes``: the targets allowed (default: the fixed network's; a scenario's names; None: any)."""
    faults = sorted((parse_fault(t, links, nodes) for t in texts), key=lambda f: f.at_s)
    for i, first in enumerate(faults):
        for second in faults[i + 1:]:
            if second.resource == first.resource and (first.end_s is None or second.at_s < first.end_s):
                raise FaultError(f"faults {first.text!r} and {second.text!r} overlap on {first.target}: "
                                 "one must end before the other starts")
    return tuple(faults)


@dataclass
class FaultWindow:
    fault: Fault
    status: str = "pending"   # pending -> active -> ended | failed | skipped
    start_ns: int | None = None
    end_ns: int | None = None
    error: str = ""
    note: str = ""

    def record(self) -> dict:
        return {**self.fault.to_dict(), "status": self.status, "start_ns": self.start_ns, "end_ns": self.end_ns,
                "error": self.error, "note": self.note}


class FaultRunner:
    """Plays a schedule in a thread from ``start()``; ``stop()`` ends what is active and returns the windows.

    ``actions.begin(fault)`` / ``actions.end(fault)`` do the work; an exception there marks the window
    failed (the run goes on). ``on_change(windows)`` is called after each change (to save them).
    """

    def __init__(self, faults, actions, *, clock_ns=time.monotonic_ns, on_change=None):
        self.windows = [FaultWindow(f) for f in faults]
        self.actions = actions
        self.clock_ns = clock_ns
        self.on_change = on_change or (lambda windows: None)
        self.start_ns: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "FaultRunner":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.start_ns = self.clock_ns()
        if self.windows:
            self._thread = threading.Thread(target=self._play, name="faults", daemon=True)
            self._thread.start()

    def _events(self) -> list[tuple[float, int, str, FaultWindow]]:
        events = []
        for order, window in enumerate(self.windows):
            events.append((window.fault.at_s, order, "begin", window))
            if window.fault.end_s is not None:
                events.append((window.fault.end_s, order, "end", window))
        return sorted(events, key=lambda e: (e[0], e[2] != "end", e[1]))  # ends before begins at one instant

    def _play(self) -> None:
        for at_s, _order, what, window in self._events():
            wait_s = at_s - (self.clock_ns() - self.start_ns) / 1e9
            if wait_s > 0 and self._stop.wait(wait_s):
                return
            if self._stop.is_set():
                return
            if what == "begin":
                self._begin(window)
            elif window.status == "active":
                self._end(window)

    def _begin(self, window: FaultWindow) -> None:
        window.start_ns = self.clock_ns()
        try:
            self.actions.begin(window.fault)
            window.status = "active"
        except Exception as exc:  # noqa: BLE001 -- a fault that cannot be applied is recorded, the run goes on
            window.status, window.error, window.end_ns = "failed", str(exc) or type(exc).__name__, self.clock_ns()
        self.on_change(self.windows)

    def _end(self, window: FaultWindow, at_stop: bool = False) -> None:
        try:
            self.actions.end(window.fault, at_stop=at_stop)
            window.status = "ended"
        except Exception as exc:  # noqa: BLE001
            window.status, window.error = "failed", f"could not end: {exc}"
        window.end_ns = self.clock_ns()
        if at_stop:
            window.note = "ended by the end of the workload"
        self.on_change(self.windows)

    def stop(self) -> list[dict]:
        """Stop playing; end every active fault; mark the ones not reached as skipped."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for window in self.windows:
            if window.status == "active":
                self._end(window, at_stop=True)
            elif window.status == "pending":
                window.status, window.note = "skipped", "the workload ended before its start time"
        self.on_change(self.windows)
        return [w.record() for w in self.windows]
