"""IPv4/TCP packets of a pcap or pcapng capture, without scapy's dissection.

Packets are read with scapy's ``RawPcapReader`` and the Ethernet / IPv4 / TCP headers are unpacked with
``struct`` (a pcap of a million packets takes seconds, not minutes). Byte counts come from the IPv4 total
length field, never from the captured length (captures may be headers only).
"""
from __future__ import annotations

import struct
from pathlib import Path

_ETH_IPV4, _ETH_VLAN = 0x0800, 0x8100


class CaptureFileError(ValueError):
    """A capture file that cannot be read; the message names the file and the problem."""


def _ip_offset(linktype: int, data: bytes) -> int | None:
    """Where the IPv4 header starts in a frame of ``linktype``; None for non-IPv4 frames."""
    if linktype == 1:  # Ethernet (tcpdump on a veth)
        if len(data) < 14:
            return None
        ethertype, offset = struct.unpack_from("!H", data, 12)[0], 14
        while ethertype == _ETH_VLAN and len(data) >= offset + 4:
            ethertype, offset = struct.unpack_from("!H", data, offset + 2)[0], offset + 4
        return offset if ethertype == _ETH_IPV4 else None
    if linktype == 113:  # Linux cooked (tcpdump -i any)
        return 16 if len(data) >= 16 and struct.unpack_from("!H", data, 14)[0] == _ETH_IPV4 else None
    if linktype == 276:  # Linux cooked v2
        return 20 if len(data) >= 20 and struct.unpack_from("!H", data, 0)[0] == _ETH_IPV4 else None
    if linktype in (101, 12, 228):  # raw IPv4
        return 0
    if linktype == 0:  # BSD loopback
        return 4 if len(data) >= 4 and data[0] in (2, 0) else None
    raise CaptureFileError(f"link type {linktype} is not supported (Ethernet, Linux cooked, raw IP are)")


def read_tcp_packets(path: Path):
    """(time_s, src, dst, sport, dport, seq, flags, ip_len, payload_len) of each IPv4/TCP packet."""
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapReader

    try:
        reader = RawPcapReader(str(path))
    except (Scapy_Exception, EOFError) as err:
        raise CaptureFileError(f"{path}: not a pcap/pcapng file ({err})") from None
    with reader:
        linktype = getattr(reader, "linktype", 1)
        nano = getattr(reader, "nano", False)
        unpack_ip, unpack_tcp = struct.Struct("!BxHHHBBH4s4s").unpack_from, struct.Struct("!HHII").unpack_from
        try:
            for data, meta in reader:
                if hasattr(meta, "tshigh"):  # pcapng
                    time_s = ((meta.tshigh << 32) | meta.tslow) / meta.tsresol
                    offset = _ip_offset(meta.linktype, data)
                else:
                    time_s = meta.sec + meta.usec / (1e9 if nano else 1e6)
                    offset = _ip_offset(linktype, data)
                if offset is None or len(data) < offset + 20:
                    continue
                ver_ihl, total_len, _, _, _, proto, _, src, dst = unpack_ip(data, offset)
                if ver_ihl >> 4 != 4 or proto != 6:
                    continue
                tcp = offset + (ver_ihl & 0x0F) * 4
                if len(data) < tcp + 14:
                    continue
                sport, dport, seq, _ = unpack_tcp(data, tcp)
                header_bytes = (ver_ihl & 0x0F) * 4 + (data[tcp + 12] >> 4) * 4
                yield (time_s, src, dst, sport, dport, seq, data[tcp + 13], total_len,
                       max(total_len - header_bytes, 0))
        except Scapy_Exception as err:
            raise CaptureFileError(f"{path}: corrupt capture ({err})") from None


def address_text(raw: bytes) -> str:
    """An IPv4 address as the pcap holds it (4 bytes) in dotted form."""
    return ".".join(str(b) for b in raw)
