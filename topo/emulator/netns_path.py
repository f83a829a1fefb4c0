"""A two-namespace path through one emulator, for tests and benchmarks (needs root).

    ns ect<tag>A: ect<tag>a0 10.233.0.1/24 <-veth-> ect<tag>w0 (root ns)
        [python -m topo.emulator]  ect<tag>w1 <-veth-> ect<tag>b0 10.233.0.2/24 :ns ect<tag>B

Uplink = A -> B (frames arriving on w0). Offloads are off on every interface
(frames forwarded from userspace need real checksums and MTU-sized segments), IPv6 is
off (no stray router solicitations). Everything is removed on exit, also on failure; what it
makes is recorded first in ``/run/ect/net-<pid>-<tag>.json`` (topo.registry), so ``clean``
removes a crashed path's leftovers and leaves a live one alone.
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from topo.emulator.config import EmulatorConfig
from topo.profiles import DirectionSpec
from topo.registry import OWNER_ENV, NetworkState

REPO_ROOT = Path(__file__).resolve().parents[2]
ADDRESS_A = "10.233.0.1"
ADDRESS_B = "10.233.0.2"


class PathSetupError(RuntimeError):
    """A command that builds the test path failed; the message has the command and its output."""


def run_command(argv: list[str], check: bool = True, timeout_s: float = 30) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    if check and result.returncode != 0:
        raise PathSetupError(f"{' '.join(argv)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def disable_offloads(ifname: str, namespace: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    for feature in ("tx", "tso", "gso", "gro", "sg"):
        result = run_command(prefix + ["ethtool", "-K", ifname, feature, "off"], check=False)
        if result.returncode != 0 and feature == "tx":
            raise PathSetupError(f"ethtool -K {ifname} tx off failed: {result.stderr.strip()}")


class EmulatorProcess:
    """``python -m topo.emulator`` as a child in its own process group; stopped on exit."""

    def __init__(self, config: EmulatorConfig, workdir: Path, ready_timeout_s: float = 20,
                 code_root: Path | None = None, env: dict | None = None):
        """``code_root``: run the emulator from another checkout (a benchmark's baseline);
        ``env``: extra environment variables (e.g. ECT_EMULATOR_FIFO_PRIORITY)."""
        self.config = config
        self.config_path = config.write(Path(workdir) / f"{config.name}-config.json")
        root = str(code_root or REPO_ROOT)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "topo.emulator", "--config", str(self.config_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root, start_new_session=True,
            env={**os.environ, **(env or {}), "PYTHONPATH": root, OWNER_ENV: str(os.getpid())})  # clean's mark
        deadline = time.monotonic() + ready_timeout_s
        line = self.process.stdout.readline()
        if not line.startswith("ready") or time.monotonic() > deadline:
            self.stop()
            raise PathSetupError(f"emulator did not become ready (stdout {line!r}, exit "
                                 f"{self.process.returncode}, stderr {self.stderr.strip()!r})")

    stderr = ""

    def stop(self, timeout_s: float = 10) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        _, self.stderr = self.process.communicate()
        return self.process.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class WirePath:
    def __init__(self, tag: str | None = None, direct: bool = False):
        """``direct``: one plain veth between A and B, no wire interfaces (a baseline)."""
        self.tag = tag or secrets.token_hex(2)
        self.direct = direct
        self.ns_a, self.ns_b = f"ect{self.tag}A", f"ect{self.tag}B"
        self.if_a, self.if_b = f"ect{self.tag}a0", f"ect{self.tag}b0"
        self.wire_up_in, self.wire_down_in = f"ect{self.tag}w0", f"ect{self.tag}w1"
        self._processes: list[subprocess.Popen] = []
        self._tempdir = None
        self.workdir: Path | None = None
        self.state = NetworkState(owner_pid=os.getpid(), tag=self.tag)

    # --- build and tear down -------------------------------------------------------
    def __enter__(self) -> "WirePath":
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _build(self) -> None:
        self.state.namespaces = [self.ns_a, self.ns_b]
        self.state.add_interfaces([] if self.direct else [self.wire_up_in, self.wire_down_in])  # saves
        self._tempdir = tempfile.TemporaryDirectory(prefix=f"ect{self.tag}-")
        self.workdir = Path(self._tempdir.name)
        for namespace in (self.ns_a, self.ns_b):
            run_command(["ip", "netns", "add", namespace])
            run_command(["ip", "netns", "exec", namespace, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                         "net.ipv6.conf.default.disable_ipv6=1"])
            run_command(["ip", "-n", namespace, "link", "set", "lo", "up"])
        if self.direct:
            run_command(["ip", "-n", self.ns_a, "link", "add", self.if_a, "type", "veth", "peer", "name",
                         self.if_b, "netns", self.ns_b])
            for ns, inner, address in ((self.ns_a, self.if_a, ADDRESS_A), (self.ns_b, self.if_b, ADDRESS_B)):
                run_command(["ip", "-n", ns, "addr", "add", f"{address}/24", "dev", inner])
                run_command(["ip", "-n", ns, "link", "set", inner, "up"])
                disable_offloads(inner, ns)
            return
        for ns, inner, wire, address in ((self.ns_a, self.if_a, self.wire_up_in, ADDRESS_A),
                                         (self.ns_b, self.if_b, self.wire_down_in, ADDRESS_B)):
            run_command(["ip", "link", "add", wire, "type", "veth", "peer", "name", inner, "netns", ns])
            ipv6 = Path(f"/proc/sys/net/ipv6/conf/{wire}/disable_ipv6")
            if ipv6.exists():
                ipv6.write_text("1\n")
            run_command(["ip", "-n", ns, "addr", "add", f"{address}/24", "dev", inner])
            run_command(["ip", "-n", ns, "link", "set", inner, "up"])
            run_command(["ip", "link", "set", wire, "up"])
            disable_offloads(inner, ns)
            disable_offloads(wire)

    def close(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
        self._processes = []
        for wire in (self.wire_up_in, self.wire_down_in):
            if Path(f"/sys/class/net/{wire}").exists():
                run_command(["ip", "link", "del", wire], check=False)
        existing = run_command(["ip", "netns", "list"], check=False).stdout
        for namespace in (self.ns_a, self.ns_b):
            if any(line.split()[0] == namespace for line in existing.splitlines() if line.strip()):
                run_command(["ip", "netns", "del", namespace], check=False)
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None
        self.state.remove()

    # --- use -----------------------------------------------------------------------
    def emulator_config(self, uplink: DirectionSpec, downlink: DirectionSpec, name: str = "testlink",
                        log_dir: str | None = None, packet_log: bool = False) -> EmulatorConfig:
        return EmulatorConfig(name=name, uplink_in=self.wire_up_in, downlink_in=self.wire_down_in,
                              uplink=uplink, downlink=downlink, log_dir=log_dir, packet_log=packet_log)

    def start_emulator(self, uplink: DirectionSpec, downlink: DirectionSpec, code_root: Path | None = None,
                       env: dict | None = None, **kwargs) -> EmulatorProcess:
        emulator = EmulatorProcess(self.emulator_config(uplink, downlink, **kwargs), self.workdir,
                                   code_root=code_root, env=env)
        self.state.add_process(emulator.process.pid, "emulator")
        return emulator

    def exec_in(self, namespace: str, argv: list[str], timeout_s: float = 120,
                check: bool = True) -> subprocess.CompletedProcess:
        return run_command(["ip", "netns", "exec", namespace] + argv, check=check, timeout_s=timeout_s)

    def popen_in(self, namespace: str, argv: list[str], **kwargs) -> subprocess.Popen:
        """A background process in ``namespace``, killed (by process group) when the path closes."""
        env = {**(kwargs.pop("env", None) or os.environ), OWNER_ENV: str(self.state.owner_pid)}  # clean's mark
        process = subprocess.Popen(["ip", "netns", "exec", namespace] + argv, start_new_session=True, env=env,
                                   **kwargs)
        self._processes.append(process)
        self.state.add_process(process.pid, argv[0])
        return process
