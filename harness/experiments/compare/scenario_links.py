"""The links of a scenario as a run records and uses them: where each capture sits, the route from each cell to
each node (with the side of each link's profile a request crosses), and the ends each link is measured between."""
from __future__ import annotations

from topo.scenario.routing import router_path


def capture_links(spec) -> dict[str, str]:
    """The link each capture point sits on (flows.csv's ``link``): a base station's access side -> its cell's
    access link, an edge or cloud -> the link that reaches it (lan<k>, wan)."""
    links = {}
    for link in spec.links:
        kind = spec.host(link.node2).kind
        if (kind == "bs" and link.name.startswith("access")) or kind in ("edge", "cloud"):
            links[link.node2] = link.name
    return links


def routes(spec) -> dict[str, list[list[str]]]:
    """``"cell>node"`` -> the links a request from a device in that cell to that node crosses, in order, each with
    the side of its profile the request travels ("up": its node1 -> node2; the reply takes the other side):
    what the network floor of a scenario row needs (harness/analysis/floor.py)."""
    devices = spec.of_kind("device")
    out: dict[str, list[list[str]]] = {}
    if not devices:
        return out
    for cell in spec.scenario.cells:
        bs = spec.bs_of(cell.name)
        for server in [*spec.of_kind("edge"), *spec.of_kind("cloud")]:
            links = spec.route_links(devices[0].name, server.name, src_cell=cell.name)
            hops, here, sides = router_path(bs, server.router, spec.hops), bs, {}
            for hop in hops:
                link = next(lk for lk in links if lk.name == hop.link)
                sides[hop.link] = "up" if link.node1 == here else "down"
                here = hop.neighbour
            out[f"{cell.name}>{server.name}"] = [[lk.name, sides.get(lk.name, "up")] for lk in links]
    return out


def link_ends(spec) -> dict:
    """Each link's (device-side host, far host, far address, device-side address), or why it is not measured."""
    ends: dict = {}
    for plan in spec.link_plans:
        link = plan.link
        if link.name.startswith("access"):
            cell = spec.host(link.node2).cell
            device = next((h for h in spec.of_kind("device") if h.cell == cell), None)
            ends[link.name] = ((device.name, link.node2, plan.address2, device.address) if device
                               else f"cell {cell} has no device to measure its access link from")
        else:  # lan / wan (router -> server) and backhaul (router -> router)
            ends[link.name] = (link.node1, link.node2, plan.address2, plan.address1)
    return ends
