"""Area demand: daily fast-charging demand on the H3 grid, served by chargers within reach.

The demand kind of the charger sections of a scenario (``demand``, ``candidates``, ``costs``,
``coverage``): the H3 demand grid (:mod:`siting.demand`), the charger candidates
(:mod:`siting.candidates`) and the demand × site travel matrix (:mod:`siting.travel`) feed the
maximal-coverage model with plug modules (:mod:`siting.models.coverage`).

Steps (see :mod:`siting.demand_kinds`): :func:`prepare`; :func:`add_component` (one component
of a joint model) or :func:`solve_alone` (the kind on its own: :func:`siting.models.max_coverage`,
the same arrays, any solver backend); :func:`assemble` (sites, demand grid, summary keys).

The kind's prepared part is the :class:`siting.plan.Prepared` itself (its ``area``,
``districts``, ``demand``, ``candidates`` and ``travel`` fields).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp

from siting import candidates as cand_mod
from siting import data, models, network, road_tables, sizing, travel
from siting import demand as demand_mod
from siting._errors import InputError, ScenarioError
from siting.demand_kinds._common import (
    SITE_COLUMNS,
    KindResult,
    ModelContext,
    Progress,
    ids_to_mask,
    stage,
)
from siting.models.coverage import add_coverage_component, coverage_details
from siting.models.joint import Component
from siting.models.plug_levels import add_level_component, level_details
from siting.scenario import Scenario, Solver
from siting.study_area import area_km2, study_area

NAME = "area"
#: From this many demand × site pairs on, the plug model is solved on a core of the nearest
#: pairs and certified with the full instance's bound (:mod:`siting.models.core`).
CORE_MIN_PAIRS = 2_000_000
#: Name of the kind's model component (and of its budget kind).
COMPONENT = "fast_charger"


def active(scenario: Scenario) -> bool:
    """Area demand is planned unless a corridor section plans its stations alone."""
    sec = scenario.corridor
    return sec is None or sec.joint.fast_chargers


@dataclass
class AreaPart:
    """Outputs of :func:`prepare` (copied into :class:`siting.plan.Prepared`)."""

    area: Any
    districts: pd.DataFrame
    demand: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    travel: sp.csr_matrix
    timings: dict[str, float] = field(default_factory=dict)
    data_sources: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: Plug-sizing arrays (profiles, service level, grid limits): :mod:`siting.sizing`.
    sizing: sizing.SizingArrays | None = None


# ----------------------------------------------------------------------------- prepare


def prepare(
    scenario: Scenario,
    G: road_tables.RoadTables | nx.MultiDiGraph,
    arrays: network.GraphArrays,
    *,
    progress: Progress = None,
    scheduler: Any = None,
) -> AreaPart:
    """Study area, demand grid, candidates and travel matrix (stages demand, candidates, travel).

    Parameters
    ----------
    scenario : Scenario
    G : siting.road_tables.RoadTables or networkx.MultiDiGraph
        The city road network: tables (:func:`siting.road_tables.load_road_tables`, what
        :func:`siting.plan.prepare` passes) or a graph (:func:`siting.network.load_network`).
    arrays : siting.network.GraphArrays
        Array form of ``G``.
    progress : callable, optional
        Receives each stage name before it starts.
    scheduler : str or distributed.Client, optional
        Dask scheduler for the travel-time tiles (:func:`siting.travel.travel_times`).

    Returns
    -------
    AreaPart
    """
    t = stage(progress, "demand")
    area, districts, sources = study_area(scenario)
    table = data.district_table(scenario.path)
    dem = demand_mod.build_demand(
        G, area, districts, scenario.demand.segments,
        municipality_population=float(table["resident_population_2020"].sum()),
        h3_resolution=scenario.demand.h3_resolution, proxy=scenario.demand.proxy, arrays=arrays,
    )  # fmt: skip
    timings = {"demand": time.perf_counter() - t}

    t = stage(progress, "candidates")
    cands = _candidates(scenario, G, arrays, area)
    for sf in scenario.candidates.site_files:
        sources.append({"name": f"site file {Path(sf.path).name}", "path": str(sf.path),
                        "licence": "", "attribution": "", "note": f"crs {sf.crs}"})  # fmt: skip
    timings["candidates"] = time.perf_counter() - t

    t = stage(progress, "travel")
    tt = travel.travel_times(
        arrays, dem["node"].to_numpy(), cands["node"].to_numpy(),
        scenario.coverage.max_travel_min, scheduler=scheduler,
    )  # fmt: skip
    timings["travel"] = time.perf_counter() - t
    notes = list(dem.attrs.get("notes", []))
    t = time.perf_counter()
    arrays = sizing.for_scenario(scenario, dem)
    timings["sizing"] = time.perf_counter() - t
    sources.append(_profile_source(scenario))
    return AreaPart(area, districts, dem, cands, tt, timings, sources, notes, arrays)


def _profile_source(scenario: Scenario) -> dict[str, Any]:
    from siting.queueing import PROFILE_FILE

    return {
        "name": PROFILE_FILE,
        "path": str(data.data_path(PROFILE_FILE, scenario.path)),
        "licence": "facts with per-row sources",
        "attribution": "",
        "note": "time-of-day profiles of charging sessions (rows cite sources or assumptions)",
    }


def _candidates(
    scenario: Scenario,
    G: road_tables.RoadTables | nx.MultiDiGraph,
    arrays: network.GraphArrays,
    area: Any,
) -> gpd.GeoDataFrame:
    c = scenario.candidates
    net = scenario.network
    osm = None
    if c.osm_pois and net.source != "embedded":
        source = {"kind": net.source, "path": net.path, "place": net.place, "bbox": net.bbox}
        osm = network.osm_sites(source, base_dir=scenario.base_dir)
    costs = {k: getattr(scenario.costs, k) for k in ("fast_charger", "hydrogen")}
    cands = cand_mod.build_candidates(
        G, costs={k: v for k, v in costs.items() if v is not None}, kind=c.kind,
        spacing_m=c.spacing_m, road_classes=c.road_classes, intersections=c.intersections,
        site_files=c.site_files, osm_sites=osm, required=c.required, forbidden=c.forbidden,
        area=area, arrays=arrays, connection_kw_max=_connection_default(scenario),
    )  # fmt: skip
    if cands.empty:
        raise InputError("candidates: no candidate site (check candidates.road_classes / files)")
    return cands


def _connection_default(scenario: Scenario) -> float:
    kw = scenario.grid.connection_kw_max
    return float("inf") if kw is None else float(kw)


# ----------------------------------------------------------------------------- model


def _service_level(prepared: Any) -> bool:
    """True when plugs are sized by the service level, or grid feeders need the level model."""
    arrays = getattr(prepared, "sizing", None)
    if arrays is None:
        return False
    return prepared.scenario.sizing.rule == "service_level" or arrays.substations is not None


def _module_arrays(cands: pd.DataFrame, arrays: Any = None) -> dict[str, np.ndarray]:
    mmax = cands["max_plugs"].to_numpy(np.int64)
    return {
        "module_capacity": cands["kwh_per_plug_day"].to_numpy(float),
        "module_cost": cands["plug_cost_cny"].to_numpy(float),
        "max_modules": mmax if arrays is None else arrays.for_sites(cands).max_plugs,
        "existing_modules": cands["existing_plugs"].to_numpy(np.int64),
    }


def _level_arrays(prepared: Any) -> dict[str, Any]:
    """Arguments of the level model: the service level's, or linear levels for daily_energy."""
    c, arrays = prepared.candidates, prepared.sizing
    lim = arrays.for_sites(c)
    if prepared.scenario.sizing.rule == "service_level":
        cap, load = lim.level_capacity, arrays.load
    else:  # daily_energy with substation rows: c plugs serve c x kwh_per_plug_day
        n_lv = lim.level_capacity.shape[1]
        cap = c["kwh_per_plug_day"].to_numpy(float)[:, None] * np.arange(n_lv)[None, :]
        load = None
    return {
        "level_capacity": cap, "load": load, "module_cost": c["plug_cost_cny"].to_numpy(float),
        "max_modules": lim.max_plugs, "existing_modules": c["existing_plugs"].to_numpy(np.int64),
        "group_draw": lim.group_draw, "group_limit": lim.group_limit,
    }  # fmt: skip


def total_demand(prepared: Any) -> float:
    """Total area demand (kWh/day): the normaliser of the kind's share in a joint objective."""
    return float(prepared.demand["kwh_per_day"].sum())


def add_component(builder: models.MilpBuilder, prepared: Any, ctx: ModelContext) -> Component:
    """Add the charger coverage with plug modules to a joint model (no budget row of its own).

    The same model and arrays as :func:`solve_alone`
    (:func:`siting.models.coverage.add_coverage_component`); the joint budget row takes its money
    terms. Plugs and served kWh are read back by the component's ``extract``
    (:func:`siting.models.coverage.coverage_details`).
    """
    c = prepared.candidates
    status = c["status"].to_numpy()
    req = (status == "required") | (status == "built") | ids_to_mask(ctx.keep_open, c["site_id"])
    args = (builder, prepared.travel, prepared.demand["kwh_per_day"].to_numpy(float),
            c["fixed_cost_cny"].to_numpy(float))  # fmt: skip
    if _service_level(prepared):
        handle = add_level_component(
            *args, required=req, forbidden=status == "forbidden", **_level_arrays(prepared)
        )
        read = level_details
    else:
        handle = add_coverage_component(
            *args, required=req, forbidden=status == "forbidden",
            **_module_arrays(c, getattr(prepared, "sizing", None)),
        )  # fmt: skip
        read = coverage_details

    def extract(x: np.ndarray) -> dict[str, Any]:
        return read(handle, x)

    weight = ctx.weights.get(COMPONENT, 1.0)
    return Component(COMPONENT, COMPONENT, handle, total_demand(prepared), weight, extract=extract)


def solve_alone(
    prepared: Any,
    budget: float,
    keep_open: Iterable[str] | None,
    warm_start: Iterable[str] | None,
    solver: Solver,
) -> Any:
    """Solve the kind on its own (:func:`siting.models.max_coverage`) with ``solver`` options.

    Returns
    -------
    siting.models.Solution
    """
    cands = prepared.candidates
    sid = cands["site_id"]
    status = cands["status"].to_numpy()
    required = (status == "required") | ids_to_mask(keep_open, sid, "keep_open")
    forbidden = status == "forbidden"
    if (required & forbidden).any():
        bad = sid[required & forbidden].tolist()[:5]
        raise InputError(f"keep_open: site(s) {bad} are forbidden in the scenario")
    warm = None
    if warm_start is not None:
        warm = np.flatnonzero(ids_to_mask(warm_start, sid))
    if _service_level(prepared):
        return _solve_levels(prepared, budget, required | (status == "built"), forbidden, warm,
                             solver)  # fmt: skip
    kwargs: dict[str, Any] = dict(
        p=None, required=required | (status == "built"), forbidden=forbidden,
        time_limit=solver.time_limit_s, mip_gap=solver.mip_gap, warm_start_open=warm,
        **_module_arrays(cands, getattr(prepared, "sizing", None)),
    )  # fmt: skip
    params = inspect.signature(models.max_coverage).parameters
    if solver.threads is not None and "threads" in params:
        kwargs["threads"] = solver.threads
    backend = solver.backend
    if backend == "highs" and prepared.travel.nnz >= CORE_MIN_PAIRS:
        from siting.models.core import max_coverage_core

        kwargs.pop("p")
        kwargs.pop("threads", None)
        return max_coverage_core(
            prepared.travel, prepared.demand["kwh_per_day"].to_numpy(float),
            cands["fixed_cost_cny"].to_numpy(float), float(budget), **kwargs,
        )  # fmt: skip
    if backend != "highs":
        if "backend" not in params:
            raise ScenarioError(
                f"{prepared.scenario.path}: solver.backend: {backend!r} is not supported by this "
                "version of siting.models.max_coverage (use 'highs')"
            )
        kwargs["backend"] = backend
    return models.max_coverage(
        prepared.travel, prepared.demand["kwh_per_day"].to_numpy(float),
        cands["fixed_cost_cny"].to_numpy(float), float(budget), **kwargs,
    )  # fmt: skip


def _solve_levels(
    prepared: Any, budget: float, required: np.ndarray, forbidden: np.ndarray,
    warm: np.ndarray | None, solver: Solver,
) -> Any:  # fmt: skip
    """The level model (:func:`siting.models.plug_levels.max_coverage_levels`), HiGHS only."""
    from siting.models.plug_levels import max_coverage_levels

    if solver.backend != "highs":
        raise ScenarioError(
            f"{prepared.scenario.path}: solver.backend: {solver.backend!r} supports "
            "sizing: daily_energy without substations only (use 'highs')"
        )
    c = prepared.candidates
    if prepared.travel.nnz >= CORE_MIN_PAIRS:  # city size: solve on cores, certify on all pairs
        from siting.models.core import max_coverage_levels_core as max_coverage_levels
    return max_coverage_levels(
        prepared.travel, prepared.demand["kwh_per_day"].to_numpy(float),
        c["fixed_cost_cny"].to_numpy(float), float(budget), required=required,
        forbidden=forbidden, time_limit=solver.time_limit_s, mip_gap=solver.mip_gap,
        warm_start_open=warm, **_level_arrays(prepared),
    )  # fmt: skip


# ----------------------------------------------------------------------------- assemble


def nearest_open(tt: sp.csr_matrix, open_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per demand row: position in ``open_idx`` of the nearest open site (-1) and its time.

    Ties go to the earlier position in ``open_idx``. Rows are read in blocks
    (:func:`siting.models.core.row_blocks`), so a city-size matrix is never copied.
    """
    from siting.models.core import row_blocks

    tt = sp.csr_matrix(tt)
    pos = np.full(tt.shape[1], -1, dtype=np.int64)
    pos[np.asarray(open_idx, dtype=np.int64)] = np.arange(len(open_idx))
    best = np.full(tt.shape[0], -1, dtype=np.int64)
    btime = np.full(tt.shape[0], np.nan)
    deg = np.diff(tt.indptr)
    for r0, r1 in row_blocks(tt.indptr):
        a, b = tt.indptr[r0], tt.indptr[r1]
        p = pos[tt.indices[a:b]]
        on = p >= 0
        r = np.repeat(np.arange(r0, r1), deg[r0:r1])[on]
        v, p = tt.data[a:b][on], p[on]
        order = np.lexsort((p, v, r))
        r, v, p = r[order], v[order], p[order]
        first = np.ones(r.size, bool)
        first[1:] = r[1:] != r[:-1]
        best[r[first]] = p[first]
        btime[r[first]] = v[first]
    return best, btime


def _served_per_cell(
    details: dict[str, Any], weights: np.ndarray, reach: np.ndarray, n_open: int, n_cands: int
) -> np.ndarray:
    assign = details.get("assignment_matrix", details.get("assignment"))
    n = len(weights)
    if sp.issparse(assign) and assign.shape in ((n, n_open), (n, n_cands)):
        # served kWh/day of each cell by each open site
        return np.asarray(sp.csr_matrix(assign).sum(axis=1)).ravel()
    # only per-site totals known: spread the total served over the reachable cells in
    # proportion to their demand (conserves the total; per-cell values are indicative)
    served_site = np.asarray(details.get("served", np.zeros(n_open)), dtype=float)
    reach_w = float(weights[reach].sum())
    ratio = min(float(served_site.sum()) / reach_w, 1.0) if reach_w > 0 else 0.0
    return np.where(reach, weights * ratio, 0.0)


def _sites(
    cands: gpd.GeoDataFrame, open_idx: np.ndarray, details: dict[str, Any], best: np.ndarray,
    btime: np.ndarray,
) -> gpd.GeoDataFrame:  # fmt: skip
    n_open = len(open_idx)
    plugs = np.asarray(details.get("modules", np.zeros(n_open)), dtype=float)
    plugs = plugs.round().astype(np.int64)
    served_site = np.asarray(details.get("served", np.zeros(n_open)), dtype=float)
    sites = cands.iloc[open_idx].copy()
    existing = sites["existing_plugs"].to_numpy(np.int64)
    sites["plugs"] = np.maximum(plugs, existing) if len(plugs) == n_open else existing
    sites["capacity_kw"] = sites["plugs"] * sites["plug_kw"]
    sites["cost_cny"] = sites["fixed_cost_cny"] + sites["plug_cost_cny"] * np.maximum(
        sites["plugs"] - existing, 0
    )
    sites["demand_served"] = served_site if len(served_site) == n_open else np.nan
    reach = best >= 0
    max_t = pd.Series(btime[reach]).groupby(best[reach]).max()
    sites["max_travel_min"] = max_t.reindex(np.arange(n_open)).to_numpy()
    sites["size_kg_per_day"] = np.nan
    sites["trips_served"] = np.nan
    sites = sites[SITE_COLUMNS].reset_index(drop=True)
    return gpd.GeoDataFrame(sites, geometry="geometry", crs="EPSG:4326")


def assemble(prepared: Any, details: dict[str, Any]) -> KindResult:
    """Chosen charger sites, the demand grid with what is served, and the kind's summary keys.

    Parameters
    ----------
    prepared : siting.plan.Prepared
    details : dict
        The component's results: ``open`` (candidate positions), ``modules`` (plugs per open
        site), ``served`` (kWh/day per open site), ``assignment_matrix`` (sparse demand × open
        sites, kWh/day) — :func:`siting.models.coverage.coverage_details` or the details of
        :func:`siting.models.max_coverage`.

    Returns
    -------
    KindResult
    """
    cands = prepared.candidates.copy()
    dem = prepared.demand.copy()
    weights = dem["kwh_per_day"].to_numpy(float)
    open_idx = np.asarray(details["open"], dtype=np.int64)
    best, btime = nearest_open(prepared.travel, open_idx)
    reach = best >= 0
    served_cell = _served_per_cell(details, weights, reach, len(open_idx), len(cands))
    dem["served_kwh"] = served_cell
    dem["served_share"] = np.divide(served_cell, weights, out=np.zeros(len(dem)), where=weights > 0)
    dem["covered"] = reach
    dem["travel_min"] = btime
    cands["chosen"] = False
    cands.loc[cands.index[open_idx], "chosen"] = True
    sites = _sites(cands, open_idx, details, best, btime)
    served = float(served_cell.sum()) if len(open_idx) else 0.0
    summary = _summary(prepared, weights, served, reach)
    arrays = getattr(prepared, "sizing", None)
    if arrays is not None:
        plugs = sites["plugs"].to_numpy(np.int64)
        q = sizing.site_columns(arrays, dem, cands, open_idx, plugs,
                                details.get("assignment_matrix"))  # fmt: skip
        for col in q.columns:
            sites[col] = q[col].to_numpy()
        scn = prepared.scenario
        kwh = scn.costs.fast_charger.kwh_per_plug_day if scn.costs.fast_charger else None
        summary.update(sizing.summary_keys(arrays, scn.sizing.rule, kwh, q, plugs))
    return KindResult(sites=sites, candidates=cands, demand=dem, summary=summary)


def binding_limit(prepared: Any, result: KindResult, budget: float, spent: float) -> dict:
    """``binding_limit`` and its detail for summary.json (:func:`siting.sizing.binding_limit`).

    ``result`` is this kind's part of the plan (:func:`assemble`); ``spent`` is what the whole
    plan spends (in a joint plan the money left is judged against the charger steps).
    """
    arrays = getattr(prepared, "sizing", None)
    if arrays is None or result.sites is None:
        return {}
    cands, sites = prepared.candidates, result.sites
    pos = pd.Series(np.arange(len(cands)), index=cands["site_id"].to_numpy())
    open_idx = pos.reindex(sites["site_id"]).to_numpy(np.int64)
    limit = sizing.plan_binding_limit(
        arrays, prepared.travel, prepared.demand, cands, open_idx,
        sites["plugs"].to_numpy(np.int64), result.demand["served_kwh"].to_numpy(float), budget,
        spent,
    )  # fmt: skip
    return {"binding_limit": limit[0], "binding_limit_detail": limit[1]}


def _summary(prepared: Any, weights: np.ndarray, served: float, reach: np.ndarray) -> dict:
    scn = prepared.scenario
    total = float(weights.sum())
    d = prepared.districts
    return {
        "demand_covered_share": round(served / total, 6) if total > 0 else 0.0,
        "demand_reachable_share": round(float(weights[reach].sum()) / total, 6) if total else 0.0,
        "demand_kwh_per_day": round(total, 3),
        "served_kwh_per_day": round(served, 3),
        "n_demand_cells": len(weights),
        "max_travel_min": scn.coverage.max_travel_min,
        "h3_resolution": scn.demand.h3_resolution,
        "study_area": {
            "area": scn.study_area.area,
            "bbox": list(scn.study_area.bbox) if scn.study_area.bbox else None,
            "districts": scn.study_area.districts,
            "area_km2": round(area_km2(prepared.area), 1),
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
    }
