"""A packet inside the emulator: when it arrived, how many bytes it counts for, its frame."""
from __future__ import annotations

ETHERNET_HEADER_BYTES = 14


class Packet:
    """``size_bytes`` is what the link charges for: the IP packet (frame minus the Ethernet
    header), as Mahimahi counts it, so one 1500-byte opportunity carries one MTU packet.
    ``key``: its source + destination address (topo/emulator/source_bins.py), read once on arrival."""

    __slots__ = ("arrival_s", "size_bytes", "frame", "key")

    def __init__(self, arrival_s: float, size_bytes: int, frame: bytes | None = None, key: bytes = b""):
        self.arrival_s = arrival_s
        self.size_bytes = size_bytes
        self.frame = frame
        self.key = key

    @classmethod
    def from_frame(cls, arrival_s: float, frame: bytes) -> "Packet":
        return cls(arrival_s, max(len(frame) - ETHERNET_HEADER_BYTES, 1), frame)

    def __repr__(self) -> str:
        return f"Packet(arrival_s={self.arrival_s!r}, size_bytes={self.size_bytes})"
