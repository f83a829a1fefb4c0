"""A device learns its server request by request (nodes.serving_target): the target file the harness rewrites at
a move is read before each send; two loopback servers show the switch and the rows that record it."""
from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest
from aiohttp import web

from nodes.client import ClientSettings
from nodes.errors import NodeConfigError
from nodes.jpeg_images import make_jpeg
from nodes.protocol import BINARY_CONTENT_TYPE, HEADER_LENGTH, Tensor, encode_infer_response, parse_infer_request
from nodes.serving_target import SwitchingClient, TargetFile, parse_target, write_target

JPEG = make_jpeg(8 * 1024, seed=1)


def test_a_target_file_is_one_url_model_line_written_whole(tmp_path):
    path = tmp_path / "ue1.target"
    write_target(path, "http://10.1.2.2:8000", "edgecnn1-3")
    assert path.read_text() == "http://10.1.2.2:8000 edgecnn1-3\n" and os.listdir(tmp_path) == ["ue1.target"]
    assert parse_target("http://a:1 m\n") == ("http://a:1", "m")
    assert parse_target("") is None and parse_target("http://a:1") is None and parse_target("a:1 m") is None
    with pytest.raises(NodeConfigError, match="http:// URL"):
        write_target(path, "10.1.2.2:8000", "m")


def test_the_target_changes_only_when_the_file_holds_a_good_line(tmp_path):
    path = tmp_path / "t"
    target = TargetFile(path, "http://a:1", "m1")
    assert target.now() == ("http://a:1", "m1")  # no file yet: the --url / --model
    write_target(path, "http://b:2", "m2")
    assert target.now() == ("http://b:2", "m2")
    path.write_text("half a li")
    assert target.now() == ("http://b:2", "m2")  # not a target line: the last good one stays
    write_target(path, "http://c:3", "m3")
    assert target.now() == ("http://c:3", "m3")
    assert TargetFile(None, "http://a:1", "m1").now() == ("http://a:1", "m1")


class Server:
    """A loopback inference server that answers every request and keeps (model, request id) of each."""

    def __init__(self, name: str):
        self.name, self.seen = name, []

    async def handle(self, request: web.Request) -> web.Response:
        infer = parse_infer_request(await request.read(), request.headers.get(HEADER_LENGTH))
        self.seen.append((request.match_info["model"], infer.request_id))
        outputs = [Tensor.from_array("probabilities", np.eye(10, dtype=np.float32)[[1]])]
        reply, json_length = encode_infer_response("m", infer, outputs, {"node": self.name})
        return web.Response(body=reply, headers={HEADER_LENGTH: str(json_length)}, content_type=BINARY_CONTENT_TYPE)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v2/models/{model}/infer", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}"


def test_requests_after_the_file_changed_go_to_the_new_server(tmp_path):
    path = tmp_path / "ue1.target"

    async def go():
        edge1, edge2 = Server("edge1"), Server("edge2")
        url1, url2 = await edge1.start(), await edge2.start()
        rows = []
        try:
            async with SwitchingClient(ClientSettings(url=url1, model="edgecnn"), TargetFile(path, url1, "edgecnn")) \
                    as client:
                rows.append(await client.infer_image(JPEG, "r1"))
                write_target(path, url2, "cloudcnn")  # what the harness does at the end of a handover
                rows.append(await client.infer_image(JPEG, "r2"))
                rows.append(await client.infer_image(JPEG, "r3"))
        finally:
            await edge1.runner.cleanup()
            await edge2.runner.cleanup()
        return edge1, edge2, url1, url2, rows

    edge1, edge2, url1, url2, rows = asyncio.run(go())
    assert edge1.seen == [("edgecnn", "r1")] and edge2.seen == [("cloudcnn", "r2"), ("cloudcnn", "r3")]
    assert [r["status"] for r in rows] == [200] * 3 and [r["node"] for r in rows] == ["edge1", "edge2", "edge2"]
    assert [r["server_url"] for r in rows] == [url1, url2, url2]
    assert [r["server_switch"] for r in rows] == ["", "yes", ""]  # the first request to the new server
