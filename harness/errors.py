"""The harness's own error types: a run that cannot go on, and a bad experiment option.

A user mistake or a missing requirement raises one of these (or another project error type, see
harness/cli/user_errors.py) with a message that says what to do; the CLI reports it as one line.
This module imports nothing of the harness, so every part of it (spec, faults, orchestration) can.
"""


class HarnessError(RuntimeError):
    """A run that cannot go on; the message says what to do."""


class SpecError(ValueError):
    """A bad experiment option; the message names the option, the value and its source."""
