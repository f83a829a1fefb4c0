"""What each node recorded of a request (``logs/<access>/<node>/timings.jsonl``), and what the analysis takes from it.

A ``features`` or ``split`` request has two records with the same request id: the edge's (the node the
device talked to) and the cloud's (the forwarded hop). Records are therefore keyed by node, and a row is
matched with the record of the node that served the device: ``cloud`` for the cloud placement, ``edge``
for every other one. From that record:

- ``server_ms`` = reply sent - upload complete at that node: decode, inference, the edge -> cloud hop of
  features/split and the server's own overhead. Without the record (older runs), the row's
  ``server_reply_sent_ns`` is used if the time it gives is at least decode + inference + cloud leg (the
  cloud's stamp, which older features/split rows carry, gives less); else that sum of the parts.
- the request and reply body bytes, for the floor's wire bytes; without them the request body is
  computed as the device encodes it, and the reply body is left out (a floor may leave bytes out).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

DEVICE_FACING_NODE = {"cloud": "cloud"}  # every other placement: "edge"


def device_facing_node(placement: str) -> str:
    return DEVICE_FACING_NODE.get(placement, "edge")


def read_node_records(run_dir: Path) -> dict[tuple[str, str, str], dict]:
    """(access, node, request id) -> that node's record (logs/<access>/<node>/timings.jsonl, the folder naming
    the node, as harness.experiments.compare.run.server_stamps reads them); a request id a node saw more than once (device
    retries) keeps its last answered (200) record, else its last one. A line cut by a crash is skipped."""
    records: dict[tuple[str, str, str], dict] = {}
    for path in sorted(Path(run_dir).glob("logs/*/*/timings.jsonl")):
        access, node = path.parent.parent.name, path.parent.name
        for line in path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(record, dict) or not record.get("request_id"):
                continue
            key = (access, node, str(record["request_id"]))
            if key not in records or record.get("status") == 200 or records[key].get("status") != 200:
                records[key] = record
    return records


def record_of(row: dict, records: dict) -> dict:
    """The device-facing node's record of a requests.csv row (its id is ``<access>-<device id>``)."""
    access = row.get("access", "")
    request_id = str(row.get("request_id") or "")
    device_id = request_id[len(access) + 1:] if request_id.startswith(f"{access}-") else request_id
    node = row.get("served_by") or device_facing_node(row.get("placement", ""))  # a scenario's row names its node
    return records.get((access, node, device_id), {})


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def server_ms(row: dict, record: dict) -> tuple[float | None, str]:
    """(server time of one ok row, where it came from: "node record" / "row stamps" / "parts")."""
    parts = [_float(row.get(k)) for k in ("preprocess_ms", "inference_ms", "cloud_leg_ms")]
    parts_ms = None if parts[1] is None else sum(p for p in parts if p is not None)
    upload_ns = _int(record.get("upload_complete_ns")) or _int(row.get("server_upload_complete_ns"))
    sent_ns = _int(record.get("reply_sent_ns"))
    if upload_ns is not None and sent_ns is not None and sent_ns >= upload_ns:
        return (sent_ns - upload_ns) / 1e6, "node record"
    row_sent = _int(row.get("server_reply_sent_ns"))
    if upload_ns is not None and row_sent is not None:
        total_ms = (row_sent - upload_ns) / 1e6
        if total_ms >= (parts_ms or 0.0):  # the cloud's stamp on a features/split row ends before the hop does
            return total_ms, "row stamps"
    return parts_ms, "parts" if parts_ms is not None else "not measured"


HTTP_REQUEST_HEAD = ("POST /v2/models/{model}/infer HTTP/1.1\r\nHost: 10.0.2.2:8000\r\n"
                     "Content-Type: application/octet-stream\r\nInference-Header-Content-Length: {json}\r\n"
                     "Content-Length: {body}\r\n\r\n")
HTTP_REPLY_HEAD = ("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                   "Inference-Header-Content-Length: {json}\r\nContent-Length: {body}\r\n\r\n")


@lru_cache(maxsize=64)
def _encoded_request(image_bytes: int, id_length: int) -> tuple[int, int]:
    """(body bytes, JSON header bytes) of the device's request for an image of that size."""
    from nodes.protocol import Tensor, encode_infer_request

    body, json_length = encode_infer_request([Tensor.from_bytes_list("image", [bytes(image_bytes)])],
                                             request_id="x" * id_length)
    return len(body), int(json_length or 0)


def request_payload_bytes(row: dict, record: dict, image_bytes: int) -> int:
    """TCP payload of the request: the HTTP request line and the headers the client sets, and the body."""
    body, json_length = _encoded_request(int(image_bytes), len(str(row.get("request_id") or "")) -
                                         len(str(row.get("access") or "")) - 1)
    body = _int(record.get("request_bytes")) or body
    return body + len(HTTP_REQUEST_HEAD.format(model=row.get("model") or "", json=json_length, body=body))


def reply_payload_bytes(record: dict) -> int:
    """TCP payload of the reply: status line, the headers aiohttp always sends, and the body if recorded."""
    body = _int(record.get("reply_bytes")) or 0
    return body + len(HTTP_REPLY_HEAD.format(json=min(body, 1), body=body))
