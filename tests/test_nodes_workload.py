"""The device side: a retried request counts from its first attempt and says why each attempt failed; the
workload streams its rows (closed and open loop) and stops on Ctrl-C as a terminal sends it, to the whole
process group, leaving only the rows that finished."""
from __future__ import annotations

import asyncio
import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web

from nodes.client import ClientSettings, InferenceClient, open_loop
from nodes.jpeg_images import make_jpeg
from nodes.launch import NodeProcess
from nodes.protocol import BINARY_CONTENT_TYPE, HEADER_LENGTH, JSON_CONTENT_TYPE, Tensor, encode_infer_response, \
    parse_infer_request
from nodes.synthetic_models import write_model_set
from nodes.workload import RowRecorder

REPO = Path(__file__).resolve().parent.parent
JPEG = make_jpeg(20 * 1024, seed=2)
pytestmark = pytest.mark.timeout(300)


# --- retries: a loopback server that fails the first attempts ---------------------------------------------------
class FlakyServer:
    """Answers the first ``fail_first`` requests with ``failure`` (an HTTP status, or "hang" past the client's
    timeout), then properly, stamping its reply as the nodes do."""

    def __init__(self, fail_first: int, failure: int | str = 503):
        self.fail_first, self.failure = fail_first, failure
        self.arrivals_ns: list[int] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.arrivals_ns.append(time.monotonic_ns())
        body = await request.read()
        if len(self.arrivals_ns) <= self.fail_first:
            if self.failure == "hang":
                await asyncio.sleep(2)
                return web.Response(status=504)
            return web.json_response({"error": f"failing attempt {len(self.arrivals_ns)}"}, status=self.failure)
        stamps = {"upload_complete_ns": time.monotonic_ns()}
        infer = parse_infer_request(body, request.headers.get(HEADER_LENGTH))
        stamps["inference_start_ns"] = stamps["inference_end_ns"] = time.monotonic_ns()
        outputs = [Tensor.from_array("probabilities", np.eye(10, dtype=np.float32)[[3]])]
        reply, json_length = encode_infer_response("m", infer, outputs, {"node": "flaky", **stamps})
        headers = {HEADER_LENGTH: str(json_length)} if json_length is not None else {}
        return web.Response(body=reply, headers=headers,
                            content_type=BINARY_CONTENT_TYPE if json_length is not None else JSON_CONTENT_TYPE)


def one_request(server: FlakyServer, **settings) -> dict:
    async def go():
        app = web.Application()
        app.router.add_post("/v2/models/{model}/infer", server.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with InferenceClient(ClientSettings(url=f"http://127.0.0.1:{port}", **settings)) as client:
                return await client.infer_image(JPEG, "r1")
        finally:
            await runner.cleanup()
    return asyncio.run(go())


def test_a_retried_request_counts_from_its_first_attempt():
    server = FlakyServer(fail_first=2, failure=503)
    row = one_request(server, retries=3, retry_backoff_s=0.2)
    assert row["status"] == 200 and row["error"] == "" and row["label"] == 3
    assert row["attempts"] == 3 and row["attempt_errors"] == "1:HTTP 503;2:HTTP 503"
    assert row["send_start_ns"] <= server.arrivals_ns[0]  # the first attempt's send, not the last one's
    backoff_ns = int((0.2 + 0.4) * 1e9)
    assert row["upload_complete_ns"] - row["send_start_ns"] >= backoff_ns
    assert row["reply_complete_ns"] - row["send_start_ns"] >= backoff_ns


def test_a_timed_out_attempt_is_named_and_counted():
    server = FlakyServer(fail_first=1, failure="hang")
    row = one_request(server, retries=1, retry_backoff_s=0.0, timeout_s=0.5)
    assert row["status"] == 200 and row["attempts"] == 2 and row["attempt_errors"] == "1:timeout"
    assert row["upload_complete_ns"] - row["send_start_ns"] >= 0.5e9


def test_every_failed_attempt_is_listed_and_a_4xx_is_not_retried():
    row = one_request(FlakyServer(fail_first=10, failure=503), retries=2, retry_backoff_s=0.0)
    assert row["status"] == 503 and row["attempts"] == 3
    assert row["attempt_errors"] == "1:HTTP 503;2:HTTP 503;3:HTTP 503" and "failing attempt 3" in row["error"]
    row = one_request(FlakyServer(fail_first=10, failure=400), retries=2, retry_backoff_s=0.0)
    assert row["status"] == 400 and row["attempts"] == 1 and row["attempt_errors"] == "1:HTTP 400"
    row = one_request(FlakyServer(fail_first=0), retries=2)
    assert row["status"] == 200 and row["attempts"] == 1 and row["attempt_errors"] == ""


def test_the_harness_row_carries_attempts_and_upload_from_the_first_send():
    from harness.experiments.compare.request_rows import request_row
    from harness.orchestration.results import REQUEST_FIELDS

    row = one_request(FlakyServer(fail_first=1, failure=502), retries=1, retry_backoff_s=0.3)
    out = request_row({**row, "repetition": 0, "actual_bytes": len(JPEG)}, "lte", "edge", {})
    assert "attempt_errors" in REQUEST_FIELDS and set(out) <= set(REQUEST_FIELDS)
    assert out["attempts"] == 2 and out["attempt_errors"] == "1:HTTP 502" and float(out["upload_ms"]) >= 300


# --- streaming and stopping ----------------------------------------------------------------------------------------
def test_recorder_holds_failures_until_no_stop_followed():
    written = []

    class Sink:
        def write(self, row):
            written.append(row["request_id"])

    async def go():
        recorder = RowRecorder(Sink(), total=4, grace_s=0.1)
        recorder.add({"request_id": "ok1", "status": 200, "error": ""})
        recorder.add({"request_id": "bad1", "status": 0, "error": "ClientConnectorError: refused"})
        assert written == ["ok1"]
        await asyncio.sleep(0.3)
        assert written == ["ok1", "bad1"]  # no stop came: a real failure is a row
        recorder.add({"request_id": "bad2", "status": 503, "error": "gone"})
        recorder.stop()  # the stop came right after: the failure was the stop's doing
        recorder.add({"request_id": "ok2", "status": 200, "error": ""})  # nothing after the stop either
        await asyncio.sleep(0.3)
        assert written == ["ok1", "bad1"]
        again = RowRecorder(Sink(), total=1, grace_s=30)
        again.add({"request_id": "bad3", "status": 0, "error": "timeout"})
        again.finish()  # the workload ended by itself: held failures are written at once
        assert written == ["ok1", "bad1", "bad3"]
    asyncio.run(go())


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    write_model_set(folder)
    return folder


def own_group(argv, start_new_session=False, **kwargs) -> subprocess.Popen:
    """A node in a new process group of this session (a new session could not be joined by the workload)."""
    return subprocess.Popen(argv, process_group=0, **kwargs)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a parent that ignores Ctrl-C hands it down


class Workload:
    """``python -m nodes.workload`` in the process group of ``group_of`` (as a terminal's foreground group)."""

    def __init__(self, args: list[str], out: Path, group_of: int | None = None, sigint_ignored: bool = False):
        self.out = out
        self.progress: list[tuple[int, int]] = []
        self.process = subprocess.Popen([sys.executable, "-m", "nodes.workload", *args, "--out", str(out)],
                                        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        process_group=group_of if group_of is not None else 0,
                                        preexec_fn=_ignore_sigint if sigint_ignored else None)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            parts = line.decode().split()
            if len(parts) == 3 and parts[0] == "progress":
                self.progress.append((int(parts[1]), int(parts[2])))

    def wait_done(self, n: int, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while (not self.progress or self.progress[-1][0] < n) and time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stderr.read().decode()
            time.sleep(0.02)
        assert self.progress and self.progress[-1][0] >= n, "the workload made no progress"

    def rows(self) -> list[dict]:
        if self.process.poll() is not None:
            self._reader.join(5)  # every progress line read
        with open(self.out, newline="") as f:
            return list(csv.DictReader(f))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.mark.parametrize("loop_args, signum, after_rows, sigint_ignored", [
    (["--repetitions", "400"], signal.SIGINT, 1, False),
    (["--repetitions", "400"], signal.SIGINT, 12, False),
    (["--repetitions", "400"], signal.SIGINT, 5, True),
    (["--repetitions", "400"], signal.SIGTERM, 5, False),
    (["--repetitions", "200", "--rate", "40"], signal.SIGINT, 1, False),
    (["--repetitions", "200", "--rate", "40"], signal.SIGINT, 10, False),
    (["--repetitions", "200", "--rate", "40"], signal.SIGINT, 5, True),
    (["--repetitions", "200", "--rate", "40"], signal.SIGTERM, 5, False),
], ids=["closed-int-1", "closed-int-12", "closed-int-inherited-ignore", "closed-term", "open-int-1", "open-int-10",
        "open-int-inherited-ignore", "open-term"])
def test_a_stop_signal_to_the_process_group_keeps_only_finished_rows(models_dir, tmp_path, loop_args, signum,
                                                                      after_rows, sigint_ignored):
    with NodeProcess("cloud", ["--models", str(models_dir), "--threads", "1"], log_dir=tmp_path / "cloud",
                     popen=own_group) as cloud:
        workload = Workload(["--url", cloud.url, "--model", "cloudcnn", "--sizes", "20K,60K", "--tag", "w",
                             "--images-dir", str(tmp_path / "images"), *loop_args], tmp_path / "rows.csv",
                            group_of=cloud.process.pid, sigint_ignored=sigint_ignored)
        try:
            workload.wait_done(after_rows)
            assert workload.progress[0][1] == 2 * int(loop_args[1])  # a total from the start, open loop too
            os.killpg(cloud.process.pid, signum)  # what a terminal does: the server and the device get it
            started = time.monotonic()
            code = workload.process.wait(10)
            elapsed_s = time.monotonic() - started
        finally:
            workload.kill()
    assert code == 128 + signum and elapsed_s < 3, (code, elapsed_s, workload.process.stderr.read().decode())
    rows = workload.rows()
    assert len(rows) >= after_rows and len(rows) == workload.progress[-1][0]
    assert all(r["status"] == "200" and r["error"] == "" for r in rows), [r["error"] for r in rows if r["error"]]
    assert len({r["request_id"] for r in rows}) == len(rows)
    assert len(rows) < 2 * int(loop_args[1])  # it stopped: it did not go through its whole schedule


@pytest.mark.parametrize("loop_args", [["--repetitions", "3000"], ["--repetitions", "3000", "--rate", "200"]],
                         ids=["closed", "open"])
def test_a_server_gone_just_before_the_stop_adds_no_error_rows(models_dir, tmp_path, loop_args):
    with NodeProcess("cloud", ["--models", str(models_dir), "--threads", "1"], log_dir=tmp_path / "cloud") as cloud:
        workload = Workload(["--url", cloud.url, "--model", "cloudcnn", "--sizes", "20K", *loop_args],
                            tmp_path / "rows.csv")
        try:
            workload.wait_done(5)
            os.killpg(cloud.process.pid, signal.SIGKILL)  # the server dies first; the device's Ctrl-C follows
            cloud.process.wait()
            time.sleep(0.1)
            workload.process.send_signal(signal.SIGINT)
            code = workload.process.wait(10)
        finally:
            workload.kill()
    assert code == 130
    rows = workload.rows()
    assert len(rows) >= 5 and all(r["status"] == "200" for r in rows)


def test_failures_without_a_stop_are_rows(tmp_path):
    workload = Workload(["--url", "http://127.0.0.1:9", "--model", "cloudcnn", "--sizes", "20K",
                         "--repetitions", "3"], tmp_path / "rows.csv")
    try:
        assert workload.process.wait(30) == 0
    finally:
        workload.kill()
    rows = workload.rows()
    assert len(rows) == 3 and all(r["status"] == "0" and r["error"] for r in rows)
    assert [p[0] for p in workload.progress] == [1, 2, 3]


def test_open_loop_streams_rows_as_they_complete(models_dir, tmp_path):
    """Rows reach the file while the open loop is still issuing, not at its end."""
    with NodeProcess("cloud", ["--models", str(models_dir), "--threads", "1"], log_dir=tmp_path / "cloud") as cloud:
        workload = Workload(["--url", cloud.url, "--model", "cloudcnn", "--sizes", "20K", "--repetitions", "60",
                             "--rate", "20"], tmp_path / "rows.csv")
        try:
            workload.wait_done(10)
            assert workload.process.poll() is None
            assert len(workload.rows()) >= 10  # already on disk, mid-run
            assert workload.process.wait(60) == 0
        finally:
            workload.kill()
    rows = workload.rows()
    assert len(rows) == 60 and all(r["status"] == "200" and r["pattern"] == "open" for r in rows)
    assert sorted(int(r["repetition"]) for r in rows) == list(range(60))


def test_open_loop_api_still_returns_rows_in_issue_order(models_dir, tmp_path):
    with NodeProcess("cloud", ["--models", str(models_dir), "--threads", "1"], log_dir=tmp_path / "cloud") as cloud:
        async def go():
            async with InferenceClient(ClientSettings(url=cloud.url, model="cloudcnn")) as client:
                return await open_loop(client, [(len(JPEG), JPEG)], rate_per_s=100, requests=8, seed=1)
        rows = asyncio.run(go())
    assert [r["request_id"] for r in rows] == [f"o-{len(JPEG)}-{i}" for i in range(8)]
    assert all(r["status"] == 200 and r["attempts"] == 1 for r in rows)


# --- arrival patterns and the device's name, end to end against a real server ------------------------------------
@pytest.fixture(scope="module")
def shared_cloud(models_dir, tmp_path_factory):
    with NodeProcess("cloud", ["--models", str(models_dir), "--threads", "1"],
                     log_dir=tmp_path_factory.mktemp("shared-cloud")) as node:
        yield node


def run_workload(cloud, tmp_path, *args) -> list[dict]:
    workload = Workload(["--url", cloud.url, "--model", "cloudcnn", "--sizes", "20K,60K",
                         "--images-dir", str(tmp_path / "images"), *args], tmp_path / "rows.csv")
    try:
        assert workload.process.wait(60) == 0, workload.process.stderr.read().decode()
    finally:
        workload.kill()
    rows = workload.rows()
    assert len(rows) == workload.progress[-1][0] and all(r["status"] == "200" for r in rows)
    return rows


def test_closed_loop_rows_name_the_device_and_wait_the_think_time(shared_cloud, tmp_path):
    rows = run_workload(shared_cloud, tmp_path, "--repetitions", "3", "--think-ms", "80", "--device", "ue7")
    assert len(rows) == 6 and {r["device"] for r in rows} == {"ue7"} and {r["pattern"] for r in rows} == {"closed"}
    assert float(rows[0]["schedule_lateness_ms"]) == 0 and rows[0]["scheduled_ns"] == rows[0]["send_start_ns"]
    for previous, row in zip(rows, rows[1:]):
        assert int(row["scheduled_ns"]) == int(previous["reply_complete_ns"]) + 80_000_000
        assert int(row["send_start_ns"]) >= int(row["scheduled_ns"]) and 0 <= float(row["schedule_lateness_ms"]) < 50
    assert all(r["queue_ms"] != "" and r["in_progress_at_arrival"] == "0" for r in rows)  # the server's, per row


def test_open_loop_from_an_arrival_file_follows_it(shared_cloud, tmp_path):
    times_s = [0.0, 0.05, 0.05, 0.3, 0.31, 0.7]
    (tmp_path / "arrivals.txt").write_text("# a device's trace\n" + "\n".join(f"{t}" for t in times_s) + "\n")
    rows = run_workload(shared_cloud, tmp_path, "--arrivals", str(tmp_path / "arrivals.txt"), "--tag", "ue2")
    rows.sort(key=lambda r: int(r["request_id"].rsplit("-", 1)[1]))
    assert len(rows) == 6 and {r["pattern"] for r in rows} == {"open"} and {r["device"] for r in rows} == {"ue1"}
    scheduled = np.array([int(r["scheduled_ns"]) for r in rows])
    assert np.array_equal(scheduled - scheduled[0], np.round(np.array(times_s) * 1e9).astype(np.int64))
    assert [r["size_bytes"] for r in rows] == ["20480", "61440"] * 3  # images in turn
    assert all(float(r["schedule_lateness_ms"]) >= 0 for r in rows)


def test_poisson_for_a_duration_and_the_deprecated_rate_spelling(shared_cloud, tmp_path):
    rows = run_workload(shared_cloud, tmp_path, "--rate-hz", "40", "--duration-s", "1", "--seed", "5")
    scheduled = sorted(int(r["scheduled_ns"]) for r in rows)
    assert 15 <= len(rows) <= 70 and scheduled[-1] - scheduled[0] < 1e9  # about 40 arrivals, all within 1 s
    again = run_workload(shared_cloud, tmp_path / "again", "--rate", "40", "--repetitions", "5", "--seed", "5")
    assert len(again) == 10 and {r["pattern"] for r in again} == {"open"}
