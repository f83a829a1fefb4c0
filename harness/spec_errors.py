"""The error type of experiment options (its own module, so ``harness.spec`` and ``harness.faults`` both
import it without importing each other's way round)."""


class SpecError(ValueError):
    """A bad experiment option; the message names the option, the value and its source."""
