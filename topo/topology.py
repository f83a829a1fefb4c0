"""The edge/cloud topology as data (DESIGN.md, step 2).

    ue1..ueN --[ects1 bridge]-- access link --> bs --- LAN --> edge
                                                 \\--- WAN --> cloud

Names and addresses are stable:

=========  ==============  ===============================
host       address         role
=========  ==============  ===============================
ue<i>      10.0.1.<i>/24   mobile device i (1 <= i <= 200)
bs         10.0.1.254/24   base station / access point router (access side)
bs         10.0.2.1/24     LAN side
bs         10.0.3.1/24     WAN side
edge       10.0.2.2/24     edge server
cloud      10.0.3.2/24     cloud server
=========  ==============  ===============================

Every host's default route points at ``bs``, which forwards, so every host reaches
every other. Devices share one access segment (a Linux bridge, ``ects1``) in front of
the shaped access link, so they share its capacity as devices share a cell; device to
device traffic stays on that segment and is not shaped.
"""
from __future__ import annotations

from dataclasses import dataclass

from mininet.topo import Topo

from topo.links import ShapedLink, add_to_topo, plan_link
from topo.profiles import LinkProfile

MAX_UES = 200
ACCESS_BRIDGE = "ects1"
ACCESS_GW, LAN_BS, LAN_EDGE, WAN_BS, WAN_CLOUD = "10.0.1.254", "10.0.2.1", "10.0.2.2", "10.0.3.1", "10.0.3.2"
PING_FRAME_BYTES = 98  # 56-byte ping payload + ICMP 8 + IP 20 + Ethernet 14


def ue_name(index: int) -> str:
    return f"ue{index}"


def ue_address(index: int) -> str:
    return f"10.0.1.{index}"


@dataclass(frozen=True)
class TopologySpec:
    """What to build. Profiles are already loaded (see topo.profiles.load_profile)."""

    access: LinkProfile
    wan: LinkProfile
    lan: LinkProfile
    ues: int = 1
    backend: str = "userspace"  # already resolved: "kernel" or "userspace"

    def __post_init__(self):
        if not 1 <= self.ues <= MAX_UES:
            raise ValueError(f"ues must be between 1 and {MAX_UES}, got {self.ues}")
        if self.backend not in ("kernel", "userspace"):
            raise ValueError(f"backend must be resolved to kernel or userspace, got {self.backend!r}")

    @property
    def hosts(self) -> dict[str, str]:
        """Host name -> its address (the one other hosts use)."""
        names = {ue_name(i): ue_address(i) for i in range(1, self.ues + 1)}
        names.update({"bs": ACCESS_GW, "edge": LAN_EDGE, "cloud": WAN_CLOUD})
        return names

    @property
    def links(self) -> list[ShapedLink]:
        return [
            plan_link("access", ACCESS_BRIDGE, "bs", self.access, self.backend),
            plan_link("lan", "bs", "edge", self.lan, self.backend),
            plan_link("wan", "bs", "cloud", self.wan, self.backend),
        ]

    @property
    def routers(self) -> list[str]:
        return ["bs"]

    def mininet_topo(self) -> "EdgeCloudTopo":
        return EdgeCloudTopo(spec=self)

    def planned_root_interfaces(self) -> list[str]:
        """Root-namespace names this spec will create, known before anything exists."""
        names = [ACCESS_BRIDGE] + [f"{ACCESS_BRIDGE}-eth{i}" for i in range(1, self.ues + 2)]
        for link in self.links:
            if link.wire:
                names += [link.wire, f"{link.wire}-eth1", f"{link.wire}-eth2"]
        return names

    def configure_routes(self, net) -> None:
        """Nothing to add: every host's default route points at bs, the only router."""

    def path_links(self, host: str) -> list[ShapedLink]:
        """Links between ``host`` and bs."""
        by_name = {link.name: link for link in self.links}
        if host.startswith("ue"):
            return [by_name["access"]]
        return {"bs": [], "edge": [by_name["lan"]], "cloud": [by_name["wan"]]}[host]

    def expected_rtt_ms(self, src: str, dst: str, frame_bytes: int = PING_FRAME_BYTES) -> float:
        """Propagation delays both ways plus serialisation of a ``frame_bytes`` frame on each
        shaped hop (constant rates; trace rates are ignored: their delay varies)."""
        if src.startswith("ue") and dst.startswith("ue"):
            return 0.0
        total = 0.0
        for link in self.path_links(src) + self.path_links(dst):
            for spec in (link.profile.up, link.profile.down):
                total += spec.delay_ms
                if spec.rate_bps:
                    total += frame_bytes * 8 / spec.rate_bps * 1000
        return total


class EdgeCloudTopo(Topo):
    """Mininet Topo of a :class:`TopologySpec` (realised by topo.network)."""

    def build(self, spec: TopologySpec):  # noqa: D102 (Mininet's hook)
        for i in range(1, spec.ues + 1):
            self.addHost(ue_name(i), ip=f"{ue_address(i)}/24", defaultRoute=f"via {ACCESS_GW}")
        self.addHost("bs", ip=None)
        self.addHost("edge", ip=f"{LAN_EDGE}/24", defaultRoute=f"via {LAN_BS}")
        self.addHost("cloud", ip=f"{WAN_CLOUD}/24", defaultRoute=f"via {WAN_BS}")
        self.addSwitch(ACCESS_BRIDGE, dpid="1")
        for i in range(1, spec.ues + 1):
            self.addLink(ue_name(i), ACCESS_BRIDGE)
        access, lan, wan = spec.links
        add_to_topo(self, access, {}, {"ip": f"{ACCESS_GW}/24"})
        add_to_topo(self, lan, {"ip": f"{LAN_BS}/24"}, {"ip": f"{LAN_EDGE}/24"})
        add_to_topo(self, wan, {"ip": f"{WAN_BS}/24"}, {"ip": f"{WAN_CLOUD}/24"})
