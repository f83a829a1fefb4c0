"""Topologies as data (issue 15): a scenario TOML file -> names, addresses, links and routes -> a running network.

    loaded = load_scenario("scenarios/three-cells.toml")      # schema checked, profiles loaded
    spec = plan_scenario(loaded, backend="userspace")         # derived names and addresses (addressing.py)
    with topo.network.running_network(spec) as net: ...       # the same machinery as the fixed topology

scenarios/README.md documents the schema; scenarios/default.toml is today's network.
"""
from topo.scenario.errors import ScenarioError
from topo.scenario.loader import DEFAULT_SCENARIO, LoadedScenario, is_scenario_file, load_scenario
from topo.scenario.plan import ScenarioNetworkSpec, plan_scenario

__all__ = ["DEFAULT_SCENARIO", "LoadedScenario", "ScenarioError", "ScenarioNetworkSpec", "is_scenario_file",
           "load_scenario", "plan_scenario"]
