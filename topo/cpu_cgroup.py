"""A CPU quota for one node process: a cgroup of the ``cpu`` controller, created per node, removed at the end.

Where the unified hierarchy (cgroup v2) has the ``cpu`` controller, the group gets ``cpu.max`` ("QUOTA PERIOD");
else, where the v1 ``cpu`` controller is mounted, ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``. A group is named
``ect-<owner pid>-<node>`` at the controller's root, so ``clean`` can remove what a dead owner left
(``remove_dead_groups``). Moving a pid writes ``cgroup.procs``: every thread of the process moves, and its
children are born inside.

    controller = find_cpu_controller()          # CgroupUnavailable(reason) where there is none
    with CpuCgroup(controller, "edge", cpus=0.5, owner_pid=os.getpid()) as group:
        group.add(pid)
        ... group.stats() ...                   # periods, throttled periods, throttled ms
"""
from __future__ import annotations

import errno
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

MOUNTS = Path("/proc/mounts")
PERIOD_US = 100_000
MIN_QUOTA_US = 1_000          # the kernel refuses less
GROUP_NAME = re.compile(r"ect-(\d+)-([A-Za-z0-9_.-]+)")


class CgroupUnavailable(RuntimeError):
    """No usable cpu controller here (not root, not mounted, not delegated); the message says which."""


@dataclass(frozen=True)
class CpuController:
    version: str   # "v2" (cpu.max) or "v1" (cpu.cfs_quota_us)
    root: Path     # where the groups are made

    def __post_init__(self):
        if self.version not in ("v1", "v2"):
            raise ValueError(f"cgroup version must be v1 or v2, got {self.version!r}")


def _mounts(mounts: Path) -> list[tuple[str, str, list[str]]]:
    """(mount point, fs type, options) of each cgroup mount."""
    found = []
    try:
        lines = mounts.read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        parts = line.split()
        if len(parts) >= 4 and parts[2] in ("cgroup", "cgroup2"):
            found.append((parts[1].replace("\\040", " "), parts[2], parts[3].split(",")))
    return found


def _v2_controller(point: Path) -> CpuController | str:
    try:
        controllers = (point / "cgroup.controllers").read_text().split()
    except OSError as exc:
        return f"{point}/cgroup.controllers unreadable ({exc.strerror})"
    if "cpu" not in controllers:
        return f"the unified hierarchy at {point} has no cpu controller (it is bound to v1)"
    subtree = point / "cgroup.subtree_control"
    try:
        if "cpu" not in subtree.read_text().split():
            subtree.write_text("+cpu")
    except OSError as exc:
        return f"cannot enable cpu in {subtree} ({exc.strerror})"
    return CpuController("v2", point)


def find_cpu_controller(mounts: Path = MOUNTS) -> CpuController:
    """v2 where the unified hierarchy has the cpu controller, else v1's cpu mount; CgroupUnavailable says why not."""
    if os.geteuid() != 0:
        raise CgroupUnavailable("not root: cgroups need root (run the harness with sudo)")
    reasons = []
    cgroup_mounts = _mounts(mounts)
    for point, kind, _ in cgroup_mounts:
        if kind == "cgroup2":
            found = _v2_controller(Path(point))
            if isinstance(found, CpuController):
                return found
            reasons.append(found)
    for point, kind, options in cgroup_mounts:
        if kind == "cgroup" and "cpu" in options:
            root = Path(point)
            if (root / "cpu.cfs_quota_us").exists():
                return CpuController("v1", root)
            reasons.append(f"{root} has no cpu.cfs_quota_us (kernel without CFS bandwidth control)")
    if not cgroup_mounts:
        reasons.append(f"no cgroup file system in {mounts}")
    elif not reasons:
        reasons.append("no cgroup mount carries the cpu controller")
    raise CgroupUnavailable("; ".join(reasons))


def quota_us(cpus: float, period_us: int = PERIOD_US) -> int:
    if not cpus > 0:
        raise ValueError(f"cpus must be > 0, got {cpus!r}")
    return max(MIN_QUOTA_US, round(cpus * period_us))


class CpuCgroup:
    """One node's group: ``create`` (also on ``with``), ``add`` pids, ``stats``, ``remove`` (also on exit)."""

    def __init__(self, controller: CpuController, node: str, cpus: float, owner_pid: int | None = None,
                 period_us: int = PERIOD_US):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", node):
            raise ValueError(f"node name {node!r} must be letters, digits, '_', '.', '-'")
        self.controller, self.node, self.cpus, self.period_us = controller, node, cpus, period_us
        self.quota_us = quota_us(cpus, period_us)
        self.owner_pid = os.getpid() if owner_pid is None else owner_pid
        self.path = controller.root / f"ect-{self.owner_pid}-{node}"
        self.created = False

    def create(self) -> "CpuCgroup":
        try:
            self.path.mkdir(exist_ok=True)
            self.created = True
            if self.controller.version == "v2":
                (self.path / "cpu.max").write_text(f"{self.quota_us} {self.period_us}")
            else:
                (self.path / "cpu.cfs_period_us").write_text(str(self.period_us))
                (self.path / "cpu.cfs_quota_us").write_text(str(self.quota_us))
        except OSError as exc:
            self.remove()
            raise CgroupUnavailable(f"cannot set up {self.path}: {exc.strerror or exc}") from None
        return self

    __enter__ = create

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into the group."""
        try:
            (self.path / "cgroup.procs").write_text(str(pid))
        except OSError as exc:
            raise CgroupUnavailable(f"cannot move pid {pid} into {self.path}: {exc.strerror or exc}") from None

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def stats(self) -> dict:
        """What the quota did: CFS periods, how many were throttled, and for how long (ms)."""
        try:
            raw = dict(line.split()[:2] for line in (self.path / "cpu.stat").read_text().splitlines() if line.strip())
        except (OSError, ValueError):
            return {}
        throttled_ms = (int(raw.get("throttled_usec", 0)) / 1e3 if self.controller.version == "v2"
                        else int(raw.get("throttled_time", 0)) / 1e6)
        return {"periods": int(raw.get("nr_periods", 0)), "throttled_periods": int(raw.get("nr_throttled", 0)),
                "throttled_ms": round(throttled_ms, 3)}

    def record(self) -> dict:
        return {"applied": True, "cgroup": str(self.path), "cgroup_version": self.controller.version,
                "cpus": self.cpus, "quota_us": self.quota_us, "period_us": self.period_us, **self.stats()}

    def remove(self, timeout_s: float = 2.0) -> None:
        """Move what is still inside to the root group, then remove the directory (retried while tasks exit)."""
        if not self.path.exists():
            return
        remove_group(self.path, self.controller.root, timeout_s)

    def __exit__(self, *exc) -> None:
        self.remove()


def remove_group(path: Path, root: Path, timeout_s: float = 2.0) -> bool:
    """Empty ``path`` into ``root`` and rmdir it; False if it is still busy after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            for pid in (path / "cgroup.procs").read_text().split():
                try:
                    (root / "cgroup.procs").write_text(pid)
                except OSError:
                    pass  # exited meanwhile
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_groups(live_owners: set[int] = frozenset(), mounts: Path = MOUNTS) -> list[str]:
    """Remove the ``ect-<owner>-<node>`` groups whose owner process is gone (``clean``); returns their paths."""
    try:
        controller = find_cpu_controller(mounts)
    except CgroupUnavailable:
        return []
    removed = []
    for path in sorted(controller.root.glob("ect-*-*")):
        match = GROUP_NAME.fullmatch(path.name)
        if not match or not path.is_dir():
            continue
        owner = int(match.group(1))
        if owner in live_owners or owner == os.getpid() or _alive(owner):
            continue
        if remove_group(path, controller.root):
            removed.append(str(path))
    return removed
