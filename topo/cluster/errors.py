"""Errors of the cluster package (one line each, saying what to do)."""
from topo.errors import TopoError


class ClusterError(TopoError):
    """A server that cannot be reached, prepared or used, or a placement that cannot work."""
