"""Who used this machine's CPU while a benchmark's harness run ran: the run's own process tree against every other
process (other jobs sharing the host), kernel threads, and the hypervisor's vCPU steal, from /proc once a second.

    share = HostShare()            # the benchmark's own pid is the root of "ours"
    share.start(); run_harness(...); share.stop()
    share.summary([(begin_s, end_s), ...])   # means over those monotonic intervals (the run's measured window)

"Ours" is every process whose parent chain reaches the root (the harness, its emulators, servers, devices);
"kernel" is kthreadd's children (softirq work of the emulated network shows there too); "others" is the rest. A
process's CPU in the second it exits is not seen (under 1 s per process).
"""
from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
KTHREADD_PID = 2


def _cpu_line() -> tuple[int, int, int]:
    """(busy, steal, total) jiffies of all CPUs from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    steal = fields[7] if len(fields) > 7 else 0
    total = sum(fields[:8])
    return total - idle - steal, steal, total


def _processes() -> dict[int, tuple[int, str, int, int]]:
    """pid -> (ppid, name, utime + stime jiffies, start time) of every process now."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        rest = text[text.rindex(")") + 2:].split()
        out[int(entry.name)] = (int(rest[1]), name, int(rest[11]) + int(rest[12]), int(rest[19]))
    return out


class HostShare:
    def __init__(self, root_pid: int | None = None, period_s: float = 1.0):
        self.root_pid, self.period_s = root_pid or os.getpid(), period_s
        self.samples: list[dict] = []   # t_s (interval end, monotonic), busy / steal / ours / kernel / others cores
        self.other_names: dict[str, float] = {}   # CPU seconds of other processes by name, over the whole run
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="host-share", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def _kind(self, pid: int, procs: dict) -> str:
        seen = 0
        while pid in procs and seen < 64:
            if pid == self.root_pid:
                return "ours"
            parent = procs[pid][0]
            if parent == KTHREADD_PID or pid == KTHREADD_PID:
                return "kernel"
            pid, seen = parent, seen + 1
        return "others"

    def _run(self) -> None:
        last_cpu, last_procs, last_t = _cpu_line(), _processes(), time.monotonic()
        while not self._stop.wait(self.period_s):
            cpu, procs, now = _cpu_line(), _processes(), time.monotonic()
            seconds = now - last_t
            cores = {"ours": 0.0, "kernel": 0.0, "others": 0.0}
            for pid, (_ppid, name, ticks, started) in procs.items():
                before = last_procs.get(pid)
                used_s = (ticks - (before[2] if before and before[3] == started else 0)) / TICKS  # the same process
                if used_s <= 0:
                    continue
                kind = self._kind(pid, procs)
                cores[kind] += used_s / seconds
                if kind == "others":
                    self.other_names[name] = self.other_names.get(name, 0.0) + used_s
            self.samples.append({"t_s": now, "busy_cores": (cpu[0] - last_cpu[0]) / TICKS / seconds,
                                 "steal_ms_per_s": (cpu[1] - last_cpu[1]) / TICKS / seconds * 1000,
                                 **{f"{k}_cores": v for k, v in cores.items()}})
            last_cpu, last_procs, last_t = cpu, procs, now

    def save(self, path: Path) -> None:
        """The samples into ``path`` (JSON), so a benchmark re-made from its run folders (--reuse) has them."""
        Path(path).write_text(json.dumps({"root_pid": self.root_pid, "period_s": self.period_s,
                                          "samples": self.samples, "other_names": self.other_names}) + "\n")

    @classmethod
    def load(cls, path: Path) -> "HostShare | None":
        try:
            saved = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            return None
        share = cls(saved.get("root_pid"), saved.get("period_s", 1.0))
        share.samples, share.other_names = saved.get("samples", []), saved.get("other_names", {})
        return share

    def summary(self, intervals: list[tuple[float, float]] | None = None) -> dict:
        """Means over the samples that end inside ``intervals`` (monotonic s; None: all), rounded; the other
        processes that used the most CPU over the whole run."""
        chosen = [s for s in self.samples if intervals is None or any(b < s["t_s"] <= e for b, e in intervals)]
        out: dict = {"samples": len(chosen)}
        for key in ("busy_cores", "steal_ms_per_s", "ours_cores", "kernel_cores", "others_cores"):
            values = [s[key] for s in chosen]
            out[key] = round(sum(values) / len(values), 3) if values else None
            out[f"{key}_max"] = round(max(values), 3) if values else None
        top = sorted(self.other_names.items(), key=lambda kv: -kv[1])[:3]
        out["top_others_cpu_s"] = {name: round(s, 1) for name, s in top}
        return out
