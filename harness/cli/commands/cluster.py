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
    test.set_defaults(func=run_test_server)


def run_check(args) -> int:
    reports = check_servers(parse_servers(args.servers))
    for report in reports:
        for line in report.lines():
            print(line)
    return 0 if all(r.ready for r in reports) else 1


def _stop_on_term(_signum, _frame):
    raise KeyboardInterrupt


def run_test_server(_args) -> int:
    previous = signal.signal(signal.SIGTERM, _stop_on_term)
    try:
        with running_test_server() as server:
            print(f"test server up: ssh -i {key_path()} root@{server.address}  (Ctrl-C stops it)", flush=True)
            while True:
                time.sleep(3600)
    finally:
        signal.signal(signal.SIGTERM, previous)
