"""A receive ring on a raw socket (PACKET_RX_RING, TPACKET_V2): frames read from shared memory.

Without a ring every frame costs a ``recvmsg`` call, its copy out of the kernel and its timestamp's
ancillary data. With one, the kernel copies each frame into a slot of a ring that the process has
mapped, stamps it (``tp_sec``/``tp_nsec``, CLOCK_REALTIME, as SO_TIMESTAMPNS) and marks the slot
the process's; one ``select`` wakes the loop for every frame waiting, and the loop reads them without
a system call, handing each slot back as it goes. The copy into the ring is done by the sender's
kernel path (the one that delivers the frame to this socket), not by this process.

TPACKET_V2, not V3: V3 hands frames over a block at a time, when a block fills or its retire timer
(1 ms or more) fires, which would add up to that much to an idle link's packets; V2 hands each frame
over at once. Slots are sized from the interface's MTU; a frame longer than its slot (never with
offloads off) is dropped and counted (``truncated``). The ring is only set up on x86-64: the reads
rely on its store ordering (the kernel writes a slot, then its status); elsewhere, or where the kernel
refuses, the loop keeps ``recvmsg`` (topo/emulator/socket_reader.py). Set it up before ``bind``: frames
queued on the socket before the ring existed would keep it readable with an empty ring.
"""
from __future__ import annotations

import fcntl
import mmap
import platform
import socket
import struct

from topo.emulator.packet import ETHERNET_HEADER_BYTES, Packet
from topo.emulator.source_bins import address_key

SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_VERSION = 10
TPACKET_V2 = 1
TP_STATUS_USER = 1
SIOCGIFMTU = 0x8921
HEADER = struct.Struct("IIIHHII")   # tp_status, tp_len, tp_snaplen, tp_mac, tp_net, tp_sec, tp_nsec
PKTTYPE_OFFSET = 32 + 10            # sockaddr_ll after the 32-byte tpacket2_hdr; sll_pkttype inside it
SLOT_OVERHEAD_BYTES = 128           # header, sockaddr_ll and alignment before the frame (macoff 66)
RING_BYTES = 4 * 1024 * 1024        # per socket: 2048 slots of 2 KiB at MTU 1500 (0.25 s at 100 Mbit/s)
MIN_SLOTS = 1024
BLOCK_BYTES = 64 * 1024
BURST = 256                         # frames taken from one ring before the loop releases due packets
RING_MACHINES = ("x86_64", "AMD64")
PACKET_OUTGOING = 4


def interface_mtu(sock: socket.socket, ifname: str) -> int:
    request = struct.pack("16sI12x", ifname.encode(), 0)
    return struct.unpack_from("I", fcntl.ioctl(sock.fileno(), SIOCGIFMTU, request), 16)[0]


def slot_bytes_for(mtu: int) -> int:
    """The smallest power of two (at least 2 KiB) holding a slot's header and an MTU frame with a VLAN tag."""
    size = 2048
    while size < mtu + ETHERNET_HEADER_BYTES + 4 + SLOT_OVERHEAD_BYTES:
        size *= 2
    return size


class RxRing:
    """The mapped ring of one socket; ``receive`` reads what the kernel has put there since the last call."""

    def __init__(self, sock: socket.socket, ifname: str, ignores_outgoing: bool, clock):
        self.slot_bytes = slot_bytes_for(interface_mtu(sock, ifname))
        self.slots = max(MIN_SLOTS, RING_BYTES // self.slot_bytes)
        block_bytes = max(BLOCK_BYTES, self.slot_bytes)
        self.slots -= self.slots % (block_bytes // self.slot_bytes)
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
        sock.setsockopt(SOL_PACKET, PACKET_RX_RING, struct.pack(
            "IIII", block_bytes, self.slots * self.slot_bytes // block_bytes, self.slot_bytes, self.slots))
        self._map = mmap.mmap(sock.fileno(), self.slots * self.slot_bytes, mmap.MAP_SHARED,
                              mmap.PROT_READ | mmap.PROT_WRITE)
        self._status = memoryview(self._map).cast("I")   # slot i's tp_status: _status[i * slot_bytes // 4]
        self._index = 0
        self._check_outgoing = not ignores_outgoing
        self._clock = clock
        self.truncated = 0

    def receive(self, accept, offered, previous_s: float, now_s: float, realtime_offset_s: float) -> float:
        """Hand up to BURST waiting frames to ``offered(key, bytes)`` and ``accept(packet, arrival_s)``
        in arrival order; arrival = the kernel's stamp on the monotonic clock, never before
        ``previous_s`` (the last arrival) nor after now. Returns the last arrival."""
        ring, status, unpack = self._map, self._status, HEADER.unpack_from
        slot_bytes, slots, index = self.slot_bytes, self.slots, self._index
        words = slot_bytes >> 2
        for _ in range(BURST):
            if not status[index * words] & TP_STATUS_USER:
                break
            offset = index * slot_bytes
            _status, length, snaplen, mac, _net, sec, nsec = unpack(ring, offset)
            index = index + 1 if index + 1 < slots else 0
            if snaplen < length or (self._check_outgoing and ring[offset + PKTTYPE_OFFSET] == PACKET_OUTGOING):
                self.truncated += snaplen < length
                status[offset >> 2] = 0
                continue
            frame = ring[offset + mac:offset + mac + snaplen]
            status[offset >> 2] = 0   # the slot back to the kernel (the frame is copied out)
            arrival_s = sec + nsec * 1e-9 - realtime_offset_s
            if arrival_s > now_s:      # stamped after this turn read the clock
                now_s = self._clock()
                if arrival_s > now_s:  # a clock step: trust our own clock
                    arrival_s = now_s
            elif arrival_s < now_s - 1.0:
                arrival_s = now_s
            if arrival_s < previous_s:
                arrival_s = previous_s
            previous_s = arrival_s
            ip_bytes = snaplen - ETHERNET_HEADER_BYTES if snaplen > ETHERNET_HEADER_BYTES else 1
            key = address_key(frame)
            offered(key, ip_bytes)
            accept(Packet(arrival_s, ip_bytes, frame, key), arrival_s)
        self._index = index
        return previous_s

    def close(self) -> None:
        self._status.release()
        self._map.close()


def ring_supported() -> bool:
    return platform.machine() in RING_MACHINES


def map_rx_ring(sock: socket.socket, ifname: str, ignores_outgoing: bool, clock) -> tuple[RxRing | None, str]:
    """A ring on ``sock`` (not yet bound), or None and why not (the loop then uses recvmsg)."""
    if not ring_supported():
        return None, f"not on {platform.machine()} (x86-64 only)"
    try:
        return RxRing(sock, ifname, ignores_outgoing, clock), ""
    except OSError as err:
        return None, f"PACKET_RX_RING refused: {err.strerror or err}"
