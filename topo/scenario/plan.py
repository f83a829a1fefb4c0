"""A scenario made concrete: every host with its derived name and address, every link, the routes.

:class:`ScenarioNetworkSpec` offers what ``topo.network.running_network`` and the harness use of a
``topo.topology.TopologySpec`` (``hosts``, ``links``, ``backend``, ``expected_rtt_ms``, ``mininet_topo``,
...), so any scenario is brought up by the same machinery: a Linux bridge per cell, one userspace emulator
(or TCLink) per shaped link, static routes between the routers.
"""
from __future__ import annotations

from dataclasses import dataclass

from topo.errors import TopoError
from topo.links import ShapedLink, plan_link
from topo.scenario import addressing as ad
from topo.scenario.loader import LoadedScenario
from topo.scenario.routing import Adjacency, next_hops, route_commands, router_path
from topo.scenario.schema import Scenario

PING_FRAME_BYTES = 98


@dataclass(frozen=True)
class HostPlan:
    name: str
    kind: str          # "device" | "bs" | "site" | "edge" | "cloud"
    address: str       # the address other hosts use
    router: str        # the router it hangs off (itself for a router)
    cell: str = ""     # devices: the home cell; base stations: their cell
    gateway: str = ""  # devices, edges, clouds: the default route's next hop


@dataclass(frozen=True)
class LinkPlan:
    link: ShapedLink
    address1: str | None  # node1's address on the link (None: a bridge end)
    address2: str


@dataclass(frozen=True)
class ScenarioNetworkSpec:
    scenario: Scenario
    backend: str
    host_plans: tuple[HostPlan, ...]
    link_plans: tuple[LinkPlan, ...]
    hops: dict
    subnets: dict

    # --- what running_network and the harness use -------------------------------------------------
    @property
    def hosts(self) -> dict[str, str]:
        return {h.name: h.address for h in self.host_plans}

    @property
    def links(self) -> list[ShapedLink]:
        return [p.link for p in self.link_plans]

    @property
    def routers(self) -> list[str]:
        return [h.name for h in self.host_plans if h.kind in ("bs", "site")]

    @property
    def ues(self) -> int:
        return self.scenario.device_count

    def host(self, name: str) -> HostPlan:
        for plan in self.host_plans:
            if plan.name == name:
                return plan
        raise TopoError(f"scenario {self.scenario.name!r} has no host {name!r} (hosts: {', '.join(self.hosts)})")

    def of_kind(self, kind: str) -> list[HostPlan]:
        return [h for h in self.host_plans if h.kind == kind]

    def bs_of(self, cell: str) -> str:
        return ad.bs_name(self.scenario.cell_index(cell), len(self.scenario.cells))

    def path_links(self, host: str) -> list[ShapedLink]:
        """Links between ``host`` and its router."""
        plan = self.host(host)
        if plan.kind == "device":
            return [self._link(ad.access_link_name(self.scenario.cell_index(plan.cell), len(self.scenario.cells)))]
        if plan.kind in ("edge", "cloud"):
            return [p.link for p in self.link_plans if p.link.node2 == host]
        return []

    def route_links(self, src: str, dst: str, src_cell: str | None = None, dst_cell: str | None = None) -> list[ShapedLink]:
        """Shaped and unshaped links a packet crosses from ``src`` to ``dst`` (devices in ``*_cell`` if given)."""
        a, b = self.host(src), self.host(dst)
        if a.kind == b.kind == "device" and (src_cell or a.cell) == (dst_cell or b.cell):
            return []
        ra = self.bs_of(src_cell) if src_cell else a.router
        rb = self.bs_of(dst_cell) if dst_cell else b.router
        first = [self._link(ad.access_link_name(self.scenario.cell_index(src_cell), len(self.scenario.cells)))] \
            if src_cell else self.path_links(src)
        last = [self._link(ad.access_link_name(self.scenario.cell_index(dst_cell), len(self.scenario.cells)))] \
            if dst_cell else self.path_links(dst)
        return first + [self._link(hop.link) for hop in router_path(ra, rb, self.hops)] + last

    def expected_rtt_ms(self, src: str, dst: str, frame_bytes: int = PING_FRAME_BYTES) -> float:
        """Propagation both ways plus serialisation of one frame per shaped hop (constant rates)."""
        total = 0.0
        for link in self.route_links(src, dst):
            for spec in (link.profile.up, link.profile.down):
                total += spec.delay_ms
                if spec.rate_bps:
                    total += frame_bytes * 8 / spec.rate_bps * 1000
        return total

    def mininet_topo(self):
        from topo.scenario.mininet_topo import ScenarioTopo

        return ScenarioTopo(spec=self)

    def planned_root_interfaces(self) -> list[str]:
        names = []
        for k, cell in enumerate(self.scenario.cells, 1):
            bridge = ad.bridge_name(k)
            names += [bridge] + [f"{bridge}-eth{i}" for i in range(1, cell.devices + 2)]
        for link in self.links:
            if link.wire:
                names += [link.wire, f"{link.wire}-eth1", f"{link.wire}-eth2"]
        return names

    def configure_routes(self, net) -> None:
        """Routes between routers; with several cells, proxy ARP on each cell's gateway (a moved device that kept
        its address still ARPs for its home gateway and for its old neighbours)."""
        many_cells = len(self.scenario.cells) > 1
        for router in self.routers:
            node = net.get(router)
            commands = route_commands(router, self.subnets, self.hops)
            if many_cells:
                commands += ["sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0"]
                plan = self.host(router)
                if plan.kind == "bs":
                    intf = next(i for i in node.intfList() if i.IP() == plan.address)
                    commands += [f"sysctl -qw net.ipv4.conf.{intf.name}.proxy_arp=1 "
                                 f"net.ipv4.conf.{intf.name}.rp_filter=0 net.ipv4.neigh.{intf.name}.proxy_delay=0"]
            if commands:
                out = node.cmd("; ".join(f"{c} || echo 'FAILED: {c}'" for c in commands))
                if "FAILED" in out:
                    raise TopoError(f"routes on {router} could not be set: {out.strip().splitlines()[0]}")

    def _link(self, name: str) -> ShapedLink:
        return next(p.link for p in self.link_plans if p.link.name == name)


def plan_scenario(loaded: LoadedScenario, backend: str) -> ScenarioNetworkSpec:
    """Derive names, addresses, links and routes of ``loaded`` (profiles resolved) for ``backend``."""
    if backend not in ("kernel", "userspace"):
        raise ValueError(f"backend must be resolved to kernel or userspace, got {backend!r}")
    sc = loaded.scenario
    n_cells = len(sc.cells)
    router_of = {c.name: ad.bs_name(k, n_cells) for k, c in enumerate(sc.cells, 1)}
    router_of.update({s.name: s.name for s in sc.sites})
    hosts: list[HostPlan] = []
    links: list[LinkPlan] = []
    subnets: dict[str, tuple[str, ...]] = {}
    device = 0
    for k, cell in enumerate(sc.cells, 1):
        for _ in range(cell.devices):
            device += 1
            hosts.append(HostPlan(ad.device_name(device), "device", ad.device_address(k, device),
                                  router_of[cell.name], cell.name, ad.gateway_address(k)))
    for k, cell in enumerate(sc.cells, 1):
        bs = router_of[cell.name]
        hosts.append(HostPlan(bs, "bs", ad.gateway_address(k), bs, cell.name))
        links.append(LinkPlan(_plan(ad.access_link_name(k, n_cells), ad.bridge_name(k), bs,
                                        loaded.profile(cell.access), backend),
                              None, ad.gateway_address(k)))
        subnets[ad.access_subnet(k)] = (bs,)
    adjacencies: list[Adjacency] = []
    site_address: dict[str, str] = {}
    for b, link in enumerate(sc.backhaul, 1):
        name = ad.backhaul_link_name(b, len(sc.backhaul))
        one, two = (router_of[end] for end in link.between)
        addr1, addr2 = ad.backhaul_addresses(b)
        links_entry = _plan(name, one, two, loaded.profile(link.profile), backend)
        links.append(LinkPlan(links_entry, addr1, addr2))
        adjacencies += [Adjacency(one, two, addr2, name), Adjacency(two, one, addr1, name)]
        subnets[ad.subnet_of(addr1)] = (one, two)
        site_address.setdefault(one, addr1)
        site_address.setdefault(two, addr2)
    for site in sc.sites:
        hosts.append(HostPlan(site.name, "site", site_address[site.name], site.name))
    for e, edge in enumerate(sc.edges, 1):
        router_side, address = ad.lan_addresses(e)
        name, router = ad.edge_name(e, len(sc.edges)), router_of[edge.at]
        hosts.append(HostPlan(name, "edge", address, router, gateway=router_side))
        links.append(LinkPlan(_plan(ad.lan_link_name(e, len(sc.edges)), router, name,
                                        loaded.profile(edge.link), backend), router_side, address))
        subnets[ad.subnet_of(address)] = (router,)
    for c, cloud in enumerate(sc.clouds, 1):
        router_side, address = ad.wan_addresses(c)
        name, router = ad.cloud_name(c, len(sc.clouds)), router_of[cloud.at]
        hosts.append(HostPlan(name, "cloud", address, router, gateway=router_side))
        links.append(LinkPlan(_plan(ad.wan_link_name(c, len(sc.clouds)), router, name,
                                        loaded.profile(cloud.wan), backend), router_side, address))
        subnets[ad.subnet_of(address)] = (router,)
    links = _order(links)
    routers = [h.name for h in hosts if h.kind in ("bs", "site")]
    return ScenarioNetworkSpec(sc, backend, tuple(hosts), tuple(links), next_hops(routers, adjacencies), subnets)


def _plan(name: str, node1: str, node2: str, profile, backend: str) -> ShapedLink:
    return plan_link(name, node1, node2, profile, backend, wire_name=ad.wire_name(name))


def _order(links: list[LinkPlan]) -> list[LinkPlan]:
    """access, lan, wan, backhaul: today's order for the default scenario."""
    rank = {"access": 0, "lan": 1, "wan": 2, "backhaul": 3}
    return sorted(links, key=lambda p: rank[p.link.name.rstrip("0123456789")])
