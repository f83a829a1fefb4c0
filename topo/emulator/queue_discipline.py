"""Buffer disciplines in front of the rate service: drop-tail and drop-head.

Limits count packets and/or bytes (``None`` = no limit on that measure); the packet
being transmitted is not in the queue (as in Mahimahi).
"""
from __future__ import annotations

from collections import deque

from topo.emulator.packet import Packet

NO_DROPS: tuple = ()
DISCIPLINES = ("droptail", "drophead")


class PacketQueue:
    def __init__(self, discipline: str = "droptail", limit_packets: int | None = None,
                 limit_bytes: int | None = None):
        if discipline not in DISCIPLINES:
            raise ValueError(f"queue discipline must be one of {', '.join(DISCIPLINES)}, got {discipline!r}")
        for name, value in (("limit_packets", limit_packets), ("limit_bytes", limit_bytes)):
            if value is not None and value < 1:
                raise ValueError(f"queue {name} must be >= 1 or None (unlimited), got {value}")
        self.discipline = discipline
        self.limit_packets = limit_packets
        self.limit_bytes = limit_bytes
        self._packets: deque[Packet] = deque()
        self.bytes = 0
        self._drop_head = discipline == "drophead"
        self._limited = limit_packets is not None or limit_bytes is not None

    def __len__(self) -> int:
        return len(self._packets)

    def __bool__(self) -> bool:
        return bool(self._packets)

    def _over(self, extra_packets: int, extra_bytes: int) -> bool:
        return ((self.limit_packets is not None and len(self._packets) + extra_packets > self.limit_packets)
                or (self.limit_bytes is not None and self.bytes + extra_bytes > self.limit_bytes))

    def enqueue(self, packet: Packet):
        """Add ``packet``; return the packets dropped to respect the limits (usually none)."""
        if not self._limited:
            self._packets.append(packet)
            self.bytes += packet.size_bytes
            return NO_DROPS
        if not self._drop_head:
            limit_packets, limit_bytes = self.limit_packets, self.limit_bytes
            if ((limit_packets is not None and len(self._packets) >= limit_packets)
                    or (limit_bytes is not None and self.bytes + packet.size_bytes > limit_bytes)):
                return (packet,)
            self._packets.append(packet)
            self.bytes += packet.size_bytes
            return NO_DROPS
        self._packets.append(packet)
        self.bytes += packet.size_bytes
        dropped = []
        while self._packets and self._over(0, 0):
            head = self._packets.popleft()
            self.bytes -= head.size_bytes
            dropped.append(head)
        return dropped or NO_DROPS

    def dequeue(self) -> Packet:
        packet = self._packets.popleft()
        self.bytes -= packet.size_bytes
        return packet
