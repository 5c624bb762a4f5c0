"""Depot demand: fuel or energy needed each day at depots and venues, served by nearby stations.

The ``demand_points`` of the ``corridor:`` section: daily demand (kg/day of hydrogen, or kWh/day
for ``vehicle: bev``) = vehicles × km/day × fleet use per 100 km / 100, at a corridor node. A
depot is served by the corridor stations of :mod:`siting.demand_kinds.trip_flows` within
``max_travel_min`` (split allowed); with station sizes, a station's capacity is shared by the
trips' fuel and the depots it serves (:func:`siting.models.joint.add_node_demand`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from shapely.geometry import Point

from siting import travel
from siting.demand_kinds import trip_flows
from siting.demand_kinds._common import KindResult, ModelContext
from siting.models import MilpBuilder
from siting.models.joint import Component, add_node_demand, row_block
from siting.scenario import Scenario

NAME = "depots"
#: Name of the kind's model component.
COMPONENT = "node"
#: Columns of the depot demand table.
COLUMNS = ["name", "corridor_node", "node", "vehicles", "km_per_day", "kg_per_100km",
           "kg_per_day", "basis", "lon", "lat"]  # fmt: skip


def active(scenario: Scenario) -> bool:
    """Depot demand is reported whenever there is a corridor section (it may be empty)."""
    return scenario.corridor is not None


@dataclass
class DepotsPart:
    """Outputs of :func:`prepare`.

    Attributes
    ----------
    demand : geopandas.GeoDataFrame
        One row per depot: ``name, corridor_node, node, vehicles, km_per_day, kg_per_100km,
        kg_per_day, basis, lon, lat, geometry``.
    travel : scipy.sparse.csr_matrix
        Depots × corridor stations, minutes, within the section's ``max_travel_min``.
    """

    demand: gpd.GeoDataFrame
    travel: sp.csr_matrix


def prepare(stations: trip_flows.TripFlowsPart) -> DepotsPart:
    """Depot demand table and depot × station travel times on the corridor (+ city) graph."""
    sec = stations.section
    C = stations.corridor_graph
    rows = []
    for p in sec.demand_points:
        kg100 = sec.fleets[p.fleet].kg_per_100km
        cd = C.nodes[p.node]
        rows.append({
            "name": p.name, "corridor_node": p.node, "node": stations.corridor_ids[p.node],
            "vehicles": p.vehicles, "km_per_day": p.km_per_day, "kg_per_100km": kg100,
            "kg_per_day": p.vehicles * p.km_per_day * kg100 / 100.0,
            "basis": f"{p.vehicles:g} vehicles x {p.km_per_day:g} km/day x {kg100:g} kg/100 km"
                     + (f"; {p.source}" if p.source else ""),
            "lon": cd["x"], "lat": cd["y"],
        })  # fmt: skip
    nd = pd.DataFrame(rows, columns=COLUMNS)
    demand = gpd.GeoDataFrame(
        nd, geometry=[Point(x, y) for x, y in zip(nd["lon"], nd["lat"], strict=True)],
        crs="EPSG:4326",
    )  # fmt: skip
    sites = stations.candidates["node"].to_numpy()
    tt = (
        travel.travel_times(stations.arrays, demand["node"].to_numpy(), sites, sec.max_travel_min)
        if len(demand) else sp.csr_matrix((0, len(sites)))
    )  # fmt: skip
    return DepotsPart(demand, tt)


def total_demand(part: DepotsPart) -> float:
    """Total depot demand per day (the normaliser of the kind's share)."""
    return float(part.demand["kg_per_day"].sum()) if len(part.demand) else 0.0


def add_component(
    builder: MilpBuilder, part: DepotsPart, stations: trip_flows.TripFlowsPart,
    ctx: ModelContext,
) -> Component | None:  # fmt: skip
    """Add depot demand served by the corridor stations (their site columns and capacity rows,
    found in ``ctx.handles``); None when there is no depot demand."""
    total = total_demand(part)
    if total <= 0:
        return None
    fr = ctx.handles[trip_flows.COMPONENT]
    cap = row_block(builder, "h2_capacity") if stations.section.capacitated else None
    handle = add_node_demand(
        builder, part.travel, part.demand["kg_per_day"].to_numpy(float), site_cols=fr.site_cols,
        capacity_rows=cap, prefix="h2node",
    )  # fmt: skip
    n_sites, n_dem = len(stations.candidates), len(part.demand)

    def extract(x: np.ndarray) -> dict[str, Any]:
        v = x[handle.objective_cols]
        return {
            "served_per_site": np.bincount(handle.pair_site, weights=v, minlength=n_sites),
            "served_per_depot": np.bincount(handle.pair_demand, weights=v, minlength=n_dem),
        }

    weight = ctx.weights.get(COMPONENT, 1.0)
    return Component(COMPONENT, stations.section.station_kind, handle, total, weight, extract)


def assemble(
    part: DepotsPart, details: dict[str, Any] | None, open_sites: np.ndarray
) -> KindResult:
    """Depot table with what is served, per-station served amounts and the summary keys.

    Parameters
    ----------
    part : DepotsPart
    details : dict or None
        The node component's details; None when no component was added (no depot demand).
    open_sites : ndarray of bool
        Open corridor stations.
    """
    n_sites = part.travel.shape[1]
    nd = part.demand.copy()
    kgd = nd["kg_per_day"].to_numpy(float)
    served = np.zeros(len(nd)) if details is None else details["served_per_depot"]
    per_site = np.zeros(n_sites) if details is None else details["served_per_site"]
    nd["served_kg_per_day"] = served
    nd["served_share"] = np.divide(served, kgd, out=np.zeros(len(kgd)), where=kgd > 0)
    reach = np.asarray(part.travel[:, open_sites].sum(axis=1)).ravel() > 0
    nd["covered"] = reach if n_sites else False
    total = float(kgd.sum())
    summary = {
        "hydrogen_node_demand_kg_per_day": round(total, 3),
        "hydrogen_node_demand_served_share": round(float(served.sum()) / total, 6)
        if total > 0 else None,
    }  # fmt: skip
    return KindResult(demand=nd, summary=summary, site_served=per_site)
