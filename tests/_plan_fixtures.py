"""Small Plan objects for the output-writer tests (maps, report).

The coordinates are real places in central Beijing and on the Beijing–Yanqing–Chongli corridor,
the site names real street / place names (plus one hostile name to check HTML escaping). The
numbers (demand, costs, flows) are test inputs chosen to exercise the writers, not data: they do
not describe Beijing.
"""

from __future__ import annotations

from types import SimpleNamespace

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
from shapely.geometry import LineString, Polygon

from siting.models import Solution
from siting.results import Plan

HOSTILE = "<script>alert(1)</script>"

#: (site_id, name, lon, lat, source) — real streets / places in central Beijing.
CHARGER_PLACES = [
    ("c1", "西单北大街 Xidan North Street", 116.37360, 39.91100, "osm:25453130"),
    ("c2", "王府井大街 Wangfujing Street", 116.41040, 39.91390, "osm:43996012"),
    ("c3", HOSTILE, 116.39800, 39.89670, "generated"),
    ("c4", "东单北大街 Dongdan North Street", 116.41800, 39.91350, "generated"),
    ("c5", "朝阳门内大街 Chaoyangmennei Street", 116.42800, 39.92460, "generated"),
    ("c6", "", 116.38000, 39.94800, "osm:123456789"),
    ("c7", "建国门外大街 Jianguomenwai Street", 116.44900, 39.90800, "existing"),
]

#: Hydrogen corridor places (lon, lat): Beijing centre, Yanqing, Chongli (Taizicheng).
CORRIDOR = {
    "Beijing (Tiananmen)": (116.3975, 39.9087),
    "Badaling": (115.9750, 40.3560),
    "Yanqing": (115.9850, 40.4563),
    "Chongli Taizicheng": (115.4680, 40.9010),
    "Zhangjiakou": (114.8870, 40.8240),
}


def _demand_grid(centre_lat: float, centre_lon: float, k: int, res: int = 8) -> gpd.GeoDataFrame:
    cells = sorted(h3.grid_disk(h3.latlng_to_cell(centre_lat, centre_lon, res), k))
    polys = [Polygon([(lon, lat) for lat, lon in h3.cell_to_boundary(c)]) for c in cells]
    lat, lon = np.array([h3.cell_to_latlng(c) for c in cells]).T
    gdf = gpd.GeoDataFrame({"cell": cells, "lon": lon, "lat": lat}, geometry=polys, crs="EPSG:4326")
    ring = np.array([h3.grid_distance(cells[0], c) for c in cells], float)
    # test demand: highest at one edge of the disc, falling off with ring distance; some zeros
    kwh = np.round(4000.0 / (1.0 + 0.6 * ring) ** 1.5, 1)
    kwh[:: max(1, len(kwh) // 9)] = 0.0
    gdf["population"] = np.round(kwh * 12)
    gdf["kwh_per_day"] = kwh
    return gdf


def _candidates(places: list[tuple], kind: str) -> gpd.GeoDataFrame:
    df = pd.DataFrame(places, columns=["site_id", "name", "lon", "lat", "source"])
    df["kind"] = kind
    df["node"] = np.arange(len(df))
    df["fixed_cost_cny"] = 600_000.0 if kind == "fast_charger" else 9_000_000.0
    df["plug_cost_cny"] = 120_000.0 if kind == "fast_charger" else 0.0
    df["plug_kw"] = 120.0 if kind == "fast_charger" else 0.0
    df["max_plugs"] = 20
    df["existing_plugs"] = 0
    df["status"] = "optional"
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs="EPSG:4326")


def _sites(cands: gpd.GeoDataFrame, chosen: list[str], plugs: list[int], served: list[float],
           max_min: list[float]) -> gpd.GeoDataFrame:  # fmt: skip
    s = cands.set_index("site_id").loc[chosen].reset_index()
    s["plugs"] = plugs
    s["capacity_kw"] = s["plugs"] * s["plug_kw"]
    s["cost_cny"] = s["fixed_cost_cny"] + s["plug_cost_cny"] * s["plugs"]
    s["demand_served"] = served
    s["max_travel_min"] = max_min
    s["size_kg_per_day"] = np.nan
    s["trips_served"] = np.nan
    cols = ["site_id", "kind", "name", "plugs", "capacity_kw", "cost_cny", "demand_served",
            "source", "lon", "lat", "max_travel_min", "size_kg_per_day", "trips_served",
            "status", "node", "geometry"]  # fmt: skip
    return gpd.GeoDataFrame(s[cols], geometry="geometry", crs="EPSG:4326")


def _cover(demand: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, radius_km: float) -> None:
    """Mark cells within ``radius_km`` (straight line) of a chosen site as covered."""
    dx = (demand["lon"].to_numpy()[:, None] - sites["lon"].to_numpy()[None, :]) * 85.3
    dy = (demand["lat"].to_numpy()[:, None] - sites["lat"].to_numpy()[None, :]) * 111.2
    d = np.hypot(dx, dy)
    near = d.min(axis=1) if len(sites) else np.full(len(demand), np.inf)
    covered = near <= radius_km
    demand["covered"] = covered
    demand["travel_min"] = np.where(covered, near / 25.0 * 60, np.nan)  # 25 km/h test speed
    demand["served_share"] = np.where(covered, 0.9, 0.0)
    demand["served_kwh"] = demand["kwh_per_day"] * demand["served_share"]


def _summary(name: str, budget: float, sites: gpd.GeoDataFrame, demand: gpd.GeoDataFrame,
             cands: gpd.GeoDataFrame, status: str = "optimal") -> dict:  # fmt: skip
    total = float(demand["kwh_per_day"].sum())
    return {
        "scenario": name,
        "status": status,
        "objective": float(demand["served_kwh"].sum()),
        "mip_gap": 0.0 if status == "optimal" else 0.0123,
        "solve_seconds": np.float64(0.42),
        "total_seconds": 3.1,
        "budget_cny": budget,
        "spent_cny": float(sites["cost_cny"].sum()),
        "demand_covered_share": float(demand["served_kwh"].sum()) / total,
        "sites_by_kind": {k: np.int64(v) for k, v in sites["kind"].value_counts().items()},
        "plugs_by_kind": {"fast_charger": int(sites["plugs"].sum())},
        "n_candidates": np.int64(len(cands)),
        "n_demand_cells": len(demand),
        "max_travel_min": 10.0,
        "notes": [],
        "data_sources": [
            {
                "name": "test grid",
                "path": "tests/_plan_fixtures.py",
                "licence": "",
                "attribution": "© OpenStreetMap contributors",
                "note": "test input",
            }
        ],
    }


def charger_plan(name: str = "Beijing fast charging (test)") -> Plan:
    """A fast-charger plan: 3 of 7 candidates chosen around Tiananmen, 127 H3 cells."""
    demand = _demand_grid(39.9087, 116.3975, k=6)
    cands = _candidates(CHARGER_PLACES, "fast_charger")
    sites = _sites(cands, ["c1", "c2", "c3"], [4, 12, 1], [9100.5, 21000.0, 700.25],
                   [7.5, 9.8, 3.2])  # fmt: skip
    cands["chosen"] = cands["site_id"].isin(sites["site_id"])
    _cover(demand, sites, radius_km=2.6)
    budget = 10_000_000.0
    summary = _summary(name, budget, sites, demand, cands)
    summary["mip_gap"] = float("nan")  # NaN must become null in summary.json
    sol = Solution(
        status="optimal",
        objective=summary["objective"],
        bound=summary["objective"],
        gap=0.0,
        open=np.flatnonzero(cands["chosen"].to_numpy()),
        seconds=0.42,
    )
    scenario = SimpleNamespace(name=name, budget_cny=budget,
                               coverage=SimpleNamespace(max_travel_min=10.0))  # fmt: skip
    return Plan(scenario=scenario, budget_cny=budget, demand=demand, candidates=cands,
                sites=sites, solution=sol, summary=summary, trips=None,
                timings={"model": 0.42}, data_sources=summary["data_sources"])  # fmt: skip


def hydrogen_plan() -> Plan:
    """A joint plan on the corridor: 2 hydrogen stations + 1 charger, 4 trips (1 not refuelled)."""
    name = "Olympic corridor hydrogen (test)"
    c = CORRIDOR
    h2_places = [
        ("h1", "八达岭 Badaling", *c["Badaling"], "generated"),
        ("h2", "太子城 Taizicheng", *c["Chongli Taizicheng"], "osm:987654321"),
        ("h3", HOSTILE, *c["Yanqing"], "generated"),
        ("h4", "张家口 Zhangjiakou", *c["Zhangjiakou"], "generated"),
    ]
    h2 = _candidates(h2_places, "hydrogen")
    ev = _candidates(CHARGER_PLACES[:3], "fast_charger")
    cands = gpd.GeoDataFrame(pd.concat([h2, ev], ignore_index=True), crs="EPSG:4326")
    hs = _sites(h2, ["h1", "h3"], [0, 0], [820.0, 1450.0], [12.0, 25.5])
    hs["plugs"] = 4  # dispensers
    hs["capacity_kw"] = np.nan
    hs["size_kg_per_day"] = [1000.0, 500.0]
    hs["trips_served"] = [3, 2]
    cs = _sites(ev, ["c2"], [8], [15000.0], [9.0])
    sites = gpd.GeoDataFrame(pd.concat([hs, cs], ignore_index=True), crs="EPSG:4326")
    cands["chosen"] = cands["site_id"].isin(sites["site_id"])
    demand = _demand_grid(39.9087, 116.3975, k=3)
    _cover(demand, cs, radius_km=2.0)

    def line(*names: str) -> LineString:
        return LineString([c[n] for n in names])

    trips = gpd.GeoDataFrame(
        {
            "origin": ["Beijing (Tiananmen)", "Beijing (Tiananmen)", HOSTILE, "Zhangjiakou"],
            "destination": ["Yanqing", "Chongli Taizicheng", "Chongli Taizicheng", "Badaling"],
            "flow_per_day": [240.0, 85.0, 40.0, 12.5],
            "refuelled": [True, True, True, False],
        },
        geometry=[
            line("Beijing (Tiananmen)", "Badaling", "Yanqing"),
            line("Beijing (Tiananmen)", "Badaling", "Yanqing", "Chongli Taizicheng"),
            line("Yanqing", "Chongli Taizicheng"),
            line("Zhangjiakou", "Chongli Taizicheng", "Yanqing", "Badaling"),
        ],
        crs="EPSG:4326",
    )
    budget = 30_000_000.0
    summary = _summary(name, budget, sites, demand, cands)
    summary["flow_refuelled_share"] = 365.0 / 377.5
    summary["sites_by_kind"] = {"hydrogen": 2, "fast_charger": 1}
    sol = Solution(status="optimal", objective=365.0, bound=365.0, gap=0.0,
                   open=np.flatnonzero(cands["chosen"].to_numpy()), seconds=0.2)  # fmt: skip
    scenario = SimpleNamespace(name=name, budget_cny=budget,
                               coverage=SimpleNamespace(max_travel_min=30.0))  # fmt: skip
    return Plan(scenario=scenario, budget_cny=budget, demand=demand, candidates=cands,
                sites=sites, solution=sol, summary=summary, trips=trips,
                data_sources=summary["data_sources"])  # fmt: skip
