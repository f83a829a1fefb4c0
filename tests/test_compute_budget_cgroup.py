"""CPU quotas for real (root and a cpu controller): a quota really limits, a node's group lives and dies with it
(also when it fails to start), and ``clean`` removes the groups a dead owner left."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.orchestration.node_processes import BudgetedNode, compute_records
from nodes.compute_budget import ComputeBudget
from nodes.launch import NodeStartError
from topo.cpu_cgroup import CgroupUnavailable, CpuCgroup, find_cpu_controller, remove_dead_groups

pytestmark = pytest.mark.root
BURN = "import time\nend = time.monotonic() + 20\nwhile time.monotonic() < end: pass\n"


def _controller():
    try:
        return find_cpu_controller()
    except CgroupUnavailable as exc:
        pytest.skip(f"no cpu controller: {exc}")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_quarter_core_quota_holds_a_busy_child_to_a_quarter_core():
    with CpuCgroup(_controller(), "test-burn", 0.25) as group:
        child = subprocess.Popen([sys.executable, "-c", BURN])
        try:
            group.add(child.pid)
            assert child.pid in group.pids()
            time.sleep(0.3)
            cpu0, t0 = _cpu_s(child.pid), time.monotonic()
            time.sleep(2.0)
            used = (_cpu_s(child.pid) - cpu0) / (time.monotonic() - t0)
            stats = group.stats()
        finally:
            child.kill()
            child.wait()
    assert used <= 0.3, f"a 0.25-core quota let the child use {used:.3f} core"
    assert used > 0.05 and stats["throttled_periods"] > 0  # it ran, and the quota is what held it
    assert not group.path.exists()


def test_a_group_is_removed_even_with_a_process_still_inside():
    group = CpuCgroup(_controller(), "test-busy", 0.5).create()
    child = subprocess.Popen([sys.executable, "-c", BURN])
    try:
        group.add(child.pid)
        group.remove()
        assert not group.path.exists() and child.poll() is None  # moved out, not killed
    finally:
        child.kill()
        child.wait()


def test_clean_removes_the_groups_of_dead_owners_only():
    controller = _controller()
    dead = subprocess.Popen(["true"])
    dead.wait()
    left = CpuCgroup(controller, "edge", 0.5, owner_pid=dead.pid).create()
    mine = CpuCgroup(controller, "edge", 0.5).create()
    try:
        removed = remove_dead_groups()
        assert str(left.path) in removed and not left.path.exists()
        assert mine.path.exists() and str(mine.path) not in removed
    finally:
        left.remove()
        mine.remove()


def _node(tmp_path: Path, args: list[str], budget: ComputeBudget) -> BudgetedNode:
    return BudgetedNode("cloud", "cloud", args, budget, subprocess.Popen, log_dir=tmp_path / "cloud", port=0,
                        ready_timeout_s=90, stop_timeout_s=10)


def test_a_budgeted_node_runs_inside_its_group_and_the_group_goes_with_it(tmp_path, models_dir):
    _controller()
    node = _node(tmp_path, ["--models", str(models_dir), "--device", "cpu"],
                 ComputeBudget(cpus=1.0, threads=3, speed_factor=2.0, hardware="test box"))
    try:
        node.start()
        cgroup_line = Path(f"/proc/{node.process.pid}/cgroup").read_text()
        assert node.group.path.name in cgroup_line
    finally:
        node.stop()
    record = compute_records([node], ("node_profile=none",))["nodes"]["cloud"]
    assert not node.group.path.exists()
    assert record["quota"]["applied"] and record["quota"]["cpus"] == 1.0 and record["threads_cap"] == 1
    got = record["node"]
    assert got["speed_factor"] == 2.0 and {m["threads"] for m in got["models"].values()} == {1}  # capped at 1 core
    assert any(node.group.path.name in path for path in got["cgroups_seen"].values())
    assert json.loads((tmp_path / "cloud" / "compute.json").read_text())["pid"] == node.pid


def test_a_node_that_fails_to_start_leaves_no_group(tmp_path):
    _controller()
    node = _node(tmp_path, ["--models", str(tmp_path / "no-models")], ComputeBudget(cpus=0.5))
    with pytest.raises(NodeStartError):
        node.start()
    assert node.group is not None and not node.group.path.exists() and not node.running()
