"""Packet capture with tcpdump, one pcap per interface, with the kernel's drop counts."""
from __future__ import annotations

import re
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from topo.commands import wait_for_line

CAPTURE_FILTER = "tcp port 8000"  # the nodes' traffic only (calibration traffic is not captured)


@dataclass
class Capture:
    host: str
    interface: str
    path: Path
    process: subprocess.Popen | None = None
    stats: dict = field(default_factory=dict)

    def record(self, run_dir: Path, access: str) -> dict:
        return {"file": str(self.path.relative_to(run_dir)), "host": self.host, "interface": self.interface,
                "access": access, **self.stats}


def start_captures(net, hosts: list[str], pcap_dir: Path, prefix: str, snaplen_bytes: int,
                   interfaces: dict[str, str] | None = None) -> list[Capture]:
    """Start tcpdump on the first interface of each host (or ``interfaces[host]``); returns once each is
    capturing."""
    captures = []
    for host in hosts:
        intf = (interfaces or {}).get(host) or net.host(host).defaultIntf().name
        path = pcap_dir / f"{prefix}-{host}.pcap"
        argv = ["tcpdump", "-i", intf, "-n", "-U", "--immediate-mode", "-s", str(snaplen_bytes), "-w", str(path), CAPTURE_FILTER]
        proc = net.popen(host, argv, "tcpdump", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        captures.append(Capture(host, intf, path, proc))
    for capture in captures:
        _wait_listening(capture)
    return captures


def _wait_listening(capture: Capture, timeout_s: float = 5.0) -> None:
    """tcpdump prints 'listening on IF' to stderr once the capture is open."""
    found, text = wait_for_line(capture.process, capture.process.stderr, "listening on", timeout_s)
    if not found:
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise HarnessError(f"tcpdump on {capture.host}:{capture.interface} did not start: {last} "
                           f"(check that tcpdump runs here, or run without captures: --no-capture)")


_STATS = {"packets_captured": r"(\d+) packets? captured", "packets_received_by_filter": r"(\d+) packets? received by filter",
          "packets_dropped_by_kernel": r"(\d+) packets? dropped by kernel"}


def stop_captures(captures: list[Capture]) -> None:
    for capture in captures:
        if capture.process and capture.process.poll() is None:
            capture.process.send_signal(signal.SIGINT)
    for capture in captures:
        if not capture.process:
            continue
        try:
            _, err = capture.process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            capture.process.kill()
            try:
                _, err = capture.process.communicate(timeout=2)
            except subprocess.TimeoutExpired:  # a child of it holds its stderr open: give up on its counts
                capture.process.stderr.close()
                err = b""
        text = err.decode(errors="replace")
        capture.stats = {key: int(m.group(1)) if (m := re.search(pattern, text)) else None
                         for key, pattern in _STATS.items()}
