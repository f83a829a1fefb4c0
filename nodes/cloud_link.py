"""The edge's HTTP client to the cloud: artifact index and downloads, forwarded inference, labelling.

Every call has an explicit timeout and is tried ``1 + retries`` times when the cloud
does not answer (connection refused or reset, timeout) or answers 502/503/504; then a
failure raises ``UpstreamError`` (network) or ``ArtifactError`` (a download that fails
its size / sha256 check, never retried).
"""
from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from nodes.artifacts import ArtifactEntry, FetchRecord, verify
from nodes.errors import ArtifactError, ProtocolError, UpstreamError
from nodes.protocol import BINARY_CONTENT_TYPE, HEADER_LENGTH, Tensor, encode_infer_request, parse_infer_response

RETRY_STATUSES = (502, 503, 504)


class CloudLink:
    def __init__(self, cloud_url: str, *, connect_timeout_s: float = 5.0, request_timeout_s: float = 30.0,
                 download_timeout_s: float = 300.0, retries: int = 0, retry_backoff_s: float = 0.2):
        self.cloud_url = cloud_url.rstrip("/")
        self.retries, self.retry_backoff_s = retries, retry_backoff_s
        self.retried = 0  # attempts repeated so far (reported in the edge's status)
        self.timeout = aiohttp.ClientTimeout(total=request_timeout_s, connect=connect_timeout_s)
        self.download_timeout = aiohttp.ClientTimeout(total=download_timeout_s, connect=connect_timeout_s)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _retrying(self, attempt):
        """``await attempt()`` up to 1 + retries times while it raises UpstreamError."""
        backoff_s = self.retry_backoff_s
        for number in range(self.retries + 1):
            try:
                return await attempt()
            except UpstreamError:
                if number == self.retries:
                    raise
                self.retried += 1
                await asyncio.sleep(backoff_s)
                backoff_s *= 2

    async def _get(self, path: str, timeout: aiohttp.ClientTimeout) -> tuple[int, bytes, dict]:
        async def once():
            status, body, headers = await self._get_once(path, timeout)
            if status in RETRY_STATUSES:
                raise UpstreamError(f"cloud {self.cloud_url}{path} answered {status}: {body[:200]!r}")
            return status, body, headers
        return await self._retrying(once)

    async def _get_once(self, path: str, timeout: aiohttp.ClientTimeout) -> tuple[int, bytes, dict]:
        url = self.cloud_url + path
        try:
            async with self.session.get(url, timeout=timeout) as response:
                return response.status, await response.read(), dict(response.headers)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise UpstreamError(f"cloud {url} unreachable: {type(exc).__name__}: {exc}") from None

    async def artifact_index(self) -> dict[str, ArtifactEntry]:
        status, body, _ = await self._get("/v2/artifacts", self.timeout)
        if status != 200:
            raise UpstreamError(f"cloud {self.cloud_url}/v2/artifacts answered {status}: {body[:200]!r}")
        try:
            entries = json.loads(body)["artifacts"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ArtifactError(f"cloud artifact index is not {{'artifacts': [...]}}: {exc}") from None
        return {e.name: e for e in (ArtifactEntry.from_index(x) for x in entries)}

    async def fetch_artifact(self, entry: ArtifactEntry) -> tuple[bytes, FetchRecord]:
        """Download one ONNX file and verify it; ArtifactError if it fails the check (nothing is kept)."""
        start_ns = time.monotonic_ns()
        status, body, headers = await self._get(f"/v2/artifacts/{entry.name}", self.download_timeout)
        end_ns = time.monotonic_ns()
        if status != 200:
            raise UpstreamError(f"cloud artifact {entry.name} answered {status}: {body[:200]!r}")
        verify(entry, body, f"{self.cloud_url}/v2/artifacts/{entry.name}")
        return body, FetchRecord(entry.name, len(body), start_ns, end_ns, verified=True)

    async def infer(self, model: str, tensor: Tensor, request_id: str | None) -> tuple[list[Tensor], dict]:
        """Forward one tensor; returns the cloud's outputs and the leg's timestamps (prefixed cloud_)."""
        return await self._retrying(lambda: self._infer_once(model, tensor, request_id))

    async def _infer_once(self, model: str, tensor: Tensor, request_id: str | None) -> tuple[list[Tensor], dict]:
        body, json_length = encode_infer_request([tensor], request_id=request_id)
        headers = {"Content-Type": BINARY_CONTENT_TYPE}
        if json_length is not None:
            headers[HEADER_LENGTH] = str(json_length)
        url = f"{self.cloud_url}/v2/models/{model}/infer"
        stamps = {"cloud_request_start_ns": time.monotonic_ns(), "cloud_request_bytes": len(body)}
        try:
            async with self.session.post(url, data=body, headers=headers, timeout=self.timeout) as response:
                reply = await response.read()
                stamps["cloud_reply_complete_ns"] = time.monotonic_ns()
                status, reply_header_length = response.status, response.headers.get(HEADER_LENGTH)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise UpstreamError(f"cloud {url} unreachable: {type(exc).__name__}: {exc}") from None
        if status != 200:
            raise UpstreamError(f"cloud {url} answered {status}: {reply[:300].decode('utf-8', 'replace')}")
        try:
            parsed = parse_infer_response(reply, reply_header_length)
        except ProtocolError as exc:
            raise UpstreamError(f"cloud {url} sent a malformed reply: {exc}") from None
        for key in ("upload_complete_ns", "preprocess_start_ns", "preprocess_end_ns",
                    "inference_start_ns", "inference_end_ns", "provider"):
            if key in parsed.parameters:
                stamps[f"cloud_{key}"] = parsed.parameters[key]
        stamps["cloud_reply_bytes"] = len(reply)
        return list(parsed.outputs.values()), stamps

    async def model_inputs(self, model: str) -> list[dict]:
        status, body, _ = await self._get(f"/v2/models/{model}", self.timeout)
        if status != 200:
            raise UpstreamError(f"cloud model {model} metadata answered {status}: {body[:200]!r}")
        return json.loads(body)["inputs"]

    async def label(self, images: list[bytes]) -> list[int]:
        return await self._retrying(lambda: self._label_once(images))

    async def _label_once(self, images: list[bytes]) -> list[int]:
        body, json_length = encode_infer_request([Tensor.from_bytes_list("image", images)])
        headers = {"Content-Type": BINARY_CONTENT_TYPE, HEADER_LENGTH: str(json_length)}
        url = f"{self.cloud_url}/v2/label"
        try:
            async with self.session.post(url, data=body, headers=headers, timeout=self.download_timeout) as response:
                reply = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as exc:
            raise UpstreamError(f"cloud {url} failed: {type(exc).__name__}: {exc}") from None
        if status != 200:
            raise UpstreamError(f"cloud {url} answered {status}: {reply}")
        return [int(x) for x in reply["labels"]]
