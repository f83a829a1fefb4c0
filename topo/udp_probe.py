"""A paced UDP source and a receiver-side sink, to measure what a link delivers where it arrives.

    python -m topo.udp_probe sink --port P --max-seconds S --origin-ns T --out FILE.json   # stop: SIGTERM
    python -m topo.udp_probe source --address A --port P --rate-bps R --seconds S

The sink runs in the receiving host and counts the IP bytes (UDP payload + 28) of every datagram per
millisecond since ``--origin-ns`` (the machine's monotonic clock, which every emulated host shares) until
SIGTERM or ``--max-seconds``, then writes its JSON: ``{"origin_ns", "ms_bytes": {ms: bytes}, "packets",
"first_ns", "last_ns"}``. The source sends 1500-byte IP packets paced in 1 ms bursts. Neither trusts the
link emulator's own counters.
"""
from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import time
from pathlib import Path

IP_UDP_HEADER_BYTES = 28
PACKET_BYTES = 1500


def sink(port: int, max_seconds: float, origin_ns: int, out: Path) -> dict:
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    sock.bind(("0.0.0.0", port))
    sock.settimeout(0.05)
    print("listening", flush=True)
    ms_bytes: dict[int, int] = {}
    packets, first_ns, last_ns = 0, None, None
    deadline_ns = time.monotonic_ns() + int(max_seconds * 1e9)
    while not stop and time.monotonic_ns() < deadline_ns:
        try:
            size = len(sock.recv(65536)) + IP_UDP_HEADER_BYTES
        except (socket.timeout, InterruptedError):
            continue
        now_ns = time.monotonic_ns()
        ms = (now_ns - origin_ns) // 1_000_000
        ms_bytes[ms] = ms_bytes.get(ms, 0) + size
        packets += 1
        first_ns = first_ns or now_ns
        last_ns = now_ns
    result = {"origin_ns": origin_ns, "ms_bytes": ms_bytes, "packets": packets, "first_ns": first_ns,
              "last_ns": last_ns}
    Path(out).write_text(json.dumps(result))
    return result


def source(address: str, port: int, rate_bps: float, seconds: float) -> int:
    """Send ``rate_bps`` of 1500-byte IP packets for ``seconds``; return the packets sent."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 << 20)
    payload = bytes(PACKET_BYTES - IP_UDP_HEADER_BYTES)
    start = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - start) < seconds:
        for _ in range(int(elapsed * rate_bps / 8 / PACKET_BYTES) - sent):
            try:
                sock.sendto(payload, (address, port))
            except OSError:  # a full socket buffer: the link is saturated anyway
                pass
            sent += 1
        time.sleep(0.0005)
    return sent


def read_window_bytes(result: dict, shift_ms: float = 0.0) -> dict[int, int]:
    """A sink's result as bytes per whole second since its origin, arrivals moved ``shift_ms`` earlier
    (the propagation delay after the link's rate stage, so a window lines up with the trace's)."""
    windows: dict[int, int] = {}
    for ms, size in result["ms_bytes"].items():
        second = int((int(ms) - shift_ms) // 1000)
        windows[second] = windows.get(second, 0) + size
    return windows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m topo.udp_probe", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="role", required=True)
    s = sub.add_parser("sink")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--max-seconds", type=float, required=True)
    s.add_argument("--origin-ns", type=int, required=True)
    s.add_argument("--out", type=Path, required=True)
    src = sub.add_parser("source")
    src.add_argument("--address", required=True)
    src.add_argument("--port", type=int, required=True)
    src.add_argument("--rate-bps", type=float, required=True)
    src.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args(argv)
    if args.role == "sink":
        sink(args.port, args.max_seconds, args.origin_ns, args.out)
    else:
        print(f"sent {source(args.address, args.port, args.rate_bps, args.seconds)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
