"""The edge/cloud network comes up, every host reaches every other, and nothing survives it."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from conftest import RUN_PY, REPO_ROOT, machine_snapshot, run_cli
from topo.profiles import load_profile
from topo.topology import TopologySpec

pytestmark = pytest.mark.root


def spec(ues=1, access="lte-ideal"):  # a pipe: expected RTTs are exact (radio RTTs: tests/test_radio_lte_netns.py)
    return TopologySpec(access=load_profile(access), wan=load_profile("wan"), lan=load_profile("lan"),
                        ues=ues, backend="userspace")


def test_expected_rtts_follow_the_profiles():
    s = spec(ues=2)
    assert s.expected_rtt_ms("ue1", "ue2") == 0.0
    assert s.expected_rtt_ms("ue1", "bs") == pytest.approx(30 + 98 * 8 / 8e6 * 1e3 + 98 * 8 / 10.88e6 * 1e3)
    assert s.expected_rtt_ms("ue1", "cloud") == pytest.approx(s.expected_rtt_ms("ue1", "bs") + 40 + 2 * 98 * 8 / 100e6 * 1e3)
    assert s.hosts == {"ue1": "10.0.1.1", "ue2": "10.0.1.2", "bs": "10.0.1.254", "edge": "10.0.2.2",
                       "cloud": "10.0.3.2"}


@pytest.mark.parametrize("ues", [1, 3])
def test_default_topology_all_pairs_reachable(clean_machine, ues):
    from harness.orchestration.reachability import ping_all_pairs
    from topo.network import running_network

    with running_network(spec(ues=ues)) as net:
        assert len(net.wires()) == 2  # access and wan are shaped; the LAN is a plain veth
        pairs = ping_all_pairs(net, count=3, interval_s=0.1)
    assert len(pairs) == (ues + 3) * (ues + 2)
    unreachable = [(p.src, p.dst) for p in pairs if not p.reachable]
    assert not unreachable
    for pair in pairs:  # loose: the emulator's accuracy has its own tests and benchmark
        assert pair.expected_ms - 0.5 <= pair.min_ms <= pair.expected_ms * 1.2 + 2.0, pair


def test_topology_command_prints_hosts_links_and_backend(clean_machine):
    result = run_cli("topology", "--ues", "2", "--access", "wifi", "--check")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for needle in ("ue1", "ue2", "10.0.1.254", "10.0.2.2", "10.0.3.2", "150 Mbit/s", "100 Mbit/s",  # wifi's PHY
                   "shaping backend: userspace", "20/20 pairs reachable"):
        assert needle in out, needle


def test_exception_inside_the_network_still_tears_down(clean_machine):
    from topo.network import running_network

    with pytest.raises(RuntimeError, match="boom"):
        with running_network(spec()):
            raise RuntimeError("boom")


def _start_held_network(extra=()):
    proc = subprocess.Popen([sys.executable, str(RUN_PY), "topology", "--hold", *extra], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if "network is up" in line or time.monotonic() > deadline:
            break
    assert proc.poll() is None, proc.stderr.read()
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_tears_down(clean_machine, sig):
    proc = _start_held_network()
    proc.send_signal(sig)
    proc.wait(timeout=30)
    assert "Traceback" not in proc.stderr.read()


def test_sigkill_then_clean_restores_the_machine():
    before = machine_snapshot()
    proc = _start_held_network(["--ues", "2"])
    proc.kill()
    proc.wait()
    left = machine_snapshot()
    assert left["links"] - before["links"], "a SIGKILLed run should leave its bridge and wires for clean"
    result = run_cli("clean")
    assert result.returncode == 0 and "removed" in result.stdout, result.stdout + result.stderr
    time.sleep(0.5)
    after = machine_snapshot()
    assert after["links"] == before["links"] and after["netns"] == before["netns"]
    assert after["procs"] <= before["procs"], after["procs"] - before["procs"]
    assert "nothing to clean" in run_cli("clean").stdout


def test_a_run_after_a_killed_one_removes_what_it_left_in_the_way():
    before = machine_snapshot()
    proc = _start_held_network()
    proc.kill()  # as a machine restored from a snapshot leaves it: the same names, owner gone
    proc.wait()
    again = _start_held_network()  # Mininet alone fails on these names: "RTNETLINK answers: File exists"
    again.send_signal(signal.SIGINT)
    again.wait(timeout=30)
    err = again.stderr.read()
    assert "network: a run that is gone left these behind: removed" in err and "interfaces: ect" in err, err
    assert "Traceback" not in err and "interrupted: everything started was stopped and removed" in err, err
    time.sleep(0.5)
    after = machine_snapshot()
    assert after["links"] == before["links"] and after["netns"] == before["netns"]


def test_an_interface_in_the_way_that_no_run_recorded_is_a_one_line_error():
    subprocess.run(["ip", "link", "add", "name", "ects1", "type", "bridge"], check=True)
    try:
        result = run_cli("topology", "--check")
    finally:
        subprocess.run(["ip", "link", "del", "ects1"], check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert "interface ects1 exists already and no run of this testbed that is gone recorded it" in result.stderr


def test_clean_leaves_other_bridges_alone():
    subprocess.run(["ip", "link", "add", "name", "notours0", "type", "bridge"], check=True)
    try:
        run_cli("clean")
        links = subprocess.run(["ip", "-o", "link", "show", "notours0"], capture_output=True, text=True)
        assert links.returncode == 0, "clean removed a bridge that is not the project's"
    finally:
        subprocess.run(["ip", "link", "del", "notours0"], check=False)


@pytest.mark.netem
def test_kernel_backend_constant_rate_profiles(clean_machine):
    from harness.orchestration.reachability import ping_all_pairs
    from topo.network import running_network

    kernel = TopologySpec(access=load_profile("lte-ideal"), wan=load_profile("wan"), lan=load_profile("lan"),
                          ues=1, backend="kernel")
    with running_network(kernel) as net:
        assert not net.wires()
        pairs = ping_all_pairs(net, count=3, interval_s=0.1)
    for pair in pairs:
        assert pair.reachable and pair.min_ms >= pair.expected_ms * 0.8


def test_second_run_at_once_is_refused_with_one_line(clean_machine):
    proc = _start_held_network()
    try:
        result = run_cli("topology")
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "another run of this testbed is active" in lines[0], result.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
