"""The emulator's two frame paths (topo/emulator/frame_io.py): the C batch path and the Python
fallback give the same frames, arrival order, lateness and failures, on datagram socketpairs."""
import socket
import time
from array import array

import pytest

from topo.emulator import frame_io
from topo.emulator.frame_io import CBatchFrames, PythonFrames, choose
from topo.emulator.packet import Packet
from topo.emulator.packet_socket import enable_timestamps
from topo.emulator.source_bins import address_key

IPV4 = b"\x00" * 12 + b"\x08\x00" + b"\x45" + b"\x00" * 11 + bytes([10, 0, 0, 1, 10, 0, 0, 2])
FRAMES = [IPV4 + b"a" * 100, b"\x00" * 12 + b"\x08\x06" + b"arp" * 10, IPV4[:20], b"\x01" * 5, IPV4 + b"b" * 1400]

needs_c = pytest.mark.skipif(frame_io.fastio is None, reason="the C extension is not built (pip install -e .)")


def paths(stamped):
    made = [PythonFrames(time.monotonic, stamped)]
    if frame_io.fastio is not None:
        made.append(CBatchFrames(stamped))
    return made


@pytest.fixture
def pair():
    rx, tx = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.setblocking(False)
    yield rx, tx
    rx.close()
    tx.close()


@pytest.mark.parametrize("stamped", [False, True])
def test_both_paths_receive_the_same_frames_sizes_and_keys(pair, stamped):
    rx, tx = pair
    if stamped:
        assert enable_timestamps(rx)
    got = {}
    for frames in paths(stamped):
        before_s = time.monotonic()
        for frame in FRAMES:
            tx.send(frame)
        batch, last_s = frames.receive(rx, True, -1.0, 256)
        after_s = time.monotonic()
        assert [f for _, _, f, _ in batch] == FRAMES
        assert [s for _, s, _, _ in batch] == [max(len(f) - 14, 1) for f in FRAMES]
        assert [k for _, _, _, k in batch] == [address_key(f) for f in FRAMES]
        arrivals = [a for a, _, _, _ in batch]
        assert arrivals == sorted(arrivals) and last_s == arrivals[-1]
        assert before_s - 0.001 <= arrivals[0] and arrivals[-1] <= after_s  # monotonic clock, kernel stamp or ours
        assert frames.receive(rx, True, last_s, 256) == ([], last_s)  # empty socket: nothing, the last arrival kept
        got[frames.path] = [(s, f, k) for _, s, f, k in batch]
    assert len(set(map(str, got.values()))) == 1


@needs_c
def test_c_receive_respects_the_limit_and_never_goes_back_in_time(pair):
    rx, tx = pair
    for i in range(150):  # more than one recvmmsg batch (64)
        tx.send(IPV4 + bytes([i]))
    future_s = time.monotonic() + 5.0
    batch, last_s = CBatchFrames().receive(rx, True, future_s, 100)
    assert len(batch) == 100 and [f[-1] for _, _, f, _ in batch] == list(range(100))
    assert all(a == future_s for a, _, _, _ in batch) and last_s == future_s
    rest, _ = CBatchFrames().receive(rx, True, -1.0, 256)
    assert len(rest) == 50


@pytest.mark.parametrize("path", ["python", "c-batch"])
def test_send_counts_lateness_from_the_hand_over_and_reports_failures(pair, path):
    if path == "c-batch" and frame_io.fastio is None:
        pytest.skip("the C extension is not built")
    rx, tx = pair
    frames = PythonFrames() if path == "python" else CBatchFrames()
    release_s = time.monotonic() - 0.010
    due = [(release_s + i * 0.001, Packet(0.0, 10, f)) for i, f in enumerate(FRAMES)]
    lateness = array("d")
    failed, send_max_s = frames.send(tx, due, lateness)
    assert failed is None and len(lateness) == len(FRAMES) and send_max_s >= 0
    assert all(0.0 < x < 1.0 for x in lateness)
    assert lateness[0] > lateness[1] > lateness[2]  # later releases, the same hand-over moment: less late
    assert [rx.recv(2048) for _ in FRAMES] == FRAMES
    rx.close()  # the peer is gone: every send fails, none counts
    more = array("d")
    failed, _ = frames.send(tx, due[:3], more)
    assert failed == [0, 1, 2] and len(more) == 0


@needs_c
def test_c_send_rejects_a_malformed_due_list(pair):
    _rx, tx = pair
    with pytest.raises(TypeError):
        CBatchFrames().send(tx, [(0.0, Packet(0.0, 1, "not bytes"))], array("d"))
    with pytest.raises(TypeError):
        CBatchFrames().send(tx, [0.0], array("d"))


def test_choose_takes_c_only_for_real_sockets_and_the_monotonic_clock(pair, monkeypatch):
    rx, tx = pair
    expected = "c-batch" if frame_io.fastio is not None else "python"
    assert choose([rx, tx], time.monotonic, True).path == expected
    assert choose([rx, tx], lambda: 0.0, True).path == "python"      # a test's fake clock
    assert choose([object(), tx], time.monotonic, True).path == "python"  # a fake socket
    monkeypatch.setenv(frame_io.FASTIO_ENV, "0")
    assert choose([rx, tx], time.monotonic, True).path == "python"
