"""Host CPU while a run runs: per core from /proc/stat and per named process, sampled by one thread.

    with HostMonitor(run_dir) as monitor:          # host-cpu.csv, process-cpu.csv in run_dir
        monitor.watch("emulator:access", pid)       # named pids, added and dropped as they come and go
        ...
    run.record["host_monitor"] = monitor.record()

``host-cpu.csv``: ``t_s,core,busy_pct,steal_pct`` per interval (``period_s``, 0.25 s by default) and
core (``all`` = the whole machine, then ``cpu0``..); busy = everything but idle and iowait; t_s is
the interval's end since the monitor started. ``process-cpu.csv``: ``t_s,name,pid,cpu_cores``:
utime + stime of the process (and, with ``children``, of its descendants found at that sample)
over the interval, in cores (1.0 = one core busy). A process that has exited is dropped.
The monitor's own cost (its thread's CPU over the run) is in ``record()``; it is a few 1/1000 core.
"""
from __future__ import annotations

import csv
import os
import threading
import time
from pathlib import Path

PERIOD_S = 0.25
HOST_COLUMNS = ["t_s", "core", "busy_pct", "steal_pct"]
PROCESS_COLUMNS = ["t_s", "name", "pid", "cpu_cores"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def read_proc_stat(text: str | None = None) -> dict[str, tuple[int, int, int]]:
    """core -> (total, idle + iowait, steal) jiffies; ``all`` for the aggregate line."""
    if text is None:
        text = Path("/proc/stat").read_text()
    cores = {}
    for line in text.splitlines():
        if not line.startswith("cpu"):
            continue
        name, *values = line.split()
        numbers = [int(v) for v in values[:8]] + [0] * max(0, 8 - len(values))
        # user nice system idle iowait irq softirq steal (guest time is already inside user)
        cores["all" if name == "cpu" else name] = (sum(numbers), numbers[3] + numbers[4], numbers[7])
    return cores


def busy_between(before: dict, after: dict) -> dict[str, tuple[float, float]]:
    """core -> (busy %, steal %) between two ``read_proc_stat`` results."""
    result = {}
    for core, (total, idle, steal) in after.items():
        if core not in before:
            continue
        d_total = total - before[core][0]
        if d_total <= 0:
            continue
        d_idle, d_steal = idle - before[core][1], steal - before[core][2]
        result[core] = (100.0 * (d_total - d_idle) / d_total, 100.0 * d_steal / d_total)
    return result


def process_ticks(pid: int) -> int | None:
    """utime + stime of ``pid`` in clock ticks (None when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])


def descendants(pid: int) -> list[int]:
    """Every process whose parent chain reaches ``pid`` (one scan of /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in parents.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


class HostMonitor:
    def __init__(self, run_dir: Path, period_s: float = PERIOD_S, children: bool = False, clock=time.monotonic):
        if not period_s > 0:
            raise ValueError(f"period_s must be > 0, got {period_s}")
        self.run_dir = Path(run_dir)
        self.period_s, self.children, self.clock = period_s, children, clock
        self._watched: dict[str, int] = {}
        self._last_ticks: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples = 0
        self.own_cpu_s = 0.0
        self.start_s = self.elapsed_s = 0.0

    def watch(self, name: str, pid: int) -> None:
        """Sample ``pid`` under ``name`` from now on (a name watched again follows the new pid)."""
        with self._lock:
            self._watched[name] = pid
            self._last_ticks.pop(name, None)

    def unwatch(self, name: str) -> None:
        with self._lock:
            self._watched.pop(name, None)
            self._last_ticks.pop(name, None)

    def __enter__(self) -> "HostMonitor":
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._host_file = (self.run_dir / "host-cpu.csv").open("w", newline="")
        self._process_file = (self.run_dir / "process-cpu.csv").open("w", newline="")
        self._host = csv.writer(self._host_file)
        self._process = csv.writer(self._process_file)
        self._host.writerow(HOST_COLUMNS)
        self._process.writerow(PROCESS_COLUMNS)
        self.start_s = self.clock()
        self._thread = threading.Thread(target=self._run, name="host-monitor", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.elapsed_s = self.clock() - self.start_s
        self._host_file.close()
        self._process_file.close()

    def _ticks(self, pid: int) -> int | None:
        ticks = process_ticks(pid)
        if ticks is None or not self.children:
            return ticks
        return ticks + sum(t for t in (process_ticks(c) for c in descendants(pid)) if t is not None)

    def _run(self) -> None:
        cpu0 = time.thread_time()
        before, before_s = read_proc_stat(), self.clock()
        while not self._stop.wait(self.period_s):
            after, now_s = read_proc_stat(), self.clock()
            self._sample(before, after, now_s, now_s - before_s)
            before, before_s = after, now_s
            self.own_cpu_s = time.thread_time() - cpu0
        self.own_cpu_s = time.thread_time() - cpu0

    def _sample(self, before: dict, after: dict, now_s: float, interval_s: float) -> None:
        t_s = f"{now_s - self.start_s:.3f}"
        self._host.writerows([t_s, core, f"{busy:.1f}", f"{steal:.1f}"]
                             for core, (busy, steal) in busy_between(before, after).items())
        with self._lock:
            watched = list(self._watched.items())
        rows = []
        for name, pid in watched:
            ticks = self._ticks(pid)
            if ticks is None:
                self.unwatch(name)
                continue
            last = self._last_ticks.get(name)
            self._last_ticks[name] = ticks
            if last is not None and interval_s > 0:
                rows.append([t_s, name, pid, f"{(ticks - last) / CLOCK_TICKS / interval_s:.3f}"])
        self._process.writerows(rows)
        self._host_file.flush()
        self._process_file.flush()
        self.samples += 1

    def record(self) -> dict:
        """For experiment.json: what was sampled, how often, and what the monitor itself cost."""
        elapsed_s = self.elapsed_s or (self.clock() - self.start_s)
        return {"period_s": self.period_s, "samples": self.samples, "cores": os.cpu_count(),
                "files": ["host-cpu.csv", "process-cpu.csv"], "children": self.children,
                "own_cpu_s": round(self.own_cpu_s, 4),
                "own_cpu_fraction": round(self.own_cpu_s / elapsed_s, 5) if elapsed_s > 0 else None}
