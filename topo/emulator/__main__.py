"""``python -m topo.emulator --config CONFIG.json``: one userspace link emulator process.

Prints ``ready start_ns=N`` on stdout once forwarding (N: the monotonic time its traces start
from); on bad config or a missing interface prints one ``error: ...`` line on stderr and exits 2.
Stops on SIGTERM/SIGINT and when its parent dies; then writes its logs (see topo/emulator/recorders.py,
source_bins.py) and ``<name>-counters.json`` (counts, lateness p50/p99 and where it came from, CPU, the scheduling it got).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys

from topo.emulator.config import EmulatorConfig
from topo.emulator.control import control_path
from topo.emulator.io_loop import LinkEmulator, die_with_parent
from topo.emulator.measurements import settle_heap
from topo.emulator.wakeup import request_scheduling


def main(argv=None) -> int:
    parent_pid = os.getppid()
    parser = argparse.ArgumentParser(prog="python -m topo.emulator", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON config (see topo/emulator/config.py)")
    args = parser.parse_args(argv)
    die_with_parent(parent_pid)
    scheduling = request_scheduling()  # SCHED_FIFO where permitted; what it got goes into the counters
    try:
        config = EmulatorConfig.from_file(args.config)
        emulator = LinkEmulator(config, control_file=control_path(args.config), ack_to=args.config)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2
    emulator.scheduling = scheduling
    signal.signal(signal.SIGTERM, emulator.request_stop)
    signal.signal(signal.SIGINT, emulator.request_stop)
    signal.signal(signal.SIGUSR1, emulator.request_control)  # rate changes: topo/emulator/control.py
    try:
        try:
            emulator.open()
        except (RuntimeError, OSError) as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            return 2
        settle_heap()  # set-up's objects out of the garbage collector's way (a 6-8 ms pause otherwise)
        print(f"ready start_ns={round(emulator.start_s * 1e9)}", flush=True)
        emulator.run()
        return 0
    finally:
        emulator.close()


if __name__ == "__main__":
    sys.exit(main())
