"""Remove what crashed runs of this project left behind, and only that.

Found two ways: the state files of networks whose owner process is gone
(topo.registry), and a scan for the project's own marks: root-namespace
interfaces and namespaces named ``ect*``, and processes of the project's modules
(``topo.emulator``, ``nodes.*``) or tools it started (tcpdump, iperf3) whose run is gone.
Networks whose owner is still alive are left alone.
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field

import psutil

from topo import commands
from topo.registry import PREFIX, load_states

PROJECT_MODULES = ("topo.emulator", "nodes.edge", "nodes.cloud", "nodes.client", "nodes.workload")
PROJECT_TOOLS = ("tcpdump", "iperf3", "ping")


@dataclass
class CleanReport:
    processes: list[str] = field(default_factory=list)
    interfaces: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    active_runs: list[int] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.processes or self.interfaces or self.namespaces)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def _is_project_process(proc: psutil.Process, active_pids: set[int]) -> bool:
    """A process of one of our modules whose owning run is not alive."""
    line = _cmdline(proc)
    if not any(module in line for module in PROJECT_MODULES):
        return False
    try:
        ancestors = {p.pid for p in proc.parents()}
    except psutil.Error:
        return False
    return not (ancestors & active_pids)


def _kill(procs: list[psutil.Process], report: CleanReport) -> None:
    for proc in procs:
        try:
            report.processes.append(f"{proc.pid} {_cmdline(proc)[:80]}")
            proc.send_signal(signal.SIGTERM)
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=2.0)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass


def _root_interfaces() -> list[str]:
    out = commands.run(["ip", "-o", "link", "show"], check=False).stdout
    names = []
    for line in out.splitlines():
        parts = line.split(": ")
        if len(parts) > 1:
            names.append(parts[1].split("@")[0])
    return names


def clean(verbose: bool = False) -> CleanReport:
    """Remove leftovers of dead runs; return what was removed."""
    report = CleanReport()
    states = load_states()
    active = [s for s in states if s.owner_pid != os.getpid() and _alive(s.owner_pid)]
    dead = [s for s in states if s not in active]
    report.active_runs = [s.owner_pid for s in active]
    active_pids = {s.owner_pid for s in active} | {p["pid"] for s in active for p in s.processes}
    active_interfaces = {name for s in active for name in s.interfaces}

    victims: dict[int, psutil.Process] = {}
    for state in dead:
        for entry in state.processes:
            try:
                proc = psutil.Process(entry["pid"])
            except psutil.Error:
                continue
            line = _cmdline(proc)
            if any(mark in line for mark in PROJECT_MODULES + PROJECT_TOOLS + ("mininet:",)):
                victims[proc.pid] = proc  # same pid and still one of ours: not a reused pid
    for proc in psutil.process_iter():
        if proc.pid != os.getpid() and _is_project_process(proc, active_pids | {os.getpid()}):
            victims[proc.pid] = proc
    _kill(list(victims.values()), report)

    recorded = {name for state in dead for name in state.interfaces}
    present = set(_root_interfaces())
    for name in sorted(present):
        if name in active_interfaces:
            continue
        if name in recorded or name.startswith(PREFIX):
            if commands.run(["ip", "link", "del", name], check=False).returncode == 0:
                report.interfaces.append(name)
    netns = commands.run(["ip", "netns", "list"], check=False).stdout.split("\n")
    for line in netns:
        name = line.split(" ")[0]
        if name.startswith(PREFIX) and not name.startswith(f"{PREFIX}-probe-{os.getpid()}"):
            if commands.run(["ip", "netns", "del", name], check=False).returncode == 0:
                report.namespaces.append(name)
    for state in dead:
        state.remove()
    return report


def clean_state(state) -> CleanReport:
    """Remove what one network recorded (its own teardown's safety net)."""
    report = CleanReport()
    procs = []
    for entry in state.processes:
        try:
            proc = psutil.Process(entry["pid"])
        except psutil.Error:
            continue
        if proc.pid != os.getpid():
            procs.append(proc)
    _kill(procs, report)
    present = set(_root_interfaces())
    for name in state.interfaces:
        if name in present and commands.run(["ip", "link", "del", name], check=False).returncode == 0:
            report.interfaces.append(name)
    state.remove()
    return report


def wait_gone(pids: list[int], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.02)
