"""The test server (sshd in a namespace), `cluster check` against it, a VXLAN link to it shaped by the
userspace emulator, and `clean` after a crash that left a test server and its remote processes (issue 18)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import psutil
import pytest

from conftest import REPO_ROOT, leaked_since, machine_snapshot, run_cli
from topo.cluster.check import check_server
from topo.cluster.errors import ClusterError
from topo.cluster.servers import CLUSTER_DIR, resolve
from topo.cluster.test_server import NAMESPACE, running_test_server
from topo.profiles import DirectionSpec

pytestmark = [pytest.mark.root, pytest.mark.slow]


def _sshd_pids() -> list[int]:
    return [p.pid for p in psutil.process_iter(["cmdline"]) if "sshd_config" in " ".join(p.info["cmdline"] or [])
            and str(CLUSTER_DIR) in " ".join(p.info["cmdline"] or [])]


def _namespaces() -> list[str]:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()


def test_test_server_is_reached_by_ssh_and_leaves_nothing(clean_machine):
    with running_test_server() as server:
        result = server.run("id -u; ip -o -4 addr show eth0")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[0] == "0" and server.address in result.stdout
        report = check_server(server)
        assert report.ready, report.lines()
        broken = check_server(server, repo="/nonexistent/checkout")
        assert [l for l in broken.lines() if "the project is not at /nonexistent/checkout" in l], broken.lines()
        assert _sshd_pids()
    assert NAMESPACE not in _namespaces() and not _sshd_pids()


def test_test_server_is_removed_on_error_too(clean_machine):
    with pytest.raises(RuntimeError, match="boom"), running_test_server():
        raise RuntimeError("boom")
    assert NAMESPACE not in _namespaces() and not _sshd_pids()


def test_a_second_test_server_is_refused_without_harming_the_first(clean_machine):
    with running_test_server() as server:
        with pytest.raises(ClusterError, match="exists already"), running_test_server():
            pass
        assert server.run("true").returncode == 0  # the first still answers


def test_cli_cluster_check_reports_ready_servers(clean_machine):
    with running_test_server() as server:
        result = run_cli("cluster", "check", "--servers", f"localhost,{server.address}", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["localhost: ready", f"{server.address}: ready"]


def _ping_ms(h1, count=20) -> list[float]:
    out = h1.cmd(f"ping -n -c {count} -i 0.05 -W 1 10.9.0.2")
    return [float(m) for m in re.findall(r"time=([\d.]+)", out)]


def test_vxlan_link_to_the_test_server_is_shaped_by_the_emulator(clean_machine):
    from topo.cluster.pair import running_pair

    with running_test_server() as server:
        servers = [resolve("localhost"), server]
        with running_pair(servers, h2_server=2, shaping=DirectionSpec(rate_bps=20e6, delay_ms=4.0)) as pair:
            h2 = pair.host("h2")
            assert h2.isRemote and h2.server == server.name
            assert "vxlan id" in h2.cmd("ip -d link show h2-eth0")  # the tunnel's end is inside h2, on server 2
            assert pair.tunnel_mtu_bytes == 1500
            rtts = sorted(_ping_ms(pair.host("h1")))
            big = pair.host("h1").cmd("ping -n -c 3 -i 0.2 -M do -s 1472 10.9.0.2")  # full 1500-byte frames
        assert len(rtts) >= 18
        assert 8.0 <= rtts[len(rtts) // 2] <= 8.0 + 3.0, rtts  # 2 x 4 ms, plus serialisation and the tunnel
        assert " 0% packet loss" in big, big


def _start_crashing_run(server=None) -> subprocess.Popen:
    """A child that runs a pair across a test server, prints 'up', then waits to be SIGKILLed: its own test
    server (which dies with it), or the live ``server`` given (which outlives it, as a real second machine)."""
    if server is None:
        head, indent = ("from topo.cluster.test_server import running_test_server\n"
                        "with running_test_server() as s:\n"), "    "
    else:
        head, indent = f"s = Server({server.name!r}, {server.address!r})\n", ""
    code = ("import time\n"
            "from topo.cluster.servers import Server, resolve\n"
            "from topo.cluster.pair import running_pair\n"
            + head
            + f"{indent}with running_pair([resolve('localhost'), s], h2_server=2, shaping=None) as p:\n"
            + f"{indent}    p.host('h2').cmd('sleep 300 &')\n"
            + f"{indent}    print('up', flush=True); time.sleep(300)\n")
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)


def test_clean_removes_a_crashed_cluster_run_everywhere():
    before = machine_snapshot()
    child = _start_crashing_run()
    try:
        assert child.stdout.readline().strip() == "up"
        assert NAMESPACE in _namespaces() and _sshd_pids()
        tagged = [p for p in psutil.process_iter() if _tag(p) == f"{_hostname()}:{child.pid}"]
        assert tagged, "the remote processes carry the run's tag"
    finally:
        child.kill()
        child.wait()
    # What ``clean`` does, limited to the dead child's records (the whole ``clean`` would also touch other runs'):
    # the cluster part first (topo.cluster.cleanup, called by topo.cleanup.clean), then the child's own records.
    from topo.cleanup import clean_state
    from topo.cluster.cleanup import clean_dead_runs
    from topo.registry import load_states

    states = [s for s in load_states() if s.owner_pid == child.pid]
    assert {s.tag for s in states} == {"cluster-server", "cluster-pair"}
    removed = clean_dead_runs(states)
    assert "test server ectsrv2 of dead run %d" % child.pid in removed, removed
    for state in states:
        clean_state(state)
    time.sleep(0.5)
    assert NAMESPACE not in _namespaces() and not _sshd_pids()
    assert not [p for p in psutil.process_iter() if _tag(p) == f"{_hostname()}:{child.pid}"]
    assert not leaked_since(before)


def _hostname() -> str:
    import socket
    return socket.gethostname()


def _tag(proc) -> str:
    try:
        return proc.environ().get("ECT_CLUSTER_OWNER", "")
    except psutil.Error:
        return ""


def test_clean_reaches_a_live_server_over_ssh_for_a_crashed_runs_processes():
    """The server outlives the run (a real second machine): clean asks it over ssh to kill the run's processes."""
    from topo.cleanup import clean_state
    from topo.cluster.cleanup import clean_dead_runs
    from topo.registry import load_states

    before = machine_snapshot()
    with running_test_server() as server:
        child = _start_crashing_run(server)
        try:
            assert child.stdout.readline().strip() == "up"
            tag = f"{_hostname()}:{child.pid}"
            deadline = time.monotonic() + 5.0
            while not (remote := [p for p in psutil.process_iter() if _tag(p) == tag and _off_root_namespace(p)]) \
                    and time.monotonic() < deadline:
                time.sleep(0.1)
            assert remote, "the run's processes on server 2 carry its tag"
        finally:
            child.kill()
            child.wait()
        states = [s for s in load_states() if s.owner_pid == child.pid]
        removed = clean_dead_runs(states)
        assert f"server {server.name}: processes of run {tag}" in removed, removed
        for state in states:
            clean_state(state)
        psutil.wait_procs(remote, timeout=3.0)
        assert not [p for p in psutil.process_iter() if _tag(p) == tag]
        assert server.run("true").returncode == 0, "the server itself is left running"
    assert not leaked_since(before)


def _off_root_namespace(proc) -> bool:
    """Does ``proc`` run outside this machine's root network namespace (on the test server, or in a host there)?"""
    try:
        return os.readlink(f"/proc/{proc.pid}/ns/net") != os.readlink("/proc/self/ns/net")
    except OSError:
        return False
