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
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.repo_paths import REPO_ROOT
from topo.commands import wait_for_line
from topo.errors import TopoError
from topo.topology import ACCESS_GW, LAN_BS, LAN_EDGE, PING_FRAME_BYTES, WAN_BS, WAN_CLOUD, ue_address
from topo.emulator.radio import tcp_goodput_bps
from topo.udp_probe import read_window_bytes
from traces.readers import read_delivery_trace

LINK_ENDS = {"access": ("ue1", "bs", ACCESS_GW), "lan": ("bs", "edge", LAN_EDGE), "wan": ("bs", "cloud", WAN_CLOUD)}
DEVICE_SIDE_ADDRESSES = {"access": ue_address(1), "lan": LAN_BS, "wan": WAN_BS}  # where a downlink probe arrives
IPERF_PORT = 5201
PROBE_PORT = 5202
RECEIVER_METRIC = "trace_window_error_pct_receiver"   # _p50, _p95: bytes counted where they arrive (the verdict)
EMULATOR_METRIC = "trace_window_error_pct_emulator"   # _p50, _p95: the emulator's own summary.csv
TRACE_WINDOW_GOAL_P95_PCT = 3.0
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


def measure_links(net, duration_s: float = 5.0, ping_count: int = 20, progress=print,
                  ends: dict | None = None) -> list[LinkMeasurement]:
    """``ends``: link name -> (device-side host, far host, far address, device-side address), or a string: why
    that link is not measured (a scenario's links; default: the fixed network's LINK_ENDS)."""
    rows: list[LinkMeasurement] = []
    for link in net.spec.links:
        end = (ends or {}).get(link.name) or (*LINK_ENDS[link.name], DEVICE_SIDE_ADDRESSES[link.name])
        if isinstance(end, str):
            rows.append(LinkMeasurement(link.name, "rtt", "idle_rtt_ms", None, None, f"not measured: {end}"))
            continue
        a, b, address, device_side = end
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
                rows += _saturate_trace(net, link, direction, spec, a, b, (address, device_side), duration_s,
                                        progress)
                continue
            progress(f"calibrate: {link.name} {direction} TCP goodput for {duration_s:g} s")
            goodput = _iperf_goodput_mbps(net, a, b, address, duration_s, reverse)
            configured = spec.rate_bps / 1e6 if spec.rate_bps else None
            note = f"TCP payload ceiling {configured * TCP_PAYLOAD_SHARE:.2f} Mbit/s" if configured else "unlimited"
            if configured and spec.radio_model:  # a radio delivers less than its PHY rate: compare with its model
                configured = round(tcp_goodput_bps(spec.radio_model, spec.radio_params, spec.rate_bps) / 1e6, 3)
                note = (f"{spec.radio_model} model's analytic saturated TCP goodput (profile rate "
                        f"{spec.rate_bps / 1e6:g} Mbit/s)")
            rows.append(LinkMeasurement(link.name, direction, "tcp_goodput_mbps", configured,
                                        None if goodput is None else round(goodput, 3), note))
    return rows


def _saturate_trace(net, link, direction, spec, a, b, addresses, duration_s, progress) -> list[LinkMeasurement]:
    """Saturate a trace direction with paced UDP (TCP under-uses a link whose capacity jumps up) and count,
    in the receiving host, the bytes that arrive in each 1 s window of the trace (topo.udp_probe);
    ``addresses``: (far end's, device side's)."""
    address, device_side = addresses
    trace = read_delivery_trace(spec.rate_trace)
    peak_mbps = trace.capacity_bytes_per_window(1000).max() * 8 / 1e6
    sender, receiver = (a, b) if direction == "uplink" else (b, a)
    receiver_address = address if direction == "uplink" else device_side
    progress(f"calibrate: {link.name} {direction} trace replay, UDP at {1.5 * peak_mbps:.1f} Mbit/s "
             f"for {duration_s:g} s, counted at {receiver}")
    origin_ns = _wire_started_ns(net, link.name)
    received = _probe_at_receiver(net, sender, receiver, receiver_address, 1.5 * peak_mbps * 1e6,
                                  duration_s, origin_ns or 0, f"{link.name}-{direction}")
    window = {"link": link.name, "direction": direction, "trace": spec.rate_trace, "start_ns": received["start_ns"],
              "end_ns": received["end_ns"], "wire_started_ns": origin_ns}
    mbps = received["packets"] and sum(received["ms_bytes"].values()) * 8 / 1e6 / duration_s
    rows = [LinkMeasurement(link.name, direction, "udp_received_mbps", None, round(mbps, 3),
                            f"trace {Path(spec.rate_trace).name} (mean {trace.mean_rate_bps / 1e6:.2f} Mbit/s over "
                            f"its whole period), received at {receiver}; see {RECEIVER_METRIC}_p50", window=window)]
    if origin_ns is not None:
        windows = read_window_bytes(received, shift_ms=spec.delay_ms)  # arrivals -> the link's rate stage
        errors = _window_errors(trace, windows, window)
        rows += _error_rows(link.name, direction, RECEIVER_METRIC, errors, "received bytes at " + receiver,
                            verdict=True)
    return rows


def _probe_at_receiver(net, sender, receiver, address, rate_bps, duration_s, origin_ns, name) -> dict:
    """A udp_probe sink in ``receiver``, a paced source in ``sender``; the sink's result plus the flood's span."""
    out = Path(net.run_dir) / f"udp-probe-{name}.json"
    out.unlink(missing_ok=True)
    python = [sys.executable, "-m", "topo.udp_probe"]
    sink = net.popen(receiver, python + ["sink", "--port", str(PROBE_PORT), "--max-seconds", f"{duration_s + 60:g}",
                                         "--origin-ns", str(origin_ns), "--out", str(out)],
                     "udp-probe", stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT)
    try:
        if not wait_for_line(sink, sink.stdout, "listening", 10.0)[0]:
            raise TopoError(f"the UDP sink in {receiver} did not start: {sink.stderr.read().decode()[-300:]}")
        start_ns = time.monotonic_ns()
        source = net.popen(sender, python + ["source", "--address", address, "--port", str(PROBE_PORT), "--rate-bps",
                                             f"{rate_bps:.0f}", "--seconds", f"{duration_s:g}"],
                           "udp-probe", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO_ROOT)
        _, err = source.communicate(timeout=duration_s + 30)
        end_ns = time.monotonic_ns()
        if source.returncode != 0:
            raise TopoError(f"the UDP source in {sender} failed: {err.decode()[-300:]}")
        time.sleep(1.0)  # what the queue still holds arrives; only windows inside the flood are compared
    finally:
        sink.terminate()
        sink.wait(timeout=10)
    if not out.is_file():
        raise TopoError(f"the UDP sink in {receiver} wrote no {out.name}")
    return {**json.loads(out.read_text()), "start_ns": start_ns, "end_ns": end_ns}


def _wire_started_ns(net, link_name: str) -> int | None:
    for wire in net.wires():
        if wire.link_name == link_name:
            return wire.started_ns
    return None


def _window_errors(trace, delivered: dict[int, int], w: dict) -> list[float]:
    """|delivered - capacity| / capacity in %, for every whole 1 s trace window inside the flood
    (the first second of the flood skipped: the queue fills) whose capacity is not zero."""
    capacity = trace.capacity_bytes_per_window(1000)
    first = int((w["start_ns"] - w["wire_started_ns"]) / 1e9) + 2
    last = int((w["end_ns"] - w["wire_started_ns"]) / 1e9) - 1
    errors = []
    for second in range(first, last):
        cap = capacity[second % len(capacity)]
        if cap > 0:
            errors.append(abs(delivered.get(second, 0) - cap) / cap * 100)
    return sorted(errors)


def _error_rows(link, direction, metric, errors, what, verdict=False) -> list[LinkMeasurement]:
    if not errors:
        return [LinkMeasurement(link, direction, f"{metric}_p50", 0.0, None, "no whole window inside the flood: "
                                "give calibrate more --calibrate-seconds")]
    p50 = statistics.median(errors)
    p95 = errors[min(len(errors) - 1, int(round(0.95 * (len(errors) - 1))))]
    note = f"{what} vs trace capacity per 1 s window, {len(errors)} windows"
    p95_note = note
    if verdict:
        p95_note += (f"; {'VALID' if p95 <= TRACE_WINDOW_GOAL_P95_PCT else 'INVALID'}: "
                     f"goal p95 <= {TRACE_WINDOW_GOAL_P95_PCT:g}%")
    return [LinkMeasurement(link, direction, f"{metric}_p50", 0.0, round(p50, 3), note),
            LinkMeasurement(link, direction, f"{metric}_p95", 0.0, round(p95, 3), p95_note)]


def trace_window_errors(rows: list[LinkMeasurement], log_dir: Path) -> list[LinkMeasurement]:
    """The emulator's own account, for comparison with the receiver's: delivered bytes per whole 1 s window
    of its summary (``<link>-summary.csv``, complete once it stopped) vs the trace's capacity."""
    out = []
    for row in rows:
        w = row.window
        summary = log_dir / f"{w['link']}-summary.csv" if w else None
        if not w or w.get("wire_started_ns") is None or not summary.exists():
            continue
        with open(summary, newline="") as f:
            delivered = {int(r["second"]): int(r["delivered_bytes"]) for r in csv.DictReader(f)
                         if r["direction"] == w["direction"]}
        errors = _window_errors(read_delivery_trace(w["trace"]), delivered, w)
        out += _error_rows(w["link"], w["direction"], EMULATOR_METRIC, errors,
                           "the emulator's own delivered bytes (not the verdict; see the receiver's)")
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
