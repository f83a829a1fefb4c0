"""Hosts of a cluster run: Mininet cluster edition's ``RemoteMixin`` on a plain ``Host``, with the project's ssh.

A :class:`ClusterHost` on ``localhost`` is an ordinary Mininet host. On another server its shell and every
process it starts run there through ssh (``RemoteMixin``), with the project key and known-hosts file
(:func:`topo.cluster.servers.ssh_options`), and carry ``ECT_CLUSTER_OWNER=<this machine>:<pid>`` so that
``clean`` can find them on that server after a crash (topo.cluster.cleanup). A command that names a
``--ready-file`` (a node server) on a server that does not share the results folder gets its ready file, and
its folder as it is then, brought here when it is written there (topo.cluster.ready_relay).
"""
from __future__ import annotations

import os
import shlex
import subprocess

from mininet.node import Host

from topo.cluster.mininet_cluster import load
from topo.cluster.ready_relay import ReadyRelay, ready_file_of
from topo.cluster.servers import OWNER_ENV, REPO_ROOT, Server, owner_tag, ssh_options

_cluster = load()


class ClusterHost(_cluster.RemoteMixin, Host):
    """A host placed on a server (``server=``/``serverIP=``, set by the placer), reached as root over ssh."""
    shared_results: dict = {}   # server name -> sees this machine's results folder (set per network)

    def __init__(self, name, server="localhost", serverIP=None, **params):  # noqa: N803 (Mininet's names)
        self.sshbase = ["ssh", "-q", *ssh_options(), "-tt"]  # read by RemoteMixin.__init__ instead of its own
        self.owner = owner_tag()
        super().__init__(name, server=server, user="root", serverIP=serverIP, **params)

    def startShell(self, *args, **kwargs):
        if self.isRemote:  # ssh itself, not RemoteMixin's 'sudo -E -u root ssh': the harness is root already, and
            # a SIGKILL to sudo would leave its ssh running, holding the caller's pipes open (a teardown that hangs)
            self.sshcmd = [*self.sshbase, self.dest]
        super().startShell(*args, **kwargs)

    def _popen(self, cmd, sudo=True, tt=True, **params):
        if not self.isRemote:
            # As a plain Host: RemoteMixin._popen would make the child its own process-group leader (setpgrp),
            # and ``mnexec -d`` then forks away from the handle (setsid needs a non-leader): the handle exits
            # at once, so a local node looked dead right after its start (issue 18) and its shell was unkillable.
            return Host._popen(self, cmd.split() if isinstance(cmd, str) else list(cmd), **params)
        cmd = cmd.split() if isinstance(cmd, str) else list(cmd)
        cmd = ["env", f"{OWNER_ENV}={self.owner}", *cmd]
        return super()._popen(cmd, sudo=sudo, tt=tt, **params)

    def popen(self, *args, **kwargs):
        """On another server: the command runs from the project's checkout there, with the environment the
        caller gave (what differs from ours), and stops when its ssh does (a SIGTERM to the returned process
        closes ssh; the command there reads EOF and gets SIGTERM), so callers stop it as a local process; when
        it exits there, its ssh here exits with its status. A ``--ready-file`` in the command: its folder is made
        there and an old one removed before the command starts, and it comes here once written
        (:class:`ReadyRelay`, unless the server shares the results folder)."""
        if not self.isRemote:
            return super().popen(*args, **kwargs)
        argv = list(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else [str(a) for a in args]
        env = kwargs.pop("env", None) or {}
        changed = [f"{k}={v}" for k, v in env.items() if os.environ.get(k) != v and k.isidentifier()]
        kwargs.pop("cwd", None)
        kwargs["stdin"] = subprocess.PIPE  # held open: its EOF on the server is the stop
        command = shlex.join(["env", *changed, *argv]) if changed else shlex.join(argv)
        ready = ready_file_of(argv)
        prepare = f"mkdir -p {shlex.quote(str(ready.parent))} && rm -f {shlex.quote(str(ready))} && " if ready else ""
        script = f"cd {shlex.quote(str(REPO_ROOT))} && {prepare}{{ {command} <&- & {REMOTE_WAIT}; }}"
        proc = super().popen(["sh", "-c", shlex.quote(script)], **kwargs)
        if ready is not None and not self._shares_results():
            ReadyRelay(Server(self.server, self.serverIP), ready, proc, self.owner).start()
        return proc

    def _shares_results(self) -> bool:
        """Does this host's server see this machine's results folder (as the running cluster session found: its
        ``shared`` dict, given to the network's host class as ``shared_results``)? Unknown counts as no: the relay
        itself notices a shared folder and then leaves the files alone."""
        return bool(self.shared_results.get(self.server, False))

    def terminate(self):
        """On another server, also everything still running in this host's namespace there (TERM, then KILL),
        so its namespace and the tunnel end inside it go."""
        if self.isRemote and self.pid:
            Server(self.server, self.serverIP).run(KILL_NAMESPACE.format(pid=int(self.pid)), timeout_s=15.0)
        super().terminate()


# After ``COMMAND &``: a watcher stops the command when ssh's stdin ends (or on SIGTERM); the wrapper exits with the
# command's status as soon as it exits, so a node that dies on the server ends its ssh here (seen at once).
REMOTE_WAIT = ("child=$!; exec 3<&0; trap 'kill -TERM $child 2>/dev/null' TERM; "
               "( read _ <&3; kill -TERM $child 2>/dev/null ) & watcher=$!; exec 3<&-; "
               "code=0; wait $child || code=$?; while kill -0 $child 2>/dev/null; do wait $child; code=$?; done; "
               "kill $watcher 2>/dev/null; exit $code")

KILL_NAMESPACE = r"""ns=$(readlink /proc/{pid}/ns/net) || exit 0
members() {{ for p in /proc/[0-9]*; do [ "$(readlink $p/ns/net 2>/dev/null)" = "$ns" ] && echo ${{p#/proc/}}; done; }}
for sig in TERM KILL; do
  pids=$(members | grep -vx {pid}); [ -n "$pids" ] && kill -$sig $pids 2>/dev/null; sleep 0.3
done
kill -KILL {pid} 2>/dev/null; true
"""
