"""The exceptions the CLI reports as one line: the project's own error types, and nothing else.

A user mistake or a missing requirement raises one of these with a message that says what to do.
Anything else (a bare ValueError, KeyError, OSError from code that did not expect it) is a bug:
the CLI shows its traceback and says so (harness/cli/main.py), never a one-line "error:".
"""
from __future__ import annotations

import importlib
import sys

from harness.errors import HarnessError, SpecError
from topo.errors import TopoError
from topo.profiles import ProfileError

USER_ERRORS: tuple[type[BaseException], ...] = (HarnessError, SpecError, TopoError, ProfileError)
"""The project error types every command has loaded (FaultError and CollabSpecError are SpecErrors,
LinkBackendError a TopoError)."""

LOADED_LATER = (
    ("harness.analysis.report", "ReportError"),            # a results folder that cannot be analysed
    ("harness.analysis.pcap_reader", "CaptureFileError"),  # a pcap of a results folder that cannot be read
    ("traces.trace_types", "TraceFormatError"),            # a trace file that does not parse
    ("models.errors", "ModelError"),                       # model set, data set, build settings, device
    ("nodes.errors", "NodeConfigError"),                   # a node option or manifest entry
)
"""Project error types whose modules are costly to import (matplotlib, numpy) or not every command's: looked up
only when an exception arrives. A module that was never imported cannot have raised its error."""


def user_errors() -> tuple[type[BaseException], ...]:
    """USER_ERRORS plus the error types of LOADED_LATER whose modules are loaded."""
    found = list(USER_ERRORS)
    for module_name, class_name in LOADED_LATER:
        if module_name in sys.modules:
            found.append(getattr(importlib.import_module(module_name), class_name))
    return tuple(found)


def is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, user_errors())
