"""The planning pipeline: scenario → stage outputs of each demand kind → one model → :class:`Plan`.

Two stages so that budget sweeps pay for the expensive part once:

- :func:`prepare` loads the city road graph, then prepares each demand kind the scenario plans
  (:mod:`siting.demand_kinds`: area demand, trip flows, depot demand) into a :class:`Prepared`;
- :func:`solve_prepared` composes the kinds' model components under one budget
  (:func:`siting.models.joint.joint_siting`), solves, and assembles the
  :class:`~siting.results.Plan` from each kind's results. Area demand alone is solved by its own
  model (:func:`siting.models.max_coverage`, the same arrays, any solver backend).

:func:`run_scenario` does both. ``progress`` callbacks receive a stage name before each stage:
``"network"``; ``"demand"``, ``"candidates"``, ``"travel"`` (area demand); ``"trip_flows"``,
``"depots"`` (corridor section); ``"model"``; ``"plan"``.
"""

from __future__ import annotations

import logging
import math
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

from siting import _progress, corridor, data, network, queueing, road_tables, sizing
from siting._errors import InputError, ScenarioError
from siting.demand_kinds import area_demand, depot_demand, trip_flows
from siting.demand_kinds._common import KindResult, ModelContext, Progress, num, stage
from siting.models import MilpBuilder
from siting.models.joint import Colocation, joint_siting
from siting.osm_file import NoRoadsInPolygon
from siting.results import Plan
from siting.scenario import CorridorSection, Scenario, Sizing, Solver
from siting.study_area import EQUAL_AREA_CRS, buffered, manifest_source, study_area

logger = logging.getLogger(__name__)

#: A city road network: tables (what :func:`prepare` loads) or a ``networkx`` graph.
CityRoads = road_tables.RoadTables | nx.MultiDiGraph

__all__ = ["EQUAL_AREA_CRS", "Prepared", "prepare", "prepare_corridor", "run_scenario",
           "solve_prepared"]  # fmt: skip


@dataclass
class Prepared:
    """Everything computed before the model: reused by every budget of a sweep.

    Attributes
    ----------
    scenario : Scenario or None
        None for corridor stations prepared without a scenario (:func:`prepare_corridor`).
    graph : siting.road_tables.RoadTables or networkx.MultiDiGraph or None
        City road network: tables from :func:`prepare` (no ``networkx`` graph of the city is
        built; :func:`siting.road_tables.to_graph` makes one), or the graph given to
        :func:`prepare_corridor`.
    arrays : siting.network.GraphArrays or None
        Array form of ``graph``.
    area : shapely geometry or None
        Study area (WGS84) — this and the next four fields are the area-demand kind's inputs
        (None when the scenario does not plan area demand).
    districts : pandas.DataFrame or None
        Per district: ``district_code, district_en, district_zh, population_2020,
        area_share_in_study, population_in_area``.
    demand : geopandas.GeoDataFrame or None
        Demand grid (``docs/ARCHITECTURE.md``).
    candidates : geopandas.GeoDataFrame or None
        Charger candidate sites (``docs/ARCHITECTURE.md``).
    travel : scipy.sparse.csr_matrix or None
        Demand × candidate travel times (minutes) within the coverage limit.
    timings : dict
        Seconds per stage.
    data_sources : list of dict
    notes : list of str
        Fallbacks and caveats met on the way (also logged).
    trip_flows : siting.demand_kinds.trip_flows.TripFlowsPart or None
        Corridor graph, trips and corridor stations (``corridor:`` section).
    depots : siting.demand_kinds.depot_demand.DepotsPart or None
        Depot demand served by the corridor stations.
    """

    scenario: Scenario | None
    graph: CityRoads | None
    arrays: network.GraphArrays | None
    area: Any = None
    districts: pd.DataFrame | None = None
    demand: gpd.GeoDataFrame | None = None
    candidates: gpd.GeoDataFrame | None = None
    travel: sp.csr_matrix | None = None
    timings: dict[str, float] = field(default_factory=dict)
    data_sources: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    trip_flows: trip_flows.TripFlowsPart | None = None
    depots: depot_demand.DepotsPart | None = None
    #: Plug-sizing arrays of the area demand (:class:`siting.sizing.SizingArrays`).
    sizing: Any = None

    @property
    def kinds(self) -> list[str]:
        """The demand kinds prepared here (registry names), in model order."""
        tf = self.trip_flows
        area = self.demand is not None and (tf is None or tf.section.joint.fast_chargers)
        names = [trip_flows.NAME] if tf is not None else []
        names += [depot_demand.NAME] if self.depots is not None else []
        return names + ([area_demand.NAME] if area else [])


# ----------------------------------------------------------------------------- prepare


def _load_city_network(scenario: Scenario) -> tuple[road_tables.RoadTables, list[dict[str, Any]]]:
    """The city road network as tables (:func:`siting.road_tables.load_road_tables`)."""
    net = scenario.network
    source = {"kind": net.source, "path": net.path, "place": net.place, "bbox": net.bbox}
    clip = None
    if net.source == "file":  # read only the roads of the study area (buffered)
        clip = buffered(study_area(scenario)[0], net.clip_buffer_m)
    try:
        roads = road_tables.load_road_tables(
            source, base_dir=scenario.base_dir, speeds_kph=net.speeds_kph or None,
            speed_factor=net.speed_factor, clip=clip, file_cache=net.cache,
        )  # fmt: skip
    except NoRoadsInPolygon:
        raise ScenarioError(
            f"{scenario.path}: study_area: no drivable road of the network file {net.path} lies "
            f"inside the study area (buffered by network.clip_buffer_m = {net.clip_buffer_m} m)"
        ) from None
    if net.source == "embedded":
        sources = [manifest_source("network/nodes.parquet", scenario.path),
                   manifest_source("network/edges.parquet", scenario.path)]  # fmt: skip
    else:
        sources = [{
            "name": "road network", "path": str(net.path or net.place or net.bbox),
            "licence": "ODbL-1.0", "attribution": network.OSM_ATTRIBUTION,
            "note": roads.meta.get("source", roads.source),
        }]  # fmt: skip
        if "osm_file" in roads.meta:  # what was kept of a local .osm.pbf
            sources[0].update(note=network.describe_osm_file(roads.meta["osm_file"]),
                              kept=roads.meta["osm_file"])  # fmt: skip
    return roads, sources


def prepare(scenario: Scenario, *, progress: Progress = None, scheduler: Any = None) -> Prepared:
    """Run the stages before the model: city network, then each demand kind's stages.

    Parameters
    ----------
    scenario
        A validated scenario (:func:`siting.scenario.load_scenario`).
    progress
        Optional callback receiving each stage name before it starts.
    scheduler
        Dask scheduler address or ``distributed.Client``: the travel-time tiles run there.

    Returns
    -------
    Prepared

    Raises
    ------
    SitingError
        Bad input files or settings (one-line message).
    """
    t = stage(progress, "network")
    roads, sources = _load_city_network(scenario)
    arrays = road_tables.graph_arrays(roads)
    prepared = Prepared(scenario, roads, arrays, data_sources=sources)
    prepared.timings["network"] = time.perf_counter() - t
    if area_demand.active(scenario):
        part = area_demand.prepare(scenario, roads, arrays, progress=progress, scheduler=scheduler)
        prepared.area, prepared.districts, prepared.demand = part.area, part.districts, part.demand
        prepared.candidates, prepared.travel = part.candidates, part.travel
        prepared.sizing = part.sizing
        _add_part(prepared, part)
    if trip_flows.active(scenario):
        _prepare_corridor_parts(
            prepared, scenario.corridor, roads, base_dir=scenario.base_dir, file=scenario.path,
            progress=progress,
        )  # fmt: skip
    return prepared


def _add_part(prepared: Prepared, part: Any) -> None:
    prepared.timings.update(part.timings)
    prepared.data_sources += part.data_sources
    prepared.notes += part.notes


def _prepare_corridor_parts(
    prepared: Prepared, section: CorridorSection, city: CityRoads | None, *,
    base_dir: str | Path | None, file: str | Path | None, progress: Progress,
) -> None:  # fmt: skip
    t = stage(progress, trip_flows.NAME)
    if isinstance(city, road_tables.RoadTables):  # the corridor routes on a networkx graph
        city = road_tables.to_graph(city)
    part = trip_flows.prepare(section, city, base_dir=base_dir, file=file)
    prepared.data_sources += part.data_sources
    prepared.notes += part.notes
    prepared.timings[trip_flows.NAME] = time.perf_counter() - t
    prepared.trip_flows = part
    t = stage(progress, depot_demand.NAME)
    prepared.depots = depot_demand.prepare(part)
    prepared.timings[depot_demand.NAME] = time.perf_counter() - t


def prepare_corridor(
    section: CorridorSection,
    city_graph: CityRoads | None = None,
    *,
    base_dir: str | Path | None = None,
    file: str | Path | None = None,
    progress: Progress = None,
) -> Prepared:
    """Prepare trip flows and depot demand of a corridor section without a whole scenario.

    Parameters
    ----------
    section : CorridorSection
        E.g. from :func:`siting.scenario.load_corridor_section`.
    city_graph : networkx.MultiDiGraph or siting.road_tables.RoadTables, optional
        City road network to join the corridor to; None: the corridor skeleton alone.
    base_dir, file : optional
        Scenario folder (relative ``corridor_dir``) and file named in messages.
    progress : callable, optional

    Returns
    -------
    Prepared
        With ``scenario`` None and only the ``trip_flows`` and ``depots`` parts; combine it with
        a charger :class:`Prepared` by ``dataclasses.replace(chargers, trip_flows=...,
        depots=...)`` for joint siting.
    """
    arrays = road_tables.graph_arrays(city_graph) if city_graph is not None else None
    prepared = Prepared(None, city_graph, arrays)
    _prepare_corridor_parts(prepared, section, city_graph, base_dir=base_dir, file=file,
                            progress=progress)  # fmt: skip
    return prepared


# ----------------------------------------------------------------------------- solve


@dataclass
class _Model:
    """What the joint model needs to be read back."""

    colocation: list[Colocation] = field(default_factory=list)


def solve_prepared(
    prepared: Prepared,
    budget_cny: float | None = None,
    keep_open: Iterable[str] | None = None,
    warm_start: Iterable[str] | None = None,
    *,
    progress: Progress = None,
    solver: Solver | None = None,
) -> Plan:
    """Solve the prepared demand kinds under one budget and assemble the plan.

    Parameters
    ----------
    prepared
        From :func:`prepare` (or :func:`prepare_corridor`).
    budget_cny
        Money budget (CNY); default: the scenario's ``budget_cny``.
    keep_open
        Site ids that must be open (e.g. sites built in an earlier phase).
    warm_start
        Site ids of an earlier plan offered to the solver as a starting point.
    progress
        Optional stage callback.
    solver
        Solver options; default: the scenario's ``solver`` section.

    Returns
    -------
    siting.results.Plan
    """
    if _progress.interrupted():  # Ctrl-C stopped an earlier solve of this run (e.g. a sweep)
        raise KeyboardInterrupt("not solving: the run was interrupted")
    scn = prepared.scenario
    solver = solver or (scn.solver if scn is not None else Solver())
    if budget_cny is None and scn is None:
        raise InputError("budget_cny is needed when there is no scenario")
    budget = float(scn.budget_cny if budget_cny is None else budget_cny)
    if not (budget >= 0 and math.isfinite(budget)):
        raise InputError(f"budget_cny must be a finite number >= 0, got {budget_cny}")
    t = stage(progress, "model")
    if prepared.kinds == [area_demand.NAME]:
        sol = area_demand.solve_alone(prepared, budget, keep_open, warm_start, solver)
        model = _Model()
    else:
        sol, model = _solve_joint(prepared, budget, keep_open, warm_start, solver)
    t_model = time.perf_counter() - t

    t = stage(progress, "plan")
    plan = _assemble(prepared, sol, budget, model, solver)
    plan.timings = {**prepared.timings, "model": t_model, "plan": time.perf_counter() - t}
    plan.summary["solve_seconds"] = round(float(sol.seconds), 3)
    plan.summary["total_seconds"] = round(sum(plan.timings.values()), 3)
    plan.summary["timings"] = {k: round(v, 3) for k, v in plan.timings.items()}
    share = plan.summary.get("demand_covered_share")
    logger.info(
        "plan: %s, %d sites, %s of demand served, %.0f of %.0f CNY", sol.status, len(plan.sites),
        "no area or depot demand" if share is None else f"{100 * share:.1f}%",
        plan.summary["spent_cny"], budget,
    )  # fmt: skip
    return plan


def _colocation_pairs(
    stations: pd.DataFrame, chargers: pd.DataFrame, max_m: float
) -> tuple[np.ndarray, np.ndarray]:
    d = corridor.haversine_km(
        chargers["lat"].to_numpy()[:, None], chargers["lon"].to_numpy()[:, None],
        stations["lat"].to_numpy()[None, :], stations["lon"].to_numpy()[None, :],
    )  # fmt: skip
    a, b = np.nonzero(d * 1000.0 <= max_m)
    return a, b


def _solve_joint(
    prepared: Prepared,
    budget: float,
    keep_open: Iterable[str] | None,
    warm_start: Iterable[str] | None,
    solver: Solver,
) -> tuple[Any, _Model]:
    """Add each kind's component to one model and solve it (``joint_siting``)."""
    tf, kinds = prepared.trip_flows, prepared.kinds
    sec = tf.section if tf is not None else None
    ctx = ModelContext(keep_open, weights=dict(sec.joint.weights) if sec else {})
    b = MilpBuilder("joint_siting", sense="max")
    comps = []
    if tf is not None:
        comps.append(trip_flows.add_component(b, tf, ctx))
        ctx.handles[comps[-1].name] = comps[-1].handle
    if prepared.depots is not None:
        comp = depot_demand.add_component(b, prepared.depots, tf, ctx)
        comps += [comp] if comp is not None else []
    if area_demand.NAME in kinds:
        comps.append(area_demand.add_component(b, prepared, ctx))
    model = _Model()
    if area_demand.NAME in kinds and sec is not None and sec.joint.colocation_saving_cny > 0:
        a, bb = _colocation_pairs(tf.candidates, prepared.candidates, sec.joint.colocation_max_m)
        if a.size:
            model.colocation.append(Colocation(area_demand.COMPONENT, trip_flows.COMPONENT, a,
                                               bb, sec.joint.colocation_saving_cny))  # fmt: skip
    split = sec.joint.budget_split if sec is not None else None
    budgets = None
    if split is not None:
        budgets = {k: budget * float(split.get(k, 0.0)) for k in {c.kind for c in comps}}
    sol = joint_siting(
        b, comps, budget_cny=None if budgets else budget, budgets_cny=budgets,
        colocation=model.colocation, time_limit=solver.time_limit_s, mip_gap=solver.mip_gap,
        threads=solver.threads, warm_start_open=_warm(prepared, warm_start),
    )  # fmt: skip
    if not sol.is_feasible:
        raise InputError(f"no plan: {sol.message}")
    return sol, model


def _warm(prepared: Prepared, warm_start: Iterable[str] | None) -> dict[str, np.ndarray] | None:
    if warm_start is None:
        return None
    ws = set(warm_start)
    warm = {}
    if prepared.trip_flows is not None:
        warm[trip_flows.COMPONENT] = np.flatnonzero(
            prepared.trip_flows.candidates["site_id"].isin(ws).to_numpy()
        )
    if area_demand.NAME in prepared.kinds:
        warm[area_demand.COMPONENT] = np.flatnonzero(
            prepared.candidates["site_id"].isin(ws).to_numpy()
        )
    return warm


# ----------------------------------------------------------------------------- assemble


def _kind_results(prepared: Prepared, sol: Any) -> dict[str, KindResult]:
    comps = sol.details.get("components")
    if comps is None:  # area demand solved alone
        return {area_demand.NAME: area_demand.assemble(prepared, {**sol.details, "open": sol.open})}
    out: dict[str, KindResult] = {}
    if area_demand.COMPONENT in comps:
        out[area_demand.NAME] = area_demand.assemble(prepared, comps[area_demand.COMPONENT])
    tf = prepared.trip_flows
    if tf is not None:
        flow = comps[trip_flows.COMPONENT]
        open_st = np.zeros(len(tf.candidates), bool)
        open_st[flow["open"]] = True
        dep = depot_demand.assemble(prepared.depots, comps.get(depot_demand.COMPONENT), open_st)
        out[trip_flows.NAME] = trip_flows.assemble(tf, flow, dep.site_served)
        out[depot_demand.NAME] = dep
    return out


def _share_colocation_savings(
    sites: pd.DataFrame, sol: Any, prepared: Prepared, model: _Model
) -> pd.DataFrame:
    """Credit each built co-location pair's saving half to each of its two sites, so that the
    sites' ``cost_cny`` add up to ``spent_cny`` (the budget row's convention)."""
    if not model.colocation:
        return sites
    saving = pd.Series(0.0, index=sites["site_id"].to_numpy())
    ids = {area_demand.COMPONENT: prepared.candidates["site_id"].to_numpy(),
           trip_flows.COMPONENT: prepared.trip_flows.candidates["site_id"].to_numpy()}  # fmt: skip
    for co, both in zip(model.colocation, sol.details["colocated"], strict=True):
        s = np.broadcast_to(np.asarray(co.saving_cny, float), both.shape)[both] / 2.0
        for name, pos in ((co.a, co.site_a), (co.b, co.site_b)):
            per = pd.Series(s).groupby(ids[name][np.asarray(pos)[both]]).sum()
            saving = saving.add(per, fill_value=0.0)
    sites = sites.copy()
    sites["colocation_saving_cny"] = saving.reindex(sites["site_id"]).to_numpy()
    sites["cost_cny"] = sites["cost_cny"] - sites["colocation_saving_cny"]
    return sites


def _head(
    scn: Scenario | None, sol: Any, budget: float, solver: Solver, site_costs: float
) -> dict[str, Any]:
    det = sol.details or {}
    joint = "components" in det
    spent = det["total_spent_cny"] if joint else det.get("spent", site_costs)
    head: dict[str, Any] = {
        "scenario": scn.name if scn is not None else "corridor stations",
        "status": sol.status,
        "objective": num(sol.objective),
        "mip_gap": num(sol.gap),
        "mip_gap_target": num(det.get("mip_gap_target", solver.mip_gap)),
        "solve_seconds": num(sol.seconds),
        "total_seconds": None,
        "budget_cny": budget,
        "spent_cny": round(float(spent), 2),
    }
    if joint:
        head["spent_cny_by_kind"] = {k: round(v, 2) for k, v in det["spent_cny"].items()}
        head["colocation_saving_cny"] = round(float(det["saving_cny"]), 2)
    return head


def _assemble(prepared: Prepared, sol: Any, budget: float, model: _Model, solver: Solver) -> Plan:
    """Merge the kinds' results into one :class:`Plan` and its summary."""
    res = _kind_results(prepared, sol)
    area, tf, dep = (res.get(k) for k in (area_demand.NAME, trip_flows.NAME, depot_demand.NAME))
    if tf is not None:
        tf.sites = _station_queues(tf.sites, prepared)
    parts = [r for r in (area, tf) if r is not None]
    sites = pd.concat([r.sites for r in parts], ignore_index=True)
    site_costs = float(sites["cost_cny"].sum())
    sites = _share_colocation_savings(sites, sol, prepared, model)
    sites = gpd.GeoDataFrame(sites, geometry="geometry", crs="EPSG:4326")
    cands = gpd.GeoDataFrame(pd.concat([r.candidates for r in parts], ignore_index=True),
                             geometry="geometry", crs="EPSG:4326")  # fmt: skip
    summary = _head(prepared.scenario, sol, budget, solver, site_costs)
    for r in (area, tf, dep):
        summary.update(r.summary if r is not None else {})
    if area is None:  # no area demand: the depot demand's share and limit, if there is any
        depots = bool(len(dep.demand))
        share = summary.get("hydrogen_node_demand_served_share")
        summary["demand_covered_share"] = (share or 0.0) if depots else None
        summary["n_demand_cells"] = len(dep.demand)
        summary["max_travel_min"] = prepared.trip_flows.section.max_travel_min if depots else None
    if area is not None:
        summary.update(area_demand.binding_limit(prepared, area, budget, summary["spent_cny"]))
    summary.update(_site_counts(sites, cands, sol))
    summary["notes"] = list(prepared.notes)
    summary["solver_message"] = getattr(sol, "message", "")
    summary["data_sources"] = prepared.data_sources
    if prepared.trip_flows is not None:
        summary["trip_flow_stage_seconds"] = {
            k: round(v, 3) for k, v in prepared.trip_flows.timings.items()
        }
    return Plan(
        scenario=prepared.scenario, budget_cny=budget,
        demand=area.demand if area is not None else dep.demand, candidates=cands, sites=sites,
        solution=sol, summary=summary, trips=tf.trips if tf is not None else None,
        data_sources=prepared.data_sources,
    )  # fmt: skip


def _station_queues(sites: gpd.GeoDataFrame, prepared: Prepared) -> gpd.GeoDataFrame:
    """Queue columns of corridor stations: hydrogen dispensers as servers (:mod:`siting.sizing`);
    NaN for battery-electric corridor stations (their plugs are not modelled)."""
    sites = sites.copy()
    for col in sizing.QUEUE_COLUMNS:
        sites[col] = np.nan
    h2 = (sites["kind"] == "hydrogen").to_numpy()
    scn = prepared.scenario
    if not h2.any():
        return sites
    hq = scn.sizing.hydrogen if scn is not None else Sizing().hydrogen
    if isinstance(hq.profile, str):
        profile = queueing.load_profiles(
            None if scn is None or scn.path is None else
            data.data_path(queueing.PROFILE_FILE, scn.path)
        )[hq.profile]  # fmt: skip
    else:
        profile = queueing.check_profile(hq.profile, "sizing.hydrogen.profile")
    size = sites.loc[h2, "size_kg_per_day"].to_numpy(float)
    served = sites.loc[h2, "demand_served"].to_numpy(float)
    base = np.where(np.isfinite(size), size, served)  # uncapacitated stations: what they serve
    dispensers = np.maximum(np.ceil(base / hq.kg_per_day_per_dispenser - 1e-9), 1)
    q = sizing.station_queues(
        served, (sites.loc[h2, "status"] == "built"), dispensers, hq.kg_per_fill, hq.fill_min,
        profile,
    )  # fmt: skip
    for col in ("plugs", *sizing.QUEUE_COLUMNS):
        sites.loc[h2, col] = q[col].to_numpy()
    return sites


def _site_counts(sites: pd.DataFrame, cands: pd.DataFrame, sol: Any) -> dict[str, Any]:
    plugs = pd.to_numeric(sites["plugs"], errors="coerce")
    out: dict[str, Any] = {}
    comps = (sol.details or {}).get("components")
    if comps is not None:
        out["objective_weights"] = {k: v["weight"] for k, v in comps.items()}
        out["objective_shares"] = {k: round(v["share"], 6) for k, v in comps.items()}
    out["sites_by_kind"] = {str(k): int(v) for k, v in sites["kind"].value_counts().items()}
    out["plugs_by_kind"] = {
        str(k): int(v) for k, v in plugs.groupby(sites["kind"]).sum(min_count=1).dropna().items()
    }
    out["n_candidates"] = len(cands)
    out["n_candidates_by_kind"] = {str(k): int(v) for k, v in cands["kind"].value_counts().items()}
    return out


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
