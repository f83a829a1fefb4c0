"""The emulator's I/O loop: two raw sockets, two direction shapers, one monotonic clock.

Timing: the shapers keep their schedules in virtual time, so waking late never costs
throughput. The loop sleeps in ``select`` (microsecond timeouts, timer slack set to
1 us) until ``SPIN_S`` before the next event, then polls without sleeping, so a packet
leaves within a few tens of microseconds after its release time, never before it.
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import signal
import time
from pathlib import Path

from topo.emulator.config import EmulatorConfig
from topo.emulator.control import ControlError, read_control, write_ack
from topo.emulator.direction_shaper import DirectionShaper
from topo.emulator.packet import ETHERNET_HEADER_BYTES, Packet
from topo.emulator.packet_socket import PACKET_OUTGOING, open_packet_socket
from topo.emulator.recorders import Fanout, MahimahiLog, SecondBins, SummaryCsv

PR_SET_PDEATHSIG = 1
PR_SET_TIMERSLACK = 29
SPIN_S = 0.0002          # poll instead of sleeping for the last 200 us before an event
MAX_WAIT_S = 0.05        # wake at least this often (signals, summary flushes)
RX_BURST = 256           # frames taken from one socket before releasing due packets
SUMMARY_PERIOD_S = 1.0
NICENESS = -10           # scheduling priority of the emulator process (best effort)


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(parent_pid: int) -> None:
    """SIGTERM when the parent dies; exit now if it already has."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:
        raise SystemExit(1)


class Recorders:
    """Summary CSV (always, when log_dir is set) and Mahimahi packet logs (when asked)."""

    def __init__(self, config: EmulatorConfig, start_s: float):
        self.bins = {side: SecondBins(side, start_s) for side in ("uplink", "downlink")}
        self.logs: dict[str, MahimahiLog] = {}
        self.summary = None
        self.log_dir = Path(config.log_dir) if config.log_dir else None
        if self.log_dir is None:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.summary = SummaryCsv(self.log_dir / f"{config.name}-summary.csv", list(self.bins.values()))
        if config.packet_log:
            for side in ("uplink", "downlink"):
                spec = getattr(config, side)
                source = spec.rate_trace or spec.describe_rate()
                self.logs[side] = MahimahiLog(self.log_dir / f"{config.name}-{side}.log",
                                              f"{config.name} {side}", source, start_s)

    def recorder(self, side: str):
        if self.log_dir is None:
            return None
        if side in self.logs:
            return Fanout([self.bins[side], self.logs[side]])
        return self.bins[side]

    def opportunity_hook(self, side: str):
        log = self.logs.get(side)
        return log.opportunity if log is not None else None

    def close(self) -> None:
        if self.summary is not None:
            self.summary.close()
        for log in self.logs.values():
            log.close()


class LinkEmulator:
    def __init__(self, config: EmulatorConfig, clock=time.monotonic, control_file: Path | None = None,
                 ack_to: Path | None = None):
        self.config = config
        self.clock = clock
        self.stop_requested = False
        self.control_requested = False
        self.control_file, self.ack_to = control_file, ack_to  # see topo/emulator/control.py
        self.controls_applied: list[dict] = []
        self.start_s = clock()
        self.recorders = Recorders(config, self.start_s)
        try:
            self.shapers = {
                side: DirectionShaper(getattr(config, side), self.start_s, self.recorders.recorder(side),
                                      self.recorders.opportunity_hook(side))
                for side in ("uplink", "downlink")}
        except BaseException:
            self.recorders.close()
            raise
        self.send_errors = {"uplink": 0, "downlink": 0}
        self.sockets = []

    def open(self) -> None:
        for ifname in (self.config.uplink_in, self.config.downlink_in):
            self.sockets.append(open_packet_socket(ifname))

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
        routes = ((up_sock, up_ignores, self.shapers["uplink"], down_sock, "uplink"),
                  (down_sock, down_ignores, self.shapers["downlink"], up_sock, "downlink"))
        fds = [up_sock, down_sock]
        buffer = bytearray(65536)
        view = memoryview(buffer)
        clock = self.clock
        due: list = []
        summary = self.recorders.summary
        next_flush_s = self.start_s + SUMMARY_PERIOD_S
        readable = fds
        while not self.stop_requested:
            if self.control_requested:
                self.apply_control()
            for rx, ignores_outgoing, shaper, _tx, _side in routes:
                if rx not in readable:
                    continue
                for _ in range(RX_BURST):
                    try:
                        if ignores_outgoing:
                            size = rx.recv_into(buffer)
                        else:
                            size, address = rx.recvfrom_into(buffer)
                            if address[2] == PACKET_OUTGOING:
                                continue
                    except (BlockingIOError, InterruptedError):
                        break
                    now_s = clock()
                    shaper.accept(Packet(now_s, max(size - ETHERNET_HEADER_BYTES, 1), bytes(view[:size])),
                                  now_s)
            now_s = clock()
            for _rx, _ignores, shaper, tx, side in routes:
                shaper.pop_due(now_s, due)
                if due:
                    for _release_s, packet in due:
                        try:
                            tx.send(packet.frame)
                        except OSError:
                            self.send_errors[side] += 1
                    due.clear()
            if now_s >= next_flush_s:
                if summary is not None:
                    summary.flush(now_s)
                next_flush_s += SUMMARY_PERIOD_S
            next_s = min(routes[0][2].next_event_s(), routes[1][2].next_event_s(), next_flush_s)
            wait_s = next_s - clock()
            if wait_s > MAX_WAIT_S:
                wait_s = MAX_WAIT_S
            wait_s = wait_s - SPIN_S if wait_s > SPIN_S else 0.0
            readable, _, _ = select.select(fds, [], [], wait_s)

    def counters(self) -> dict:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        result = {"elapsed_s": self.clock() - self.start_s, "cpu_user_s": usage.ru_utime,
                  "cpu_system_s": usage.ru_stime}
        for side, shaper in self.shapers.items():
            result[side] = {name: getattr(shaper, name) for name in (
                "offered_packets", "offered_bytes", "lost_packets", "lost_bytes", "dropped_packets",
                "dropped_bytes", "delivered_packets", "delivered_bytes")}
            result[side]["send_errors"] = self.send_errors[side]
            result[side]["in_flight_at_exit"] = shaper.in_flight
        result["controls_applied"] = self.controls_applied
        return result

    def close(self) -> None:
        for sock, _ in self.sockets:
            sock.close()
        self.sockets = []
        if self.recorders.log_dir is not None:
            path = self.recorders.log_dir / f"{self.config.name}-counters.json"
            path.write_text(json.dumps(self.counters(), indent=2) + "\n")
        self.recorders.close()


def set_fine_timer_slack() -> None:
    _prctl(PR_SET_TIMERSLACK, 1000)  # ns; the default 50 us would add to every sleep


def raise_priority(niceness: int = NICENESS) -> None:
    """A wire should not wait behind batch jobs: best effort, ignored without CAP_SYS_NICE."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, niceness)
    except (PermissionError, OSError):
        pass
