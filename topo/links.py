"""The link factory: a profile plus a backend becomes Mininet link options.

Two backends sit behind one interface (DESIGN.md, "Link emulation"):

- ``kernel``: Mininet's TCLink (tc HTB for the rate, netem for delay, jitter, loss and the
  queue limit). Needs the kernel's sch_netem for anything but a plain rate.
- ``userspace``: a root-namespace node (:class:`EmulatorWire`) is put in the middle of the
  link and a ``topo.emulator`` process forwards frames between its two interfaces, shaping
  each direction.

``auto`` picks ``kernel`` only where sch_netem really exists (probed once per process by
adding a netem qdisc in a throwaway namespace) and no profile needs the userspace engine.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mininet.link import TCLink
from mininet.node import Switch

from topo import commands
from topo.errors import LinkBackendError
from topo.profiles import DirectionSpec, LinkProfile

BACKENDS = ("auto", "kernel", "userspace")
EMULATOR_READY_TIMEOUT_S = 10.0
REPO_ROOT = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=1)
def netem_available() -> bool:
    """Probe sch_netem: add a netem qdisc to ``lo`` of a throwaway network namespace."""
    ns = f"ect-probe-{os.getpid()}"
    if commands.run(["ip", "netns", "add", ns], check=False).returncode != 0:
        return False
    try:
        probe = commands.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo",
                              "root", "netem", "delay", "1ms"], check=False)
        return probe.returncode == 0
    finally:
        commands.run(["ip", "netns", "del", ns], check=False)


def _kernel_cannot(spec: DirectionSpec) -> list[str]:
    """Fields of ``spec`` that the kernel backend cannot provide."""
    missing = []
    if spec.radio_model:
        missing.append(f"radio model {spec.radio_model}")
    if spec.rate_trace:
        missing.append("rate_trace")
    if spec.delay_trace:
        missing.append("delay_trace")
    if spec.loss_model != "bernoulli":
        missing.append("loss_model=gilbert-elliott")
    if spec.queue != "droptail":
        missing.append("queue=drophead")
    if spec.queue_limit_bytes is not None:
        missing.append("queue_limit in bytes")
    return missing


def _needs_netem(spec: DirectionSpec) -> bool:
    return spec.delay_ms > 0 or spec.jitter_ms > 0 or spec.loss > 0


def resolve_backend(requested: str, profiles: list[LinkProfile]) -> str:
    """The backend a run will use; raises LinkBackendError when ``requested`` cannot work."""
    if requested not in BACKENDS:
        raise LinkBackendError(f"unknown link backend {requested!r} (use one of: {', '.join(BACKENDS)})")
    shaped = [p for p in profiles if p.up.shaped or p.down.shaped]
    if requested == "userspace":
        return "userspace"
    unsupported = [f"{p.name}: {field}" for p in shaped for spec in (p.up, p.down)
                   for field in _kernel_cannot(spec)]
    if requested == "auto":
        return "kernel" if netem_available() and not unsupported else "userspace"
    if unsupported:
        raise LinkBackendError("the kernel backend cannot do " + ", ".join(sorted(set(unsupported)))
                               + ": use --link-backend userspace")
    if not netem_available() and any(_needs_netem(s) for p in shaped for s in (p.up, p.down)):
        raise LinkBackendError("this kernel has no sch_netem, so the kernel backend cannot add delay, "
                               "jitter or loss: use --link-backend userspace (or auto)")
    return "kernel"


def tc_params(spec: DirectionSpec) -> dict:
    """TCIntf parameters shaping the egress of one interface to ``spec``."""
    params: dict = {}
    if spec.rate_bps is not None:
        params["bw"] = spec.rate_bps / 1e6
    if spec.delay_ms > 0:
        params["delay"] = f"{spec.delay_ms:g}ms"
    if spec.jitter_ms > 0:
        params["jitter"] = f"{spec.jitter_ms:g}ms"
    if spec.loss > 0:
        params["loss"] = spec.loss * 100.0
    if spec.queue_limit_packets is not None and (spec.rate_bps is not None or _needs_netem(spec)):
        params["max_queue_size"] = spec.queue_limit_packets
    return params


@dataclass(frozen=True)
class ShapedLink:
    """One logical link of a topology and how it is realised."""

    name: str            # "access", "lan", "wan"
    node1: str           # device side: uplink leaves node1
    node2: str
    profile: LinkProfile
    backend: str         # "kernel" | "userspace" | "none" (unshaped)
    wire: str | None = None  # the EmulatorWire node's name (userspace only)


def plan_link(name: str, node1: str, node2: str, profile: LinkProfile, backend: str,
              wire_name: str | None = None) -> ShapedLink:
    """``wire_name``: the emulator node's name (at most 10 characters); default ``ect`` + the link name's first 3."""
    if not (profile.up.shaped or profile.down.shaped):
        return ShapedLink(name, node1, node2, profile, "none")
    wire = (wire_name or f"ect{name[:3]}") if backend == "userspace" else None
    return ShapedLink(name, node1, node2, profile, backend, wire)


def add_to_topo(topo, link: ShapedLink, params1: dict, params2: dict) -> None:
    """Add ``link`` to a Mininet Topo; ``params1``/``params2`` configure the end interfaces."""
    if link.backend == "none":
        topo.addLink(link.node1, link.node2, params1=params1, params2=params2)
    elif link.backend == "kernel":
        topo.addLink(link.node1, link.node2, cls=TCLink,
                     params1={**params1, **tc_params(link.profile.up)},
                     params2={**params2, **tc_params(link.profile.down)})
    else:
        topo.addSwitch(link.wire, cls=EmulatorWire, link_name=link.name,
                       uplink=link.profile.up, downlink=link.profile.down, dpid=_dpid(link.wire))
        topo.addLink(link.node1, link.wire, params1=params1)
        topo.addLink(link.wire, link.node2, params2=params2)


def _dpid(name: str) -> str:
    return f"{abs(hash(name)) % (1 << 48):016x}"


class EmulatorWire(Switch):
    """A root-namespace node whose two interfaces are joined by a ``topo.emulator`` process.

    Its first interface faces node1 (the device side): frames arriving there get the uplink
    shaping, frames arriving on the second get the downlink shaping.
    """

    run_dir: Path | None = None  # set by the network before it starts
    log_dir: Path | None = None
    packet_log: bool = False
    on_process = None  # callback(pid) so the state registry knows the emulator
    defer_ready = False  # True: start() only launches; the network calls wait_ready() on every wire (parallel start)

    def __init__(self, name, link_name: str, uplink: DirectionSpec, downlink: DirectionSpec, **params):
        params["inNamespace"] = False
        super().__init__(name, **params)
        self.link_name = link_name
        self.uplink = uplink
        self.downlink = downlink
        self.process: subprocess.Popen | None = None
        self.started_ns: int | None = None  # monotonic time the emulator's traces start from (its "ready" line)

    def start(self, _controllers):
        if self.process is not None:  # launched early by the network (so it boots while bridges are set up)
            return
        intfs = [i for i in self.intfList() if i.name != "lo"]
        if len(intfs) != 2:
            raise LinkBackendError(f"wire {self.name} needs exactly 2 interfaces, has {len(intfs)}")
        for intf in intfs:
            commands.disable_offloads(intf.name)
            commands.run(["ip", "link", "set", intf.name, "up"])
        run_dir = self.run_dir or Path("/tmp")
        config = {
            "name": self.link_name, "uplink_in": intfs[0].name, "downlink_in": intfs[1].name,
            "uplink": dataclasses.asdict(self.uplink), "downlink": dataclasses.asdict(self.downlink),
            "log_dir": str(self.log_dir) if self.log_dir else None, "packet_log": self.packet_log,
        }
        config_path = run_dir / f"emulator-{self.link_name}.json"
        config_path.write_text(json.dumps(config, indent=1))
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "topo.emulator", "--config", str(config_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT, env=env)
        if self.on_process:
            self.on_process(self.process.pid)
        if not self.defer_ready:
            self.wait_ready()

    def wait_ready(self):
        """Block until the emulator printed its ``ready`` line (once); raise LinkBackendError if it did not."""
        if self.started_ns is not None:
            return
        self._wait_ready()

    def _wait_ready(self):
        found, seen = commands.wait_for_line(self.process, self.process.stdout, "ready", EMULATOR_READY_TIMEOUT_S)
        if found:
            start = re.search(r"ready start_ns=(\d+)", seen)  # the emulator's own trace clock zero
            self.started_ns = int(start.group(1)) if start else time.monotonic_ns()
            return
        err = self.process.stderr.read().decode(errors="replace").strip() if self.process.poll() is not None else ""
        self._kill()
        last = err.splitlines()[-1] if err else "no 'ready' within %.0f s" % EMULATOR_READY_TIMEOUT_S
        raise LinkBackendError(f"link emulator for {self.link_name} did not start: {last}")

    def _kill(self):
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop(self, deleteIntfs=True):  # noqa: N803 (Mininet's name)
        self._kill()
        super().stop(deleteIntfs)
