"""Edge and cloud servers as real processes on 127.0.0.1: round trips, model exchange, hot swap, robustness."""
from __future__ import annotations

import asyncio
import csv
import http.client
import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import psutil
import pytest

from nodes.artifacts import ArtifactEntry, sha256_hex
from nodes.client import ClientSettings, InferenceClient, attach_reply_sent, closed_loop, on_schedule, open_loop
from nodes.edge import EdgeServer
from nodes.errors import ArtifactError
from nodes.jpeg_images import make_jpeg
from nodes.launch import NodeProcess
from nodes.protocol import HEADER_LENGTH, Tensor, encode_infer_request, parse_infer_response
from nodes.server_limits import ServerLimits
from nodes.synthetic_models import write_model_set

REPO = Path(__file__).resolve().parent.parent
JPEG_60K = make_jpeg(60 * 1024, seed=5)
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def no_leftover_nodes():
    """The node processes this test started are gone when it ends (the machine's other users are not ours)."""
    def nodes():
        return {p for p in psutil.Process().children(recursive=True) if "nodes." in " ".join(p.cmdline())}
    before = nodes()  # the module's shared servers
    yield
    left = nodes() - before
    assert not left, f"node processes left running: {[(p.pid, p.cmdline()) for p in left]}"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    write_model_set(folder)
    return folder


@pytest.fixture(scope="module")
def cloud(models_dir, tmp_path_factory):
    with NodeProcess("cloud", ["--models", str(models_dir), "--threads", "1"],
                     log_dir=tmp_path_factory.mktemp("cloud")) as node:
        yield node


@pytest.fixture(scope="module")
def edge(cloud, tmp_path_factory):
    with NodeProcess("edge", ["--cloud", cloud.url, "--placements", "edge,features,split", "--threads", "1",
                              "--keep-objects", "50"], log_dir=tmp_path_factory.mktemp("edge")) as node:
        yield node


def request(url: str, method: str = "GET", path: str = "/", body: bytes | None = None, headers=None,
            timeout_s: float = 30.0) -> tuple[int, bytes, dict]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


def infer(url: str, model: str, tensors, request_id: str = "t") -> tuple[int, object]:
    body, json_length = encode_infer_request(tensors, request_id=request_id)
    status, reply, headers = request(url, "POST", f"/v2/models/{model}/infer", body, {HEADER_LENGTH: str(json_length)})
    if status != 200:
        return status, json.loads(reply)
    return status, parse_infer_response(reply, headers.get(HEADER_LENGTH))


def image(jpeg: bytes = JPEG_60K):
    return [Tensor.from_bytes_list("image", [jpeg])]


def run_client(url: str, model: str, images, requests: int = 2) -> list[dict]:
    async def go():
        async with InferenceClient(ClientSettings(url=url, model=model, timeout_s=60)) as client:
            before = await client.server_last_seq()
            rows = await closed_loop(client, images, requests, run_id=f"{model}-{time.monotonic_ns()}")
            attach_reply_sent(rows, await client.server_timings(before))
            return rows
    return asyncio.run(go())


STAMP_ORDER = ("send_start_ns", "request_received_ns", "upload_complete_ns", "preprocess_start_ns",
               "preprocess_end_ns", "inference_start_ns", "inference_end_ns")
CLOUD_ORDER = ("inference_end_ns", "cloud_request_start_ns", "cloud_upload_complete_ns", "cloud_inference_start_ns",
               "cloud_inference_end_ns", "cloud_reply_complete_ns")


@pytest.mark.parametrize("model, served_by", [
    ("edgecnn", "edgecnn1-3"), ("edgecnn1-3", "edgecnn1-3"), ("features-pca", "pca-encoder+pca-classifier"),
    ("features-ae", "ae-encoder+ae-classifier"), ("split-3", "cloudcnn-lower-3+cloudcnn-upper-3")])
def test_edge_round_trip_with_ordered_timestamps(edge, model, served_by):
    rows = run_client(edge.url, model, [(len(JPEG_60K), JPEG_60K)], requests=2)
    for row in rows:
        assert row["status"] == 200, row["error"]
        assert row["served_by_model"] == served_by and row["node"] == "edge"
        assert row["provider"] == "CPUExecutionProvider"
        stamps = [row[k] for k in STAMP_ORDER] + [row["reply_start_ns"], row["reply_complete_ns"]]
        assert stamps == sorted(stamps), dict(zip(STAMP_ORDER, stamps))
        assert row["reply_start_ns"] <= row["reply_sent_ns"]
        assert row["in_progress_at_arrival"] == 0  # one request at a time: nothing ahead of it
        assert row["queue_ms"] == round((row["preprocess_start_ns"] - row["upload_complete_ns"]) / 1e6, 3) >= 0
        if model.startswith(("features", "split")):
            leg = [row[k] for k in CLOUD_ORDER] + [row["reply_start_ns"]]
            assert leg == sorted(leg)
        assert 0 <= row["label"] < 10


def test_cloud_serves_images_and_tensors(cloud):
    rows = run_client(cloud.url, "cloudcnn", [(len(JPEG_60K), JPEG_60K)], requests=1)
    assert rows[0]["status"] == 200 and rows[0]["node"] == "cloud"
    status, reply = infer(cloud.url, "cloudcnn-upper-3", [Tensor.from_array("upper_input",
                                                                            np.zeros((2, 8, 32, 32), np.float32))])
    assert status == 200 and reply.outputs["probabilities"].shape == (2, 10)
    status, reply = infer(cloud.url, "pca-classifier", [Tensor.from_array("features", np.ones((1, 16), np.float32))])
    assert status == 200 and abs(float(reply.outputs["probabilities"].data.sum()) - 1.0) < 1e-5
    status, reply = infer(cloud.url, "cloudcnn", [Tensor.from_bytes_list("image", [JPEG_60K, JPEG_60K])])
    assert status == 200 and reply.outputs["probabilities"].shape == (2, 10)


def test_a_tensor_request_queues_until_its_inference_and_errors_keep_their_queueing(cloud):
    status, reply = infer(cloud.url, "pca-classifier", [Tensor.from_array("features", np.ones((1, 16), np.float32))],
                          request_id="q-tensor")
    params = reply.parameters
    assert status == 200 and params["received_ns"] == params["upload_complete_ns"]
    assert "preprocess_start_ns" not in params  # a tensor: nothing to decode
    assert params["queue_ms"] == round((params["inference_start_ns"] - params["received_ns"]) / 1e6, 3) >= 0
    assert infer(cloud.url, "cloudcnn", image(b"\xff\xd8 not a jpeg"), request_id="q-bad")[0] == 400
    assert infer(cloud.url, "no-such-model", image(), request_id="q-404")[0] == 404
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [json.loads(x) for x in (cloud.log_dir / "timings.jsonl").read_text().splitlines()]
        records = {r.get("request_id"): r for r in lines}
        if "q-bad" in records and any(r["status"] == 404 for r in lines):  # a record follows its reply
            break
        time.sleep(0.05)
    assert records["q-tensor"]["queue_ms"] == params["queue_ms"] and records["q-tensor"]["in_progress_at_arrival"] == 0
    bad = records["q-bad"]  # its decode began, then failed: it still shows how long it waited
    assert bad["status"] == 400 and bad["queue_ms"] == round((bad["preprocess_start_ns"] - bad["received_ns"]) / 1e6, 3)
    refused = [r for r in lines if r["status"] == 404]  # refused before its body was read: no arrival
    assert refused and all("received_ns" not in r and "queue_ms" not in r for r in refused)


def test_one_worker_queues_concurrent_requests_and_stamps_the_wait(models_dir, tmp_path, no_leftover_nodes):
    jpeg = make_jpeg(512 * 1024, seed=6)  # ~20 ms to decode here: a backlog of k waits about k decodes
    with NodeProcess("cloud", ["--models", str(models_dir), "--threads", "1", "--workers", "1"],
                     log_dir=tmp_path) as node:
        async def go():
            async with InferenceClient(ClientSettings(url=node.url, model="cloudcnn", timeout_s=60)) as client:
                alone = await closed_loop(client, [(len(jpeg), jpeg)], 5, run_id="alone")
                together = await on_schedule(client, [(len(jpeg), jpeg)], np.zeros(8, np.int64), run_id="together")
                return alone, together
        alone, together = asyncio.run(go())
    assert all(r["status"] == 200 for r in alone + together)
    assert all(r["in_progress_at_arrival"] == 0 for r in alone)
    assert np.median([r["queue_ms"] for r in alone]) < 10  # unloaded: the worker is free at once
    by_backlog = sorted(together, key=lambda r: r["in_progress_at_arrival"])
    backlog = [r["in_progress_at_arrival"] for r in by_backlog]
    queue = [r["queue_ms"] for r in by_backlog]
    assert backlog[0] == 0 and backlog[-1] >= 4, backlog  # they arrived while others were still in progress
    assert queue[-1] > 40 and queue[-1] > 3 * max(queue[0], 5), (backlog, queue)  # waited behind them
    assert np.corrcoef(backlog, queue)[0, 1] > 0.7, (backlog, queue)  # growing with the backlog
    records = {r["request_id"]: r for r in map(json.loads, (tmp_path / "timings.jsonl").read_text().splitlines())}
    for row in together:
        record = records[row["request_id"]]
        assert record["received_ns"] == record["upload_complete_ns"] == row["upload_complete_ns"]
        assert (record["queue_ms"], record["in_progress_at_arrival"]) == (row["queue_ms"],
                                                                         row["in_progress_at_arrival"])


@pytest.mark.parametrize("node_name", ["cloud", "edge"])
def test_tritonclient_calls_both_servers(node_name, request):
    import tritonclient.http as triton
    node = request.getfixturevalue(node_name)
    client = triton.InferenceServerClient(urlsplit(node.url).netloc)
    try:
        model = "cloudcnn" if node_name == "cloud" else "edgecnn"
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready(model)
        assert client.get_model_metadata(model)["inputs"][0]["datatype"] == "BYTES"
        tensor = triton.InferInput("image", [1], "BYTES")
        tensor.set_data_from_numpy(np.array([JPEG_60K], dtype=object), binary_data=True)
        for binary in (True, False):
            result = client.infer(model, [tensor], request_id="tc",
                                  outputs=[triton.InferRequestedOutput("probabilities", binary_data=binary)])
            assert result.as_numpy("probabilities").shape == (1, 10)
            assert result.get_response()["parameters"]["node"] == node_name
        with pytest.raises(triton.InferenceServerException, match="not served"):
            client.infer("no-such-model", [tensor])
    finally:
        client.close()


def test_error_paths_answer_4xx_and_keep_serving(edge, cloud):
    status, reply = infer(edge.url, "nope", image())
    assert status == 404 and "served models" in reply["error"]
    status, reply = infer(edge.url, "edgecnn", [Tensor.from_bytes_list("picture", [JPEG_60K])])
    assert status == 400 and "'image'" in reply["error"]
    status, reply = infer(edge.url, "edgecnn", [Tensor.from_array("image", np.zeros((1, 3), np.float32))])
    assert status == 400 and "BYTES" in reply["error"]
    status, reply = infer(edge.url, "edgecnn", image(b"\xff\xd8 this is not a jpeg"))
    assert status == 400 and "cannot be decoded" in reply["error"]
    status, reply = infer(cloud.url, "cloudcnn-upper-3", [Tensor.from_array("upper_input",
                                                                            np.zeros((1, 8, 16, 16), np.float32))])
    assert status == 400 and "shape" in reply["error"]
    status, reply = infer(cloud.url, "pca-classifier", [Tensor.from_array("features", np.ones((1, 16), np.float64))])
    assert status == 400 and "FP32" in reply["error"]
    status, body, _ = request(edge.url, "POST", "/v2/models/edgecnn/infer", b"{broken", {})
    assert status == 400 and "JSON" in json.loads(body)["error"]
    status, body, _ = request(edge.url, "GET", "/v2/nothing-here")
    assert status == 404 and "error" in json.loads(body)
    assert infer(edge.url, "edgecnn", image())[0] == 200


def test_artifacts_are_served_by_manifest_name_only(cloud, models_dir):
    status, body, _ = request(cloud.url, path="/v2/artifacts")
    index = {e["name"]: e for e in json.loads(body)["artifacts"]}
    assert status == 200 and index["cloudcnn-lower-3"]["role"] == "lower"
    status, data, headers = request(cloud.url, path="/v2/artifacts/edgecnn1-5")
    assert status == 200 and sha256_hex(data) == index["edgecnn1-5"]["sha256"] == headers["X-Artifact-Sha256"]
    for bad in ("/v2/artifacts/manifest.json", "/v2/artifacts/..%2Fmanifest.json", "/v2/artifacts/edgecnn1-5.onnx"):
        status, body, _ = request(cloud.url, path=bad)
        assert status == 404, bad


def test_edge_download_was_timed_and_verified(edge):
    status, body, _ = request(edge.url, path="/v2/admin/status")
    fetches = {f["name"]: f for f in json.loads(body)["fetches"]}
    assert {"edgecnn1-3", "pca-encoder", "ae-encoder", "cloudcnn-lower-3"} <= set(fetches)
    assert all(f["verified"] and f["duration_ms"] > 0 for f in fetches.values())
    lines = (edge.log_dir / "fetches.jsonl").read_text().splitlines()
    assert len(lines) >= 4 and all(json.loads(line)["verified"] for line in lines)


def swap(edge_url: str, model: str) -> tuple[int, dict]:
    status, body, _ = request(edge_url, "POST", "/v2/admin/swap", json.dumps({"model": model}).encode(),
                              {"Content-Type": "application/json"})
    return status, json.loads(body)


def test_hot_swap_under_load_drops_nothing(edge):
    rows, stop = [], threading.Event()

    def load(worker: int):
        async def go():
            async with InferenceClient(ClientSettings(url=edge.url, model="edgecnn", timeout_s=60)) as client:
                index = 0
                while not stop.is_set():
                    rows.append(await client.infer_image(JPEG_60K, f"swap-{worker}-{index}"))
                    index += 1
        asyncio.run(go())

    workers = [threading.Thread(target=load, args=(i,)) for i in range(4)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(0.3)
        for model in ("edgecnn1-5", "edgecnn1-3", "edgecnn1-5", "edgecnn1-3"):
            status, reply = swap(edge.url, model)
            assert status == 200 and reply["model"] == model, reply
            time.sleep(0.3)
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)
    assert len(rows) > 20
    assert [r for r in rows if r["status"] != 200] == []
    assert {r["served_by_model"] for r in rows} == {"edgecnn1-3", "edgecnn1-5"}


def test_corrupted_or_truncated_model_is_refused_and_old_keeps_serving(edge, models_dir):
    path = models_dir / "edgecnn1-5.onnx"
    original = path.read_bytes()
    try:
        for damaged in (original[:-10], original[:100] + bytes([original[100] ^ 0xFF]) + original[101:]):
            path.write_bytes(damaged)
            status, reply = swap(edge.url, "edgecnn1-5")
            assert status == 422 and "refused" in reply["error"] and reply["serving"] == "edgecnn1-3", reply
            status, result = infer(edge.url, "edgecnn", image())
            assert status == 200 and result.parameters["model"] == "edgecnn1-3"
    finally:
        path.write_bytes(original)
    status, reply = swap(edge.url, "no-such-model")
    assert status == 404 and "has no model" in reply["error"]
    lines = [json.loads(x) for x in (edge.log_dir / "fetches.jsonl").read_text().splitlines()]
    assert any(not f["verified"] and "refused" in f["error"] for f in lines)


def test_python_swap_refuses_bad_bytes(tmp_path, models_dir):
    good = (models_dir / "edgecnn1-5.onnx").read_bytes()
    entry = ArtifactEntry("edgecnn1-5", "edgecnn1-5.onnx", sha256_hex(good), len(good), "full")
    server = EdgeServer("http://127.0.0.1:9", tmp_path)

    async def go():
        with pytest.raises(ArtifactError, match="sha256"):
            await server.swap_model("edgecnn1-5", data=good[:-1] + b"\x00", entry=entry)
        junk = b"not an onnx model at all" * 10
        junk_entry = ArtifactEntry("edgecnn1-5", "edgecnn1-5.onnx", sha256_hex(junk), len(junk), "full")
        with pytest.raises(ArtifactError, match="not loadable"):
            await server.swap_model("edgecnn1-5", data=junk, entry=junk_entry)
        result = await server.swap_model("edgecnn1-5", data=good, entry=entry)
        assert result["model"] == "edgecnn1-5" and server.current.model_name == "edgecnn1-5"
        await server.close()
    asyncio.run(go())


def test_kept_objects_are_labelled_by_the_cloud(edge):
    assert infer(edge.url, "edgecnn", image())[0] == 200
    deadline = time.monotonic() + 10
    while not list((edge.log_dir / "objects").glob("*.jpg")) and time.monotonic() < deadline:
        time.sleep(0.05)
    status, body, _ = request(edge.url, "POST", "/v2/admin/label", b'{"max_objects": 8}')
    result = json.loads(body)
    assert status == 200 and result["labelled"] >= 1, result
    labels = json.loads((edge.log_dir / "objects" / "labels.json").read_text())
    assert labels and all(0 <= v < 10 for v in labels.values())
    assert len(list((edge.log_dir / "objects").glob("*.jpg"))) <= 50


def test_edge_started_with_defaults_keeps_hashes_and_writes_nothing(cloud, tmp_path, no_leftover_nodes):
    """compare's edge (no --keep-objects) must do per request what the cloud does: no copies of the uploads."""
    with NodeProcess("edge", ["--cloud", cloud.url, "--threads", "1"], log_dir=tmp_path / "edge") as node:
        for index in range(4):
            assert infer(node.url, "edgecnn", image(), request_id=f"k{index}")[0] == 200
        status, body, _ = request(node.url, path="/v2/admin/status")
        assert status == 200 and json.loads(body)["kept_objects"] == 0 and json.loads(body)["kept_bytes"] == 0
        status, body, _ = request(node.url, "POST", "/v2/admin/label", b'{"max_objects": 8}')
        assert status == 200 and json.loads(body)["labelled"] == 0
        assert node.stop() == 0
    assert not (tmp_path / "edge" / "objects").exists()
    assert not [p for p in (tmp_path / "edge").rglob("*") if p.suffix in (".jpg", ".tmp")]


def test_edge_with_defaults_schedules_no_work_after_a_reply(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from nodes.object_store import ObjectStore
    from nodes.served_models import ImageModel

    kept = []
    monkeypatch.setattr(ObjectStore, "keep", lambda self, data: kept.append(data))
    server = EdgeServer("http://127.0.0.1:9", tmp_path)

    async def go():
        request_ = SimpleNamespace(inputs=[SimpleNamespace(data=(JPEG_60K,))])
        await server.after_reply("edgecnn", object.__new__(ImageModel), request_)
        assert not server._keeping
        await server.close()
    asyncio.run(go())
    assert kept == [] and not (tmp_path / "objects").exists()


def test_client_cli_writes_rows_with_reply_sent(edge, tmp_path):
    out = tmp_path / "rows.csv"
    for extra in ([], ["--rate", "20"]):
        done = subprocess.run([sys.executable, "-m", "nodes.client", "--url", edge.url, "--sizes", "60K,124K",
                               "--requests", "3", "--seed", "4", "--out", str(out), *extra],
                              capture_output=True, text=True, timeout=120, cwd=REPO)
        assert done.returncode == 0, done.stderr
        rows = list(csv.DictReader(out.open()))
        assert len(rows) == 6 and {r["size_bytes"] for r in rows} == {"61440", "126976"}
        assert all(r["status"] == "200" and int(r["reply_start_ns"]) <= int(r["reply_complete_ns"])
                   and int(r["reply_sent_ns"]) > 0 for r in rows)
        assert rows[0]["pattern"] == ("open" if extra else "closed")


def test_open_loop_follows_a_seeded_poisson_schedule(edge):
    async def go(seed):
        async with InferenceClient(ClientSettings(url=edge.url)) as client:
            return await open_loop(client, [(len(JPEG_60K), JPEG_60K)], rate_per_s=50, requests=10, seed=seed)
    first, again = asyncio.run(go(3)), asyncio.run(go(3))
    gaps = lambda rows: np.diff([r["scheduled_ns"] for r in rows])  # noqa: E731
    assert all(r["status"] == 200 for r in first)
    assert np.allclose(gaps(first), gaps(again), atol=2e6)  # same schedule, up to event-loop jitter
    assert all(r["send_start_ns"] >= r["scheduled_ns"] for r in first)


# --- robustness: a cloud with small limits --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def guarded(models_dir, tmp_path_factory):
    with NodeProcess("cloud", ["--models", str(models_dir), "--threads", "1", "--max-connections", "8",
                               "--header-timeout-s", "1", "--body-timeout-s", "1", "--max-request-bytes", "1000000"],
                     log_dir=tmp_path_factory.mktemp("guarded")) as node:
        yield node


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_request_and_header_size_limits(guarded):
    status, body, _ = request(guarded.url, "POST", "/v2/models/cloudcnn/infer", b"x" * 1_500_000)
    assert status == 413 and "limit" in json.loads(body)["error"]
    status, _, _ = request(guarded.url, path="/v2/health/ready", headers={"X-Big": "y" * 20_000})
    assert status in (400, 431)
    many = {f"X-H{i}": "1" for i in range(ServerLimits.max_headers + 10)}  # under aiohttp's own default of 128:
    status, _, _ = request(guarded.url, path="/v2/health/ready", headers=many)  # our limit reached aiohttp
    assert status in (400, 431)
    status, _, _ = request(guarded.url, path="/v2/health/ready", headers=dict(list(many.items())[:20]))
    assert status == 200
    status, _, _ = request(guarded.url, path="/v2/health/ready?" + "q" * 9000)  # the request line
    assert status in (400, 414)
    assert infer(guarded.url, "cloudcnn", image())[0] == 200


def test_slowloris_is_cut_off_and_others_are_served(guarded):
    slow = _connect(guarded.url)
    try:
        slow.sendall(b"POST /v2/models/cloudcnn/infer HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        for _ in range(3):
            assert infer(guarded.url, "cloudcnn", image())[0] == 200
        for _ in range(4):  # keep dripping header bytes: the deadline counts from the first byte
            time.sleep(0.2)
            try:
                slow.sendall(b"X-Drip: 1\r\n")
            except OSError:
                break
        reply = _read_all(slow)
        assert b"408" in reply.split(b"\r\n", 1)[0] or reply == b""
        assert time.monotonic() - started < 5
    finally:
        slow.close()


def test_slow_body_gets_408(guarded):
    sock = _connect(guarded.url)
    try:
        sock.sendall(b"POST /v2/models/cloudcnn/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{")
        reply = _read_all(sock)
        assert reply.startswith(b"HTTP/1.1 408") and b"not received within" in reply
    finally:
        sock.close()


def test_the_guard_uses_no_private_aiohttp_interface():
    source = (REPO / "nodes" / "server_limits.py").read_text() + (REPO / "nodes" / "http_server.py").read_text()
    imports = set(re.findall(r"(?:from|import) aiohttp[\w.]*", source))
    assert imports == {"from aiohttp"} and "RequestHandler" not in source, imports  # only aiohttp.web's names


def test_connection_limit_answers_503(guarded):
    held = [_connect(guarded.url) for _ in range(8)]
    try:
        time.sleep(0.2)
        extra = _connect(guarded.url)
        reply = _read_all(extra)
        extra.close()
        assert reply.startswith(b"HTTP/1.1 503") and b"too many connections" in reply
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if infer(guarded.url, "cloudcnn", image())[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    else:
        pytest.fail("the server did not recover after the held connections closed")


# --- lifecycle ------------------------------------------------------------------------------------------------------
def test_edge_keeps_serving_when_the_cloud_is_gone_and_stops_cleanly(models_dir, tmp_path, no_leftover_nodes):
    with NodeProcess("cloud", ["--models", str(models_dir), "--threads", "1"], log_dir=tmp_path / "cloud") as cloud_node:
        with NodeProcess("edge", ["--cloud", cloud_node.url, "--placements", "edge,features", "--threads", "1",
                                  "--cloud-timeout-s", "3"], log_dir=tmp_path / "edge") as edge_node:
            assert infer(edge_node.url, "features-pca", image())[0] == 200
            assert cloud_node.stop() == 0
            status, result = infer(edge_node.url, "edgecnn", image())
            assert status == 200 and result.parameters["model"] == "edgecnn1-3"
            status, reply = infer(edge_node.url, "features-pca", image())
            assert status == 502 and "unreachable" in reply["error"]
            status, reply = swap(edge_node.url, "edgecnn1-5")
            assert status == 502 and reply["serving"] == "edgecnn1-3"
            assert infer(edge_node.url, "edgecnn", image())[0] == 200
            assert edge_node.stop() == 0
    for folder in (tmp_path / "cloud", tmp_path / "edge"):
        assert "stopped" in (folder / "node.log").read_text()
        for line in (folder / "timings.jsonl").read_text().splitlines():
            json.loads(line)  # whole lines only


def test_edge_without_cloud_fails_with_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-m", "nodes.edge", "--port", "0", "--cloud", "http://127.0.0.1:9",
                           "--log-dir", str(tmp_path), "--fetch-timeout-s", "1"],
                          capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: no model index from the cloud within 1.0 s")


@pytest.mark.parametrize("args, message", [
    (["-m", "nodes.cloud", "--models", "/nonexistent-dir"], "manifest.json does not exist"),
    (["-m", "nodes.edge", "--cloud", "http://127.0.0.1:9", "--placements", "edge,moon"], "placements"),
    (["-m", "nodes.cloud", "--models", ".", "--port", "70000"], "--port 70000"),
    (["-m", "nodes.client", "--url", "http://127.0.0.1:9", "--sizes", "60X"], "image size '60X'"),
    (["-m", "nodes.collab_edge", "--cloud", "http://127.0.0.1:9", "--labelled-set", "x.npz", "--keep-objects", "0"],
     "--keep-objects 0"),
])
def test_cli_bad_input_is_one_line(tmp_path, args, message):
    done = subprocess.run([sys.executable, *args, "--log-dir", str(tmp_path)] if "client" not in args[1]
                          else [sys.executable, *args], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cloud_with_a_manifest_that_is_not_json_says_which_file_in_one_line(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "manifest.json").write_text('{"models": {"cloudcnn": ')
    done = subprocess.run([sys.executable, "-m", "nodes.cloud", "--models", str(tmp_path / "models"),
                           "--log-dir", str(tmp_path / "log")], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert str(tmp_path / "models" / "manifest.json") in done.stderr and "models build --force" in done.stderr


def test_sigterm_lets_the_in_flight_request_finish(models_dir, tmp_path, no_leftover_nodes):
    body, json_length = encode_infer_request(image(), request_id="inflight")
    with NodeProcess("cloud", ["--models", str(models_dir), "--threads", "1"], log_dir=tmp_path) as node:
        sock = _connect(node.url)
        try:
            sock.sendall(f"POST /v2/models/cloudcnn/infer HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                         f"{HEADER_LENGTH}: {json_length}\r\n\r\n".encode() + body[:1000])
            time.sleep(0.3)
            node.process.send_signal(subprocess.signal.SIGTERM)
            time.sleep(0.5)
            assert node.process.poll() is None  # still finishing the request
            sock.sendall(body[1000:])
            reply = _read_all(sock)
        finally:
            sock.close()
        assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
        assert node.process.wait(20) == 0
        with pytest.raises(OSError):
            _connect(node.url).close()
        assert not node.ready_file.exists()
    records = [json.loads(x) for x in (tmp_path / "timings.jsonl").read_text().splitlines()]
    assert [r["request_id"] for r in records] == ["inflight"] and records[0]["status"] == 200


def test_silent_connection_is_closed_after_the_header_deadline(guarded):
    sock = _connect(guarded.url)
    try:
        started = time.monotonic()
        reply = _read_all(sock)
        assert reply.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 5
    finally:
        sock.close()
