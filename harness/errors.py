"""The exceptions the CLI reports as one line (user mistakes and missing requirements)."""
from topo.errors import TopoError
from topo.profiles import ProfileError


class HarnessError(RuntimeError):
    """A run that cannot go on; the message says what to do."""


USER_ERRORS: tuple[type[BaseException], ...] = (HarnessError, TopoError, ProfileError, ValueError, OSError)
