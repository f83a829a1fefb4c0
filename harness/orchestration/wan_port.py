"""The byte counters of the base station's WAN port in a running network: what crossed the WAN, and when it
was quiet (the collaboration edge's idle detector reads the same counters)."""
from __future__ import annotations

from harness.errors import HarnessError
from nodes.wan_counters import CounterSource
from topo.topology import WAN_BS


def wan_counter_source(net) -> CounterSource:
    """The base station's WAN port: rx = from the cloud, tx = towards the cloud."""
    bs = net.host("bs")
    for intf in bs.intfList():
        if intf.IP() == WAN_BS:
            return CounterSource(f"/proc/{bs.pid}/net/dev", intf.name)
    raise HarnessError(f"bs has no interface with the WAN address {WAN_BS}")
