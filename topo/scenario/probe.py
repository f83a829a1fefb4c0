"""All-pairs reachability of a running network in one process: one raw ICMP socket per host namespace.

``ping`` per pair costs a process each (1,406 of them for 38 hosts, ~20 s on 2 cores); this opens one raw
socket inside each host's network namespace (setns(2) on ``/proc/<pid>/ns/net``, then back), sends one echo
request per ordered pair at once (towards a device once it has spoken: see :func:`icmp_all_pairs`), and
resends only what got no reply, for up to ``rounds`` rounds.
The RTT of a pair is its first answered request's (the first includes ARP resolution).
"""
from __future__ import annotations

import ctypes
import os
import random
import select
import socket
import struct
import time
from dataclasses import dataclass

from topo.errors import TopoError

CLONE_NEWNET = 0x40000000
ICMP_ECHO, ICMP_ECHO_REPLY = 8, 0
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class PairReply:
    src: str
    dst: str
    rtt_ms: float | None  # None: no reply in any round

    @property
    def reachable(self) -> bool:
        return self.rtt_ms is not None


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise TopoError(f"cannot enter a host's network namespace: {os.strerror(err)} (needs root)")


def icmp_socket_in(pid: int) -> socket.socket:
    """A raw ICMP socket that lives in process ``pid``'s network namespace."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        _setns(target)
        try:
            return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        finally:
            _setns(own)
    finally:
        os.close(own)
        os.close(target)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(ident: int, seq: int, payload: bytes = b"\0" * 56) -> bytes:
    header = struct.pack("!BBHHH", ICMP_ECHO, 0, 0, ident, seq)
    return struct.pack("!BBHHH", ICMP_ECHO, 0, _checksum(header + payload), ident, seq) + payload


def parse_reply(packet: bytes) -> tuple[str, int, int] | None:
    """(source address, id, seq) of an IPv4 ICMP echo reply, or None for anything else."""
    if len(packet) < 28:
        return None
    ihl = (packet[0] & 0x0F) * 4
    kind, _code, _sum, ident, seq = struct.unpack("!BBHHH", packet[ihl:ihl + 8])
    if kind != ICMP_ECHO_REPLY:
        return None
    return socket.inet_ntoa(packet[12:16]), ident, seq


def icmp_all_pairs(pids: dict[str, int], addresses: dict[str, str], rounds: int = 3,
                   round_timeout_s: float = 1.0, devices: tuple[str, ...] = ()) -> list[PairReply]:
    """Echo every ordered pair of ``pids`` (host -> a pid in its namespace) at ``addresses`` (host -> address).

    ``devices`` (hosts behind a radio access link) speak first: in the first round, a request towards a
    device leaves only once that device had an answer of its own. An idle LTE device is otherwise reached
    by paging (topo/emulator/radio/lte_rrc.py: up to one 1.28 s paging cycle plus the 260 ms promotion),
    while its own uplink data promotes it at once, as a device that has just attached would. Later rounds
    resend every pair still unanswered, so an unreachable device is still found.
    """
    names = list(pids)
    socks = {name: icmp_socket_in(pid) for name, pid in pids.items()}
    base_id = random.randrange(0, 0x10000)  # a fresh id per call: late replies of an earlier call do not count
    ident = {name: (base_id + i) & 0xFFFF for i, name in enumerate(names)}
    address_of = {name: addresses[name] for name in names}
    by_fd = {s.fileno(): name for name, s in socks.items()}
    seq_of = {name: j for j, name in enumerate(names)}
    dst_of_seq = {j: name for j, name in enumerate(names)}
    sent_at: dict[tuple[str, str], float] = {}
    rtt: dict[tuple[str, str], float] = {}
    total = len(names) * (len(names) - 1)

    def send(pairs) -> float:
        for src, dst in pairs:
            sent_at[(src, dst)] = time.monotonic()
            socks[src].sendto(echo_request(ident[src], seq_of[dst]), (address_of[dst], 0))
        return time.monotonic()

    try:
        for round_no in range(rounds):
            missing = [(a, b) for a in names for b in names if a != b and (a, b) not in rtt]
            if not missing:
                break
            waiting = set(devices) & set(names) if round_no == 0 else set()
            held = {d: [p for p in missing if p[1] == d] for d in waiting}
            deadline = send([p for p in missing if p[1] not in waiting]) + round_timeout_s
            while len(rtt) < total and (left := deadline - time.monotonic()) > 0:
                ready, _, _ = select.select(list(socks.values()), [], [], left)
                now = time.monotonic()
                for sock in ready:
                    src = by_fd[sock.fileno()]
                    parsed = parse_reply(sock.recv(2048))
                    if parsed is None or parsed[1] != ident[src] or parsed[2] not in dst_of_seq:
                        continue
                    key = (src, dst_of_seq[parsed[2]])
                    if key not in rtt and key in sent_at and parsed[0] == address_of[key[1]]:
                        rtt[key] = (now - sent_at[key]) * 1000.0
                        if src in waiting:  # the device has been heard: requests towards it may go now
                            waiting.discard(src)
                            deadline = send(held.pop(src)) + round_timeout_s
    finally:
        for sock in socks.values():
            sock.close()
    return [PairReply(a, b, rtt.get((a, b))) for a in names for b in names if a != b]


def network_all_pairs(net, rounds: int = 3) -> list[PairReply]:
    """:func:`icmp_all_pairs` over every host of a running ``topo.network`` network."""
    spec = net.spec
    pids = {name: net.host(name).pid for name in net.host_names}
    # devices: a scenario's (ScenarioNetworkSpec.of_kind), or the default topology's ue1..ueN (listed first)
    devices = [h.name for h in spec.of_kind("device")] if hasattr(spec, "of_kind") else list(spec.hosts)[:spec.ues]
    return icmp_all_pairs(pids, spec.hosts, rounds=rounds, devices=tuple(devices))
