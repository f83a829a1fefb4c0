"""Hosts of a cluster run: Mininet cluster edition's ``RemoteMixin`` on a plain ``Host``, with the project's ssh.

A :class:`ClusterHost` on ``localhost`` is an ordinary Mininet host. On another server its shell and every
process it starts run there through ssh (``RemoteMixin``), with the project key and known-hosts file
(:func:`topo.cluster.servers.ssh_options`), and carry ``ECT_CLUSTER_OWNER=<this machine>:<pid>`` so that
``clean`` can find them on that server after a crash (topo.cluster.cleanup).
"""
from __future__ import annotations

from mininet.node import Host

from topo.cluster.mininet_cluster import load
from topo.cluster.servers import OWNER_ENV, owner_tag, ssh_options

_cluster = load()


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
