"""Measure every shaped link of a running network: idle RTT (ping) and TCP goodput each way (iperf3).

Ends of each link: access ue1 <-> bs, lan bs <-> edge, wan bs <-> cloud. Results are rows of
configured vs measured values; ``write_links_csv`` writes them as ``links.csv``.
"""
from __future__ import annotations

import csv
import json
import re
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from topo.commands import wait_for_line
from topo.topology import ACCESS_GW, LAN_EDGE, WAN_CLOUD, PING_FRAME_BYTES

LINK_ENDS = {"access": ("ue1", "bs", ACCESS_GW), "lan": ("bs", "edge", LAN_EDGE), "wan": ("bs", "cloud", WAN_CLOUD)}
IPERF_PORT = 5201
TCP_PAYLOAD_SHARE = 1448 / 1500  # TCP payload of a full 1500-byte IP packet (with timestamps)


@dataclass(frozen=True)
class LinkMeasurement:
    link: str
    direction: str      # "rtt", "uplink", "downlink"
    metric: str         # "idle_rtt_ms", "tcp_goodput_mbps"
    configured: float | None
    measured: float | None
    note: str = ""

    @property
    def error_pct(self) -> float | None:
        if self.configured in (None, 0) or self.measured is None:
            return None
        return (self.measured - self.configured) / self.configured * 100.0


def _ping_rtts_ms(net, src: str, address: str, count: int) -> list[float]:
    host = net.host(src)
    host.cmd(f"ping -c 1 -W 2 {address}")  # ARP and emulator warm-up
    out = host.cmd(f"ping -n -c {count} -i 0.1 -W 2 {address}")
    return [float(x) for x in re.findall(r"time=([\d.]+) ms", out)]


def _iperf_goodput_mbps(net, client: str, server: str, address: str, duration_s: float,
                        reverse: bool) -> float | None:
    srv = net.popen(server, ["iperf3", "-s", "-1", "--forceflush", "-B", address, "-p", str(IPERF_PORT)],
                    "iperf3", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        if not wait_for_line(srv, srv.stdout, "Server listening", 5.0)[0]:
            return None
        argv = ["iperf3", "-c", address, "-p", str(IPERF_PORT), "-t", f"{duration_s:g}", "-O", "1", "-J"]
        if reverse:
            argv.append("-R")
        cli = net.popen(client, argv, "iperf3", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, _ = cli.communicate(timeout=duration_s + 30)
        result = json.loads(out.decode() or "{}")
        received = result.get("end", {}).get("sum_received", {}).get("bits_per_second")
        return None if received is None else received / 1e6
    except (subprocess.TimeoutExpired, json.JSONDecodeError):
        return None
    finally:
        if srv.poll() is None:
            srv.kill()
        srv.wait()


def measure_links(net, duration_s: float = 5.0, ping_count: int = 20, progress=print) -> list[LinkMeasurement]:
    rows: list[LinkMeasurement] = []
    for link in net.spec.links:
        a, b, address = LINK_ENDS[link.name]
        up, down = link.profile.up, link.profile.down
        progress(f"calibrate: {link.name} idle RTT ({a} -> {b})")
        rtts = _ping_rtts_ms(net, a, address, ping_count)
        expected = up.delay_ms + down.delay_ms + sum(PING_FRAME_BYTES * 8 / s.rate_bps * 1000
                                                     for s in (up, down) if s.rate_bps)
        rows.append(LinkMeasurement(link.name, "rtt", "idle_rtt_ms", round(expected, 3),
                                    round(statistics.median(rtts), 3) if rtts else None,
                                    f"median of {len(rtts)} pings; max {max(rtts):.3f} ms" if rtts else "no reply"))
        if link.backend == "none" or duration_s <= 0:  # unshaped, or ping only
            continue
        for direction, spec, reverse in (("uplink", up, False), ("downlink", down, True)):
            progress(f"calibrate: {link.name} {direction} TCP goodput for {duration_s:g} s")
            goodput = _iperf_goodput_mbps(net, a, b, address, duration_s, reverse)
            configured = spec.rate_bps / 1e6 if spec.rate_bps else None
            note = "trace rate" if spec.rate_trace else (
                f"TCP payload ceiling {configured * TCP_PAYLOAD_SHARE:.2f} Mbit/s" if configured else "unlimited")
            rows.append(LinkMeasurement(link.name, direction, "tcp_goodput_mbps", configured,
                                        None if goodput is None else round(goodput, 3), note))
    return rows


def write_links_csv(rows: list[LinkMeasurement], path: Path) -> None:
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=["link", "direction", "metric", "configured", "measured",
                                                 "error_pct", "note"])
        writer.writeheader()
        for row in rows:
            record = asdict(row)
            record["error_pct"] = None if row.error_pct is None else round(row.error_pct, 2)
            writer.writerow(record)
