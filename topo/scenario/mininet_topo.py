"""The Mininet Topo of a scenario: hosts, one Linux bridge per cell, and each link through topo.links."""
from __future__ import annotations

from mininet.topo import Topo

from topo.links import add_to_topo
from topo.scenario import addressing as ad


class ScenarioTopo(Topo):
    """Realised by topo.network.running_network, as EdgeCloudTopo is (same order for the default scenario)."""

    def build(self, spec):  # noqa: D102 (Mininet's hook)
        for host in spec.host_plans:
            if host.kind in ("bs", "site"):
                self.addHost(host.name, ip=None)
            else:
                self.addHost(host.name, ip=f"{host.address}/24", defaultRoute=f"via {host.gateway}")
        for k, _cell in enumerate(spec.scenario.cells, 1):
            self.addSwitch(ad.bridge_name(k), dpid=str(k))
        for host in spec.of_kind("device"):
            self.addLink(host.name, ad.bridge_name(spec.scenario.cell_index(host.cell)))
        for plan in spec.link_plans:
            params1 = {} if plan.address1 is None else {"ip": f"{plan.address1}/24"}
            add_to_topo(self, plan.link, params1, {"ip": f"{plan.address2}/24"})
