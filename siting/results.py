"""The result of one planning run: what every output writer and the budget sweep consume."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import geopandas as gpd

    from siting.models import Solution


@dataclass
class Plan:
    """One solved scenario at one budget.

    Attributes
    ----------
    scenario : Scenario
        The validated scenario (see :mod:`siting.scenario`).
    budget_cny : float
        The money budget this plan was solved for (CNY).
    demand : GeoDataFrame
        Demand grid (contract in docs/ARCHITECTURE.md) plus ``served_kwh`` (kWh/day),
        ``served_share`` (0..1) and ``covered`` (bool).
    candidates : GeoDataFrame
        All candidate sites plus ``chosen`` (bool).
    sites : GeoDataFrame
        Chosen sites, one row each: ``site_id, kind, name, plugs, capacity_kw, cost_cny,
        demand_served, source, lon, lat, geometry, max_travel_min, size_kg_per_day,
        trips_served``.
    trips : GeoDataFrame or None
        Corridor / intercity trips (``origin, destination, segment, flow_per_day,
        served_share`` (0..1 of the flow refuelled), ``refuel_status`` (``refuelled``, ``partly``
        or ``not``), ``refuelled`` (bool: all of the flow), ``path_km, stations, geometry``);
        None for scenarios without a ``corridor:`` section.
    solution : Solution
        The model result.
    summary : dict
        Exactly what ``summary.json`` holds.
    timings : dict
        Seconds per stage.
    data_sources : list of dict
        ``{name, path, licence, attribution, note}`` for every input used.
    """

    scenario: Any
    budget_cny: float
    demand: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    solution: Solution
    summary: dict[str, Any]
    trips: gpd.GeoDataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)
    data_sources: list[dict[str, Any]] = field(default_factory=list)
