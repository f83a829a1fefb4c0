"""TCP flows from the run's packet captures: bytes, packets, retransmissions, handshake RTT, purpose, link.

The packets come from harness/analysis/pcap_reader.py (byte counts from the IPv4 total length
field, never from the captured length: captures may be headers only).

One flow = one TCP 5-tuple, both directions merged, as seen at one capture point. The client
is the side that sent the SYN (or, when the SYN was not captured, the side whose port is not
the servers' port 8000). Definitions (also in docs/analysis.md):

- ``retransmissions``: data segments (payload > 0) whose sequence range starts below the highest
  sequence number already seen in that direction (a keep-alive probe counts as one too);
- ``handshake_rtt_ms``: SYN -> ACK of the SYN/ACK at the capture point, which is one path RTT
  wherever the capture sits on the path (client side: SYN out, SYN/ACK back after one RTT;
  server side: SYN/ACK out, the ACK back after one RTT);
- ``goodput_mbps``: payload bytes minus retransmitted payload, both directions, over the flow's
  duration (first to last packet; idle time on a kept-alive connection counts).

Purpose by endpoints (host addresses of topo/topology.py): device <-> edge:8000 is
``request (edge)``; device <-> cloud:8000 ``request (cloud)``; edge -> cloud:8000 is
``model download`` when the flow starts before the run's first device request (of that access)
and ``edge-cloud`` (features / split / labels) after it; bytes a download connection carries
after the first request are counted under ``edge-cloud`` in the traffic table. The link is
where the capture was taken: ue1 -> access, edge -> lan, cloud -> wan.

On a scenario run (``--scenario``) the roles come from the run's own record of addresses
(experiment.json's ``scenario.hosts`` and ``kinds``, plus each device's address after a new-address
handover): every edge (edge1, edge2, ...) is an edge, every cloud a cloud, every device a device; the link of
a capture is the scenario link it sits on (``capture_links``: bs2 -> access2, edge2 -> lan2, cloud -> wan).
"""
from __future__ import annotations

import csv
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from harness.analysis.pcap_reader import CaptureFileError, address_text, read_tcp_packets

SERVER_PORT = 8000
EDGE_ADDRESS, CLOUD_ADDRESS, DEVICE_PREFIX = "10.0.2.2", "10.0.3.2", "10.0.1."
LINK_OF_HOST = {"edge": "lan", "cloud": "wan", "bs": "bs"}  # devices (ue*) -> "access"
PURPOSES = ("request (edge)", "request (cloud)", "model download", "edge-cloud", "other")

FLOW_FIELDS = [
    "access", "capture", "link", "purpose", "client", "client_port", "server", "server_port",
    "start_s", "duration_s", "packets_up", "packets_down", "bytes_up", "bytes_down",
    "payload_bytes_up", "payload_bytes_down", "retransmissions_up", "retransmissions_down",
    "handshake_rtt_ms", "syn_to_synack_ms", "synack_to_ack_ms", "goodput_mbps",
    "bytes_up_after_first_request", "bytes_down_after_first_request",
]

_SEQ_MOD, _SEQ_HALF = 1 << 32, 1 << 31
_SYN, _ACK, _RST, _FIN = 0x02, 0x10, 0x04, 0x01


@dataclass
class _Direction:
    packets: int = 0
    ip_bytes: int = 0
    payload_bytes: int = 0
    retransmissions: int = 0
    retransmitted_bytes: int = 0
    ip_bytes_after_cutoff: int = 0
    next_seq: int | None = None  # highest sequence number seen + 1 (mod 2**32)

    def add(self, seq: int, ip_len: int, payload: int, flags: int) -> None:
        self.packets += 1
        self.ip_bytes += ip_len
        self.payload_bytes += payload
        end = (seq + payload + (1 if flags & (_SYN | _FIN) else 0)) % _SEQ_MOD
        if self.next_seq is None:
            self.next_seq = end
            return
        if payload and ((seq - self.next_seq + _SEQ_HALF) % _SEQ_MOD) - _SEQ_HALF < 0:
            self.retransmissions += 1
            self.retransmitted_bytes += payload
        if ((end - self.next_seq + _SEQ_HALF) % _SEQ_MOD) - _SEQ_HALF > 0:
            self.next_seq = end


@dataclass
class Flow:
    client: str
    client_port: int
    server: str
    server_port: int
    first_s: float
    last_s: float = 0.0
    up: _Direction = field(default_factory=_Direction)      # client -> server
    down: _Direction = field(default_factory=_Direction)    # server -> client
    syn_s: float | None = None
    synack_s: float | None = None
    ack_s: float | None = None
    client_raw: bytes = b""

    @property
    def handshake_rtt_ms(self) -> float | None:
        if self.syn_s is None or self.ack_s is None:
            return None
        return (self.ack_s - self.syn_s) * 1000.0

    @property
    def duration_s(self) -> float:
        return self.last_s - self.first_s

    @property
    def goodput_mbps(self) -> float | None:
        if self.duration_s <= 0:
            return None
        unique = (self.up.payload_bytes - self.up.retransmitted_bytes
                  + self.down.payload_bytes - self.down.retransmitted_bytes)
        return unique * 8 / self.duration_s / 1e6


def read_flows(path: Path, cutoff_s: float | None = None) -> list[Flow]:
    """Every TCP flow in one capture file, in order of first packet. ``cutoff_s``: count the IP
    bytes each flow carries from that time on (``bytes_after_cutoff``)."""
    flows: dict[tuple, Flow] = {}
    for time_s, src, dst, sport, dport, seq, flags, ip_len, payload in read_tcp_packets(path):
        key = (src, sport, dst, dport) if (src, sport) < (dst, dport) else (dst, dport, src, sport)
        flow = flows.get(key)
        if flow is None:
            client_is_src = bool(flags & _SYN and not flags & _ACK) or (dport == SERVER_PORT != sport) or (
                not flags & _SYN and sport != SERVER_PORT and dport != SERVER_PORT)
            if flags & _SYN and flags & _ACK:
                client_is_src = False
            c, cp, s, sp = (src, sport, dst, dport) if client_is_src else (dst, dport, src, sport)
            flow = flows[key] = Flow(address_text(c), cp, address_text(s), sp, first_s=time_s, client_raw=c)
        upward = src == flow.client_raw and sport == flow.client_port
        direction = flow.up if upward else flow.down
        direction.add(seq, ip_len, payload, flags)
        flow.last_s = time_s
        if cutoff_s is not None and time_s >= cutoff_s:
            direction.ip_bytes_after_cutoff += ip_len
        if flags & _SYN:
            if upward and not flags & _ACK and flow.syn_s is None:
                flow.syn_s = time_s
            elif not upward and flags & _ACK and flow.synack_s is None:
                flow.synack_s = time_s
        elif upward and flags & _ACK and flow.synack_s is not None and flow.ack_s is None:
            flow.ack_s = time_s
    return sorted(flows.values(), key=lambda f: f.first_s)


_KIND_OF_NAME = re.compile(r"^(?P<kind>ue|edge|cloud)\d*$")


def scenario_roles(record: dict) -> tuple[dict[str, str], dict[str, str]]:
    """(address -> "device" / "edge" / "cloud", capture host -> link name) from a scenario run's record
    (experiment.json); ({}, {}) for a run on the fixed network. A record without ``kinds`` (older runs) reads
    the kind from the derived names (ue<i>, edge<k>, cloud<k>)."""
    scenario = record.get("scenario") or {}
    hosts = scenario.get("hosts") or {}
    if not hosts:
        return {}, {}
    kinds = scenario.get("kinds") or {}
    roles = {}
    for name, address in hosts.items():
        kind = kinds.get(name) or ((m := _KIND_OF_NAME.match(name)) and m["kind"]) or ""
        kind = "device" if kind in ("ue", "device") else kind
        if kind in ("device", "edge", "cloud"):
            roles[address] = kind
    for passed in (scenario.get("passes") or {}).values():
        for handover in passed.get("handovers") or []:
            if handover.get("address_after"):
                roles[handover["address_after"]] = "device"
    return roles, dict(scenario.get("capture_links") or {})


def _role(address: str, roles: dict[str, str] | None = None) -> str:
    if roles:
        return roles.get(address, "other")
    if address.startswith(DEVICE_PREFIX):
        return "device"
    return {EDGE_ADDRESS: "edge", CLOUD_ADDRESS: "cloud"}.get(address, "other")


def purpose(flow: Flow, first_request_s: float | None, roles: dict[str, str] | None = None) -> str:
    client, server = _role(flow.client, roles), _role(flow.server, roles)
    if flow.server_port != SERVER_PORT:
        return "other"
    if client == "device" and server in ("edge", "cloud"):
        return f"request ({server})"
    if client == "edge" and server == "cloud":
        if first_request_s is None or flow.first_s < first_request_s:
            return "model download"
        return "edge-cloud"
    return "other"


def capture_host_access(entry: dict) -> tuple[str, str]:
    """(host, access) of a capture: from experiment.json's record, else from ``<access>-<host>.pcap``."""
    name = Path(entry["file"]).stem
    access, _, host = name.rpartition("-")
    return entry.get("host") or host or name, entry.get("access") or access or "?"


def link_of(host: str, links: dict[str, str] | None = None) -> str:
    if links and host in links:
        return links[host]
    return "access" if host.startswith("ue") else LINK_OF_HOST.get(host, host)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def analyse_captures(run_dir: Path, captures: list[dict], unreadable: dict | None = None,
                     record: dict | None = None) -> list[dict]:
    """flows.csv rows for every capture file that exists, device captures first so that each
    access's first request time is known when the edge and cloud captures are classified (on a scenario,
    the base stations' access-side captures count as device captures). ``record``: experiment.json, whose
    scenario addresses classify a scenario run's flows (``scenario_roles``).
    A file that cannot be read is skipped; its error goes into ``unreadable`` (file -> message)."""
    roles, links = scenario_roles(record or {})
    entries = [(e, *capture_host_access(e)) for e in captures if (run_dir / e.get("file", "")).is_file()]
    entries.sort(key=lambda item: not (item[1].startswith("ue") or link_of(item[1], links).startswith("access")))
    first_request: dict[str, float] = {}
    read: list[tuple[dict, str, str, list[Flow]]] = []
    for entry, host, access in entries:
        try:
            flows = read_flows(run_dir / entry["file"], cutoff_s=first_request.get(access))
        except CaptureFileError as err:
            if unreadable is None:
                raise
            unreadable[entry["file"]] = str(err)
            continue
        for start in (f.first_s for f in flows
                      if _role(f.client, roles) == "device" and f.server_port == SERVER_PORT):
            first_request[access] = min(first_request.get(access, start), start)
        read.append((entry, host, access, flows))
    rows: list[dict] = []
    for entry, host, access, flows in read:
        for flow in flows:
            kind = purpose(flow, first_request.get(access), roles)
            rows.append({
                "access": access, "capture": entry["file"], "link": link_of(host, links), "purpose": kind,
                "client": flow.client, "client_port": flow.client_port, "server": flow.server,
                "server_port": flow.server_port, "start_s": f"{flow.first_s:.6f}", "duration_s": _fmt(flow.duration_s, 6),
                "packets_up": flow.up.packets, "packets_down": flow.down.packets,
                "bytes_up": flow.up.ip_bytes, "bytes_down": flow.down.ip_bytes,
                "payload_bytes_up": flow.up.payload_bytes, "payload_bytes_down": flow.down.payload_bytes,
                "retransmissions_up": flow.up.retransmissions, "retransmissions_down": flow.down.retransmissions,
                "handshake_rtt_ms": _fmt(flow.handshake_rtt_ms),
                "syn_to_synack_ms": _fmt(None if flow.syn_s is None or flow.synack_s is None
                                         else (flow.synack_s - flow.syn_s) * 1000),
                "synack_to_ack_ms": _fmt(None if flow.synack_s is None or flow.ack_s is None
                                         else (flow.ack_s - flow.synack_s) * 1000),
                "goodput_mbps": _fmt(flow.goodput_mbps),
                "bytes_up_after_first_request": flow.up.ip_bytes_after_cutoff if kind == "model download" else "",
                "bytes_down_after_first_request": flow.down.ip_bytes_after_cutoff if kind == "model download" else "",
            })
    return rows


def write_flows_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=FLOW_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def traffic_table(rows: list[dict]) -> list[dict]:
    """Traffic by access x purpose x link: flows, packets, IP bytes each way, retransmissions and the
    median handshake RTT. A download connection's bytes after the first request go to edge-cloud."""
    groups: dict[tuple, dict] = {}

    def bucket(access, kind, link):
        return groups.setdefault((access, kind, link), {
            "access": access, "purpose": kind, "link": link, "flows": 0, "packets": 0, "bytes_up": 0,
            "bytes_down": 0, "retransmissions": 0, "rtts_ms": []})

    for row in rows:
        later_up = int(row.get("bytes_up_after_first_request") or 0)
        later_down = int(row.get("bytes_down_after_first_request") or 0)
        group = bucket(row["access"], row["purpose"], row["link"])
        group["flows"] += 1
        group["packets"] += int(row["packets_up"]) + int(row["packets_down"])
        group["bytes_up"] += int(row["bytes_up"]) - later_up
        group["bytes_down"] += int(row["bytes_down"]) - later_down
        group["retransmissions"] += int(row["retransmissions_up"]) + int(row["retransmissions_down"])
        if row["handshake_rtt_ms"]:
            group["rtts_ms"].append(float(row["handshake_rtt_ms"]))
        if later_up or later_down:
            extra = bucket(row["access"], "edge-cloud", row["link"])
            extra["bytes_up"] += later_up
            extra["bytes_down"] += later_down
    order = {p: i for i, p in enumerate(PURPOSES)}
    table = []
    for key in sorted(groups, key=lambda k: (k[0], order.get(k[1], 99), k[2])):
        group = groups[key]
        rtts = group.pop("rtts_ms")
        group["median_handshake_rtt_ms"] = round(statistics.median(rtts), 3) if rtts else None
        table.append(group)
    return table
