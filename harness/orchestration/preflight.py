"""What every command checks before it builds anything: each profile's trace files parse, and the fault
schedule can be applied on the links it names. A bad input fails here, in a fraction of a second, with
one line; no network, results folder or progress bar exists yet."""
from __future__ import annotations

from harness.errors import HarnessError
from harness.orchestration.faults import FaultError, parse_schedule
from topo.profiles import LinkProfile


def check_traces(profiles) -> None:
    """Parse every trace file the profiles name (rate and delay traces, both directions) now.

    TraceFormatError names the file and line; a file that cannot be read at all is a HarnessError."""
    from traces.readers import read_delay_csv, read_delivery_trace

    for profile in profiles:
        for direction, spec in (("uplink", profile.up), ("downlink", profile.down)):
            for path, read in ((spec.rate_trace, read_delivery_trace), (spec.delay_trace, read_delay_csv)):
                if path is None:
                    continue
                try:
                    read(path)
                except OSError as err:
                    raise HarnessError(f"{path}: cannot read the {direction} trace of profile {profile.name!r} "
                                       f"({err.strerror or err})") from None


def check_faults_possible(faults, backend: str, profiles: dict[str, list[LinkProfile]]) -> None:
    """Refuse a rate fault on a link without a userspace emulator (``profiles``: link name -> its profiles)."""
    for fault in parse_schedule(faults):
        if fault.kind != "rate":
            continue
        shaped = all(p.up.shaped or p.down.shaped for p in profiles[fault.target])
        if backend != "userspace" or not shaped:
            raise FaultError(f"fault {fault.text!r}: rate changes need the userspace link backend and a shaped "
                             f"{fault.target} link (backend here: {backend}); use --link-backend userspace")
