"""Frames from a raw socket by ``recvmsg``: the I/O loop's reader where there is no receive ring
(topo/emulator/packet_ring.py; its ``receive`` has the same contract), and the one tests drive with
fake sockets."""
from __future__ import annotations

from topo.emulator.packet import ETHERNET_HEADER_BYTES, Packet
from topo.emulator.packet_ring import BURST
from topo.emulator.packet_socket import PACKET_OUTGOING, TIMESTAMP_ANCILLARY_BYTES
from topo.emulator.source_bins import address_key


class SocketReader:
    """``stamped``: the kernel stamps each frame (SO_TIMESTAMPNS ancillary data), else it arrives when read."""

    def __init__(self, sock, ignores_outgoing: bool, stamped: bool, clock):
        self.sock, self.ignores_outgoing, self.stamped, self._clock = sock, ignores_outgoing, stamped, clock
        self._buffer = bytearray(65536)
        self._view = memoryview(self._buffer)
        self.truncated = 0

    def receive(self, accept, offered, previous_s: float, now_s: float, realtime_offset_s: float) -> float:
        """As RxRing.receive: up to BURST frames, arrival = kernel stamp (or the clock when read)."""
        rx, buffer, view, buffers, clock = self.sock, self._buffer, self._view, [self._buffer], self._clock
        stamped, ignores_outgoing = self.stamped, self.ignores_outgoing
        for _ in range(BURST):
            try:
                if stamped:
                    size, ancillary, _flags, address = rx.recvmsg_into(buffers, TIMESTAMP_ANCILLARY_BYTES)
                elif ignores_outgoing:
                    size = rx.recv_into(buffer)
                else:
                    size, address = rx.recvfrom_into(buffer)
            except (BlockingIOError, InterruptedError):
                break
            if not ignores_outgoing and address[2] == PACKET_OUTGOING:
                continue
            now_s = clock()
            arrival_s = now_s
            if stamped and ancillary:
                stamp = ancillary[0][2]
                arrival_s = (int.from_bytes(stamp[:8], "little") + int.from_bytes(stamp[8:16], "little")
                             * 1e-9 - realtime_offset_s)
                if arrival_s > now_s or arrival_s < now_s - 1.0:  # a clock step: trust our own clock
                    arrival_s = now_s
            if arrival_s < previous_s:
                arrival_s = previous_s
            previous_s = arrival_s
            frame = bytes(view[:size])
            ip_bytes = size - ETHERNET_HEADER_BYTES if size > ETHERNET_HEADER_BYTES else 1
            key = address_key(frame)
            offered(key, ip_bytes)
            accept(Packet(arrival_s, ip_bytes, frame, key), arrival_s)
        return previous_s

    def close(self) -> None:
        pass
