"""What a crashed cluster run left, on every server it used; called by ``clean`` (topo.cleanup).

A cluster run records ``/run/ect/cluster-<pid>.json`` (its servers) before it reaches any of them
(:func:`cluster_recorded`). Its processes on a server carry ``ECT_CLUSTER_OWNER=<this host>:<pid>``
(topo.cluster.nodes). When the owner pid is gone, :func:`clean_dead_runs` asks each of those servers, over ssh
with the project key, to kill the processes carrying that tag (``python -m topo.cluster.cleanup --owner TAG``,
run from the project's checkout there); the Mininet hosts' namespaces, and the VXLAN ends inside them, go with
their shells. A crashed test server (topo.cluster.test_server) is removed here too: every process inside its
namespace, then the namespace and its veth.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from dataclasses import asdict

import psutil

from topo.cluster.servers import OWNER_ENV, REPO_ROOT, Server, owner_tag
from topo.cluster.test_server import NAMESPACE, STATE_TAG, TestServerSpec, remove_namespace
from topo.registry import STATE_DIR


def _state_path(pid: int):
    return STATE_DIR / f"cluster-{pid}.json"


@contextlib.contextmanager
def cluster_recorded(servers: list[Server]):
    """Record this run's servers for ``clean`` while the block runs."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    path = _state_path(os.getpid())
    path.write_text(json.dumps({"owner_pid": os.getpid(), "owner": owner_tag(),
                                "servers": [asdict(s) for s in servers]}))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def kill_tagged(owner: str) -> list[str]:
    """Kill this machine's processes whose environment carries ``ECT_CLUSTER_OWNER=owner``."""
    victims = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if proc.environ().get(OWNER_ENV) == owner:
                victims.append(proc)
        except psutil.Error:
            continue
    killed = []
    for proc in victims:
        with contextlib.suppress(psutil.Error):
            killed.append(f"{proc.pid} {' '.join(proc.cmdline())[:60]}")
            proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(victims, timeout=2.0)
    return killed


def _dead_local_tags() -> list[str]:
    """Tags of this machine's dead runs, from their leftover processes (a test server shares this machine)."""
    host = owner_tag(1).rsplit(":", 1)[0]
    tags = set()
    for proc in psutil.process_iter():
        try:
            tag = proc.environ().get(OWNER_ENV, "")
        except psutil.Error:
            continue
        name, _, pid = tag.rpartition(":")
        if name == host and pid.isdigit() and not _alive(int(pid)):
            tags.add(tag)
    return sorted(tags)


def clean_dead_runs(states) -> list[str]:
    """Remove what dead cluster runs left on their servers; ``states`` are topo.registry states of this machine
    (for the test server's). Returns one line per thing removed."""
    removed, gone = [], set()
    for state in states:
        if state.tag == STATE_TAG and not _alive(state.owner_pid):
            for namespace in state.namespaces or [NAMESPACE]:
                remove_namespace(namespace, namespace)  # its processes first: ``ip netns del`` leaves them running
                removed.append(f"test server {namespace} of dead run {state.owner_pid}")
            gone.add(TestServerSpec().server_address)  # what ran in it is gone with it
    for path in sorted(STATE_DIR.glob("cluster-*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            continue
        if _alive(record["owner_pid"]):
            continue
        for server in (Server(**s) for s in record["servers"]):
            if server.is_local or server.address in gone:
                continue
            result = server.run(f"cd {REPO_ROOT} && .venv/bin/python -m topo.cluster.cleanup --owner "
                                f"{record['owner']}", timeout_s=30.0)
            if result.returncode == 0:
                removed.append(f"server {server.name}: processes of run {record['owner']}")
            else:
                detail = (result.stderr.strip().splitlines() or ["no answer"])[-1]
                removed.append(f"server {server.name} not cleaned ({detail}): run 'sudo python harness/run.py "
                               f"clean' there")
        path.unlink(missing_ok=True)
    for tag in _dead_local_tags():
        removed += kill_tagged(tag)
    return removed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="kill this server's processes of a dead cluster run")
    parser.add_argument("--owner", required=True, help="the run's tag, HOST:PID")
    args = parser.parse_args(argv)
    for line in kill_tagged(args.owner):
        print(f"killed {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
