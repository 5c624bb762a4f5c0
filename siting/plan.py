"""The planning pipeline: scenario → network, demand, candidates, travel → model → :class:`Plan`.

Two stages so that budget sweeps pay for the expensive part once:

- :func:`prepare` loads the road graph and builds the demand grid, the candidates and the travel
  matrix (seconds to tens of seconds) into a :class:`Prepared`;
- :func:`solve_prepared` turns a :class:`Prepared` and a budget into model arrays, solves
  :func:`siting.models.max_coverage` and assembles the :class:`~siting.results.Plan`.

:func:`run_scenario` does both. ``progress`` callbacks receive a stage name before each stage
(``"network"``, ``"demand"``, ``"candidates"``, ``"travel"``, ``"model"``, ``"plan"``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from siting import candidates as cand_mod
from siting import data, network, travel
from siting import demand as demand_mod
from siting._errors import InputError, ScenarioError
from siting.results import Plan
from siting.scenario import Scenario

logger = logging.getLogger(__name__)

Progress = Callable[[str], None] | None

#: Equal-area projection used for district area shares (metres), same as :mod:`siting.data`.
EQUAL_AREA_CRS = data.EQUAL_AREA_CRS


@dataclass
class Prepared:
    """Everything computed before the model: reused by every budget of a sweep.

    Attributes
    ----------
    scenario : Scenario
    graph : networkx.MultiDiGraph
        Road graph.
    arrays : siting.network.GraphArrays
        Array form of ``graph``.
    area : shapely geometry
        Study area (WGS84).
    districts : pandas.DataFrame
        Per district: ``district_code, district_en, district_zh, population_2020,
        area_share_in_study, population_in_study`` (only districts of the scenario's filter).
    demand : geopandas.GeoDataFrame
        Demand grid (``docs/ARCHITECTURE.md``).
    candidates : geopandas.GeoDataFrame
        Candidate sites (``docs/ARCHITECTURE.md``).
    travel : scipy.sparse.csr_matrix
        Demand × candidate travel times (minutes) within the coverage limit.
    timings : dict
        Seconds per stage.
    data_sources : list of dict
    notes : list of str
        Fallbacks and caveats met on the way (also logged).
    """

    scenario: Scenario
    graph: nx.MultiDiGraph
    arrays: network.GraphArrays
    area: Any
    districts: pd.DataFrame
    demand: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    travel: sp.csr_matrix
    timings: dict[str, float] = field(default_factory=dict)
    data_sources: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Hydrogen stage outputs (:class:`siting.hydrogen.HydrogenPrepared`) when the scenario has
    #: a ``hydrogen:`` section.
    hydrogen: Any = None


def _stage(progress: Progress, name: str) -> float:
    logger.info("stage %s", name)
    if progress is not None:
        progress(name)
    return time.perf_counter()


# ----------------------------------------------------------------------------- study area


def study_area(scenario: Scenario) -> tuple[Any, pd.DataFrame, list[dict[str, Any]]]:
    """Study-area polygon and per-district population inside it.

    Returns
    -------
    tuple
        ``(area, districts, sources)``: WGS84 geometry; a GeoDataFrame of the districts touching
        the area with ``population_2020``, ``area_share_in_study`` (0..1),
        ``population_in_area`` (census population × area share: uniform density within each
        district) and ``geometry``; data-source records.
    """
    sa = scenario.study_area
    near = scenario.path
    table = data.district_table(near)
    polys = data.districts(near)
    code_col = "district_code"
    polys[code_col] = polys[code_col].astype(str)
    sources = []
    embedded_plain = sa.area == "embedded" and sa.bbox is None and not sa.districts
    # the polygon as `siting validate` checks it: errors name the scenario file and field
    from siting.inputs import study_area_geometry

    area = study_area_geometry(scenario)
    if sa.area == "embedded":
        sources.append(_manifest_source("study_area.geojson", near))
    else:
        sources.append({"name": "study area", "path": sa.area, "licence": "", "attribution": "",
                        "note": "user-supplied polygon"})  # fmt: skip

    merged = polys[[code_col, "geometry"]].merge(
        table[[code_col, "district_en", "district_zh", "resident_population_2020",
               "area_share_in_study", "population_in_study_est"]],
        on=code_col,
    )  # fmt: skip
    merged = merged.rename(columns={"resident_population_2020": "population_2020"})
    if embedded_plain:
        share = merged["area_share_in_study"].to_numpy(float)
    else:
        proj = merged.to_crs(EQUAL_AREA_CRS)
        area_proj = gpd.GeoSeries([area], crs="EPSG:4326").to_crs(EQUAL_AREA_CRS).iloc[0]
        inter = shapely.area(shapely.intersection(proj.geometry.to_numpy(), area_proj))
        share = inter / proj.geometry.area.to_numpy()
    merged["area_share_in_study"] = np.round(share, 6)
    merged["population_in_area"] = merged["population_2020"].to_numpy(float) * share
    merged = merged.drop(columns="population_in_study_est")
    merged = merged[merged["area_share_in_study"] > 0].reset_index(drop=True)
    sources.append(_manifest_source("districts_in_study_area.csv", near))
    sources.append(_manifest_source("boundaries/beijing_districts.parquet", near))
    sources.append(_manifest_source("facts/beijing_districts_2020_census.csv", near))
    return area, gpd.GeoDataFrame(merged, geometry="geometry", crs="EPSG:4326"), sources


def _manifest_source(rel: str, near: Path | None) -> dict[str, Any]:
    try:
        files = {f["path"]: f for f in data.manifest(near).get("files", [])}
    except Exception:
        files = {}
    f = files.get(rel, {})
    return {
        "name": rel,
        "path": str(data.data_dir(near) / rel),
        "licence": f.get("licence", ""),
        "attribution": f.get("attribution", ""),
        "note": f.get("description", ""),
    }


# ----------------------------------------------------------------------------- prepare


def prepare(scenario: Scenario, *, progress: Progress = None) -> Prepared:
    """Run the stages before the model: network, demand, candidates, travel.

    Parameters
    ----------
    scenario
        A validated scenario (:func:`siting.scenario.load_scenario`).
    progress
        Optional callback receiving each stage name before it starts.

    Returns
    -------
    Prepared

    Raises
    ------
    SitingError
        Bad input files or settings (one-line message).
    """
    timings: dict[str, float] = {}
    notes: list[str] = []
    t = _stage(progress, "network")
    net = scenario.network
    source = {"kind": net.source, "path": net.path, "place": net.place, "bbox": net.bbox}
    G = network.load_network(
        source,
        base_dir=scenario.base_dir,
        speeds_kph=net.speeds_kph or None,
        speed_factor=net.speed_factor,
    )
    arrays = network.graph_arrays(G)
    area, districts, sources = study_area(scenario)
    if net.source == "embedded":
        sources[:0] = [
            _manifest_source("network/nodes.parquet", scenario.path),
            _manifest_source("network/edges.parquet", scenario.path),
        ]
    else:
        sources.insert(0, {
            "name": "road network",
            "path": str(net.path or net.place or net.bbox),
            "licence": "ODbL-1.0",
            "attribution": network.OSM_ATTRIBUTION,
            "note": G.graph.get("source", ""),
        })  # fmt: skip
    timings["network"] = time.perf_counter() - t

    t = _stage(progress, "demand")
    table = data.district_table(scenario.path)
    dem = demand_mod.build_demand(
        G,
        area,
        districts,
        scenario.demand.segments,
        municipality_population=float(table["resident_population_2020"].sum()),
        h3_resolution=scenario.demand.h3_resolution,
        proxy=scenario.demand.proxy,
        arrays=arrays,
    )
    notes += dem.attrs.get("notes", [])
    timings["demand"] = time.perf_counter() - t

    t = _stage(progress, "candidates")
    c = scenario.candidates
    osm = None
    if c.osm_pois and net.source != "embedded":
        osm = network.osm_sites(source, base_dir=scenario.base_dir)
    costs = {k: getattr(scenario.costs, k) for k in ("fast_charger", "hydrogen")}
    cands = cand_mod.build_candidates(
        G,
        costs={k: v for k, v in costs.items() if v is not None},
        kind=c.kind,
        spacing_m=c.spacing_m,
        road_classes=c.road_classes,
        intersections=c.intersections,
        site_files=c.site_files,
        osm_sites=osm,
        required=c.required,
        forbidden=c.forbidden,
        area=area,
        arrays=arrays,
    )
    if cands.empty:
        raise InputError("candidates: no candidate site (check candidates.road_classes / files)")
    for sf in c.site_files:
        sources.append({"name": f"site file {Path(sf.path).name}", "path": str(sf.path),
                        "licence": "", "attribution": "", "note": f"crs {sf.crs}"})  # fmt: skip
    timings["candidates"] = time.perf_counter() - t

    t = _stage(progress, "travel")
    tt = travel.travel_times(
        arrays, dem["node"].to_numpy(), cands["node"].to_numpy(), scenario.coverage.max_travel_min
    )
    timings["travel"] = time.perf_counter() - t
    prepared = Prepared(
        scenario, G, arrays, area, districts, dem, cands, tt, timings, sources, notes
    )
    if scenario.hydrogen is not None:
        from siting import hydrogen

        t = _stage(progress, "hydrogen")
        prepared.hydrogen = hydrogen.prepare_hydrogen(
            scenario.hydrogen, G, base_dir=scenario.base_dir, file=scenario.path
        )
        timings["hydrogen"] = time.perf_counter() - t
    return prepared


# ----------------------------------------------------------------------------- solve


def _ids_to_mask(ids: Iterable[str] | None, site_ids: pd.Series, what: str) -> np.ndarray:
    mask = np.zeros(len(site_ids), bool)
    if ids is None:
        return mask
    pos = pd.Series(np.arange(len(site_ids)), index=site_ids.to_numpy())
    wanted = list(ids)
    unknown = [s for s in wanted if s not in pos.index]
    if unknown:
        raise InputError(f"{what}: unknown site id(s) {unknown[:5]}")
    mask[pos[wanted].to_numpy()] = True
    return mask


def _nearest_open(tt: sp.csr_matrix, open_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per demand row: position in ``open_idx`` of the nearest open site (-1) and its time."""
    sub = tt[:, open_idx].tocoo()
    best = np.full(tt.shape[0], -1, dtype=np.int64)
    btime = np.full(tt.shape[0], np.nan)
    if sub.nnz:
        order = np.lexsort((sub.data, sub.row))
        r, c, v = sub.row[order], sub.col[order], sub.data[order]
        first = np.ones(len(r), bool)
        first[1:] = r[1:] != r[:-1]
        best[r[first]] = c[first]
        btime[r[first]] = v[first]
    return best, btime


def _call_model(
    prepared: Prepared,
    budget: float,
    required: np.ndarray,
    forbidden: np.ndarray,
    warm: np.ndarray | None,
) -> Any:
    from siting import models

    scn = prepared.scenario
    cands = prepared.candidates
    built = (cands["status"] == "built").to_numpy()
    kwargs: dict[str, Any] = dict(
        p=None,
        required=required | built,
        forbidden=forbidden,
        module_capacity=cands["kwh_per_plug_day"].to_numpy(float),
        module_cost=cands["plug_cost_cny"].to_numpy(float),
        max_modules=cands["max_plugs"].to_numpy(np.int64),
        existing_modules=cands["existing_plugs"].to_numpy(np.int64),
        time_limit=scn.solver.time_limit_s,
        mip_gap=scn.solver.mip_gap,
        warm_start_open=warm,
    )
    import inspect

    params = inspect.signature(models.max_coverage).parameters
    if scn.solver.threads is not None and "threads" in params:
        kwargs["threads"] = scn.solver.threads
    backend = scn.solver.backend
    if backend != "highs":
        if "backend" not in params:
            raise ScenarioError(
                f"{scn.path}: solver.backend: {backend!r} is not supported by this version of "
                "siting.models.max_coverage (use 'highs')"
            )
        kwargs["backend"] = backend
    return models.max_coverage(
        prepared.travel,
        prepared.demand["kwh_per_day"].to_numpy(float),
        cands["fixed_cost_cny"].to_numpy(float),
        float(budget),
        **kwargs,
    )


def solve_prepared(
    prepared: Prepared,
    budget_cny: float | None = None,
    keep_open: Iterable[str] | None = None,
    warm_start: Iterable[str] | None = None,
    *,
    progress: Progress = None,
) -> Plan:
    """Solve the coverage model on prepared stage outputs and assemble the plan.

    Parameters
    ----------
    prepared
        From :func:`prepare`.
    budget_cny
        Money budget (CNY); default: the scenario's ``budget_cny``.
    keep_open
        Site ids that must be open (e.g. sites built in an earlier phase).
    warm_start
        Site ids of an earlier plan offered to the solver as a starting point.
    progress
        Optional stage callback.

    Returns
    -------
    siting.results.Plan
    """
    scn = prepared.scenario
    budget = float(scn.budget_cny if budget_cny is None else budget_cny)
    if not (budget >= 0 and math.isfinite(budget)):
        raise InputError(f"budget_cny must be a finite number >= 0, got {budget_cny}")
    if prepared.hydrogen is not None:
        from siting import hydrogen

        return hydrogen.solve_hydrogen(
            prepared.hydrogen,
            prepared if scn.hydrogen.joint.fast_chargers else None,
            budget,
            keep_open=keep_open,
            warm_start=warm_start,
            time_limit=scn.solver.time_limit_s,
            mip_gap=scn.solver.mip_gap,
            threads=scn.solver.threads,
            scenario=scn,
        )
    cands = prepared.candidates
    sid = cands["site_id"]
    status = cands["status"].to_numpy()
    required = (status == "required") | _ids_to_mask(keep_open, sid, "keep_open")
    forbidden = status == "forbidden"
    if (required & forbidden).any():
        bad = sid[required & forbidden].tolist()[:5]
        raise InputError(f"keep_open: site(s) {bad} are forbidden in the scenario")
    warm = None
    if warm_start is not None:
        known = set(sid)
        ws = [s for s in warm_start if s in known]
        warm = np.flatnonzero(_ids_to_mask(ws, sid, "warm_start"))

    t = _stage(progress, "model")
    sol = _call_model(prepared, budget, required, forbidden, warm)
    t_model = time.perf_counter() - t

    t = _stage(progress, "plan")
    plan = assemble_plan(prepared, sol, budget)
    plan.timings = {**prepared.timings, "model": t_model, "plan": time.perf_counter() - t}
    plan.summary["solve_seconds"] = round(float(sol.seconds), 3)
    total = sum(plan.timings.values())
    plan.summary["total_seconds"] = round(total, 3)
    plan.summary["timings"] = {k: round(v, 3) for k, v in plan.timings.items()}
    logger.info(
        "plan: %s, %d sites, %.1f%% of demand served, %.0f of %.0f CNY",
        sol.status,
        len(plan.sites),
        100 * plan.summary["demand_covered_share"],
        plan.summary["spent_cny"],
        budget,
    )
    return plan


def assemble_plan(prepared: Prepared, sol: Any, budget: float) -> Plan:
    """Turn a model :class:`~siting.models.Solution` into a :class:`~siting.results.Plan`."""
    scn = prepared.scenario
    cands = prepared.candidates.copy()
    dem = prepared.demand.copy()
    tt = prepared.travel
    weights = dem["kwh_per_day"].to_numpy(float)
    open_idx = np.asarray(sol.open, dtype=np.int64)
    n_open = len(open_idx)
    det = sol.details or {}
    plugs = np.asarray(det.get("modules", np.zeros(n_open)), dtype=float).round().astype(np.int64)
    served_site = np.asarray(det.get("served", np.zeros(n_open)), dtype=float)

    best, btime = _nearest_open(tt, open_idx)
    reach = best >= 0
    assign = det.get("assignment_matrix", sol.assignment)
    if sp.issparse(assign) and assign.shape == (len(dem), n_open):
        # served kWh/day of each cell by each open site
        served_cell = np.asarray(sp.csr_matrix(assign).sum(axis=1)).ravel()
    elif sp.issparse(assign) and assign.shape == (len(dem), len(cands)):
        served_cell = np.asarray(sp.csr_matrix(assign).sum(axis=1)).ravel()
    else:
        # only per-site totals known: spread the total served over the reachable cells in
        # proportion to their demand (conserves the total; per-cell values are indicative)
        reach_w = float(weights[reach].sum())
        ratio = min(float(served_site.sum()) / reach_w, 1.0) if reach_w > 0 else 0.0
        served_cell = np.where(reach, weights * ratio, 0.0)
    dem["served_kwh"] = served_cell
    dem["served_share"] = np.divide(served_cell, weights, out=np.zeros(len(dem)), where=weights > 0)
    dem["covered"] = reach
    dem["travel_min"] = btime

    cands["chosen"] = False
    cands.loc[cands.index[open_idx], "chosen"] = True
    sites = cands.iloc[open_idx].copy()
    existing = sites["existing_plugs"].to_numpy(np.int64)
    sites["plugs"] = np.maximum(plugs, existing) if len(plugs) == n_open else existing
    sites["capacity_kw"] = sites["plugs"] * sites["plug_kw"]
    sites["cost_cny"] = sites["fixed_cost_cny"] + sites["plug_cost_cny"] * np.maximum(
        sites["plugs"] - existing, 0
    )
    sites["demand_served"] = served_site if len(served_site) == n_open else np.nan
    max_t = pd.Series(btime[reach]).groupby(best[reach]).max()
    sites["max_travel_min"] = max_t.reindex(np.arange(n_open)).to_numpy()
    sites["size_kg_per_day"] = np.nan
    sites["trips_served"] = np.nan
    sites = sites[
        ["site_id", "kind", "name", "plugs", "capacity_kw", "cost_cny", "demand_served",
         "source", "lon", "lat", "max_travel_min", "size_kg_per_day", "trips_served",
         "status", "node", "geometry"]
    ].reset_index(drop=True)  # fmt: skip
    sites = gpd.GeoDataFrame(sites, geometry="geometry", crs="EPSG:4326")

    total = float(weights.sum())
    served = float(served_cell.sum()) if n_open else 0.0
    spent = float(det.get("spent", sites["cost_cny"].sum()))
    d = prepared.districts
    summary: dict[str, Any] = {
        "scenario": scn.name,
        "status": sol.status,
        "objective": _num(sol.objective),
        "mip_gap": _num(sol.gap),
        "solve_seconds": _num(sol.seconds),
        "total_seconds": None,
        "budget_cny": budget,
        "spent_cny": round(spent, 2),
        "demand_covered_share": round(served / total, 6) if total > 0 else 0.0,
        "demand_reachable_share": round(float(weights[reach].sum()) / total, 6) if total else 0.0,
        "demand_kwh_per_day": round(total, 3),
        "served_kwh_per_day": round(served, 3),
        "sites_by_kind": {str(k): int(v) for k, v in sites["kind"].value_counts().items()},
        "plugs_by_kind": {str(k): int(v) for k, v in sites.groupby("kind")["plugs"].sum().items()},
        "n_candidates": len(cands),
        "n_demand_cells": len(dem),
        "max_travel_min": scn.coverage.max_travel_min,
        "h3_resolution": scn.demand.h3_resolution,
        "study_area": {
            "area": scn.study_area.area,
            "bbox": list(scn.study_area.bbox) if scn.study_area.bbox else None,
            "districts": scn.study_area.districts,
            "area_km2": round(_area_km2(prepared.area), 1),
            "note": "the embedded road data covers central Beijing around the 5th Ring Road "
            "(about 39 × 34 km), not the whole municipality",
        },
        "district_population": [
            {
                "district_code": str(r.district_code),
                "district_en": r.district_en,
                "population_2020": int(r.population_2020),
                "area_share_in_study": float(r.area_share_in_study),
                "population_in_study": round(float(r.population_in_area)),
            }
            for r in d.itertuples()
        ],
        "population_in_study": round(float(d["population_in_area"].sum())),
        "notes": list(prepared.notes),
        "solver_message": getattr(sol, "message", ""),
        "data_sources": prepared.data_sources,
    }
    return Plan(
        scenario=scn,
        budget_cny=budget,
        demand=dem,
        candidates=cands,
        sites=sites,
        solution=sol,
        summary=summary,
        trips=None,
        data_sources=prepared.data_sources,
    )


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _area_km2(geom: Any) -> float:
    return float(gpd.GeoSeries([geom], crs="EPSG:4326").to_crs(EQUAL_AREA_CRS).area.iloc[0] / 1e6)


def run_scenario(
    scenario: Scenario,
    *,
    budget_cny: float | None = None,
    keep_open: Iterable[str] | None = None,
    warm_start: Iterable[str] | None = None,
    progress: Progress = None,
) -> Plan:
    """Run a whole scenario: :func:`prepare`, then :func:`solve_prepared`.

    Parameters
    ----------
    scenario
        A validated scenario.
    budget_cny
        Budget override (CNY); default the scenario's.
    keep_open
        Site ids that must be open.
    warm_start
        Site ids of an earlier plan offered to the solver.
    progress
        Optional callback receiving each stage name.

    Returns
    -------
    siting.results.Plan
    """
    prepared = prepare(scenario, progress=progress)
    return solve_prepared(
        prepared, budget_cny, keep_open=keep_open, warm_start=warm_start, progress=progress
    )
