"""``cluster check``: is each server ready for a cluster run? One line per problem, nothing when ready.

A server is ready when ssh reaches it as root with the project key without a prompt, and it has what the
remote half of a run uses: root (and ``sudo``, which Mininet's remote nodes prefix), Mininet (``mnexec`` and
the Python package), this project at the same path with its ``.venv``, VXLAN in its kernel, and the tools.
"""
from __future__ import annotations

from dataclasses import dataclass

from topo.cluster.servers import REPO_ROOT, Server, key_path

TOOLS = ("ip", "ethtool", "mnexec", "tcpdump", "tar")

CHECK_SCRIPT = r"""
repo={repo}
[ "$(id -u)" = 0 ] || echo "not root (uid $(id -u)): log in as root (the ssh user must be root)"
command -v sudo >/dev/null && sudo -n true 2>/dev/null || echo "sudo missing or asks a password: apt-get install sudo (Mininet's remote nodes run 'sudo -E')"
/usr/bin/python3 -c 'import mininet.net' 2>/dev/null || echo "mininet is not importable by /usr/bin/python3: apt-get install mininet"
for tool in {tools}; do command -v $tool >/dev/null || echo "$tool is not installed: run 'sudo ./setup.sh' in $repo"; done
if [ ! -f "$repo/harness/run.py" ]; then
  echo "the project is not at $repo: check out the same commit at the same path (git clone, or rsync -a $repo/ SERVER:$repo/)"
elif [ ! -x "$repo/.venv/bin/python" ]; then
  echo "no Python environment at $repo/.venv: run 'sudo ./setup.sh' there"
else
  (cd "$repo" && .venv/bin/python -c 'import topo.emulator.io_loop, mininet.net' 2>/dev/null) || echo "$repo/.venv cannot import the project and mininet: run 'sudo ./setup.sh' there"
fi
name=ectvxchk$$
if ip link add "$name" type vxlan id 4242 dstport 4789 local 127.0.0.1 2>/dev/null; then ip link del "$name"
else echo "the kernel cannot make VXLAN interfaces (ip link add type vxlan failed): load the vxlan module (modprobe vxlan)"
fi
"""


@dataclass(frozen=True)
class ServerReport:
    server: Server
    problems: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        if self.ready:
            return [f"{self.server.name}: ready"]
        return [f"{self.server.name}: {problem}" for problem in self.problems]


def check_server(server: Server, repo: str = str(REPO_ROOT)) -> ServerReport:
    if not server.is_local:
        reach = server.run("true", timeout_s=15.0)
        if reach.returncode != 0:
            detail = (reach.stderr.strip().splitlines() or ["no answer"])[-1]
            return ServerReport(server, (
                f"ssh to {server.user}@{server.address} with the project key fails ({detail}): put "
                f"{key_path()}.pub into {server.user}'s ~/.ssh/authorized_keys there (ssh-copy-id -i {key_path()})",))
    result = server.run(CHECK_SCRIPT.format(repo=repo, tools=" ".join(TOOLS)), timeout_s=60.0)
    problems = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 and not problems:
        problems.append(f"the check script failed there (exit {result.returncode}): {result.stderr.strip()[-200:]}")
    return ServerReport(server, tuple(problems))


def check_servers(servers: list[Server]) -> list[ServerReport]:
    return [check_server(server) for server in servers]
