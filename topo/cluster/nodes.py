"""Hosts of a cluster run: Mininet cluster edition's ``RemoteMixin`` on a plain ``Host``, with the project's ssh.

A :class:`ClusterHost` on ``localhost`` is an ordinary Mininet host. On another server its shell and every
process it starts run there through ssh (``RemoteMixin``), with the project key and known-hosts file
(:func:`topo.cluster.servers.ssh_options`), and carry ``ECT_CLUSTER_OWNER=<this machine>:<pid>`` so that
``clean`` can find them on that server after a crash (topo.cluster.cleanup).
"""
from __future__ import annotations

import contextlib
import itertools
import os
import shlex
import signal
import subprocess

from mininet.node import Host

from topo.cluster.mininet_cluster import load
from topo.cluster.servers import OWNER_ENV, REPO_ROOT, Server, owner_tag, pid_folder, ssh_options

_cluster = load()
_popen_numbers = itertools.count(1)
SIGNAL_TIMEOUT_S = 10.0


class RemoteProcess(subprocess.Popen):
    """The local ssh of a command on another server. ``send_signal`` (so ``terminate`` and ``kill``) signals the
    command there, by the pid it wrote to ``pidfile``; the ssh then ends with the command's exit status."""

    def __init__(self, argv, *, server: Server, pidfile: str, **kwargs):
        self.server, self.pidfile = server, pidfile
        super().__init__(argv, **kwargs)

    def send_signal(self, sig):
        if self.poll() is not None:
            return
        script = (f"for i in $(seq 50); do [ -s {self.pidfile} ] && break; sleep 0.1; done; "
                  f"kill -{int(sig)} $(cat {self.pidfile})")
        if self.server.run(script, timeout_s=SIGNAL_TIMEOUT_S).returncode == 0:
            return
        try:  # the command is gone (its ssh ends on its own) or the server does not answer: end the ssh
            self.wait(1.0)
        except subprocess.TimeoutExpired:
            super().send_signal(sig)

    def kill_group(self):
        """What ``NodeProcess`` does to a crashed node: SIGKILL there, then this ssh's process group."""
        self.send_signal(signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)


class ClusterHost(_cluster.RemoteMixin, Host):
    """A host placed on a server (``server=``/``serverIP=``, set by the placer), reached as root over ssh."""

    def __init__(self, name, server="localhost", serverIP=None, **params):  # noqa: N803 (Mininet's names)
        self.sshbase = ["ssh", "-q", *ssh_options(), "-tt"]  # read by RemoteMixin.__init__ instead of its own
        self.owner = owner_tag()
        super().__init__(name, server=server, user="root", serverIP=serverIP, **params)

    def _popen(self, cmd, sudo=True, tt=True, **params):
        if self.isRemote:
            cmd = cmd.split() if isinstance(cmd, str) else list(cmd)
            cmd = ["env", f"{OWNER_ENV}={self.owner}", *cmd]
        return super()._popen(cmd, sudo=sudo, tt=tt, **params)

    def popen(self, *args, **kwargs):
        """On another server: a :class:`RemoteProcess` running the command from the project's checkout there,
        in this host's namespace, with the environment the caller gave (what differs from ours). Its ssh holds
        no stdin (nothing there depends on it); signals go to the command itself, by the pid it recorded there,
        so callers stop it as a local process and the exit status is the command's."""
        if not self.isRemote:
            return super().popen(*args, **kwargs)
        argv = list(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else [str(a) for a in args]
        env = kwargs.pop("env", None) or {}
        changed = [f"{k}={v}" for k, v in env.items() if os.environ.get(k) != v and k.isidentifier()]
        for ignored in ("cwd", "start_new_session", "preexec_fn"):
            kwargs.pop(ignored, None)  # its own process group below; the checkout's path is REPO_ROOT there
        kwargs["stdin"] = subprocess.DEVNULL
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        pidfile = f"{pid_folder(self.owner)}/{next(_popen_numbers)}.pid"
        command = shlex.join(["env", *changed, *argv]) if changed else shlex.join(argv)
        script = (f"mkdir -p {pid_folder(self.owner)} && echo $$ > {pidfile} && cd {shlex.quote(str(REPO_ROOT))} "
                  f"&& exec {command}")
        remote = ["sudo", "-E", "env", f"{OWNER_ENV}={self.owner}", "mnexec", "-a", str(self.pid),
                  "sh", "-c", shlex.quote(script)]
        ssh = [word for word in self.sshcmd if word != "-tt"]
        return RemoteProcess(ssh + remote, server=Server(self.server, self.serverIP), pidfile=pidfile,
                             preexec_fn=os.setpgrp, **kwargs)

    def terminate(self):
        """On another server, also everything still running in this host's namespace there (TERM, then KILL),
        so its namespace and the tunnel end inside it go."""
        if self.isRemote and self.pid:
            Server(self.server, self.serverIP).run(KILL_NAMESPACE.format(pid=int(self.pid)), timeout_s=15.0)
        super().terminate()


KILL_NAMESPACE = r"""ns=$(readlink /proc/{pid}/ns/net) || exit 0
members() {{ for p in /proc/[0-9]*; do [ "$(readlink $p/ns/net 2>/dev/null)" = "$ns" ] && echo ${{p#/proc/}}; done; }}
for sig in TERM KILL; do
  pids=$(members | grep -vx {pid}); [ -n "$pids" ] && kill -$sig $pids 2>/dev/null; sleep 0.3
done
kill -KILL {pid} 2>/dev/null; true
"""
