"""The LTE radio model beside the published or analytic value of each mechanism (issue 14).

    .venv/bin/python benchmarks/bench_radio_lte.py                 # fake clock only (~20 s)
    sudo flock /tmp/ect-net.lock .venv/bin/python benchmarks/bench_radio_lte.py --netns   # + real ping (~30 s)

On the emulator's fake clock (topo/emulator/direction_shaper.drain), with the shipped ``lte`` profile:
  * promotion: a ping (uplink request, reply sent back at once) after idle vs when connected; expected:
    connected RTT + 260 ms (Huang et al., MobiSys 2012, promotion 260.1 ms);
  * connected RTT of small requests (one every second): its distribution vs the analytic one from the
    parameters (delays + SR wait U(0, 10 ms) + grant 8 ms + a TTI each way + HARQ each way);
  * HARQ's added delay per block at BLER 10 %: measured shares vs bler^(n-1) (1 - bler);
  * PF: 1, 2, 4, 8 saturating devices (downlink) each get 1/N of the cell within 5 %.
With ``--netns`` (root): the real emulator process on a namespace path, ping after > 11.6 s idle vs
connected, beside the same expectation. Writes benchmarks/results/radio-lte.{csv,md,json}.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import random
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from topo.emulator.direction_shaper import DirectionShaper, drain  # noqa: E402
from topo.emulator.packet import Packet  # noqa: E402
from topo.emulator.radio import parse_radio_params  # noqa: E402
from topo.emulator.radio.addresses import ipv4_frame  # noqa: E402
from topo.emulator.radio.harq import added_delay_distribution  # noqa: E402
from topo.profiles import load_profile  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
UE, SERVER = "10.0.1.1", "10.0.2.2"
FIELDS = ("mechanism", "quantity", "emulated", "expected", "unit", "within", "source")
HUANG = "Huang et al., MobiSys 2012 (Table 3)"


def shapers(seed: int = 1):
    lte = load_profile("lte")
    shared: dict = {}
    params = tuple(sorted({**dict(lte.up.radio_params), "seed": seed}.items()))
    up, down = (dataclasses.replace(spec, radio_params=params) for spec in (lte.up, lte.down))
    return (DirectionShaper(up, 0.0, side="uplink", shared=shared),
            DirectionShaper(down, 0.0, side="downlink", shared=shared), lte)


def ping(up, down, t_s: float, size: int = 84) -> float:
    """RTT of an echo sent at ``t_s`` whose reply leaves the server the moment the request arrives."""
    up.accept(Packet.from_frame(t_s, ipv4_frame(UE, SERVER, size)), t_s)
    (arrived_s, _), = drain(up)
    down.accept(Packet.from_frame(arrived_s, ipv4_frame(SERVER, UE, size)), arrived_s)
    (back_s, _), = drain(down)
    return (back_s - t_s) * 1000.0


def analytic_rtt(lte, params, idle: bool = False, draws: int = 200_000, seed: int = 7) -> np.ndarray:
    """Ping RTT samples from the parameters alone (not the emulator): delays + a TTI each way + HARQ each way,
    and either the SR wait U(0, period) + grant (connected) or the promotion, after which the device is granted."""
    rng = np.random.default_rng(seed)
    harq = added_delay_distribution(params.bler, params.harq_rtt_ms, params.harq_max_transmissions,
                                    params.rlc_recovery_ms)
    values, probs = np.array([d for d, _ in harq]), np.array([p for _, p in harq])
    fixed = lte.up.delay_ms + lte.down.delay_ms + 2 * params.tti_ms
    if idle:
        access = np.full(draws, params.promotion_ms)
    else:
        access = params.sr_to_grant_ms + params.grant_to_tx_ms + rng.uniform(0, params.sr_period_ms, draws)
    return fixed + access + rng.choice(values, draws, p=probs) + rng.choice(values, draws, p=probs)


def row(mechanism, quantity, emulated, expected, unit, ok, source):
    return {"mechanism": mechanism, "quantity": quantity, "emulated": round(float(emulated), 3),
            "expected": round(float(expected), 3), "unit": unit, "within": "yes" if ok else "NO", "source": source}


def bench_promotion_and_rtt(rows: list, trials: int) -> None:
    rng = random.Random(3)
    idle, connected = [], []
    for trial in range(trials):
        up, down, lte = shapers(seed=trial)
        start = 1.0 + rng.random()
        idle.append(ping(up, down, start))
        for k in range(1, 6):  # every second: connected (tail 11.6 s), quiet past the DRX inactivity timer
            connected.append(ping(up, down, start + k + rng.random() * 0.01))
    params = parse_radio_params("lte", lte.up.radio_params)
    expected, expected_idle = analytic_rtt(lte, params), analytic_rtt(lte, params, idle=True)
    no_radio_ms = lte.up.delay_ms + lte.down.delay_ms + 2 * params.tti_ms
    rows.append(row("rrc promotion", "first ping after idle - delays - 2 TTIs (median)",
                    statistics.median(idle) - no_radio_ms, params.promotion_ms, "ms",
                    abs(statistics.median(idle) - no_radio_ms - params.promotion_ms) <= 2, HUANG + ": 260.1 ms"))
    excess = statistics.median(idle) - statistics.median(connected)
    want = np.median(expected_idle) - np.median(expected)
    rows.append(row("rrc promotion", "first ping after idle - connected ping (medians)", excess, want, "ms",
                    abs(excess - want) <= 3, "analytic: promotion - (SR wait + grant)"))
    for q in (10, 50, 90, 99):
        got, want = np.percentile(connected, q), np.percentile(expected, q)
        tolerance = 1.5 if q < 99 else 9.0
        rows.append(row("connected rtt", f"small-request RTT p{q}", got, want, "ms", abs(got - want) <= tolerance,
                        "analytic: delays + U(0, SR period) + grant + 2 TTIs + HARQ both ways"))
    ideal = load_profile("lte-ideal")
    rows.append(row("connected rtt", "lte-ideal pipe RTT (for reference)",
                    ideal.up.delay_ms + ideal.down.delay_ms, np.mean(expected), "ms", True,
                    "lte-ideal vs the analytic radio mean"))


def bench_harq(rows: list, blocks: int) -> None:
    _, down, lte = shapers(seed=11)
    params = parse_radio_params("lte", lte.down.radio_params)
    added = []
    for i in range(blocks):
        # isolated small packets, one block each, 80 ms apart: more than the longest HARQ + RLC delay (64 ms),
        # less than the DRX inactivity timer (100 ms), so the device stays awake once connected
        t_s = 1.0 + i * 0.08
        down.accept(Packet.from_frame(t_s, ipv4_frame(SERVER, UE, 100)), t_s)
        (release_s, _), = drain(down)
        if t_s < 3.0:  # paging (up to 1.28 s) + promotion first, and the backlog they built
            continue
        base_s = math.ceil(t_s / params.tti_s - 1e-6) * params.tti_s + params.tti_s
        added.append(round((release_s - lte.down.delay_ms / 1000 - base_s) * 1000.0, 3))
    for delay_ms, p in added_delay_distribution(params.bler, params.harq_rtt_ms, params.harq_max_transmissions,
                                                params.rlc_recovery_ms):
        share = sum(1 for a in added if abs(a - delay_ms) < 0.01) / len(added)
        rows.append(row("harq", f"blocks delayed {delay_ms:g} ms (share)", share, p, "fraction",
                        abs(share - p) <= max(0.01, 4 * (p * (1 - p) / len(added)) ** 0.5),
                        "analytic bler^(n-1)(1-bler), BLER 10 %, 8 ms RTT, 4 tx, RLC 40 ms"))
    mean_expected = sum(d * p for d, p in added_delay_distribution(
        params.bler, params.harq_rtt_ms, params.harq_max_transmissions, params.rlc_recovery_ms))
    rows.append(row("harq", "mean added delay per block", statistics.mean(added), mean_expected, "ms",
                    abs(statistics.mean(added) - mean_expected) <= 0.15 * mean_expected, "analytic"))


def bench_pf(rows: list, seconds: float) -> None:
    for n in (1, 2, 4, 8):
        _, down, lte = shapers(seed=n)
        delivered = {d: 0 for d in range(1, n + 1)}
        for step in range(int(seconds * 100)):
            t_s = 1.0 + step * 0.01
            for d in delivered:
                for _ in range(12):
                    down.accept(Packet.from_frame(t_s, ipv4_frame(SERVER, f"10.0.1.{d}", 1500)), t_s)
            out: list = []
            down.pop_due(t_s + 0.01, out)
            if step >= 200:  # after 2 s: paging (up to 1.28 s) and promotion of every device are over
                for _, packet in out:
                    delivered[packet.frame[33]] += packet.size_bytes
        total = sum(delivered.values())
        shares = [v / total for v in delivered.values()]
        worst = max(abs(s * n - 1) for s in shares)
        rows.append(row("pf", f"{n} saturating devices: worst share x N", 1 + worst if worst else 1.0, 1.0,
                        "ratio", worst <= 0.05, "1/N each within 5 % (issue 14)"))
        rate = total * 8 / (seconds - 2) / 1e6
        rows.append(row("pf", f"{n} saturating devices: cell goodput", rate, lte.down.rate_bps / 1e6, "Mbit/s",
                        abs(rate / (lte.down.rate_bps / 1e6) - 1) <= 0.05, "the profile's rate (SEEDS.md)"))


def bench_netns(rows: list) -> None:
    from topo.emulator.netns_path import WirePath
    lte = load_profile("lte")

    def ping_ms(wire) -> float:
        out = wire.exec_in(wire.ns_a, ["ping", "-n", "-c", "1", "-W", "3", "10.233.0.2"], check=False).stdout
        return float(re.findall(r"time=([0-9.]+) ms", out)[0])

    with WirePath() as wire, wire.start_emulator(lte.up, lte.down):
        first = ping_ms(wire)
        connected = []
        for _ in range(20):
            time.sleep(0.5)
            connected.append(ping_ms(wire))
        time.sleep(12.0)  # past the 11.576 s tail: RRC_IDLE again
        again = ping_ms(wire)
    params = parse_radio_params("lte", lte.up.radio_params)
    median = statistics.median(connected)
    expected, expected_idle = analytic_rtt(lte, params), analytic_rtt(lte, params, idle=True)
    want = np.median(expected_idle) - np.median(expected)
    arp_ms = lte.up.delay_ms + lte.down.delay_ms  # the first ping after start also resolves ARP (no radio: a pipe)
    for label, value, extra in (("first ping after start (idle, + ARP)", first, arp_ms),
                                ("first ping after 12 s idle", again, 0.0)):
        rows.append(row("rrc promotion (netns)", f"{label} - connected median", value - median, want + extra,
                        "ms", abs(value - median - want - extra) <= 15, f"analytic, promotion from {HUANG}"))
    rows.append(row("connected rtt (netns)", "ping RTT median", median, np.median(expected), "ms",
                    abs(median - np.median(expected)) <= 3.0, "analytic (+ the emulator's own ~0.1 ms)"))


def write(rows: list, args) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / "radio-lte.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    ok = all(r["within"] == "yes" for r in rows)
    (RESULTS / "radio-lte.json").write_text(json.dumps(
        {"all_within": ok, "settings": vars(args), "rows": rows}, indent=2) + "\n")
    lines = ["# LTE radio model vs published / analytic values", "",
             f"`benchmarks/bench_radio_lte.py {' '.join(sys.argv[1:])}`; profile `lte` (topo/profiles/lte.toml). "
             f"All within tolerance: **{'yes' if ok else 'no'}**.", "",
             "| mechanism | quantity | emulated | expected | unit | within | source |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['mechanism']} | {r['quantity']} | {r['emulated']:g} | {r['expected']:g} | {r['unit']} | "
              f"{r['within']} | {r['source']} |" for r in rows]
    (RESULTS / "radio-lte.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="idle->connected ping trials (default 200)")
    parser.add_argument("--harq-blocks", type=int, default=20000, help="isolated blocks for HARQ (default 20000)")
    parser.add_argument("--pf-seconds", type=float, default=6.0,
                        help="saturation time per N, the first 2 s left out (default 6)")
    parser.add_argument("--netns", action="store_true", help="also ping through the real emulator (root)")
    args = parser.parse_args(argv)
    rows: list = []
    bench_promotion_and_rtt(rows, args.trials)
    bench_harq(rows, args.harq_blocks)
    bench_pf(rows, args.pf_seconds)
    if args.netns:
        bench_netns(rows)
    write(rows, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
