"""The emulator's I/O loop: two raw sockets, two direction shapers, one monotonic clock.

Timing: the shapers keep their schedules in virtual time, so waking late never costs
throughput. Each wakeup takes every frame waiting on both sockets, then sends every packet
due by then; the loop then sleeps until the next release (topo/emulator/wakeup.py: no busy
polling while nothing is due; a long sleep is split so an isolated packet leaves on time).
Every send records its lateness (when the frame is handed to the kernel minus its scheduled
release: what the send call spends after that is the receiver's kernel work, run inside it on a
veth, and counts against the next frame) and its address pair. Each second it also records where
lateness comes from (topo/emulator/measurements.py): host vCPU steal, garbage-collector pauses, its
worst wake-up delay and its longest send. The frames move in batches (topo/emulator/frame_io.py:
a C path, recvmmsg and a C send loop, or the Python fallback; the counters say which ran), so
Python's per-packet work is the shaping only.
"""
from __future__ import annotations

import json
import os
from array import array
import resource
import select
import signal
import time
from pathlib import Path

from topo.emulator.config import EmulatorConfig
from topo.emulator.control import ControlError, read_control, write_ack
from topo.emulator.direction_shaper import DirectionShaper
from topo.emulator.measurements import GcPauses, HostSteal, ProcessCpu
from topo.emulator import frame_io
from topo.emulator.packet import Packet
from topo.emulator.packet_socket import enable_timestamps, open_packet_socket
from topo.emulator.recorders import SIDES, Recorders
from topo.emulator.wakeup import (MAX_WAIT_S, NICENESS, Waiter, prctl, raise_priority,  # noqa: F401 (re-exported)
                                  set_fine_timer_slack)

PR_SET_PDEATHSIG = 1
RX_BURST = 256           # frames taken from one socket before releasing due packets
SUMMARY_PERIOD_S = 1.0
WRITE_GAP_S = 0.002           # write the closed interval's summary when nothing is due for this long ...
WRITE_POSTPONE_MAX_S = 0.5    # ... or this long after it closed, whichever comes first


def die_with_parent(parent_pid: int) -> None:
    """SIGTERM when the parent dies; exit now if it already has."""
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:
        raise SystemExit(1)


class LinkEmulator:
    def __init__(self, config: EmulatorConfig, clock=time.monotonic, control_file: Path | None = None,
                 ack_to: Path | None = None, select_fn=select.select):
        """``clock`` and ``select_fn`` are injected: a test drives the loop on fake sockets and time."""
        self.config = config
        self.clock = clock
        self.select_fn = select_fn
        self.stop_requested = False
        self.control_requested = False
        self.control_file, self.ack_to = control_file, ack_to  # see topo/emulator/control.py
        self.controls_applied: list[dict] = []
        self.start_s = clock()
        self.recorders = Recorders(config, self.start_s)
        self.radio_shared: dict = {}  # one per process, both directions (topo/emulator/radio)
        try:
            self.shapers = {
                side: DirectionShaper(getattr(config, side), self.start_s, self.recorders.recorder(side),
                                      self.recorders.opportunity_hook(side), side=side,
                                      shared=self.radio_shared)
                for side in ("uplink", "downlink")}
        except BaseException:
            self.recorders.close()
            raise
        self.send_errors = {"uplink": 0, "downlink": 0}
        self.sockets = []
        self.scheduling: dict = {}   # what the process got from the kernel (topo/emulator/wakeup.py)
        self.cpu = self.waiter = self.gc_pauses = self.steal = self.frames = None
        self._closed: list = []     # (closed at, second, lateness per side, process values), not yet written
        self.worst = {"wake_delay_max_ms": 0.0, "send_max_ms": 0.0}
        self.stamped = False         # the kernel stamps received frames (arrival times exact when batched)

    def open(self) -> None:
        for ifname in (self.config.uplink_in, self.config.downlink_in):
            self.sockets.append(open_packet_socket(ifname))
        self.stamped = all([enable_timestamps(sock) for sock, _ in self.sockets])

    def request_stop(self, *_args) -> None:
        self.stop_requested = True

    def request_control(self, *_args) -> None:
        """SIGUSR1: read the control file at the next loop turn."""
        self.control_requested = True

    def apply_control(self) -> None:
        """Apply the control file (rate change or restore); acknowledge with its seq or the error."""
        self.control_requested = False
        if self.control_file is None:
            return
        now_s = self.clock()
        try:
            control = read_control(self.control_file)
        except ControlError as err:
            if self.ack_to is not None:
                write_ack(self.ack_to, -1, now_s, str(err))
            return
        for side, shaper in self.shapers.items():
            if control.restore:
                shaper.set_rate(None, now_s)
            elif control.rate_bps(side) is not None:
                shaper.set_rate(control.rate_bps(side), now_s)
        self.controls_applied.append({"at_s": now_s - self.start_s, **control.to_dict()})
        if self.ack_to is not None:
            write_ack(self.ack_to, control.seq, now_s)

    def run(self) -> None:
        """Forward until ``request_stop`` (SIGTERM/SIGINT handler); sockets must be open."""
        (up_sock, up_ignores), (down_sock, down_ignores) = self.sockets
        late = {side: array("d") for side in SIDES}  # per interval; summarised in numpy at the flush
        sources = self.recorders.sources
        routes = ((up_sock, up_ignores, self.shapers["uplink"], down_sock, "uplink", sources["uplink"],
                   late["uplink"]),
                  (down_sock, down_ignores, self.shapers["downlink"], up_sock, "downlink", sources["downlink"],
                   late["downlink"]))
        fds = [up_sock, down_sock]
        clock = self.clock
        stamped = self.stamped
        frames = self.frames = frame_io.choose([up_sock, down_sock], clock, stamped)
        receive, send = frames.receive, frames.send
        waiter = self.waiter = Waiter(clock, self.select_fn, stamped=stamped)
        last_arrival = {"uplink": -1.0, "downlink": -1.0}
        due: list = []
        next_flush_s = self.start_s + SUMMARY_PERIOD_S
        self.cpu = ProcessCpu(clock())
        self.steal = HostSteal()
        self.gc_pauses = GcPauses()
        send_max_s = 0.0
        readable = fds
        while not self.stop_requested:
            if self.control_requested:
                self.apply_control()
            for rx, ignores_outgoing, shaper, _tx, side, bins, _late in routes:
                if rx not in readable:
                    continue
                accept, offered = shaper.accept, bins.offered
                batch, last_arrival[side] = receive(rx, ignores_outgoing, last_arrival[side], RX_BURST)
                for arrival_s, ip_bytes, frame, key in batch:
                    offered(key, ip_bytes)
                    accept(Packet(arrival_s, ip_bytes, frame, key), arrival_s)
            now_s = clock()
            for _rx, _ignores, shaper, tx, side, bins, lateness in routes:
                shaper.pop_due(now_s, due)
                if due:
                    sent = bins.sent
                    failed, longest_s = send(tx, due, lateness)
                    if longest_s > send_max_s:
                        send_max_s = longest_s
                    if failed:
                        self.send_errors[side] += len(failed)
                        for index in reversed(failed):
                            del due[index]
                    for _release_s, packet in due:
                        sent(packet.key, packet.size_bytes)
                    due.clear()
            if now_s >= next_flush_s:
                self._close_interval(now_s, late, send_max_s)
                send_max_s = 0.0
                next_flush_s += SUMMARY_PERIOD_S
                if next_flush_s < now_s:  # a stall of seconds: do not flush once per missed second
                    next_flush_s = now_s + SUMMARY_PERIOD_S
            up_s, down_s = routes[0][2].next_release_s(), routes[1][2].next_release_s()
            next_s = up_s if up_s < down_s else down_s
            if self._closed and (next_s - now_s > WRITE_GAP_S or now_s > self._closed[0][0] + WRITE_POSTPONE_MAX_S):
                self._write_closed(now_s)
            readable = waiter.wait(fds, next_s if next_s < next_flush_s else next_flush_s)
        self._close_interval(clock(), late, send_max_s)
        self._write_closed(clock())

    def _close_interval(self, now_s: float, late: dict, send_max_s: float) -> None:
        """End a summary interval: cheap (samples and a copy); the writing waits for a gap (_write_closed)."""
        second = int(now_s - self.start_s) - 1 if now_s - self.start_s >= 1 else 0
        gc_s, _gc_max_s = self.gc_pauses.take()
        wake_delay_s, self.waiter.wake_delay_max_s = self.waiter.wake_delay_max_s, 0.0
        self.worst["wake_delay_max_ms"] = max(self.worst["wake_delay_max_ms"], wake_delay_s * 1000)
        self.worst["send_max_ms"] = max(self.worst["send_max_ms"], send_max_s * 1000)
        process = [self.cpu.sample(now_s), self.steal.sample(), gc_s * 1000, wake_delay_s * 1e6, send_max_s * 1e6]
        self._closed.append((now_s, second, {side: array("d", values) for side, values in late.items()}, process))
        for values in late.values():
            del values[:]

    def _write_closed(self, now_s: float) -> None:
        """Summarise and write the closed intervals (about 1 ms at 9,000 packets/s: done in a gap
        between releases when there is one, at most WRITE_POSTPONE_MAX_S after the interval)."""
        for _closed_s, second, lateness, process in self._closed:
            self.recorders.interval(second, lateness, process)
        self._closed = []
        if self.recorders.summary is not None:
            self.recorders.summary.flush(now_s)

    def counters(self) -> dict:
        """The final JSON (``<name>-counters.json``): CPU (all of it, and the cores used while forwarding,
        start-up left out), sleeps, scheduling got, and per direction the counts, lateness and address pairs."""
        now_s = self.clock()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result = {"elapsed_s": now_s - self.start_s, "cpu_user_s": usage.ru_utime, "cpu_system_s": usage.ru_stime,
                  "cpu_fraction_forwarding": round(self.cpu.since_start(now_s), 4) if self.cpu else None,
                  "wakeups": self.waiter.wakeups if self.waiter else 0, "scheduling": self.scheduling,
                  "io_path": self.frames.path if self.frames else None,
                  "kernel_receive_timestamps": self.stamped, "lateness_sources": self.lateness_sources(now_s)}
        for side, shaper in self.shapers.items():
            result[side] = {name: getattr(shaper, name) for name in (
                "offered_packets", "offered_bytes", "lost_packets", "lost_bytes", "dropped_packets",
                "dropped_bytes", "delivered_packets", "delivered_bytes")}
            result[side]["send_errors"] = self.send_errors[side]
            result[side]["in_flight_at_exit"] = shaper.in_flight
            result[side]["lateness"] = self.recorders.lateness[side].record()
            result[side]["by_address"] = self.recorders.sources[side].totals()
        result["controls_applied"] = self.controls_applied
        return result

    def lateness_sources(self, now_s: float) -> dict:
        """Over the run: host vCPU steal, garbage-collector pauses, the worst wake-up delay and send."""
        elapsed_s = now_s - self.start_s
        steal_ms = self.steal.total_ms() if self.steal else None
        gc = self.gc_pauses
        return {"host_steal_ms": steal_ms, "host_steal_ms_per_s": (
                    round(steal_ms / elapsed_s, 3) if steal_ms is not None and elapsed_s > 0 else None),
                "gc_collections": gc.collections if gc else 0, "gc_ms": round(gc.total_s * 1000, 3) if gc else 0.0,
                "gc_max_ms": round(gc.max_s * 1000, 3) if gc else 0.0,
                **{k: round(v, 3) for k, v in self.worst.items()}}

    def close(self) -> None:
        if self.gc_pauses is not None:
            self.gc_pauses.close()
        for sock, _ in self.sockets:
            sock.close()
        self.sockets = []
        if self.recorders.log_dir is not None:
            path = self.recorders.log_dir / f"{self.config.name}-counters.json"
            path.write_text(json.dumps(self.counters(), indent=2) + "\n")
        self.recorders.close()

