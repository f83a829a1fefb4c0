"""The ``scenario`` and ``moves`` fields of compare / sweep / replay / load specs, checked where a spec is built.

With a scenario file the file is the network: the fields that describe today's fixed network (``accesses``,
``ues``, ``wan``, ``lan``) must keep their defaults; faults name the scenario's links and nodes, checked when the
file is read (scenario_run.load_setup). The file itself is read (and refused in one line naming file and key) before anything is
built, by harness/experiments/compare/scenario_run.py.
"""
from __future__ import annotations

import dataclasses

from harness.errors import SpecError
from topo.scenario.errors import ScenarioError
from topo.scenario.mobility import parse_move

_NETWORK_FIELDS = {"accesses": "--access", "ues": "--ues", "wan": "--wan", "lan": "--lan"}


def check_scenario_fields(spec) -> None:
    """SpecError for ``moves`` without ``scenario``, a bad ``AT_S:DEVICE:CELL``, or a network field given beside a
    scenario."""
    moves = getattr(spec, "moves", ())
    if moves and not spec.scenario:
        raise SpecError("--move needs --scenario FILE (the cells a device moves between)")
    for text in moves:
        try:
            parse_move(text)
        except ScenarioError as err:
            raise SpecError(str(err)) from None
    if not spec.scenario:
        return
    defaults = {f.name: f.default for f in dataclasses.fields(spec) if f.name in _NETWORK_FIELDS}
    replay = getattr(spec, "experiment", "") == "replay"
    for name, flag in _NETWORK_FIELDS.items():
        if name not in defaults or (name == "accesses" and replay):
            continue
        if getattr(spec, name) != defaults[name]:
            raise SpecError(f"{flag} cannot be combined with --scenario (the scenario file sets the network): "
                            f"drop {flag} or edit {spec.scenario}")
