"""Benchmark of the WiFi radio model and CellReplay replay, beside analytic expectations.

    sudo .venv/bin/python benchmarks/bench_radio_wifi.py            # everything (~2 min)
    sudo .venv/bin/python benchmarks/bench_radio_wifi.py --quick    # shorter iperf3 runs (~1 min)
    .venv/bin/python benchmarks/bench_radio_wifi.py --skip netns    # the virtual-clock parts only

Writes benchmarks/results/radio-wifi.{json,csv,md}. Parts:

1. airtime: the medium on a virtual clock (topo/emulator/radio/wifi_offline.py: ACK-clocked
   saturating flows) vs the closed-form airtime arithmetic (topo/emulator/radio/wifi_airtime.py),
   for several aggregation limits, one and two stations, a slow station (performance anomaly).
2. netns: real TCP (iperf3, cubic) through ``python -m topo.emulator`` with the shipped ``wifi``
   profile on ns A -- emulator -- ns B (topo/emulator/netns_path.py): one station's download and
   upload goodput vs the seeds' 72 Mbit/s, upload + download at once vs the medium's capacity
   (the analytic two-flow figure, and 2 x 72 for two independent pipes), and the idle RTT.
3. cellreplay: a short and a long burst over a synthetic CellReplay pair (light trains at 6
   Mbit/s with a 20-40 ms base delay, a heavy trace at 48 Mbit/s), vs Mahimahi replaying the
   heavy trace alone with the minimum delay, on the virtual clock. The pair is synthetic: no
   recorded CellReplay pair ships with the repository.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from topo.emulator.direction_shaper import DirectionShaper, drain  # noqa: E402
from topo.emulator.packet import Packet  # noqa: E402
from topo.emulator.radio import wifi_airtime as air  # noqa: E402
from topo.emulator.radio.wifi_offline import Flow, run_flows  # noqa: E402
from topo.emulator.radio.wifi_params import WifiParams  # noqa: E402
from topo.profiles import DirectionSpec, load_profile, load_profile_file  # noqa: E402
from traces.cellreplay import PacketTrainTrace, write_packet_train_trace  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
SEEDS_WIFI_MBPS = 72.0
STATION, FAR_STATION = "10.0.1.1", "10.0.1.2"


def row(part, case, measured, expected, unit, basis):
    ratio = measured / expected if expected else None
    return {"part": part, "case": case, "measured": round(measured, 3), "expected": round(expected, 3),
            "unit": unit, "ratio": None if ratio is None else round(ratio, 4), "expected_from": basis}


# --- 1. airtime model vs analytic ----------------------------------------------------------------
def bench_airtime(duration_s: float) -> list[dict]:
    profile = load_profile("wifi")
    radio = dict(profile.up.radio_params)
    params = WifiParams.from_mapping(radio)
    phy = profile.up.rate_bps
    rows = []
    for per_ack, policy in ((2, "ACK per 2 segments"), (0, "one ACK per A-MPDU burst (Linux)")):
        for mpdus in (1, 2, params.max_ampdu_mpdus, 16, 42):
            trial = {**radio, "max_ampdu_mpdus": mpdus}
            result = run_flows([Flow(STATION, "downlink", segments_per_ack=per_ack)], radio=trial,
                               duration_s=duration_s, phy_rate_bps=phy)
            expected = air.saturated_tcp_goodput_bps(phy, mpdus, params.mpdu_error_rate,
                                                     segments_per_ack=per_ack or mpdus) / 1e6
            rows.append(row("airtime", f"1 TCP download, A-MPDU <= {mpdus}, {policy}", result["goodput_bps"][0] / 1e6,
                            expected, "Mbit/s", "one data TXOP + one ACK TXOP per cycle (wifi_airtime)"))
        both = run_flows([Flow(STATION, "uplink", segments_per_ack=per_ack),
                          Flow(STATION, "downlink", segments_per_ack=per_ack)], radio=radio, duration_s=duration_s)
        each = air.bidirectional_tcp_goodput_bps(phy, params.max_ampdu_mpdus, params.mpdu_error_rate,
                                                 segments_per_ack=per_ack or params.max_ampdu_mpdus - 1) / 1e6
        rows.append(row("airtime", f"upload + download at once, sum, {policy}", sum(both["goodput_bps"]) / 1e6,
                        2 * each, "Mbit/s", "two flows, data + ACKs aggregated, one TXOP each in turn "
                        f"(two pipes: {2 * SEEDS_WIFI_MBPS:g})"))
    two = run_flows([Flow(STATION, "downlink"), Flow(FAR_STATION, "downlink")], radio=radio, duration_s=duration_s)
    rows.append(row("airtime", "2 stations downloading, sum", sum(two["goodput_bps"]) / 1e6,
                    air.saturated_tcp_goodput_bps(phy, params.max_ampdu_mpdus, params.mpdu_error_rate) / 1e6,
                    "Mbit/s", "one medium: about one station's goodput in all"))
    slow = {**radio, "station_phy_rate": [[FAR_STATION, "15 Mbit/s"]]}
    anomaly = run_flows([Flow(STATION, "downlink"), Flow(FAR_STATION, "downlink")], radio=slow,
                        duration_s=duration_s)
    k, e = params.max_ampdu_mpdus, params.mpdu_error_rate
    round_us = sum(air.txop_us(k * air.subframe_bytes(1500), rate) + air.txop_us(k // 2 * air.subframe_bytes(52), rate)
                   for rate in (phy, 15e6))
    each = (1 - e) * k * 1448 * 8 / round_us
    for name, goodput in zip(("150 Mbit/s station", "15 Mbit/s station"), anomaly["goodput_bps"]):
        rows.append(row("airtime", f"{name} of two downloading (performance anomaly)", goodput / 1e6, each,
                        "Mbit/s", "Heusse et al. INFOCOM 2003: one TXOP each per round, so both get the same, "
                        "set by the slow one's airtime"))
    return rows


# --- 2. real TCP through the emulator -------------------------------------------------------------
def bench_netns(seconds: int, omit_s: int) -> list[dict]:
    import benchmarks.bench_links as links  # noqa: WPS433 (root only: its helpers run commands)
    from topo.emulator.netns_path import ADDRESS_B

    profile = load_profile("wifi")
    radio = dict(profile.up.radio_params)
    params = WifiParams.from_mapping(radio)
    phy = profile.up.rate_bps
    rows = []
    cases = (("download", ["-R"]), ("upload", []), ("upload + download at once", ["--bidir"]))
    for name, extra in cases:
        with links.WirePath() as path:
            with path.start_emulator(profile.up, profile.down, log_dir=str(path.workdir / "logs")):
                report = links.iperf3_json(path, path.ns_a, path.ns_b, ADDRESS_B,
                                           ["-O", str(omit_s), "-C", "cubic"] + extra, seconds)
            emulator = links.counters(path)
        cpu = (emulator["cpu_user_s"] + emulator["cpu_system_s"]) / emulator["elapsed_s"]
        end = report["end"]
        if name == "upload + download at once":
            up = end["sum_received"]["bits_per_second"] / 1e6
            down = end["sum_received_bidir_reverse"]["bits_per_second"] / 1e6
            each = air.bidirectional_tcp_goodput_bps(phy, params.max_ampdu_mpdus, params.mpdu_error_rate,
                                                     segments_per_ack=params.max_ampdu_mpdus - 1) / 1e6
            rows.append(row("netns", "upload + download at once, sum", up + down, 2 * each, "Mbit/s",
                            f"the medium's two-flow capacity, one ACK per burst (2 independent pipes: "
                            f"{2 * SEEDS_WIFI_MBPS:g}); "
                            f"up {up:.1f}, down {down:.1f}; emulator CPU {cpu:.2f} core"))
        else:
            goodput = end["sum_received"]["bits_per_second"] / 1e6
            data, acks = ("downlink", "uplink") if name == "download" else ("uplink", "downlink")
            per_ack = emulator[data]["delivered_packets"] / max(emulator[acks]["delivered_packets"], 1)
            rows.append(row("netns", f"1 TCP {name}", goodput, SEEDS_WIFI_MBPS, "Mbit/s",
                            f"SEEDS System B WiFi 9 MB/s; emulator CPU {cpu:.2f} core, "
                            f"retransmits {end.get('sum_sent', {}).get('retransmits')}"))
            rows.append(row("netns", f"1 TCP {name}: data packets per ACK packet", per_ack,
                            params.max_ampdu_mpdus, "packets", "one ACK per A-MPDU burst would be "
                            f"{params.max_ampdu_mpdus}; one per 2 segments 2"))
        print(f"  {rows[-1]['case']}: {rows[-1]['measured']:.1f} Mbit/s", flush=True)
    with links.WirePath() as path:
        with path.start_emulator(profile.up, profile.down):
            rtts = links.ping_rtts_ms(path, 100, 0.05)
    small_us = air.access_us() + air.ppdu_us(air.subframe_bytes(92), phy)
    expected_ms = 2 * (profile.up.delay_ms + small_us / 1000)
    rows.append(row("netns", "idle RTT of a 92-byte UDP probe (median)", statistics.median(rtts), expected_ms, "ms",
                    "2 x (delay + access + preamble + payload); the userspace path adds ~0.2 ms"))
    return rows


# --- 3. CellReplay light vs heavy ------------------------------------------------------------------
def bench_cellreplay() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="ect-cellreplay-") as folder:
        folder = Path(folder)
        offsets = tuple(range(0, 20, 2))                  # 10 MTUs, one per 2 ms: 6 Mbit/s
        light = PacketTrainTrace((0, 1000, 2000, 3000), (20, 40, 30, 20), (offsets,) * 4)
        write_packet_train_trace(folder / "pair.train", light)
        (folder / "pair.heavy").write_text("".join(f"{ms}\n" * 4 for ms in range(1, 3001)))  # 48 Mbit/s
        table = "\n".join(f'{side}_{kind}_trace = "pair.{"train" if kind == "light" else "heavy"}"'
                          for side in ("up", "down") for kind in ("light", "heavy"))
        (folder / "cell.toml").write_text(f'[radio]\nmodel = "cellreplay"\n{table}\n[up]\nqueue_limit = "1000 packets"\n'
                                          '[down]\nqueue_limit = "1000 packets"\n')
        spec = load_profile_file(folder / "cell.toml").up
        mahimahi_spec = DirectionSpec(rate_trace=str(folder / "pair.heavy"), delay_ms=min(light.base_delay_ms),
                                      queue_limit_packets=1000)
        for packets, at_s in ((1, 0.5), (8, 0.0), (10, 1.0), (100, 2.0), (1000, 0.0)):
            finish = {}
            for name, direction in (("cellreplay", spec), ("mahimahi", mahimahi_spec)):
                shaper = DirectionShaper(direction, 0.0, side="uplink", shared={})
                for _ in range(packets):
                    shaper.accept(Packet(at_s, 1500), at_s)
                finish[name] = (drain(shaper)[-1][0] - at_s) * 1000
            base_ms = light.base_delay_at_ms(at_s * 1000)
            light_ms = base_ms + offsets[min(packets, len(offsets)) - 1]
            heavy_packets = max(0, packets - len(offsets))
            expected_ms = light_ms + math.ceil(heavy_packets / 4)    # the heavy trace: 4 MTUs per ms
            basis = f"base {base_ms:g} ms + the light train's offsets"
            if heavy_packets:
                basis += f" + {heavy_packets} packets at the heavy trace's 4 per ms (+-1 ms: opportunity phase)"
            rows.append(row("cellreplay", f"{packets} x 1500 B at {at_s:g} s, CellReplay completion",
                            finish["cellreplay"], expected_ms, "ms", basis))
            rows.append(row("cellreplay", f"{packets} x 1500 B at {at_s:g} s, Mahimahi (heavy only) completion",
                            finish["mahimahi"], finish["cellreplay"], "ms",
                            "vs CellReplay's: Mahimahi gives a short burst the saturated rate and the minimum delay"))
    return rows


def markdown(result: dict) -> str:
    lines = ["# WiFi radio model and CellReplay replay", "",
             f"{result['started']}, {result['host']} ({result['cpus']} CPUs, kernel {result['kernel']}), "
             f"mode {result['mode']}. Script: benchmarks/bench_radio_wifi.py.", "",
             "| part | case | measured | expected | unit | ratio | expected from |", "|---|---|---|---|---|---|---|"]
    for item in result["rows"]:
        ratio = "" if item["ratio"] is None else f"{item['ratio']:.3f}"
        lines.append(f"| {item['part']} | {item['case']} | {item['measured']:g} | {item['expected']:g} | "
                     f"{item['unit']} | {ratio} | {item['expected_from']} |")
    for note in result["notes"]:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (the machine is shared)")
    parser.add_argument("--skip", action="append", default=[], choices=["airtime", "netns", "cellreplay"])
    parser.add_argument("--output", default=str(RESULTS / "radio-wifi.json"))
    args = parser.parse_args(argv)
    if "netns" not in args.skip and os.geteuid() != 0:
        print("error: the netns part needs root (network namespaces, raw sockets); run with sudo or "
              "--skip netns", file=sys.stderr)
        return 2
    result = {"mode": "quick" if args.quick else "full", "host": platform.node(), "cpus": os.cpu_count(),
              "kernel": platform.release(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rows": [],
              "notes": []}
    if "airtime" not in args.skip:
        print("airtime model vs analytic ...", flush=True)
        result["rows"] += bench_airtime(duration_s=1.0 if args.quick else 2.0)
    if "netns" not in args.skip:
        print("real TCP through the emulator (wifi profile) ...", flush=True)
        result["rows"] += bench_netns(seconds=6 if args.quick else 12, omit_s=2)
        result["notes"].append("netns rows: iperf3 -C cubic over ns A -- python -m topo.emulator -- ns B, on a "
                               "shared 2-core VM: the emulator process shares the cores with iperf3 and the "
                               "other work on the machine.")
    if "cellreplay" not in args.skip:
        print("CellReplay light vs heavy ...", flush=True)
        result["rows"] += bench_cellreplay()
        result["notes"].append("cellreplay rows: a SYNTHETIC pair (light trains of 10 MTUs over 18 ms = 6 Mbit/s, "
                               "base delay 20-40 ms interpolated; heavy 4 MTUs per ms = 48 Mbit/s), virtual clock.")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    output.with_suffix(".md").write_text(markdown(result))
    with output.with_suffix(".csv").open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(result["rows"][0]) if result["rows"] else ["part"])
        writer.writeheader()
        writer.writerows(result["rows"])
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
