"""Remove what dead runs of this project left behind, and only that.

A run is dead when the owner pid of its state file (topo.registry) is gone. ``clean`` removes:

- the interfaces and named namespaces a dead owner recorded (unless a live owner recorded the same name),
  and ``ect-probe-<pid>`` namespaces of the netem probe whose pid is gone;
- the processes a dead owner recorded, if that pid still runs one of the project's programs (not a reused pid);
- every process whose environment carries a dead owner's pid (``ECT_NET_OWNER``): what the run started,
  also what nobody recorded (a command typed into a host's shell);
- the nodes' CPU-quota cgroups ``ect-<owner pid>-<node>`` (topo.cpu_cgroup) whose owner is gone.

Nothing else: not a live network's, a live test path's, nor a ``nodes.*`` or ``topo.emulator`` process
that no run of this machine started (one run by hand on loopback, another checkout's).
"""
from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass, field

import psutil

from topo import commands
from topo.cpu_cgroup import remove_dead_groups
from topo.errors import TopoError
from topo.registry import load_states, owner_of

PROJECT_MODULES = ("topo.emulator", "nodes.edge", "nodes.cloud", "nodes.client", "nodes.workload")
PROJECT_TOOLS = ("tcpdump", "iperf3", "ping")
PROBE_NAMESPACE = re.compile(r"ect-probe-(\d+)")


@dataclass
class CleanReport:
    processes: list[str] = field(default_factory=list)
    interfaces: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    cluster: list[str] = field(default_factory=list)  # what dead cluster runs left on their servers
    active_runs: list[int] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.processes or self.interfaces or self.namespaces or self.cgroups or self.cluster)

    def lines(self) -> list[str]:
        """One "removed N what: names" line per kind removed."""
        return [f"removed {len(items)} {what}: {', '.join(items)}"
                for what, items in (("processes", self.processes), ("interfaces", self.interfaces),
                                    ("namespaces", self.namespaces), ("cgroups", self.cgroups),
                                    ("cluster leftovers", self.cluster)) if items]


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


def _environ(proc: psutil.Process) -> dict:
    try:
        return proc.environ()
    except psutil.Error:
        return {}


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


def _namespaces() -> list[str]:
    out = commands.run(["ip", "netns", "list"], check=False).stdout
    return [line.split(" ")[0] for line in out.splitlines() if line.strip()]


def _own_lineage() -> set[int]:
    me = psutil.Process()
    try:
        return {me.pid} | {p.pid for p in me.parents()}
    except psutil.Error:
        return {me.pid}


def _dead_owners_processes(dead, active_pids: set[int]) -> dict[int, psutil.Process]:
    """Recorded by a dead owner and still one of ours, or carrying a dead owner's pid."""
    spared = active_pids | _own_lineage()
    victims: dict[int, psutil.Process] = {}
    for state in dead:
        for entry in state.processes:
            try:
                proc = psutil.Process(entry["pid"])
            except psutil.Error:
                continue
            line = _cmdline(proc)
            if proc.pid not in spared and any(m in line for m in PROJECT_MODULES + PROJECT_TOOLS + ("mininet:",)):
                victims[proc.pid] = proc  # same pid and still one of ours: not a reused pid
    for proc in psutil.process_iter():
        if proc.pid in spared or proc.pid in victims:
            continue
        owner = owner_of(_environ(proc))
        if owner is not None and owner not in spared and not _alive(owner):
            victims[proc.pid] = proc
    return victims


def clean(verbose: bool = False) -> CleanReport:
    """Remove leftovers of dead runs; return what was removed."""
    report = CleanReport()
    states = load_states()
    active = [s for s in states if s.owner_pid != os.getpid() and _alive(s.owner_pid)]
    dead = [s for s in states if s not in active]
    report.active_runs = sorted({s.owner_pid for s in active})
    from topo.cluster.cleanup import clean_dead_runs  # before the namespaces go: a test server's processes first
    report.cluster = clean_dead_runs(dead)
    active_pids = {s.owner_pid for s in active} | {p["pid"] for s in active for p in s.processes}
    _kill(list(_dead_owners_processes(dead, active_pids).values()), report)
    report.cgroups = remove_dead_groups({s.owner_pid for s in active})  # the nodes' CPU quotas (topo.cpu_cgroup)

    live_names = {name for s in active for name in s.interfaces + s.namespaces}
    recorded = {name for state in dead for name in state.interfaces} - live_names
    for name in sorted(recorded & set(_root_interfaces())):
        if commands.run(["ip", "link", "del", name], check=False).returncode == 0:
            report.interfaces.append(name)
    recorded_ns = {name for state in dead for name in state.namespaces} - live_names
    for name in _namespaces():
        probe = PROBE_NAMESPACE.fullmatch(name)
        if name in recorded_ns or (probe and not _alive(int(probe.group(1)))):
            if commands.run(["ip", "netns", "del", name], check=False).returncode == 0:
                report.namespaces.append(name)
    for state in dead:
        state.remove()
    return report


def clear_for(names: list[str]) -> CleanReport:
    """Before a network is built, with the run lock held: if an interface it will create exists already (a run
    that was killed, or a machine restored from a snapshot, left it), remove what dead runs left, as ``clean``
    does. A name still taken after that is no dead run's: a one-line error says what to do."""
    if not set(names) & set(_root_interfaces()):
        return CleanReport()
    report = clean()
    taken = sorted(set(names) & set(_root_interfaces()))
    if taken:
        raise TopoError(f"interface {', '.join(taken)} exists already and no run of this testbed that is gone "
                        "recorded it: remove it ('sudo ip link del NAME') or stop what made it, then run again")
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
    present_ns = set(_namespaces()) if state.namespaces else set()
    for name in state.namespaces:
        if name in present_ns and commands.run(["ip", "netns", "del", name], check=False).returncode == 0:
            report.namespaces.append(name)
    state.remove()
    return report


def wait_gone(pids: list[int], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.02)
