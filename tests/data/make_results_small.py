"""Re-make ``tests/data/results-small/``: a small, synthetic but realistic results folder.

    .venv/bin/python tests/data/make_results_small.py

2 sizes (60K, 512K) x 2 placements x 2 accesses (LTE, WiFi) x 2 repetitions, a features placement (LTE,
60K, 2 repetitions), one extra failed request (LTE, cloud, 512K), links.csv, the nodes' timing records
(logs/<access>/<node>/timings.jsonl: a features request has an edge and a cloud record with the same id,
the cloud's reply sent earlier), the features device rows of LTE (logs/lte/device-features.csv), and two
headers-only pcaps (snaplen 96) with:

- lte-ue1.pcap: device -> edge flow: handshake of 30.2 ms, 5 data segments of 1448 bytes + one of
  500, one of them retransmitted, a 300-byte reply, FIN; a device -> cloud flow (70.2 ms handshake);
- lte-cloud.pcap: an edge -> cloud model download before the first request (reused once after
  it for 200 bytes) and an edge -> cloud flow after it (labels).

The expected numbers are in tests/test_analysis.py; change both together.
"""
from __future__ import annotations

import csv
import json
import struct
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from harness.orchestration.results import LINK_FIELDS, REQUEST_FIELDS  # noqa: E402
from nodes.workload import WORKLOAD_FIELDS  # noqa: E402
from topo.profiles import load_profile  # noqa: E402

OUT = Path(__file__).resolve().parent / "results-small"
SNAPLEN = 96
T0 = 1_700_000_000.5  # wall clock of the first device request (pcap time)
DEVICE, EDGE, CLOUD = "10.0.1.1", "10.0.2.2", "10.0.3.2"
K = 1024

# (access, placement, size_bytes) -> (upload_ms, inference_ms, response_ms) per repetition. Each access x
# placement is one closed-loop workload on one kept-alive connection, sizes interleaved per repetition
# (60K rep 0, 512K rep 0, 60K rep 1, ...), 1 ms between a reply and the next send; its first request (60K
# rep 0) opens the connection, so it pays the handshake and slow start.
TIMES = {
    ("lte", "edge", 60 * K): [(130.0, 5.0, 170.0), (84.0, 7.0, 126.0)],
    ("lte", "cloud", 60 * K): [(260.0, 9.0, 340.0), (104.0, 11.0, 200.0)],
    ("lte", "edge", 512 * K): [(560.0, 6.0, 600.0), (570.0, 8.0, 612.0)],
    ("lte", "cloud", 512 * K): [(600.0, 10.0, 680.0), (620.0, 12.0, 700.0)],
    ("lte", "features", 60 * K): [(135.0, 3.0, 230.0), (86.0, 4.0, 180.0)],
    ("wifi", "edge", 60 * K): [(16.0, 5.0, 30.0), (11.0, 7.0, 22.0)],
    ("wifi", "cloud", 60 * K): [(180.0, 9.0, 240.0), (34.0, 11.0, 84.0)],
    ("wifi", "edge", 512 * K): [(65.0, 6.0, 80.0), (69.0, 8.0, 84.0)],
    ("wifi", "cloud", 512 * K): [(110.0, 10.0, 170.0), (118.0, 12.0, 176.0)],
}
MODELS = {"edge": "edgecnn1-3", "cloud": "cloudcnn", "features": "features-pca"}
PREPROCESS_MS = {60 * K: 2.0, 512 * K: 9.0}   # the server's JPEG decode
CLOUD_LEG_MS = 60.0                           # features: edge -> cloud hop (request sent .. reply complete)
REQUEST_BYTES_EXTRA, REPLY_BYTES = 160, 700   # KServe JSON header + length prefix; reply body


def request_rows() -> tuple[list[dict], list[dict], list[dict]]:
    """(requests.csv rows, the nodes' timings.jsonl records, the features device rows of lte)."""
    rows, records, device, clock_ns = [], [], [], 5_000_000_000_000
    workloads = list(dict.fromkeys(key[:2] for key in TIMES))
    for access, placement in workloads:
        clock_ns += 10_000_000_000  # a new workload (and connection) per access x placement
        sizes = [s for a, p, s in TIMES if (a, p) == (access, placement)]
        for rep in range(2):
            for size in sizes:
                upload, inference, response = TIMES[(access, placement, size)][rep]
                start = clock_ns
                up_done = start + int(upload * 1e6)
                pre_start, pre_end = up_done + 100_000, up_done + 100_000 + int(PREPROCESS_MS[size] * 1e6)
                inf_start = pre_end + 100_000
                inf_end = inf_start + int(inference * 1e6)
                cloud_start = inf_end + 100_000 if placement == "features" else None
                cloud_end = cloud_start + int(CLOUD_LEG_MS * 1e6) if cloud_start else None
                sent = (cloud_end or inf_end) + 300_000
                reply_done = start + int(response * 1e6)
                device_id = f"{placement}-{size}-{rep}"
                rows.append({
                    "request_id": f"{access}-{device_id}", "access": access, "placement": placement,
                    "model": MODELS[placement], "size_bytes": size, "actual_bytes": size, "repetition": rep,
                    "status": "ok", "error": "", "client_send_start_ns": start,
                    "client_reply_complete_ns": reply_done, "server_upload_complete_ns": up_done,
                    "server_inference_start_ns": inf_start, "server_inference_end_ns": inf_end,
                    "server_reply_sent_ns": sent, "server_preprocess_start_ns": pre_start,
                    "server_preprocess_end_ns": pre_end, "upload_ms": f"{upload:.3f}",
                    "preprocess_ms": f"{PREPROCESS_MS[size]:.3f}", "inference_ms": f"{inference:.3f}",
                    "response_ms": f"{response:.3f}",
                    "cloud_leg_ms": f"{CLOUD_LEG_MS:.3f}" if cloud_start else "", "predicted_class": 3, "attempts": 1,
                })
                node = "cloud" if placement == "cloud" else "edge"
                records.append({"access": access, "node": node, "request_id": device_id, "status": 200,
                                "request_received_ns": start + 5_000_000, "upload_complete_ns": up_done,
                                "inference_start_ns": inf_start, "inference_end_ns": inf_end,
                                "reply_start_ns": sent - 200_000, "reply_sent_ns": sent,
                                "request_bytes": size + REQUEST_BYTES_EXTRA, "reply_bytes": REPLY_BYTES})
                if cloud_start:  # the forwarded hop: the cloud's record has the same id and replies earlier
                    records.append({"access": access, "node": "cloud", "request_id": device_id, "status": 200,
                                    "request_received_ns": cloud_start + 31_000_000,
                                    "upload_complete_ns": cloud_start + 32_000_000,
                                    "inference_start_ns": cloud_start + 32_100_000,
                                    "inference_end_ns": cloud_start + 33_000_000,
                                    "reply_start_ns": cloud_start + 33_100_000,
                                    "reply_sent_ns": cloud_start + 33_200_000, "request_bytes": 400,
                                    "reply_bytes": REPLY_BYTES})
                    device.append({"request_id": device_id, "pattern": "closed", "model": MODELS[placement],
                                   "size_bytes": size, "send_start_ns": start, "reply_complete_ns": reply_done,
                                   "upload_complete_ns": up_done, "preprocess_start_ns": pre_start,
                                   "preprocess_end_ns": pre_end, "inference_start_ns": inf_start,
                                   "inference_end_ns": inf_end, "cloud_request_start_ns": cloud_start,
                                   "cloud_reply_complete_ns": cloud_end, "status": 200, "node": "edge",
                                   "provider": "CPUExecutionProvider", "label": 3, "attempts": 1,
                                   "repetition": rep, "actual_bytes": size})
                clock_ns = reply_done + 1_000_000
    rows.append({"request_id": "lte-cloud-524288-2", "access": "lte", "placement": "cloud", "model": "cloudcnn",
                 "size_bytes": 512 * K, "actual_bytes": 512 * K, "repetition": 2, "status": "error",
                 "error": "timeout after 120 s", "client_send_start_ns": clock_ns + 40_000_000_000})
    return rows, records, device


def link_rows() -> list[dict]:
    return [
        {"access": "lte", "link": "access", "direction": "rtt", "metric": "idle_rtt_ms", "configured": 30.196,
         "measured": 30.41, "error_pct": 0.71, "note": "median of 10 pings; max 31.020 ms"},
        {"access": "lte", "link": "access", "direction": "uplink", "metric": "tcp_goodput_mbps", "configured": 8.0,
         "measured": 7.61, "error_pct": -4.88, "note": "TCP payload ceiling 7.72 Mbit/s"},
        {"access": "lte", "link": "wan", "direction": "rtt", "metric": "idle_rtt_ms", "configured": 40.016,
         "measured": 40.2, "error_pct": 0.46, "note": "median of 10 pings; max 40.600 ms"},
        {"access": "wifi", "link": "access", "direction": "rtt", "metric": "idle_rtt_ms", "configured": 4.022,
         "measured": 4.19, "error_pct": 4.18, "note": "median of 10 pings; max 4.500 ms"},
    ]


# ---------------------------------------------------------------- pcaps

def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(src: str, sport: int, dst: str, dport: int, seq: int, ack: int, flags: str, payload: int = 0) -> bytes:
    """Ethernet + IPv4 + TCP (no options) + ``payload`` zero bytes."""
    bits = sum({"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10}[f] for f in flags)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq % 2**32, ack % 2**32, 5 << 4, bits, 65535, 0, 0)
    ip_header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + payload, 1, 0x4000, 64, 6, 0,
                            bytes(map(int, src.split("."))), bytes(map(int, dst.split("."))))
    ip_header = ip_header[:10] + struct.pack("!H", _checksum(ip_header)) + ip_header[12:]
    eth = bytes.fromhex("020000000002" "020000000001") + struct.pack("!H", 0x0800)
    return eth + ip_header + tcp + bytes(payload)


def write_pcap(path: Path, packets: list[tuple[float, bytes]]) -> None:
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, 1))
        for ts, data in sorted(packets, key=lambda p: p[0]):
            sec, usec = int(ts), round((ts - int(ts)) * 1e6)
            cap = data[:SNAPLEN]
            out.write(struct.pack("<IIII", sec, usec, len(cap), len(data)) + cap)


def device_edge_flow(t: float) -> list[tuple[float, bytes]]:
    c, s = (DEVICE, 40000), (EDGE, 8000)
    up = lambda seq, ack, fl, n=0: frame(*c, *s, seq, ack, fl, n)  # noqa: E731
    down = lambda seq, ack, fl, n=0: frame(*s, *c, seq, ack, fl, n)  # noqa: E731
    pkts = [(t, up(1000, 0, "S")), (t + 0.030, down(5000, 1001, "SA")), (t + 0.0302, up(1001, 5001, "A"))]
    for i in range(4):
        pkts.append((t + 0.031 + i * 0.001, up(1001 + i * 1448, 5001, "PA", 1448)))
    pkts += [(t + 0.062, down(5001, 2449, "A")), (t + 0.300, up(2449, 5001, "PA", 1448)),  # retransmission
             (t + 0.301, up(6793, 5001, "PA", 500)), (t + 0.332, down(5001, 6793, "A")),
             (t + 0.333, down(5001, 7293, "A")), (t + 0.340, down(5001, 7293, "PA", 300)),
             (t + 0.341, up(7293, 5301, "A")), (t + 0.400, up(7293, 5301, "FA")),
             (t + 0.430, down(5301, 7294, "FA")), (t + 0.4302, up(7294, 5302, "A"))]
    return pkts


def simple_flow(t: float, client: tuple, server: tuple, rtt_s: float, up_bytes: list[int],
                down_bytes: list[int], later: list[tuple[float, int]] = ()) -> list[tuple[float, bytes]]:
    c_seq, s_seq = 20000, 90000
    pkts = [(t, frame(*client, *server, c_seq, 0, "S")),
            (t + rtt_s, frame(*server, *client, s_seq, c_seq + 1, "SA")),
            (t + rtt_s + 0.0002, frame(*client, *server, c_seq + 1, s_seq + 1, "A"))]
    c_seq, s_seq, now = c_seq + 1, s_seq + 1, t + rtt_s + 0.001
    for n in up_bytes:
        pkts.append((now, frame(*client, *server, c_seq, s_seq, "PA", n)))
        c_seq, now = c_seq + n, now + 0.0005
    now += rtt_s
    for n in down_bytes:
        pkts.append((now, frame(*server, *client, s_seq, c_seq, "PA", n)))
        s_seq, now = s_seq + n, now + 0.0005
    pkts.append((now + rtt_s / 2, frame(*client, *server, c_seq, s_seq, "A")))
    for when, n in later:
        pkts.append((when, frame(*client, *server, c_seq, s_seq, "PA", n)))
        c_seq += n
    return pkts


def main() -> None:
    OUT.mkdir(exist_ok=True)
    (OUT / "pcaps").mkdir(exist_ok=True)
    ue1 = device_edge_flow(T0) + simple_flow(T0 + 2.0, (DEVICE, 40002), (CLOUD, 8000), 0.070, [1448, 1448, 800], [320])
    cloud = (simple_flow(T0 - 5.0, (EDGE, 45000), (CLOUD, 8000), 0.040, [200], [1448] * 10 + [1000],
                         later=[(T0 + 4.0, 200)])
             + simple_flow(T0 + 3.0, (EDGE, 45002), (CLOUD, 8000), 0.040, [1448, 600], [150]))
    write_pcap(OUT / "pcaps" / "lte-ue1.pcap", ue1)
    write_pcap(OUT / "pcaps" / "lte-cloud.pcap", cloud)
    profiles = {name: {"up": p.up.to_dict(), "down": p.down.to_dict()}
                for name, p in ((n, load_profile(n)) for n in ("lte", "wifi", "wan", "lan"))}
    record = {
        "experiment": "compare", "status": "complete",
        "spec": {"experiment": "compare", "accesses": ["lte", "wifi"], "placements": ["edge", "cloud", "features"],
                 "sizes": ["60K", "512K"], "sizes_bytes": [60 * K, 512 * K], "repetitions": 2, "seed": 1,
                 "link_backend": "auto", "edge_model": "edgecnn1-3", "cloud_model": "cloudcnn"},
        "environment": {"kernel": "6.1.0-test", "machine": "x86_64", "cpus": 2, "python": "3.11.2",
                        "link_backend": "userspace", "netem_available": False,
                        "versions": {"torch": "2.13.0", "onnxruntime-gpu": "1.20.0", "scapy": "2.8.0"},
                        "onnxruntime_providers": {"edge": "CPUExecutionProvider", "cloud": "CPUExecutionProvider"},
                        "git_commit": "0000000000000000000000000000000000000000"},
        "profiles": profiles,
        "models": {"edgecnn1-3": {"file": "edgecnn1-3.onnx", "bytes": 8_912_345, "sha256": "ab" * 32, "role": "edge"},
                   "cloudcnn": {"file": "cloudcnn.onnx", "bytes": 27_654_321, "sha256": "cd" * 32, "role": "cloud"}},
        "models_origin": {"dataset": "digits", "train_images": 1437, "test_images": 360, "training_set": "full",
                          "epochs": 30, "default_epochs": 30,
                          "test_accuracy": {"cloudcnn": 0.9712, "edgecnn1-3": 0.9501}, "test_models": False,
                          "reduced": False, "reduced_because": [],
                          "note": "full model set (default epochs, whole training split)"},
        "captures": [
            {"file": "pcaps/lte-ue1.pcap", "host": "ue1", "interface": "ue1-eth0", "access": "lte",
             "packets_captured": len(ue1), "packets_received_by_filter": len(ue1), "packets_dropped_by_kernel": 0},
            {"file": "pcaps/lte-cloud.pcap", "host": "cloud", "interface": "cloud-eth0", "access": "lte",
             "packets_captured": len(cloud), "packets_received_by_filter": len(cloud) + 2,
             "packets_dropped_by_kernel": 2},
        ],
        "faults": [], "accesses_run": ["lte", "wifi"], "model_fetch_s": {"lte": 1.234, "wifi": 1.201},
        "started_utc": "20250101T000000Z", "finished_utc": "20250101T000500Z",
    }
    (OUT / "experiment.json").write_text(json.dumps(record, indent=2) + "\n")
    requests, records, device = request_rows()
    for access, node in sorted({(r["access"], r["node"]) for r in records}):
        folder = OUT / "logs" / access / node
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "timings.jsonl", "w") as out:
            for seq, r in enumerate((r for r in records if (r["access"], r["node"]) == (access, node)), start=1):
                out.write(json.dumps({k: v for k, v in r.items() if k != "access"} | {"seq": seq},
                                     separators=(",", ":")) + "\n")
    with open(OUT / "logs" / "lte" / "device-features.csv", "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=WORKLOAD_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(device)
    for name, fields, rows in (("requests.csv", REQUEST_FIELDS, requests), ("links.csv", LINK_FIELDS, link_rows())):
        with open(OUT / name, "w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
