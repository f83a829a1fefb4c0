"""Errors raised by the node processes, the protocol code and the client.

Each carries a one-line message naming the bad value and what is allowed; the
servers turn ``RequestError`` into a JSON ``{"error": ...}`` reply with its
HTTP status, the CLIs print any of them as one line and exit non-zero.
"""
from __future__ import annotations


class NodeConfigError(ValueError):
    """A bad command-line option, manifest entry or setting."""


class RequestError(ValueError):
    """A client request the server refuses; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class ArtifactError(RuntimeError):
    """A model artifact that could not be fetched, or failed its size / sha256 check."""


class UpstreamError(RuntimeError):
    """The next hop (the cloud, seen from the edge) failed or could not be reached."""


class ProtocolError(ValueError):
    """A reply that does not follow the Open Inference Protocol (seen by a client)."""
