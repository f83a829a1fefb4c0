"""Derived host names, link names and IPv4 addresses of a scenario (stable: they depend only on positions in the file).

Names: a kind with exactly one member keeps today's bare name, so the default scenario is today's network.

=====================  ===========================  =======================================
what                   name                         address
=====================  ===========================  =======================================
device i (1..200)      ue<i>, numbered over the     10.<k-1>.1.<i>/24 where k is its home
                       cells in file order          cell (its first cell); a device keeps it
                                                    (address = "keep") or takes its new
                                                    cell's 10.<m-1>.1.<i> (address = "new")
cell k's base station  bs (one cell) or bs<k>       10.<k-1>.1.254 (the cell's gateway)
cell k's segment       bridge ects<k>, link         -
                       access / access<k>
edge e                 edge / edge<e>               10.<e-1>.2.2/24; its router 10.<e-1>.2.1
                       (link lan / lan<e>)
cloud c                cloud / cloud<c>             10.<c-1>.3.2/24; its router 10.<c-1>.3.1
                       (link wan / wan<c>)
backhaul b             backhaul / backhaul<b>       first end 10.<b-1>.4.1, second 10.<b-1>.4.2
site                   the file's name (metro, ..)  its first backhaul address
=====================  ===========================  =======================================

With one cell, one edge and one cloud at that cell this is exactly today's ue<i> 10.0.1.<i>, bs 10.0.1.254,
edge 10.0.2.2 (bs 10.0.2.1), cloud 10.0.3.2 (bs 10.0.3.1), links access / lan / wan, bridge ects1.
"""
from __future__ import annotations


def _indexed(base: str, index: int, count: int) -> str:
    return base if count == 1 else f"{base}{index}"


def device_name(index: int) -> str:
    return f"ue{index}"


def device_index(name: str) -> int:
    return int(name[2:])


def device_address(cell_index: int, device: int) -> str:
    return f"10.{cell_index - 1}.1.{device}"


def bs_name(cell_index: int, cells: int) -> str:
    return _indexed("bs", cell_index, cells)


def gateway_address(cell_index: int) -> str:
    return f"10.{cell_index - 1}.1.254"


def access_subnet(cell_index: int) -> str:
    return f"10.{cell_index - 1}.1.0/24"


def bridge_name(cell_index: int) -> str:
    return f"ects{cell_index}"


def access_link_name(cell_index: int, cells: int) -> str:
    return _indexed("access", cell_index, cells)


def edge_name(index: int, edges: int) -> str:
    return _indexed("edge", index, edges)


def lan_link_name(index: int, edges: int) -> str:
    return _indexed("lan", index, edges)


def lan_addresses(index: int) -> tuple[str, str]:
    """(router side, edge) addresses of edge ``index``'s link."""
    return f"10.{index - 1}.2.1", f"10.{index - 1}.2.2"


def cloud_name(index: int, clouds: int) -> str:
    return _indexed("cloud", index, clouds)


def wan_link_name(index: int, clouds: int) -> str:
    return _indexed("wan", index, clouds)


def wan_addresses(index: int) -> tuple[str, str]:
    return f"10.{index - 1}.3.1", f"10.{index - 1}.3.2"


def backhaul_link_name(index: int, links: int) -> str:
    return _indexed("backhaul", index, links)


def backhaul_addresses(index: int) -> tuple[str, str]:
    return f"10.{index - 1}.4.1", f"10.{index - 1}.4.2"


def subnet_of(address: str) -> str:
    return address.rsplit(".", 1)[0] + ".0/24"


_WIRE_PREFIX = {"access": "acc", "lan": "lan", "wan": "wan", "backhaul": "bh"}


def wire_name(link_name: str) -> str:
    """The userspace emulator node of a link: ``ectacc`` / ``ectacc2`` / ``ectbh1`` (<= 10 characters, so its
    interfaces' names fit the kernel's 15)."""
    kind = link_name.rstrip("0123456789")
    return f"ect{_WIRE_PREFIX[kind]}{link_name[len(kind):]}"
