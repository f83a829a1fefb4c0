"""requests.csv of a compare / sweep / replay run: the device rows joined with the answering node's stamps."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from harness.experiments.compare.device_workload import device_rows_files
from harness.experiments.compare.run_record import Run
from harness.orchestration.folder_images import answer_correct
from nodes.csv_rows import CsvRows
from nodes.image_folder import IMAGE_FIELDS

DEVICE_FIELDS = ["device", "scheduled_ns", "schedule_lateness_ms", "queue_ms", "server_in_progress_at_arrival"]


def answering_node(placement: str) -> str:
    """The node that answers the device: the cloud for "cloud"; the edge for edge, features and split (which
    forwards the same request id to the cloud; the cloud's stamps reach the row only as its cloud_* fields)."""
    return "cloud" if placement == "cloud" else "edge"


def server_stamps(log_dir: Path) -> dict[tuple[str, str], dict]:
    """(node, request_id) -> that node's timing record (reply_sent_ns lives only there).

    A request id seen more than once by one node (device retries) gets its last answered (200) record,
    else its last one."""
    stamps: dict[tuple[str, str], dict] = {}
    for path in sorted(log_dir.glob("*/timings.jsonl")):
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash
            if not isinstance(record, dict) or not record.get("request_id"):
                continue
            key = (path.parent.name, str(record["request_id"]))  # logs/<access>/<node>/, as the harness named it
            if key not in stamps or record.get("status") == 200 or stamps[key].get("status") != 200:
                stamps[key] = record
    return stamps


def _ms(end, start) -> str:
    try:
        return f"{(int(end) - int(start)) / 1e6:.3f}"
    except (TypeError, ValueError):
        return ""


def queue_ms(server: dict) -> str:
    """The answering server's queueing time, arrival to preprocess start: its own ``queue_ms``, else from its
    stamps; "" where it recorded neither."""
    value = server.get("queue_ms")
    if value not in (None, ""):
        try:
            return f"{float(value):.3f}"
        except (TypeError, ValueError):
            return ""
    return _ms(server.get("preprocess_start_ns"), server.get("received_ns"))


def lateness_ms(row: dict) -> str:
    """How late the request left against its schedule (the workload's own figure, else send start - scheduled)."""
    value = row.get("schedule_lateness_ms")
    if value not in (None, ""):
        return str(value)
    return _ms(row.get("send_start_ns"), row.get("scheduled_ns")) if row.get("scheduled_ns") else ""


def request_row(row: dict, access: str, placement: str, server: dict, device: str = "ue1") -> dict:
    ok = str(row.get("status")) == "200"
    cloud_leg = _ms(row.get("cloud_reply_complete_ns"), row.get("cloud_request_start_ns"))
    return {
        "device": row.get("device") or device, "scheduled_ns": row.get("scheduled_ns") or "",
        "schedule_lateness_ms": lateness_ms(row), "queue_ms": queue_ms(server) if ok else "",
        "server_in_progress_at_arrival": server.get("in_progress_at_arrival", ""),
        "request_id": f"{access}-{row['request_id']}", "access": access, "placement": placement,
        "model": row.get("model"), "size_bytes": row.get("size_bytes"), "actual_bytes": row.get("actual_bytes"),
        "repetition": row.get("repetition"), "status": "ok" if ok else "error",
        "error": "" if ok else (row.get("error") or f"HTTP {row.get('status')}"),
        "client_send_start_ns": row.get("send_start_ns"), "client_reply_complete_ns": row.get("reply_complete_ns"),
        "server_upload_complete_ns": row.get("upload_complete_ns"),
        "server_inference_start_ns": row.get("inference_start_ns"),
        "server_inference_end_ns": row.get("inference_end_ns"),
        "server_reply_sent_ns": server.get("reply_sent_ns", row.get("reply_sent_ns")),
        "server_preprocess_start_ns": row.get("preprocess_start_ns"),
        "server_preprocess_end_ns": row.get("preprocess_end_ns"),
        "upload_ms": _ms(row.get("upload_complete_ns"), row.get("send_start_ns")) if ok else "",
        "preprocess_ms": _ms(row.get("preprocess_end_ns"), row.get("preprocess_start_ns")) if ok else "",
        "inference_ms": _ms(row.get("inference_end_ns"), row.get("inference_start_ns")) if ok else "",
        "response_ms": _ms(row.get("reply_complete_ns"), row.get("send_start_ns")) if ok else "",
        "cloud_leg_ms": cloud_leg if ok else "", "predicted_class": row.get("label"),
        "attempts": row.get("attempts") or 1, "attempt_errors": row.get("attempt_errors") or "",
        **{key: row.get(key) or "" for key in IMAGE_FIELDS},  # --images: the photo sent and its true label
    }


def collect_requests(run: Run, access: str, placements: list[str], requests: CsvRows,
                     stopped_ns: int | None = None, scenario_rows=None) -> int:
    """The device rows of ``access`` (every device's file) joined with the answering node's stamps, into
    requests.csv; see ``collect_rows``."""
    folder = run.run_dir / "logs" / access
    files = [(path, placement) for placement in placements for path in device_rows_files(folder, placement)]
    stamps = scenario_rows.stamps if scenario_rows is not None else server_stamps(folder)
    return collect_rows(run, access, files, stamps, requests, stopped_ns, scenario_rows=scenario_rows)


def collect_rows(run: Run, access: str, files: list[tuple[Path, str]], stamps: dict, requests: CsvRows,
                 stopped_ns: int | None = None, extra: dict | None = None, scenario_rows=None) -> int:
    """The rows of the device files ``files`` ((path, placement)), each joined with its answering node's record
    in ``stamps`` (``server_stamps``), into ``requests`` with the ``extra`` columns; returns how many. On a
    scenario (``scenario_rows``: compare.scenario_rows.ScenarioRows) the answering node is the one whose records
    hold the request, and the row gains its cell, serving node, path and handover columns.

    ``stopped_ns``: when Ctrl-C / SIGTERM stopped the run; an error row of a request sent after it is the
    stop's doing, not a measurement, and is left out (counted in experiment.json). A row cut short by a
    killed workload (no status) is left out too."""
    written = dropped = 0
    for path, placement in files:
        device = _device_of(path)
        with open(path, newline="") as rows:
            for row in csv.DictReader(rows):
                if not row.get("request_id") or not row.get("status"):
                    dropped += 1
                    continue
                if stopped_ns is not None and str(row["status"]) != "200" and _after(row, stopped_ns):
                    dropped += 1
                    continue
                if row.get("provider") and row.get("node"):
                    run.record["environment"]["onnxruntime_providers"][row["node"]] = row["provider"]
                if scenario_rows is None:
                    server = stamps.get((answering_node(placement), str(row["request_id"])), {})
                else:
                    node, server = scenario_rows.server_of(placement, row.get("device") or device,
                                                           str(row["request_id"]), row.get("server_url") or "")
                joined = request_row(row, access, placement, server, device)
                if scenario_rows is not None:
                    joined.update(scenario_rows.columns(joined, placement, node, row))
                joined["correct"] = answer_correct(run.record.get("images"), placement, joined)
                requests.write({**joined, **(extra or {})})
                written += 1
    if dropped:
        left_out = run.record.setdefault("rows_left_out", {})
        left_out[access] = left_out.get(access, 0) + dropped
    return written


def _device_of(path: Path) -> str:
    """The device a rows file belongs to: ``device-<placement>-ue<i>.csv`` -> ue<i>; ``device-<placement>.csv``: ue1."""
    tail = path.stem.rsplit("-", 1)[-1]
    return tail if tail.startswith("ue") and tail[2:].isdigit() else "ue1"


def _after(row: dict, at_ns: int) -> bool:
    """The request was sent, or ended, at or after ``at_ns``."""
    for key in ("send_start_ns", "reply_complete_ns"):
        try:
            if int(row.get(key) or 0) >= at_ns:
                return True
        except ValueError:
            return True  # a stamp that is not a number: not a finished row
    return False
