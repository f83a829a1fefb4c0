"""External commands: argument lists, return codes checked, missing tools named."""
from __future__ import annotations

import shutil
import subprocess

from topo.errors import CommandError

REQUIRED_TOOLS = {"ip": "iproute2", "tc": "iproute2", "ethtool": "ethtool", "mnexec": "mininet",
                  "brctl": "bridge-utils", "ping": "iputils-ping"}


def run(argv: list[str], check: bool = True, timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Run ``argv``; with ``check`` a non-zero exit raises CommandError naming the command."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise CommandError(f"{argv[0]} is not installed: run 'sudo ./setup.sh'") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise CommandError(f"{' '.join(argv)} failed (exit {proc.returncode}): "
                           f"{detail[-1] if detail else 'no output'}")
    return proc


def missing_tools(names=None) -> list[str]:
    """'tool (package)' for each required tool that is not on PATH."""
    names = names or REQUIRED_TOOLS
    return [f"{tool} (apt: {REQUIRED_TOOLS.get(tool, tool)})" for tool in names if shutil.which(tool) is None]


OFFLOADS = ("tx", "tso", "gso", "gro", "lro")


def offload_args(intf: str) -> list[str]:
    """ethtool arguments turning off the offloads a userspace-shaped path cannot have:
    forwarded frames must carry real checksums and be at most one MTU."""
    args = ["ethtool", "-K", intf]
    for feature in OFFLOADS:
        args += [feature, "off"]
    return args


def disable_offloads(intf: str) -> None:
    # lro is not supported by veth: ethtool then exits 1 after applying the others.
    run(offload_args(intf), check=False)


def wait_for_line(proc, stream, needle: str, timeout_s: float) -> tuple[bool, str]:
    """Read ``stream`` (a pipe of ``proc``) until a line containing ``needle`` appears.

    Reads the raw file descriptor: ``select`` on a buffered reader misses lines that
    ``readline`` already pulled into the buffer. Returns (found, everything read so far).
    """
    import os
    import select
    import time

    fd = stream.fileno()
    seen = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
            if needle.encode() in seen:
                return True, seen.decode(errors="replace")
        elif proc.poll() is not None:
            break
    return False, seen.decode(errors="replace")
