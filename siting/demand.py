"""Demand grid: census population spread over H3 cells by an OSM proxy, turned into kWh/day.

Method (all steps vectorised except the per-point H3 indexing):

1. The study area is covered by the H3 cells (h3 v4) whose centres lie inside it.
2. Each cell belongs to the district holding its centre.
3. A district's population *inside the study area* (census 2020 population × the district's
   area share inside the area, i.e. uniform density at district level) is spread over the
   district's cells in proportion to the length of ``residential`` / ``living_street`` roads in
   each cell (an OSM proxy for where people live). A district with no such road inside the area
   is spread uniformly over its cells, and a warning says so.
4. Each fleet segment's vehicles are allocated to cells in proportion to population and turned
   into public fast-charging demand: ``vehicles × kwh_per_vehicle_day × public_fast_share``
   (kWh/day). A segment with ``scope: municipality`` counts the whole-Beijing fleet and is first
   scaled by the study area's share of the municipality's census population.
5. ``node`` is the nearest road-graph node of the cell centre.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import h3
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import Polygon

from siting import network, road_tables
from siting._errors import InputError

logger = logging.getLogger(__name__)

#: OSM highway classes whose length per cell is the population proxy.
PROXY_HIGHWAYS = ("residential", "living_street")


def h3_cells(area: Any, resolution: int) -> gpd.GeoDataFrame:
    """H3 cells whose centre lies inside ``area``.

    Parameters
    ----------
    area
        Shapely (Multi)Polygon in WGS84 degrees.
    resolution
        H3 resolution (8 ≈ 0.74 km² per cell, 9 ≈ 0.11 km²).

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, sorted by ``cell``: ``cell`` (str), ``lon``, ``lat`` (centre, degrees),
        ``geometry`` (cell polygon).
    """
    cells = sorted(h3.geo_to_cells(area, int(resolution)))
    if not cells:
        return gpd.GeoDataFrame(
            {"cell": pd.Series(dtype=str), "lon": [], "lat": []},
            geometry=gpd.GeoSeries([], crs="EPSG:4326"),
        )
    centres = np.array([h3.cell_to_latlng(c) for c in cells])
    polys = [Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in cells]
    return gpd.GeoDataFrame(
        {"cell": cells, "lon": centres[:, 1], "lat": centres[:, 0]},
        geometry=polys,
        crs="EPSG:4326",
    )


def proxy_edges(
    G: nx.MultiDiGraph | road_tables.RoadTables, highways: tuple[str, ...] = PROXY_HIGHWAYS
) -> pd.DataFrame:
    """Midpoints and lengths of the road segments used as the population proxy.

    A two-way road appears as two directed edges in the graph; it is counted once. ``G`` may be
    a graph or :class:`siting.road_tables.RoadTables`.

    Returns
    -------
    pandas.DataFrame
        ``lon``, ``lat`` (edge midpoint, degrees), ``length`` (m).
    """
    e = road_tables.edge_list(G, highways)
    if not len(e):
        return pd.DataFrame({"lon": [], "lat": [], "length": []})
    u, v = e["u"].to_numpy(np.int64), e["v"].to_numpy(np.int64)
    df = pd.DataFrame(
        {"a": np.minimum(u, v), "b": np.maximum(u, v), "length": e["length"].to_numpy(float)}
    ).drop_duplicates(["a", "b"])
    xa, ya = road_tables.node_coords(G, df["a"].to_numpy())
    xb, yb = road_tables.node_coords(G, df["b"].to_numpy())
    return pd.DataFrame(
        {"lon": (xa + xb) / 2, "lat": (ya + yb) / 2, "length": df["length"].to_numpy(float)}
    )


def _cell_district(cells: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> np.ndarray:
    """Row position in ``districts`` of the district holding each cell centre (-1: none)."""
    pts = shapely.points(cells["lon"].to_numpy(), cells["lat"].to_numpy())
    idx_pt, idx_d = districts.sindex.query(pts, predicate="within")
    out = np.full(len(cells), -1, dtype=np.int64)
    out[idx_pt] = idx_d  # a point on a shared border goes to one of the two districts
    return out


def build_demand(
    G: nx.MultiDiGraph | road_tables.RoadTables | None,
    area: Any,
    districts: gpd.GeoDataFrame,
    segments: Mapping[str, Any],
    *,
    municipality_population: float,
    h3_resolution: int = 8,
    proxy: str = "residential_road_length",
    arrays: network.GraphArrays | None = None,
) -> gpd.GeoDataFrame:
    """Build the demand grid with daily public fast-charging demand per cell.

    Parameters
    ----------
    G
        Road graph or :class:`siting.road_tables.RoadTables` (for the proxy and nearest nodes);
        ``None`` gives ``node = -1`` and a uniform spread.
    area
        Study-area (Multi)Polygon, WGS84.
    districts
        One row per district with ``district_code``, ``district_en``, ``geometry`` (WGS84) and
        ``population_in_area`` (residents counted inside the study area).
    segments
        ``{name: segment}``; each segment has ``vehicles``, ``kwh_per_vehicle_day``,
        ``public_fast_share`` (0..1) and ``scope`` (``municipality`` | ``study_area``), as
        :class:`siting.scenario.Segment`.
    municipality_population
        Census population of the whole municipality (persons), to scale municipal fleets.
    h3_resolution
        H3 resolution of the grid.
    proxy
        ``residential_road_length`` or ``uniform``.
    arrays
        :func:`siting.network.graph_arrays` of ``G`` if already computed (saves time).

    Returns
    -------
    geopandas.GeoDataFrame
        The demand-grid contract of ``docs/ARCHITECTURE.md``: ``cell``, ``geometry``, ``lon``,
        ``lat``, ``district_code``, ``population`` (persons), ``kwh_per_day`` and
        ``kwh_<segment>`` (kWh/day), ``node``. ``attrs["notes"]`` lists the fallbacks used.

    Raises
    ------
    InputError
        The study area holds no H3 cell at this resolution, or no cell falls in a district.
    """
    notes: list[str] = []
    cells = h3_cells(area, h3_resolution)
    if cells.empty:
        raise InputError(
            f"demand: the study area holds no H3 cell centre at resolution {h3_resolution}; "
            "use a finer demand.h3_resolution or a larger study area"
        )
    districts = districts.reset_index(drop=True)
    d_idx = _cell_district(cells, districts)
    outside = d_idx < 0
    if outside.any():
        logger.info("demand: %d H3 cells lie outside every district: dropped", int(outside.sum()))
        cells, d_idx = cells[~outside].reset_index(drop=True), d_idx[~outside]
    if cells.empty:
        raise InputError("demand: no H3 cell of the study area lies in a selected district")

    weight = np.zeros(len(cells))
    if proxy == "residential_road_length" and G is not None:
        pe = proxy_edges(G)
        if len(pe):
            pos = pd.Series(np.arange(len(cells)), index=cells["cell"].to_numpy())
            ecell = [
                h3.latlng_to_cell(la, lo, h3_resolution)
                for lo, la in zip(pe["lon"].to_numpy(), pe["lat"].to_numpy(), strict=True)
            ]
            at = pos.reindex(ecell).to_numpy()
            ok = ~np.isnan(at)
            np.add.at(weight, at[ok].astype(np.int64), pe["length"].to_numpy()[ok])
    elif proxy != "uniform":
        notes.append("no road graph: population spread uniformly within districts")

    n_d = len(districts)
    d_weight = np.bincount(d_idx, weights=weight, minlength=n_d)
    d_cells = np.bincount(d_idx, minlength=n_d)
    pop_in = districts["population_in_area"].to_numpy(dtype=float)
    uniform_d = (d_weight <= 0) & (d_cells > 0)
    for k in np.flatnonzero(uniform_d & (pop_in > 0)):
        if proxy == "residential_road_length":
            msg = (
                f"district {districts['district_en'].iloc[k]}: no residential road inside the "
                "study area: its population is spread uniformly over its cells"
            )
            logger.warning("demand: %s", msg)
            notes.append(msg)
    share = np.where(
        uniform_d[d_idx],
        1.0 / np.maximum(d_cells[d_idx], 1),
        weight / np.where(d_weight[d_idx] > 0, d_weight[d_idx], 1.0),
    )
    population = pop_in[d_idx] * share
    lost = pop_in[(d_cells == 0) & (pop_in > 0)]
    if lost.size:
        names = districts["district_en"].to_numpy()[(d_cells == 0) & (pop_in > 0)]
        msg = (
            f"{int(lost.sum())} residents of {', '.join(map(str, names))} inside the study area "
            f"fall in no H3 cell at resolution {h3_resolution} (sliver): not counted"
        )
        logger.warning("demand: %s", msg)
        notes.append(msg)

    out = cells.copy()
    out["district_code"] = districts["district_code"].astype(str).to_numpy()[d_idx]
    out["population"] = population
    total_pop = float(population.sum())
    pop_share = population / total_pop if total_pop > 0 else np.zeros(len(out))
    area_share = total_pop / municipality_population if municipality_population > 0 else 0.0
    total = np.zeros(len(out))
    for name, seg in segments.items():
        vehicles = float(seg.vehicles) * (area_share if seg.scope == "municipality" else 1.0)
        kwh = vehicles * float(seg.kwh_per_vehicle_day) * float(seg.public_fast_share)
        out[f"kwh_{name}"] = kwh * pop_share
        total += out[f"kwh_{name}"].to_numpy()
    out["kwh_per_day"] = total
    if G is not None:
        out["node"] = network.nearest_nodes(arrays if arrays is not None else G, out.lon, out.lat)
    else:
        out["node"] = np.int64(-1)
    cols = ["cell", "lon", "lat", "district_code", "population", "kwh_per_day"]
    cols += [f"kwh_{n}" for n in segments] + ["node", "geometry"]
    out = out[cols]
    out.attrs["notes"] = notes
    logger.info(
        "demand: %d H3 cells (res %d), %.0f residents, %.0f kWh/day",
        len(out),
        h3_resolution,
        total_pop,
        total.sum(),
    )
    return out
