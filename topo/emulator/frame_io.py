"""Moving frames between the raw sockets and the shapers: a C batch path, and the Python fallback.

Both paths have one contract, so the I/O loop (topo/emulator/io_loop.py) handles batches, not
packets:

* ``receive(rx, ignores_outgoing, previous_s, limit)`` -> (frames, last_s): every frame waiting
  on ``rx`` (up to ``limit``) as ``(arrival_s, ip_bytes, frame, key)``, arrival times never going
  back (``previous_s``: the last arrival on this socket), the kernel's stamp where it stamps;
* ``send(tx, due, lateness)`` -> (failed, send_max_s): sends every ``(release_s, packet)`` of
  ``due`` in order, appends each sent frame's lateness (handed to the kernel minus release_s) to
  the array ``lateness``, returns the indexes whose send failed (None when none did) and the
  longest send.

``CBatchFrames`` (topo/emulator/fastio.c, built by ``pip install -e .``): recvmmsg batches of up
to 64 frames, and one C loop of send() calls, timed with CLOCK_MONOTONIC (= time.monotonic).
``PythonFrames``: the same with socket methods and the injected clock; it runs where the extension
is not built, where ``ECT_EMULATOR_FASTIO=0`` asks for it, and on a test's fake sockets and
clock. ``choose(sockets, clock)`` picks; the emulator's counters record which ran (``io_path``).
"""
from __future__ import annotations

import os
import socket
import time

from topo.emulator.packet import ETHERNET_HEADER_BYTES
from topo.emulator.packet_socket import PACKET_OUTGOING, TIMESTAMP_ANCILLARY_BYTES
from topo.emulator.source_bins import address_key

try:
    from topo.emulator import fastio
except ImportError:  # not built (no compiler, or a copy of the sources): the Python path runs
    fastio = None

FASTIO_ENV = "ECT_EMULATOR_FASTIO"
C_PATH, PYTHON_PATH = "c-batch", "python"


class PythonFrames:
    path = PYTHON_PATH

    def __init__(self, clock=time.monotonic, stamped: bool = False):
        self.clock = clock
        self.stamped = stamped
        self._buffer = bytearray(65536)
        self._view = memoryview(self._buffer)

    def receive(self, rx, ignores_outgoing: bool, previous_s: float, limit: int) -> tuple[list, float]:
        clock, stamped, buffer, view = self.clock, self.stamped, self._buffer, self._view
        buffers = [buffer]
        frames = []
        realtime_offset_s = time.time() - clock() if stamped else 0.0  # kernel stamps are CLOCK_REALTIME
        for _ in range(limit):
            try:
                if stamped:
                    size, ancillary, _flags, address = rx.recvmsg_into(buffers, TIMESTAMP_ANCILLARY_BYTES)
                elif ignores_outgoing:
                    size = rx.recv_into(buffer)
                else:
                    size, address = rx.recvfrom_into(buffer)
            except (BlockingIOError, InterruptedError):
                break
            if not ignores_outgoing and address[2] == PACKET_OUTGOING:
                continue
            now_s = clock()
            arrival_s = now_s
            if stamped and ancillary:
                stamp = ancillary[0][2]
                arrival_s = (int.from_bytes(stamp[:8], "little") + int.from_bytes(stamp[8:16], "little") * 1e-9
                             - realtime_offset_s)
                if arrival_s > now_s or arrival_s < now_s - 1.0:  # a clock step: trust our own clock
                    arrival_s = now_s
            if arrival_s < previous_s:
                arrival_s = previous_s
            previous_s = arrival_s
            frame = bytes(view[:size])
            frames.append((arrival_s, size - ETHERNET_HEADER_BYTES if size > ETHERNET_HEADER_BYTES else 1, frame,
                           address_key(frame)))
        return frames, previous_s

    def send(self, tx, due: list, lateness) -> tuple[list | None, float]:
        clock = self.clock
        failed = None
        send_max_s = 0.0
        handed_s = clock()
        for index, (release_s, packet) in enumerate(due):
            try:
                tx.send(packet.frame)
            except OSError:
                failed = (failed or []) + [index]
                handed_s = clock()
                continue
            lateness.append(handed_s - release_s)
            done_s = clock()
            if done_s - handed_s > send_max_s:
                send_max_s = done_s - handed_s
            handed_s = done_s
        return failed, send_max_s


class CBatchFrames:
    path = C_PATH

    def __init__(self, stamped: bool = False):
        self.stamped = stamped
        self._recv_batch, self._send_due = fastio.recv_batch, fastio.send_due

    def receive(self, rx, ignores_outgoing: bool, previous_s: float, limit: int) -> tuple[list, float]:
        return self._recv_batch(rx.fileno(), limit, self.stamped, not ignores_outgoing, previous_s)

    def send(self, tx, due: list, lateness) -> tuple[list | None, float]:
        late, send_max_s, failed = self._send_due(tx.fileno(), due)
        lateness.frombytes(late)
        return failed, send_max_s


def choose(sockets: list, clock, stamped: bool):
    """The C path where it is built, not refused ($ECT_EMULATOR_FASTIO=0), the sockets are real
    and the clock is time.monotonic (the one C reads); else the Python path."""
    if (fastio is not None and os.environ.get(FASTIO_ENV, "1") != "0" and clock is time.monotonic
            and all(isinstance(sock, socket.socket) for sock in sockets)):
        return CBatchFrames(stamped)
    return PythonFrames(clock, stamped)
