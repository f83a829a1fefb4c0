"""Ping every host pair of a running network, all pairs at once, and compare with the expected RTT."""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

_RTT = re.compile(r"rtt min/avg/max/mdev = ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms")


@dataclass(frozen=True)
class PairRtt:
    src: str
    dst: str
    expected_ms: float
    min_ms: float | None
    avg_ms: float | None
    received: int
    sent: int

    @property
    def reachable(self) -> bool:
        return self.received > 0

    @property
    def error_ms(self) -> float | None:
        return None if self.avg_ms is None else self.avg_ms - self.expected_ms


def ping_all_pairs(net, count: int = 5, interval_s: float = 0.2) -> list[PairRtt]:
    """One ``ping`` per ordered pair, run concurrently; a first ping warms ARP and is not counted."""
    names = net.host_names
    pairs = [(a, b) for a in names for b in names if a != b]
    procs = []
    for src, dst in pairs:
        argv = ["sh", "-c", f"ping -c 1 -W 2 {net.spec.hosts[dst]} >/dev/null; "
                            f"ping -n -q -c {count} -i {interval_s} -W 2 {net.spec.hosts[dst]}"]
        procs.append(net.popen(src, argv, "ping", stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    results = []
    for (src, dst), proc in zip(pairs, procs):
        out, _ = proc.communicate(timeout=30 + count * interval_s)
        text = out.decode(errors="replace")
        match = _RTT.search(text)
        received = re.search(r"(\d+) received", text)
        results.append(PairRtt(src, dst, net.spec.expected_rtt_ms(src, dst),
                               float(match.group(1)) if match else None,
                               float(match.group(2)) if match else None,
                               int(received.group(1)) if received else 0, count))
    return results
