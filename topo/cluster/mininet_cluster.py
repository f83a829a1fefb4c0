"""Mininet's cluster edition, as Debian ships it: ``/usr/share/doc/mininet/examples/cluster.py``.

Debian installs the examples as documentation, outside ``sys.path``; :func:`load` makes them importable as
``mininet.examples`` (the package name cluster.py itself uses for ``clustercli``) and returns the module, so
the project composes its public classes (``RemoteMixin``, ``RemoteLink``, ``Placer``, ``MininetCluster``)
rather than copying them.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from pathlib import Path

from topo.cluster.errors import ClusterError

EXAMPLE_DIRS = (Path("/usr/share/doc/mininet/examples"), Path("/usr/lib/python3/dist-packages/mininet/examples"))


def _register_examples_package() -> None:
    import mininet

    if "mininet.examples" in sys.modules:
        return
    for folder in EXAMPLE_DIRS:
        if (folder / "cluster.py").is_file():
            spec = importlib.util.spec_from_file_location(
                "mininet.examples", folder / "__init__.py", submodule_search_locations=[str(folder)])
            module = importlib.util.module_from_spec(spec)
            sys.modules["mininet.examples"] = module
            spec.loader.exec_module(module)
            mininet.examples = module
            return
    raise ClusterError("Mininet's cluster edition (mininet/examples/cluster.py) is not installed: "
                       "run 'sudo ./setup.sh' (apt package mininet)")


def load():
    """The ``mininet.examples.cluster`` module."""
    try:
        return importlib.import_module("mininet.examples.cluster")
    except ModuleNotFoundError as err:
        if err.name not in ("mininet.examples", "mininet.examples.cluster"):
            raise
    _register_examples_package()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # cluster.py imports distutils.version
        return importlib.import_module("mininet.examples.cluster")
