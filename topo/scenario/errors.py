"""The scenario package's error: a scenario file or value that cannot be used (one line, file and key named)."""
from __future__ import annotations

from topo.errors import TopoError


class ScenarioError(TopoError):
    """A bad scenario file or value; the message names the file (when there is one) and the key."""
