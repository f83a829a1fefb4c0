"""Errors of the topo package: each message is one line that says what to do."""


class TopoError(RuntimeError):
    """A network that cannot be built, started or cleaned."""


class LinkBackendError(TopoError):
    """A link backend that cannot provide what a profile asks for."""


class CommandError(TopoError):
    """An external command that failed or is missing."""
