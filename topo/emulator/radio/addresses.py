"""Which device a packet belongs to on a radio link: its IPv4 address.

Uplink packets come from the device (IPv4 source), downlink packets go to it (destination).
A frame that is not IPv4 (ARP, IPv6 neighbour discovery) has no radio device: ``None``, and
models pass it straight through (a cellular link carries no ARP; it is emulation plumbing).
A packet without a frame (unit tests built from sizes alone) is the one device ``DEFAULT_DEVICE``.
"""
from __future__ import annotations

ETHERNET_HEADER_BYTES = 14
ETHERTYPE_IPV4 = b"\x08\x00"
DEFAULT_DEVICE = b"\x00\x00\x00\x00"
_SOURCE = ETHERNET_HEADER_BYTES + 12       # IPv4 source address offset in the frame
_DESTINATION = ETHERNET_HEADER_BYTES + 16  # IPv4 destination address offset


def device_of(packet, side: str) -> bytes | None:
    """The device's 4-byte IPv4 address, ``None`` for a frame that is not IPv4."""
    frame = packet.frame
    if frame is None:
        return DEFAULT_DEVICE
    if len(frame) < _DESTINATION + 4 or frame[12:14] != ETHERTYPE_IPV4:
        return None
    offset = _SOURCE if side == "uplink" else _DESTINATION
    return bytes(frame[offset:offset + 4])


def ipv4_frame(source: str, destination: str, size_bytes: int) -> bytes:
    """An Ethernet + IPv4 frame of ``size_bytes`` IP bytes (tests, benchmarks on the fake clock)."""
    header = bytearray(20)
    header[0] = 0x45
    header[2:4] = max(size_bytes, 20).to_bytes(2, "big")
    header[12:16] = bytes(int(part) for part in source.split("."))
    header[16:20] = bytes(int(part) for part in destination.split("."))
    ethernet = b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x02" + ETHERTYPE_IPV4
    return ethernet + bytes(header) + bytes(max(size_bytes - 20, 0))


def format_device(device: bytes | None) -> str:
    return "non-ip" if device is None else ".".join(str(b) for b in device)
