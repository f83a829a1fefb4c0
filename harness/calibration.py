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
from dataclasses import asdict, dataclass, field
from pathlib import Path

from topo.commands import wait_for_line
from traces.readers import read_delivery_trace
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
    window: dict | None = field(default=None, compare=False, repr=False)  # trace saturation interval

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
                        reverse: bool, udp_rate_mbps: float | None = None) -> float | None:
    """TCP goodput (or, with ``udp_rate_mbps``, UDP received rate) in Mbit/s; None when it failed."""
    srv = net.popen(server, ["iperf3", "-s", "-1", "--forceflush", "-B", address, "-p", str(IPERF_PORT)],
                    "iperf3", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        if not wait_for_line(srv, srv.stdout, "Server listening", 5.0)[0]:
            return None
        argv = ["iperf3", "-c", address, "-p", str(IPERF_PORT), "-t", f"{duration_s:g}", "-O", "1", "-J"]
        if reverse:
            argv.append("-R")
        if udp_rate_mbps:
            argv += ["-u", "-b", f"{udp_rate_mbps:.3f}M", "-l", "1400"]
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
                                    (f"median of {len(rtts)} pings; max {max(rtts):.3f} ms"
                                     + ("; trace links add the wait for the next delivery opportunity"
                                        if up.rate_trace or down.rate_trace else "")) if rtts else "no reply"))
        if link.backend == "none" or duration_s <= 0:  # unshaped, or ping only
            continue
        for direction, spec, reverse in (("uplink", up, False), ("downlink", down, True)):
            if spec.rate_trace:
                rows.append(_saturate_trace(net, link, direction, spec, a, b, address, duration_s, reverse, progress))
                continue
            progress(f"calibrate: {link.name} {direction} TCP goodput for {duration_s:g} s")
            goodput = _iperf_goodput_mbps(net, a, b, address, duration_s, reverse)
            configured = spec.rate_bps / 1e6 if spec.rate_bps else None
            note = f"TCP payload ceiling {configured * TCP_PAYLOAD_SHARE:.2f} Mbit/s" if configured else "unlimited"
            rows.append(LinkMeasurement(link.name, direction, "tcp_goodput_mbps", configured,
                                        None if goodput is None else round(goodput, 3), note))
    return rows


def _saturate_trace(net, link, direction, spec, a, b, address, duration_s, reverse, progress) -> LinkMeasurement:
    """Saturate a trace direction with UDP (TCP under-uses a link whose capacity jumps up) and remember
    when, so ``trace_window_errors`` can compare the emulator's delivered bytes with the trace."""
    trace = read_delivery_trace(spec.rate_trace)
    peak_mbps = trace.capacity_bytes_per_window(1000).max() * 8 / 1e6
    progress(f"calibrate: {link.name} {direction} trace replay, UDP at {1.5 * peak_mbps:.1f} Mbit/s "
             f"for {duration_s:g} s")
    started_ns = time.monotonic_ns()
    received = _iperf_goodput_mbps(net, a, b, address, duration_s, reverse, udp_rate_mbps=1.5 * peak_mbps)
    window = {"link": link.name, "direction": direction, "trace": spec.rate_trace, "start_ns": started_ns,
              "end_ns": time.monotonic_ns(), "wire_started_ns": _wire_started_ns(net, link.name)}
    return LinkMeasurement(link.name, direction, "udp_received_mbps", None,
                           None if received is None else round(received, 3),
                           f"trace {Path(spec.rate_trace).name} (mean {trace.mean_rate_bps / 1e6:.2f} Mbit/s over "
                           f"its whole period); see trace_window_error_pct", window=window)


def _wire_started_ns(net, link_name: str) -> int | None:
    for wire in net.wires():
        if wire.link_name == link_name:
            return wire.started_ns
    return None


def trace_window_errors(rows: list[LinkMeasurement], log_dir: Path) -> list[LinkMeasurement]:
    """For each saturated trace direction: delivered bytes in each whole 1 s window of the emulator's
    summary vs the trace's capacity in that window; median and p95 absolute error in %."""
    out = []
    for row in rows:
        w = row.window
        if not w or w.get("wire_started_ns") is None:
            continue
        summary = log_dir / f"{w['link']}-summary.csv"
        if not summary.exists():
            continue
        capacity = read_delivery_trace(w["trace"]).capacity_bytes_per_window(1000)
        # whole seconds of the emulator's clock inside the saturated interval, first second skipped (ramp)
        first = int((w["start_ns"] - w["wire_started_ns"]) / 1e9) + 2
        last = int((w["end_ns"] - w["wire_started_ns"]) / 1e9) - 1
        errors = []
        with open(summary, newline="") as f:
            for rec in csv.DictReader(f):
                second = int(rec["second"])
                if rec["direction"] == w["direction"] and first <= second < last:
                    cap = capacity[second % len(capacity)]
                    if cap > 0:
                        errors.append(abs(int(rec["delivered_bytes"]) - cap) / cap * 100)
        if errors:
            errors.sort()
            p95 = errors[min(len(errors) - 1, int(round(0.95 * (len(errors) - 1))))]
            out.append(LinkMeasurement(w["link"], w["direction"], "trace_window_error_pct", 0.0,
                                       round(statistics.median(errors), 3),
                                       f"delivered vs trace capacity per 1 s window, {len(errors)} windows; "
                                       f"p95 {p95:.2f}%"))
    return out


def write_links_csv(rows: list[LinkMeasurement], path: Path) -> None:
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=["link", "direction", "metric", "configured", "measured",
                                                 "error_pct", "note"])
        writer.writeheader()
        for row in rows:
            record = asdict(row)
            record.pop("window", None)
            record["error_pct"] = None if row.error_pct is None else round(row.error_pct, 2)
            writer.writerow(record)
