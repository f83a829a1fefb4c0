"""`cluster`: servers for Mininet's cluster edition: ``check`` them, or run a ``test-server`` on this machine."""
from __future__ import annotations

import signal
import time

from harness.cli.help_text import add_command
from topo.cluster.check import check_servers
from topo.cluster.servers import key_path, parse_servers
from topo.cluster.test_server import running_test_server

EXAMPLES = [
    "sudo python harness/run.py cluster check --servers localhost,server2.lab",
    "sudo python harness/run.py cluster test-server",
    "sudo python harness/run.py cluster check --servers localhost,10.254.2.2",
]


def add_parser(sub) -> None:
    parser = add_command(
        sub, "cluster", summary="check the servers of a cluster run, or run a test server on this machine",
        description="Servers for Mininet's cluster edition (hosts placed on several servers over ssh, links carried "
                    "over VXLAN). 'check' verifies each server and prints one line per problem (exit 1 when there "
                    "is one). 'test-server' runs a second server on this machine (sshd in a network namespace, "
                    "reached with the project key) until Ctrl-C.",
        examples=EXAMPLES)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="verify each server: ssh with the project key, root, mininet, "
                                             "the project and its .venv, VXLAN")
    check.add_argument("--servers", required=True, metavar="HOST[,...]",
                       help="servers as ssh reaches them (names or addresses; 'localhost' is this machine)")
    check.set_defaults(func=run_check)
    test = actions.add_parser("test-server", help="run sshd in a network namespace as a second server until Ctrl-C")
    test.add_argument("--own-disk", action="append", default=[], metavar="FOLDER",
                      help="the server sees an empty folder of its own here instead of this machine's (e.g. a "
                           "--results-dir): a server that does not share it; repeatable")
    test.set_defaults(func=run_test_server)


def run_check(args) -> int:
    reports = check_servers(parse_servers(args.servers))
    for report in reports:
        for line in report.lines():
            print(line)
    return 0 if all(r.ready for r in reports) else 1


def _stop_on_term(_signum, _frame):
    raise KeyboardInterrupt


def run_test_server(args) -> int:
    from pathlib import Path

    from topo.cluster.errors import ClusterError
    from topo.cluster.test_server import TestServerSpec

    folders = tuple(str(Path(f).resolve()) for f in args.own_disk)
    for folder in folders:
        if not Path(folder).is_dir():
            raise ClusterError(f"--own-disk {folder}: no such folder (make it first)")
    previous = signal.signal(signal.SIGTERM, _stop_on_term)
    try:
        with running_test_server(TestServerSpec(private_folders=folders)) as server:
            print(f"test server up: ssh -i {key_path()} root@{server.address}  (Ctrl-C stops it)", flush=True)
            while True:
                time.sleep(3600)
    finally:
        signal.signal(signal.SIGTERM, previous)


def add_cluster_options(parser) -> None:
    """``--servers`` and ``--place`` of an experiment that can run over several servers."""
    group = parser.add_argument_group("several servers (Mininet's cluster edition; README: 'Several servers')")
    group.add_argument("--servers", metavar="HOST[,...]",
                       help="run the network over these servers: localhost first (this machine), then servers "
                            "reached by ssh with the project key; check them first with 'cluster check'")
    group.add_argument("--place", metavar="HOST=SERVER[,...]",
                       help="which host runs where, e.g. cloud=server2 (serverN counts --servers from 1); the "
                            "others, the switches and the link emulators stay on server1")


def run_on_cluster(args, spec, run):
    """``run(spec)`` with every network spread over ``--servers`` as ``--place`` says (or plainly, without
    ``--servers``). Every server is checked first: a problem is one error naming the server and what to do."""
    import dataclasses

    from topo.cluster.errors import ClusterError
    from topo.cluster.placement import parse_placement
    from topo.cluster.session import using_cluster

    if not getattr(args, "servers", None):
        if getattr(args, "place", None):
            raise ClusterError("--place needs --servers (the servers to place hosts on)")
        return run(spec)
    servers = parse_servers(args.servers)
    placement = parse_placement(args.place or "")
    problems = [line for report in check_servers(servers) for line in report.lines() if not report.ready]
    if problems:
        raise ClusterError(f"{len(problems)} problem(s) with --servers: " + "; ".join(problems))
    if spec.link_backend != "userspace":
        print("note: a cluster run shapes its links with the userspace emulator (--link-backend userspace)")
        spec = dataclasses.replace(spec, link_backend="userspace")
    with using_cluster(servers, placement):
        return run(spec)
