"""The ready relay (topo.cluster.ready_relay) without a second machine: its ssh is replaced by a local shell,
which joins the remote words as sshd's shell does, so the wait loop and the tar stream run for real (issue 18)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from topo.cluster.ready_relay import ReadyRelay, ready_file_of


class LocalShell:
    """A "server" whose shell is this machine's: ``there`` stands for its own disk."""

    def __init__(self, there: Path, here: Path):
        self.there, self.here = there, here

    def ssh_argv(self, *remote: str) -> list[str]:
        return ["sh", "-c", " ".join(remote).replace(str(self.here), str(self.there))]


def _sleeper(seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])


def _wait(relay: ReadyRelay, timeout_s: float = 10.0) -> None:
    relay.join(timeout_s)
    assert not relay.is_alive(), "the relay ended"


def test_ready_file_of_reads_both_spellings():
    assert ready_file_of(["python", "-m", "nodes.cloud", "--ready-file", "/r/c.ready.json", "--x"]) == \
        Path("/r/c.ready.json")
    assert ready_file_of(["x", "--ready-file=/r/e.json"]) == Path("/r/e.json")
    assert ready_file_of(["x", "--ready-file"]) is None and ready_file_of(["x"]) is None


def test_the_ready_file_and_its_folder_come_here_once_written_there(tmp_path):
    here, there = tmp_path / "here" / "cloud", tmp_path / "there" / "cloud"
    here.mkdir(parents=True)
    there.mkdir(parents=True)
    node = _sleeper(30)
    try:
        relay = ReadyRelay(LocalShell(there.parent, here.parent), here / "cloud.ready.json", node, "test:1")
        relay.start()
        time.sleep(0.5)
        assert relay.is_alive() and not (here / "cloud.ready.json").exists()  # waits there, nothing yet
        (there / "compute.json").write_text('{"threads": 1}')
        (there / "cloud.ready.json").write_text(json.dumps({"url": "http://10.0.0.2:8000", "pid": 7}))
        _wait(relay)
        assert relay.outcome == "relayed"
        assert json.loads((here / "cloud.ready.json").read_text())["pid"] == 7
        assert (here / "compute.json").read_text() == '{"threads": 1}'
        assert sorted(p.name for p in here.iterdir()) == ["cloud.ready.json", "compute.json"]  # no temporaries
    finally:
        node.kill()
        node.wait()


def test_a_command_that_ends_first_ends_the_relay_with_nothing_here(tmp_path):
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    node = _sleeper(0.3)
    relay = ReadyRelay(LocalShell(there, here), here / "cloud.ready.json", node, "test:1")
    relay.start()
    _wait(relay)
    node.wait()
    assert relay.outcome.startswith("no ready file came") and not list(here.iterdir())


def test_a_shared_folder_is_left_alone(tmp_path):
    folder = tmp_path / "cloud"
    folder.mkdir()
    (folder / "cloud.log").write_text("appended by the node")
    (folder / "cloud.ready.json").write_text('{"pid": 3}')
    inode = (folder / "cloud.log").stat().st_ino
    node = _sleeper(30)
    try:
        relay = ReadyRelay(LocalShell(tmp_path, tmp_path), folder / "cloud.ready.json", node, "test:1")
        relay.start()
        _wait(relay)
    finally:
        node.kill()
        node.wait()
    assert relay.outcome == "shared"
    assert (folder / "cloud.log").stat().st_ino == inode  # not replaced under the node that appends to it


@pytest.mark.parametrize("name", ["../outside.txt", "/abs.txt"])
def test_unsafe_names_in_the_stream_are_not_written(tmp_path, name):
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for member_name, data in ((name, b"x"), ("./cloud.ready.json", b'{"pid": 1}')):
            info = tarfile.TarInfo(member_name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    here = tmp_path / "a" / "b"
    here.mkdir(parents=True)
    relay = ReadyRelay(LocalShell(tmp_path, tmp_path), here / "cloud.ready.json", None, "test:1")
    assert relay._unpack(buffer) == "relayed"
    assert sorted(p.name for p in here.iterdir()) == ["cloud.ready.json"]
    assert not (tmp_path / "a" / "outside.txt").exists() and not Path("/abs.txt").exists()
