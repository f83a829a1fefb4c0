"""AF_PACKET raw sockets on one interface: receive what arrives, send frames out of it."""
from __future__ import annotations

import errno
import socket
import struct

from topo.emulator.packet_ring import PACKET_OUTGOING, SOL_PACKET, RxRing, map_rx_ring  # noqa: F401 (re-exported)

ETH_P_ALL = 0x0003
PACKET_QDISC_BYPASS = 20
PACKET_IGNORE_OUTGOING = 23
PACKET_STATISTICS = 6
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
SO_TIMESTAMPNS = 35      # (asm-generic; Python's socket module lacks the name) also the cmsg type
TIMESTAMP_ANCILLARY_BYTES = 64
DEFAULT_BUFFER_BYTES = 16 * 1024 * 1024


class InterfaceError(RuntimeError):
    """An interface the emulator cannot open; the message names it."""


def _set_buffer(sock: socket.socket, force_option: int, option: int, size_bytes: int) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, force_option, size_bytes)  # root: beyond rmem_max
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, option, size_bytes)


def open_packet_socket(ifname: str, buffer_bytes: int = DEFAULT_BUFFER_BYTES,
                       ring_clock=None) -> tuple[socket.socket, bool, RxRing | None, str]:
    """A non-blocking raw socket bound to ``ifname``; returns (socket, ignores_outgoing, ring, why no ring).

    When the kernel lacks PACKET_IGNORE_OUTGOING (< 4.20) the caller must drop frames whose
    pkttype is PACKET_OUTGOING itself (``ignores_outgoing`` is then False). With ``ring_clock``
    (the loop's clock) it maps a receive ring before binding (topo/emulator/packet_ring.py) where
    it can; ring is None otherwise, and the string says why.
    """
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError:
        raise InterfaceError("raw AF_PACKET sockets need root (CAP_NET_RAW)") from None
    try:
        ignores_outgoing = True
        try:
            sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        except OSError:
            ignores_outgoing = False
        try:
            sock.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
        except OSError:
            pass
        _set_buffer(sock, SO_RCVBUFFORCE, socket.SO_RCVBUF, buffer_bytes)
        _set_buffer(sock, SO_SNDBUFFORCE, socket.SO_SNDBUF, buffer_bytes)
        ring, no_ring = None, "not asked"
        try:
            socket.if_nametoindex(ifname)
            if ring_clock is not None:
                ring, no_ring = map_rx_ring(sock, ifname, ignores_outgoing, ring_clock)
            sock.bind((ifname, ETH_P_ALL))
        except OSError as err:
            if ring is not None:
                ring.close()
            if err.errno in (errno.ENODEV, errno.ENXIO):
                raise InterfaceError(f"interface {ifname!r} does not exist in this network namespace") from None
            raise InterfaceError(f"cannot bind a raw socket to interface {ifname!r}: {err.strerror}") from None
        sock.setblocking(False)
        return sock, ignores_outgoing, ring, no_ring
    except BaseException:
        sock.close()
        raise


def enable_timestamps(sock: socket.socket) -> bool:
    """Ask the kernel to stamp each received frame (CLOCK_REALTIME, ns); False where it cannot."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        return True
    except OSError:
        return False


def kernel_drops(sock: socket.socket) -> int | None:
    """Frames the kernel dropped for this socket (its buffer or ring full) since the last call; None
    where it cannot say."""
    try:
        return struct.unpack("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))[1]
    except OSError:
        return None
