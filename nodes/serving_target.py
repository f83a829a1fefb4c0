"""Which server a device calls, request by request: a target file that the harness rewrites when the device moves.

The file holds one line, ``URL MODEL`` (``http://10.1.2.2:8000 edgecnn1-3``). A workload given
``--target-file FILE`` reads it before every request (one ``stat``; the line is read again only when the file
changed), so a request sent after the harness rewrote the file goes to the new server; requests in flight keep
theirs. The harness writes it with :func:`write_target` (a new file renamed over the old: a reader sees the old
line or the new one, never half a line). A file that is missing or does not hold ``URL MODEL`` leaves the last
good target in use (the workload's ``--url`` / ``--model`` at first).

Every row of a :class:`SwitchingClient` names the server it was sent to (``server_url``) and marks with
``server_switch = "yes"`` the first request sent to a server other than the previous request's: the one that
opens a new connection (and, at an edge that had not served this device, meets whatever it has not warmed).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from nodes.client import ClientSettings, InferenceClient
from nodes.errors import NodeConfigError

TARGET_FIELDS = ("server_url", "server_switch")


def write_target(path: Path, url: str, model: str) -> None:
    """Atomically replace ``path`` with the line ``URL MODEL``."""
    if not url.startswith(("http://", "https://")) or not model or any(c.isspace() for c in url + model):
        raise NodeConfigError(f"target {url!r} {model!r}: need an http:// URL and a model name, no spaces")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(f"{url} {model}\n", encoding="utf-8")
    os.replace(tmp, path)


def parse_target(text: str) -> tuple[str, str] | None:
    """``(url, model)`` of a target file's text, or None when it is not one ``URL MODEL`` line."""
    parts = text.split()
    if len(parts) != 2 or not parts[0].startswith(("http://", "https://")):
        return None
    return parts[0], parts[1]


class TargetFile:
    """The target a device uses now: ``(url, model)`` from ``path``, re-read only when the file changed (``path``
    None: always ``(url, model)``)."""

    def __init__(self, path: Path | None, url: str, model: str):
        self.path, self.current = (None if path is None else Path(path)), (url, model)
        self._seen: tuple | None = None

    def now(self) -> tuple[str, str]:
        if self.path is None:
            return self.current
        try:
            st = os.stat(self.path)
        except OSError:
            return self.current
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._seen:
            try:
                got = parse_target(self.path.read_text(encoding="utf-8"))
            except OSError:
                return self.current
            self._seen = key
            if got is not None:
                self.current = got
        return self.current


class SwitchingClient:
    """``InferenceClient``'s ``infer_image`` sent to the target of :class:`TargetFile` at each send; one
    ``InferenceClient`` (its connection pool) per server, all closed together."""

    def __init__(self, settings: ClientSettings, target: TargetFile):
        self.settings, self.target = settings, target
        self._clients: dict[str, InferenceClient] = {}
        self._last_url: str | None = None

    async def _client(self, url: str) -> InferenceClient:
        if url not in self._clients:
            client = InferenceClient(dataclasses.replace(self.settings, url=url))
            self._clients[url] = await client.__aenter__()
        return self._clients[url]

    async def __aenter__(self) -> "SwitchingClient":
        await self._client(self.target.now()[0])
        return self

    async def __aexit__(self, *exc) -> None:
        for client in self._clients.values():
            await client.__aexit__(*exc)

    async def infer_image(self, jpeg: bytes, request_id: str, model: str | None = None) -> dict:
        url, target_model = self.target.now()
        switched = self._last_url is not None and url != self._last_url
        self._last_url = url
        client = await self._client(url)
        row = await client.infer_image(jpeg, request_id, model or target_model)
        row.update(server_url=url, server_switch="yes" if switched else "")
        return row


def device_client(settings: ClientSettings, target_file: Path | None = None) -> SwitchingClient:
    """The workload's client: the server ``target_file`` names at each send (None: always ``settings.url``)."""
    return SwitchingClient(settings, TargetFile(target_file, settings.url, settings.model))
