"""Trip flows: round trips on the corridor / intercity roads, refuelled or recharged on the way.

The demand kind of the ``corridor:`` section (former name ``hydrogen:``): gravity O-D flows
(:mod:`siting.corridor`) routed on the corridor skeleton joined with the city road graph, and
the corridor stations that serve them — hydrogen refuelling stations for fuel-cell vehicles
(``vehicle: fcev``) or DC fast-charging stations for battery-electric intercity trips
(``vehicle: bev``) — in the flow-refuelling model (:func:`siting.models.add_flow_refuelling`).
The corridor stations also serve depot demand (:mod:`siting.demand_kinds.depot_demand`).

Conventions
-----------
* Trips are round trips along one shortest path by length on the (joined) graph; ties go to the
  lexicographically smallest node sequence, node ids compared as strings (the rule of
  :func:`siting.corridor.shortest_path_lex`), routed in bulk by
  :func:`siting.frlm_network.shortest_path_trips`. O-D flows come from the gravity models of
  :mod:`siting.corridor` (costs = corridor path km); trips with the same O-D are merged.
* The embedded corridor links the Beijing venues to the G6 gateway by stand-in "local links".
  When a city graph is given and ``beijing_venues_via_city`` is on (default), those stand-ins are
  dropped and each Beijing venue/hub within ``max_snap_km`` of a city node is joined to the city
  network instead (:func:`siting.corridor.join_with_city` with the venues as extra gateways), so
  the trips run over the OSM streets of central Beijing.
* Station capacity (kg/day) is shared by the trips' fuel (capacitated FRLM allocation) and the
  depot demand assigned to the station.
* A trip's ``served_share`` (0..1) is the share of its daily flow refuelled; its
  ``refuel_status`` is ``refuelled`` (all of it), ``partly`` or ``not``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from shapely.geometry import LineString, Point

from siting import candidates as cand_mod
from siting import corridor, network
from siting._errors import InputError, ScenarioError
from siting.demand_kinds._common import SITE_COLUMNS, KindResult, ModelContext, ids_to_mask
from siting.frlm_network import shortest_path_trips
from siting.models import MilpBuilder, Trips, add_flow_refuelling
from siting.models.joint import Component
from siting.scenario import CorridorSection, Scenario

NAME = "trip_flows"
#: Name of the kind's model component.
COMPONENT = "flow"
#: Name prefix of the corridor's stand-in links from Beijing venues to the G6 gateway.
STAND_IN_LINK = "local link (city streets to G6 gateway)"
#: Served share at or above which a trip counts as refuelled (solver tolerance).
FULL_SHARE = 1.0 - 1e-6
#: Served share above which a trip counts as partly refuelled.
SOME_SHARE = 1e-6


def active(scenario: Scenario) -> bool:
    """Trip flows are planned when the scenario has a ``corridor:`` section."""
    return scenario.corridor is not None


@dataclass
class TripFlowsPart:
    """Outputs of :func:`prepare`, reused by every budget of a sweep.

    Attributes
    ----------
    section : CorridorSection
    corridor_graph : networkx.MultiDiGraph
        The corridor skeleton (string node ids; coordinates of depots and stations).
    graph : networkx.MultiDiGraph
        Corridor (+ city) graph with integer node ids; corridor nodes carry ``corridor_id``.
    arrays : siting.network.GraphArrays
    corridor_ids : dict
        Corridor node id (str) -> integer node id of ``graph``.
    trips : siting.models.Trips
        FRLM trips, nodes as positions in ``lex_nodes``.
    lex_nodes : ndarray of int
        Graph node ids sorted by their original id as a string (the tie-rule order).
    trip_table : pandas.DataFrame
        One row per trip: ``origin, destination, origin_node, destination_node, segment,
        flow_per_day, path_km, fuel_kg_per_km, basis``.
    candidates : geopandas.GeoDataFrame
        Corridor stations, candidate contract of docs/ARCHITECTURE.md (kind ``hydrogen``, site
        ids ``h2:<node>``; or ``fast_charger``, ``dc:<node>``, for BEV corridors).
    site_pos : ndarray of int
        Position in ``lex_nodes`` of each candidate's node.
    size_kg_per_day, size_cost_cny : ndarray (n_sites, n_sizes) or None
        Size options per site (inf cost = not available); None when uncapacitated.
    """

    section: CorridorSection
    corridor_graph: nx.MultiDiGraph
    graph: nx.MultiDiGraph
    arrays: network.GraphArrays
    corridor_ids: dict[str, int]
    trips: Trips
    lex_nodes: np.ndarray
    trip_table: pd.DataFrame
    candidates: gpd.GeoDataFrame
    site_pos: np.ndarray
    size_kg_per_day: np.ndarray | None
    size_cost_cny: np.ndarray | None
    timings: dict[str, float] = field(default_factory=dict)
    data_sources: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- prepare


def check_nodes(sec: CorridorSection, C: nx.MultiDiGraph, file: str | Path | None) -> None:
    """Raise a one-line :class:`ScenarioError` for a node id of ``sec`` that ``C`` lacks.

    Parameters
    ----------
    sec : CorridorSection
    C : networkx.MultiDiGraph
        The corridor graph (:func:`siting.corridor.load_corridor`).
    file : str or Path, optional
        Scenario file named in the message.
    """
    known = set(C.nodes)
    where = f"{file}: " if file else ""
    named = [(f"demand_points[{i}].node", p.node) for i, p in enumerate(sec.demand_points)]
    named += [(f"existing[{i}].node", e.node) for i, e in enumerate(sec.existing)]
    named += [(f"{k}[{i}]", n) for k in ("required", "forbidden")
              for i, n in enumerate(getattr(sec, k))]  # fmt: skip
    for field_name, node in named:
        if node not in known:
            raise ScenarioError(
                f"{where}corridor.{field_name}: unknown corridor node {node!r} "
                "(see data/corridor/nodes.csv)"
            )


def _join(
    C: nx.MultiDiGraph, city: nx.MultiDiGraph, sec: CorridorSection, notes: list[str]
) -> nx.MultiDiGraph:
    gws = corridor.gateway_nodes(C)
    if sec.beijing_venues_via_city:
        C = C.copy()
        ids = list(city.nodes)
        lat = np.fromiter((city.nodes[v]["y"] for v in ids), float, len(ids))
        lon = np.fromiter((city.nodes[v]["x"] for v in ids), float, len(ids))
        stand_in = [
            (u, v, k)
            for u, v, k, d in C.edges(keys=True, data=True)
            if str(d.get("name", "")).startswith(STAND_IN_LINK)
        ]
        venues = sorted({u for u, _, _ in stand_in if u not in gws})
        moved = []
        for v in venues:
            d = C.nodes[v]
            km = float(corridor.haversine_km(lat, lon, d["y"], d["x"]).min())
            if km <= sec.max_snap_km:
                moved.append(v)
        drop = [(u, v, k) for u, v, k in stand_in if u in moved or v in moved]
        C.remove_edges_from(drop)
        gws = gws + moved
        notes.append(
            f"{len(moved)} Beijing venue/hub node(s) routed over the city network instead of "
            "the corridor's stand-in links to the G6 gateway"
        )
    return corridor.join_with_city(C, city, gateways=gws, max_snap_km=sec.max_snap_km)


def _int_graph(G: nx.MultiDiGraph) -> tuple[nx.MultiDiGraph, dict[str, int], np.ndarray]:
    """Relabel string (corridor) node ids to negative integers; lexicographic order of the ids."""
    str_ids = sorted((v for v in G.nodes if not isinstance(v, int | np.integer)), key=str)
    mapping = {v: -(i + 1) for i, v in enumerate(str_ids)}
    H = nx.relabel_nodes(G, mapping, copy=True)
    for v, i in mapping.items():
        H.nodes[i]["corridor_id"] = v
    inv = {i: v for v, i in mapping.items()}
    lex = np.array(sorted(H.nodes, key=lambda n: str(inv.get(n, n))), dtype=np.int64)
    return H, mapping, lex


def _trip_table(C: nx.MultiDiGraph, sec: CorridorSection) -> pd.DataFrame:
    parts = []
    t = sec.trips
    if t.olympic and t.olympic_total_per_day > 0:
        a = corridor.olympic_trips(
            C, total_flow=t.olympic_total_per_day, beta=t.olympic_beta_per_km
        )
        a["fleet"] = t.olympic_fleet
        parts.append(a)
    if t.logistics and t.logistics_total_per_day > 0:
        zones = corridor.load_zones(sec.corridor_dir)
        b = corridor.logistics_trips(
            C, zones, total_flow=t.logistics_total_per_day, beta=t.logistics_beta_per_km
        )
        b["fleet"] = t.logistics_fleet
        parts.append(b)
    if not parts:
        raise ScenarioError("corridor.trips: no trip set chosen (olympic and logistics both off)")
    tab = pd.concat(parts, ignore_index=True)
    tab["fleet"] = tab["fleet"].astype(object)
    # merge trips with the same O-D nodes and segment (identical paths): flows add up
    key = ["origin_node", "destination_node", "segment"]
    agg = tab.groupby(key, sort=True, dropna=False).agg(
        origin=("origin", "first"),
        destination=("destination", "first"),
        flow_per_day=("flow_per_day", "sum"),
        fleet=("fleet", "first"),
        basis=("basis", "first"),
        n_pairs=("origin", "size"),
    )
    return agg.reset_index()


def _route_trips(
    C: nx.MultiDiGraph, H: nx.MultiDiGraph, ids: dict[str, int], lex: np.ndarray,
    sec: CorridorSection,
) -> tuple[Trips, pd.DataFrame]:  # fmt: skip
    """Gravity flows on the corridor skeleton, paths on the joined graph (bulk, lex ties)."""
    tab = _trip_table(C, sec)
    pos_of = pd.Series(np.arange(lex.size), index=lex)
    uv = np.fromiter((x for u, v in H.edges() for x in (u, v)), np.int64, 2 * H.number_of_edges())
    uv = uv.reshape(-1, 2)
    km = np.fromiter((d for _, _, d in H.edges(data="length")), float) / 1000.0
    o = pos_of[tab["origin_node"].map(ids).to_numpy()].to_numpy()
    d = pos_of[tab["destination_node"].map(ids).to_numpy()].to_numpy()
    trips = shortest_path_trips(
        lex.size, pos_of[uv[:, 0]].to_numpy(), pos_of[uv[:, 1]].to_numpy(),
        np.maximum(km, 1e-6), o, d, tab["flow_per_day"].to_numpy(float), directed=True,
    )  # fmt: skip
    tab["path_km"] = trips.length_km
    if sec.fleets:
        per = {k: f.kg_per_100km / 100.0 for k, f in sec.fleets.items()}
        tab["fuel_kg_per_km"] = tab["fleet"].map(per).astype(float)
    else:
        tab["fuel_kg_per_km"] = np.nan
    return trips, tab


def _station_candidates(
    C: nx.MultiDiGraph, ids: dict[str, int], sec: CorridorSection
) -> gpd.GeoDataFrame:
    kinds = set(sec.candidate_kinds)
    existing = {e.node: e for e in sec.existing}
    nodes = sorted(
        (v for v, dd in C.nodes(data=True) if dd["kind"] in kinds or v in existing
         or v in sec.required),
        key=str,
    )  # fmt: skip
    kind = sec.station_kind
    status = [
        "built" if v in existing else "required" if v in sec.required
        else "forbidden" if v in sec.forbidden else "optional"
        for v in nodes
    ]  # fmt: skip
    fixed = 0.0 if sec.capacitated else float(sec.station_cost_cny or 0.0)
    cands = pd.DataFrame({
        "site_id": [f"h2:{v}" if kind == "hydrogen" else f"dc:{v}" for v in nodes],
        "name": [existing[v].name or C.nodes[v]["name"] if v in existing else C.nodes[v]["name"]
                 for v in nodes],
        "kind": kind,
        "source": ["existing" if v in existing else f"corridor:{v}" for v in nodes],
        "lon": [C.nodes[v]["x"] for v in nodes],
        "lat": [C.nodes[v]["y"] for v in nodes],
        "node": [ids[v] for v in nodes],
        "corridor_node": nodes,
        "fixed_cost_cny": [0.0 if v in existing else fixed for v in nodes],
        "plug_cost_cny": 0.0, "plug_kw": float(sec.station_plug_kw or np.nan),
        "kwh_per_plug_day": np.nan,
        "max_plugs": 0, "existing_plugs": 0, "status": status, "snap_m": 0.0,
    })  # fmt: skip
    cand_mod.add_place_names(cands, None)  # the district or county of each station
    geom = [Point(x, y) for x, y in zip(cands["lon"], cands["lat"], strict=True)]
    return gpd.GeoDataFrame(cands, geometry=geom, crs="EPSG:4326")


def _size_options(
    cands: pd.DataFrame, sec: CorridorSection
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Size options (kg/day) and their cost per station; a built station keeps its own size."""
    if not sec.capacitated:
        return None, None
    existing = {e.node: e for e in sec.existing}
    opts = [(s.size_kg_per_day, s.cost_cny) for s in sec.station_sizes]
    caps = sorted({c for c, _ in opts} | {e.size_kg_per_day for e in sec.existing})
    n = len(cands)
    size_cap = np.broadcast_to(np.array(caps, float), (n, len(caps))).copy()
    size_cost = np.full((n, len(caps)), np.inf)
    for c, cost in opts:
        j = caps.index(c)
        size_cost[:, j] = np.minimum(size_cost[:, j], cost)
    for i, v in enumerate(cands["corridor_node"]):
        if v in existing:
            size_cost[i, :] = np.inf
            size_cost[i, caps.index(existing[v].size_kg_per_day)] = 0.0
    return size_cap, size_cost


def prepare(
    section: CorridorSection,
    city_graph: nx.MultiDiGraph | None,
    *,
    base_dir: str | Path | None = None,
    file: str | Path | None = None,
) -> TripFlowsPart:
    """Build the corridor graph, the trips on it and the corridor station candidates.

    Parameters
    ----------
    section : CorridorSection
        The scenario's ``corridor:`` section.
    city_graph : networkx.MultiDiGraph or None
        Central-Beijing road graph (project contract, integer node ids) to join the corridor to;
        None: the corridor skeleton alone.
    base_dir : str or Path, optional
        Scenario folder (for a relative ``corridor_dir``).
    file : str or Path, optional
        Scenario file named in error messages.

    Returns
    -------
    TripFlowsPart

    Raises
    ------
    ScenarioError
        A node id of the section is not a corridor node.
    """
    sec = section
    timings: dict[str, float] = {}
    notes: list[str] = []
    t0 = time.perf_counter()
    if sec.corridor_dir is not None and not Path(sec.corridor_dir).is_absolute() and base_dir:
        sec = sec.model_copy(update={"corridor_dir": Path(base_dir) / sec.corridor_dir})
    C = corridor.load_corridor(sec.corridor_dir)
    check_nodes(sec, C, file)
    try:
        G = _join(C, city_graph, sec, notes) if city_graph is not None else C
    except InputError as exc:  # the scenario's road network does not reach the corridor
        raise ScenarioError(
            f"{file or '<scenario>'}: corridor.max_snap_km: {exc}; the scenario's road network "
            "must reach the corridor's gateways (or raise max_snap_km)"
        ) from None
    H, ids, lex = _int_graph(G)
    arrays = network.graph_arrays(H)
    timings["corridor_network"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    trips, tab = _route_trips(C, H, ids, lex, sec)
    timings["trips"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    cands = _station_candidates(C, ids, sec)
    site_pos = pd.Series(np.arange(lex.size), index=lex)[cands["node"].to_numpy()].to_numpy()
    size_cap, size_cost = _size_options(cands, sec)
    timings["stations"] = time.perf_counter() - t0
    sources = [{
        "name": "Olympic corridor expressway skeleton",
        "path": str(corridor._resolve_dir(sec.corridor_dir)),
        "licence": "", "attribution": "sources per node/link in nodes.csv / links.csv",
        "note": "expressway skeleton; lengths sourced or great-circle x "
                f"{corridor.DETOUR_FACTOR} (marked derived)",
    }]  # fmt: skip
    basis = sec.trips.basis or "; ".join(sorted(set(tab["basis"])))
    notes.append(f"trips: {len(tab)} O-D trips; basis: {basis}")
    return TripFlowsPart(
        section=sec, corridor_graph=C, graph=H, arrays=arrays, corridor_ids=ids, trips=trips,
        lex_nodes=lex, trip_table=tab, candidates=cands, site_pos=site_pos,
        size_kg_per_day=size_cap, size_cost_cny=size_cost, timings=timings,
        data_sources=sources, notes=notes,
    )  # fmt: skip


# ----------------------------------------------------------------------------- model


def add_component(builder: MilpBuilder, part: TripFlowsPart, ctx: ModelContext) -> Component:
    """Add the flow-refuelling model of the trips and the corridor stations (site columns,
    sizes and capacity rows that depot demand shares)."""
    sec = part.section
    cands = part.candidates
    sid = cands["site_id"]
    status = cands["status"].to_numpy()
    required = (status == "required") | (status == "built") | ids_to_mask(ctx.keep_open, sid)
    forbidden = status == "forbidden"
    if (required & forbidden).any():
        raise InputError(f"keep_open: site(s) {sid[required & forbidden].tolist()[:5]} forbidden")
    cap = sec.capacitated
    fuel = part.trip_table["fuel_kg_per_km"].to_numpy(float)
    handle = add_flow_refuelling(
        builder, part.trips, sec.range_km, site_nodes=part.site_pos, n_sites=None,
        cost_cny=cands["fixed_cost_cny"].to_numpy(float), required=required,
        forbidden=forbidden,
        size_kg_per_day=part.size_kg_per_day if cap else None,
        size_cost_cny=part.size_cost_cny if cap else None,
        fuel_kg_per_km=np.nan_to_num(fuel) if cap else None,
        whole_trips=sec.whole_trips, prefix="h2",
    )  # fmt: skip

    def extract(x: np.ndarray) -> dict[str, Any]:
        return _flow_details(part, handle, x)

    total = float(part.trips.flow.sum())
    weight = ctx.weights.get(COMPONENT, 1.0)
    return Component(COMPONENT, sec.station_kind, handle, total, weight, extract=extract)


def _flow_details(part: TripFlowsPart, fr: Any, x: np.ndarray) -> dict[str, Any]:
    """Per trip the served share; per station its size, size cost and trip fuel load."""
    n = len(part.candidates)
    served_share = np.clip(x[fr.trip_cols], 0, 1)
    size = np.full(n, np.nan)
    size_cost = np.zeros(n)
    load = np.zeros(n)
    if fr.size_cols is not None:
        zc = fr.size_cols
        zval = np.where(zc >= 0, x[np.where(zc >= 0, zc, 0)], 0.0) > 0.5
        si = np.where(zval.any(axis=1), zval.argmax(axis=1), -1)
        ok = si >= 0
        size[ok] = fr.size_kg_per_day[np.flatnonzero(ok), si[ok]]
        size_cost[ok] = fr.size_cost_cny[np.flatnonzero(ok), si[ok]]
        load = np.bincount(fr.alloc_site, weights=x[fr.alloc_cols], minlength=n)
    return {
        "served_share": served_share,
        "size_kg_per_day": size,
        "size_cost_cny": size_cost,
        "trip_fuel_kg_per_day": load,
    }


# ----------------------------------------------------------------------------- assemble


def refuel_status(served_share: np.ndarray) -> np.ndarray:
    """``refuelled`` (all the trip's flow), ``partly`` or ``not``, per trip."""
    s = np.asarray(served_share, dtype=float)
    return np.where(s >= FULL_SHARE, "refuelled", np.where(s > SOME_SHARE, "partly", "not"))


def _trip_geometry(part: TripFlowsPart) -> list[LineString]:
    lex = part.lex_nodes
    order = np.argsort(part.arrays.node_ids)
    pos = order[np.searchsorted(part.arrays.node_ids, lex, sorter=order)]
    lon, lat = part.arrays.lon[pos], part.arrays.lat[pos]
    t = part.trips
    return [LineString(np.column_stack([lon[t.path(q)], lat[t.path(q)]])) for q in range(t.n_trips)]


def _trip_stations(
    part: TripFlowsPart, open_h: np.ndarray, served_share: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per station: trips served and their flow; per trip: the open stations on its path."""
    n = len(part.candidates)
    trips_served = np.zeros(n)
    trip_flow = np.zeros(n)
    names = part.candidates["name"].astype(str).to_numpy()
    stations = np.full(part.trips.n_trips, "", dtype=object)
    # a served trip is served by every open station on its path (counted once per station)
    for q in np.flatnonzero(served_share > 1e-9):
        on_path = np.isin(part.site_pos, part.trips.path(q)) & open_h
        trips_served[on_path] += 1
        trip_flow[on_path] += part.trips.flow[q] * served_share[q]
        stations[q] = "; ".join(names[on_path])
    return trips_served, trip_flow, stations


def _trips_frame(part: TripFlowsPart, served_share: np.ndarray, stations: np.ndarray):
    tab = part.trip_table
    status = refuel_status(served_share)
    return gpd.GeoDataFrame(
        {
            "origin": tab["origin"].astype(str), "destination": tab["destination"].astype(str),
            "segment": tab["segment"], "flow_per_day": part.trips.flow,
            "refuelled": status == "refuelled", "refuel_status": status,
            "served_share": served_share, "path_km": tab["path_km"], "basis": tab["basis"],
            "stations": stations,
        },
        geometry=_trip_geometry(part), crs="EPSG:4326",
    )  # fmt: skip


def assemble(
    part: TripFlowsPart, details: dict[str, Any], depot_served: np.ndarray | None = None
) -> KindResult:
    """Chosen corridor stations (with what trips and depots draw there), trips and summary keys.

    Parameters
    ----------
    part : TripFlowsPart
    details : dict
        The flow component's details (``open`` and what :func:`add_component`'s extract gives).
    depot_served : ndarray, optional
        Depot demand (kg/day) served per station (:mod:`siting.demand_kinds.depot_demand`).

    Returns
    -------
    KindResult
        ``sites``: stations with ``size_kg_per_day``, ``trips_served``, ``trip_flow_per_day``,
        ``trip_fuel_kg_per_day``, ``node_demand_kg_per_day``, ``demand_served`` (kg/day; NaN
        when there is neither a station size nor depot demand), ``cost_cny``, ``plugs`` and
        ``capacity_kw`` (``station_plugs`` × ``station_plug_kw``, else NaN),
        ``max_travel_min`` (depot demand's limit; NaN without depots); ``trips`` with
        ``served_share`` and ``refuel_status``.
    """
    sec = part.section
    cands = part.candidates.copy()
    n = len(cands)
    open_h = np.zeros(n, bool)
    open_h[details["open"]] = True
    share = details["served_share"]
    trips_served, trip_flow, stations = _trip_stations(part, open_h, share)
    load = details["trip_fuel_kg_per_day"]
    node = np.zeros(n) if depot_served is None else depot_served
    cands["chosen"] = open_h
    s = cands[open_h].copy()
    s["plugs"] = np.nan if sec.station_plugs is None else float(sec.station_plugs)
    s["capacity_kw"] = s["plugs"] * s["plug_kw"]
    cost = cands["fixed_cost_cny"].to_numpy(float) + details["size_cost_cny"]
    s["cost_cny"] = cost[open_h]
    s["size_kg_per_day"] = details["size_kg_per_day"][open_h]
    depots = bool(sec.demand_points)
    # without station sizes there is no fuel load, without depots no depot demand: unknown, not 0
    s["trip_fuel_kg_per_day"] = load[open_h] if sec.capacitated else np.nan
    s["node_demand_kg_per_day"] = node[open_h] if depots else np.nan
    served = (load + node)[open_h] if sec.capacitated else node[open_h]
    s["demand_served"] = served if sec.capacitated or depots else np.nan
    s["trips_served"] = trips_served[open_h]
    s["trip_flow_per_day"] = trip_flow[open_h]
    s["max_travel_min"] = sec.max_travel_min if depots else np.nan
    extra = ["trip_fuel_kg_per_day", "node_demand_kg_per_day", "trip_flow_per_day"]
    sites = gpd.GeoDataFrame(s[SITE_COLUMNS + extra].reset_index(drop=True), crs="EPSG:4326")
    flow = part.trips.flow
    total_flow = float(flow.sum())
    flow_ref = float(flow @ share)
    summary: dict[str, Any] = {
        "flow_refuelled_share": round(flow_ref / total_flow, 6) if total_flow > 0 else 0.0,
        "flow_refuelled_per_day": round(flow_ref, 3),
        "trips_flow_per_day": round(total_flow, 3),
        "n_trips": int(part.trips.n_trips),
        "trips_by_refuel_status": _status_counts(refuel_status(share)),
        "range_km": sec.range_km,
    }
    if sec.capacitated:
        kg = float(np.nansum(sites["size_kg_per_day"]))
        summary["hydrogen_capacity_kg_per_day"] = round(kg, 3)
    return KindResult(sites=sites, candidates=cands, summary=summary,
                      trips=_trips_frame(part, share, stations))  # fmt: skip


def _status_counts(status: np.ndarray) -> dict[str, int]:
    return {k: int((status == k).sum()) for k in ("refuelled", "partly", "not")}
