"""Demand kinds of the planning pipeline, peers composed under one budget by :mod:`siting.plan`.

Each kind is a module with the same steps:

``active(scenario)``
    Whether the scenario plans this kind.
``prepare(...)``
    Its stage outputs (reused by every budget of a sweep).
``add_component(builder, part, ..., ctx)``
    Its model component (:class:`siting.models.joint.Component`) in a joint model; the budget
    row, the co-location savings and the objective (a weighted sum of each kind's served share)
    are added by :func:`siting.models.joint.joint_siting`.
``assemble(part, details, ...)``
    Its rows of ``Plan.sites`` / ``candidates``, its demand or trip table and its summary keys.

The kinds:

* :mod:`~siting.demand_kinds.area_demand` — daily fast-charging demand on the H3 grid, served by
  chargers within reach (the maximal-coverage model with plug modules);
* :mod:`~siting.demand_kinds.trip_flows` — round trips on the corridor / intercity roads,
  refuelled (FCEV hydrogen) or recharged (BEV) on the way by corridor stations (flow
  refuelling);
* :mod:`~siting.demand_kinds.depot_demand` — daily demand at depots and venues, served by the
  corridor stations within reach (it uses the stations of ``trip_flows``).
"""

from __future__ import annotations

from types import ModuleType

from siting.demand_kinds import area_demand, depot_demand, trip_flows
from siting.scenario import Scenario

#: Registry: kind name -> module, in the order the kinds are prepared and reported.
KINDS: dict[str, ModuleType] = {
    area_demand.NAME: area_demand,
    trip_flows.NAME: trip_flows,
    depot_demand.NAME: depot_demand,
}


def active_kinds(scenario: Scenario) -> list[str]:
    """Names of the kinds a scenario plans, in registry order."""
    return [name for name, mod in KINDS.items() if mod.active(scenario)]


__all__ = ["KINDS", "active_kinds", "area_demand", "depot_demand", "trip_flows"]
