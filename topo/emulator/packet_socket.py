"""AF_PACKET raw sockets on one interface: receive what arrives, send frames out of it."""
from __future__ import annotations

import errno
import socket

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20
PACKET_IGNORE_OUTGOING = 23
PACKET_OUTGOING = 4
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


def open_packet_socket(ifname: str, buffer_bytes: int = DEFAULT_BUFFER_BYTES) -> tuple[socket.socket, bool]:
    """A non-blocking raw socket bound to ``ifname``; returns (socket, ignores_outgoing).

    When the kernel lacks PACKET_IGNORE_OUTGOING (< 4.20) the caller must drop frames whose
    pkttype is PACKET_OUTGOING itself (``ignores_outgoing`` is then False).
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
        try:
            sock.bind((ifname, ETH_P_ALL))
        except OSError as err:
            if err.errno in (errno.ENODEV, errno.ENXIO):
                raise InterfaceError(f"interface {ifname!r} does not exist in this network namespace") from None
            raise InterfaceError(f"cannot bind a raw socket to interface {ifname!r}: {err.strerror}") from None
        sock.setblocking(False)
        return sock, ignores_outgoing
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
