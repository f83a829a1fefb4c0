"""Robustness limits of the node servers and the connection guard that enforces them.

aiohttp enforces the body size (``client_max_size``) and the header sizes
(``max_line_size``, ``max_field_size``, ``max_headers``: keyword arguments of
``web.AppRunner``, which hands them to its ``web.Server``). This module adds what
aiohttp lacks: a cap on open connections (the one over the cap is answered 503 and
closed) and a deadline for a request's headers to arrive, counted from the
connection's opening or, on a kept-alive connection, from the next request's
first byte (a slowloris or silent connection is closed instead of holding a slot;
an idle kept-alive connection is aiohttp's ``keepalive_timeout``'s business). The body deadline is
enforced by the request handlers (``body_timeout_s``).

Only public interfaces are used: ``GuardedProtocol`` is an ``asyncio.Protocol`` that wraps the protocol
made by ``runner.server`` (aiohttp's documented low-level server, a protocol factory for
``loop.create_server``) and hands every event on to it; a request is tied to its connection through
``request.transport``. No aiohttp class is subclassed, so a new aiohttp release cannot break the guard
silently; tests/test_nodes_servers.py checks every limit against the installed aiohttp.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Callable

from nodes.errors import NodeConfigError

MIB = 1024 * 1024


@dataclass(frozen=True)
class ServerLimits:
    max_request_bytes: int = 64 * MIB      # whole body; a 4096K image is 4 MiB
    max_header_line_bytes: int = 8190
    max_header_field_bytes: int = 8190
    max_headers: int = 64
    max_connections: int = 256
    header_timeout_s: float = 10.0         # first byte of a request -> its headers complete
    body_timeout_s: float = 120.0          # headers complete -> body complete (a 64 MiB body on a slow link)
    keepalive_timeout_s: float = 75.0      # idle keep-alive connection is closed after this
    max_inflight_inferences: int = 64      # more waiting requests are answered 503

    def __post_init__(self):
        for name in ("max_request_bytes", "max_header_line_bytes", "max_header_field_bytes", "max_headers",
                     "max_connections", "max_inflight_inferences"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise NodeConfigError(f"server limit {name}={value!r} must be a positive integer")
        for name in ("header_timeout_s", "body_timeout_s", "keepalive_timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise NodeConfigError(f"server limit {name}={value!r} must be a positive number of seconds")

    def application_kwargs(self) -> dict:
        return {"client_max_size": self.max_request_bytes}

    def handler_kwargs(self) -> dict:
        return {"max_line_size": self.max_header_line_bytes, "max_field_size": self.max_header_field_bytes,
                "max_headers": self.max_headers, "keepalive_timeout": self.keepalive_timeout_s}


def _plain_reply(status_line: str, message: str) -> bytes:
    body = json.dumps({"error": message}).encode()
    return (f"HTTP/1.1 {status_line}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body


class ConnectionGuard:
    """Counts connections and closes those whose request headers stall; one per server."""

    def __init__(self, limits: ServerLimits):
        self.limits = limits
        self.open_connections = 0
        self.refused_connections = 0
        self.stalled_connections_closed = 0
        self._by_transport: dict[asyncio.BaseTransport, "GuardedProtocol"] = {}
        self._sweeper: asyncio.Task | None = None

    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()

    def admit(self, protocol: "GuardedProtocol", transport: asyncio.BaseTransport) -> bool:
        if self.open_connections >= self.limits.max_connections:
            self.refused_connections += 1
            return False
        self.open_connections += 1
        self._by_transport[transport] = protocol
        return True

    def release(self, transport: asyncio.BaseTransport) -> None:
        if self._by_transport.pop(transport, None) is not None:
            self.open_connections -= 1

    def request_started(self, request) -> None:
        """Called once a request's headers are parsed (middleware): its header deadline no longer applies."""
        protocol = self._by_transport.get(request.transport)
        if protocol is not None:
            protocol.partial_request_since = None
            protocol.active_requests += 1

    def request_finished(self, request) -> None:
        protocol = self._by_transport.get(request.transport)  # None once the connection is gone: nothing to count
        if protocol is not None and protocol.active_requests > 0:
            protocol.active_requests -= 1

    async def _sweep(self) -> None:
        period_s = min(1.0, self.limits.header_timeout_s / 4)
        while True:
            await asyncio.sleep(period_s)
            now = time.monotonic()
            for protocol in list(self._by_transport.values()):
                started = protocol.partial_request_since
                if started is not None and now - started > self.limits.header_timeout_s:
                    self.stalled_connections_closed += 1
                    protocol.abort_stalled()


class GuardedProtocol(asyncio.Protocol):
    """One connection: the guard's bookkeeping, then aiohttp's own protocol (made only once admitted)."""

    def __init__(self, make_protocol: Callable[[], asyncio.Protocol], guard: ConnectionGuard):
        self._make_protocol, self.guard = make_protocol, guard
        self.inner: asyncio.Protocol | None = None  # None: refused (or not connected yet)
        self.transport: asyncio.Transport | None = None
        self.partial_request_since: float | None = None
        self.active_requests = 0

    def connection_made(self, transport) -> None:
        self.transport = transport
        if not self.guard.admit(self, transport):
            transport.write(_plain_reply("503 Service Unavailable",
                                         f"too many connections (limit {self.guard.limits.max_connections})"))
            transport.close()
            return
        self.partial_request_since = time.monotonic()  # a silent new connection gets the header deadline too
        self.inner = self._make_protocol()
        self.inner.connection_made(transport)

    def connection_lost(self, exc) -> None:
        if self.inner is None:
            return
        self.guard.release(self.transport)
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            return
        if self.active_requests == 0 and self.partial_request_since is None:
            self.partial_request_since = time.monotonic()
        self.inner.data_received(data)

    def eof_received(self):
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def abort_stalled(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(_plain_reply("408 Request Timeout",
                                         f"request headers not received within {self.guard.limits.header_timeout_s} s"))
            transport.close()
