"""Hydrogen (and intercity fast-charging) stage: corridor trips, node demand, stations, joint plan.

Two stage functions, like :mod:`siting.plan`:

- :func:`prepare_hydrogen` builds the corridor road graph (joined with the city graph when one is
  given), the FRLM trips on it, the node demand (depots / venues, kg/day), the hydrogen
  candidates and the demand × candidate travel matrix into a :class:`HydrogenPrepared`;
- :func:`solve_hydrogen` composes flow refuelling, node demand and (optionally) the fast-charger
  coverage of the charger pipeline under one money budget
  (:func:`siting.models.joint.joint_siting`) and returns a :class:`~siting.results.Plan`.

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
  node demand assigned to the station.
* Node demand (kg/day) = vehicles × km/day × kg/100 km / 100, per demand point.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry import LineString, Point

from siting import corridor, network, travel
from siting._errors import InputError, ScenarioError
from siting.frlm_network import shortest_path_trips
from siting.models import MilpBuilder, Trips, add_flow_refuelling
from siting.models.joint import Colocation, Component, add_node_demand, joint_siting, row_block
from siting.results import Plan

logger = logging.getLogger(__name__)


class Section(BaseModel):
    """Base of the hydrogen section's models: as :class:`siting.scenario.Section` (unknown keys
    are errors, values validated on set), defined here so that importing this module first does
    not import :mod:`siting.scenario`, which imports this module (a cycle)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


NonNeg = Annotated[float, Field(ge=0)]
Pos = Annotated[float, Field(gt=0)]

#: Corridor node kinds that are hydrogen candidates unless the scenario says otherwise.
DEFAULT_CANDIDATE_KINDS = ("town", "interchange", "service_area", "venue", "junction_city")
#: Name prefix of the corridor's stand-in links from Beijing venues to the G6 gateway.
STAND_IN_LINK = "local link (city streets to G6 gateway)"


# ----------------------------------------------------------------------------- schema
class StationSize(Section):
    """One station size option: daily capacity (kg/day) and build cost (CNY)."""

    size_kg_per_day: Pos
    cost_cny: NonNeg
    source: str = ""


class Fleet(Section):
    """Fuel use of a fleet: kg of hydrogen per 100 km (kWh/100 km for ``vehicle: bev``)."""

    kg_per_100km: Pos
    source: str = ""


class DemandPoint(Section):
    """A depot or venue with daily demand = vehicles × km_per_day × fleet kg/100 km / 100."""

    name: str
    node: str
    vehicles: NonNeg
    km_per_day: NonNeg
    fleet: str
    source: str = ""


class TripSpec(Section):
    """Which gravity trip sets to use, their totals (round trips/day), deterrence and fleets."""

    olympic: bool = True
    logistics: bool = True
    olympic_total_per_day: NonNeg = corridor.OLYMPIC_FCEV_TOTAL
    logistics_total_per_day: NonNeg = corridor.LOGISTICS_FCEV_TOTAL
    olympic_beta_per_km: NonNeg = 0.01
    logistics_beta_per_km: NonNeg = 0.02
    olympic_fleet: str | None = None
    logistics_fleet: str | None = None
    basis: str = ""


class ExistingStation(Section):
    """A station already built at a corridor node (kept open at no cost)."""

    node: str
    size_kg_per_day: Pos
    name: str = ""
    source: str = ""


class JointSpec(Section):
    """Joint siting with the fast chargers of the scenario's charger pipeline.

    ``budget_split`` gives fractions of the budget per kind (``hydrogen``, ``fast_charger``;
    summing to 1) instead of one shared budget. ``weights`` weight each component's share in the
    objective (keys ``flow``, ``node``, ``fast_charger``; default 1 each = equal weights).
    ``colocation_saving_cny`` is saved when a fast charger and a hydrogen station are built
    within ``colocation_max_m`` of each other.
    """

    fast_chargers: bool = False
    budget_split: dict[Literal["hydrogen", "fast_charger"], NonNeg] | None = None
    weights: dict[Literal["flow", "node", "fast_charger"], NonNeg] = Field(default_factory=dict)
    colocation_saving_cny: NonNeg = 0.0
    colocation_max_m: Pos = 300.0

    @field_validator("budget_split")
    @classmethod
    def _split(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None and abs(sum(v.values()) - 1.0) > 1e-9:
            raise ValueError(f"fractions must sum to 1, got {sum(v.values())}")
        return v


class HydrogenSection(Section):
    """The ``hydrogen:`` section of a scenario (also used for intercity BEV fast charging).

    Capacitated stations: give ``station_sizes``; uncapacitated: give ``station_cost_cny``.
    """

    vehicle: Literal["fcev", "bev"] = "fcev"
    range_km: Pos
    station_sizes: list[StationSize] = Field(default_factory=list)
    station_cost_cny: NonNeg | None = None
    fleets: dict[str, Fleet] = Field(default_factory=dict)
    demand_points: list[DemandPoint] = Field(default_factory=list)
    max_travel_min: Pos = 15.0
    trips: TripSpec = Field(default_factory=TripSpec)
    candidate_kinds: list[str] = Field(default_factory=lambda: list(DEFAULT_CANDIDATE_KINDS))
    required: list[str] = Field(default_factory=list)
    forbidden: list[str] = Field(default_factory=list)
    existing: list[ExistingStation] = Field(default_factory=list)
    joint: JointSpec = Field(default_factory=JointSpec)
    whole_trips: bool = False
    beijing_venues_via_city: bool = True
    max_snap_km: Pos = 5.0
    corridor_dir: Path | None = None

    @field_validator("candidate_kinds")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        bad = sorted(set(v) - corridor.NODE_KINDS)
        if bad:
            raise ValueError(f"unknown node kind(s) {bad}; use {sorted(corridor.NODE_KINDS)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> HydrogenSection:
        if bool(self.station_sizes) == (self.station_cost_cny is not None):
            raise ValueError("give exactly one of station_sizes (capacitated) or station_cost_cny")
        for i, p in enumerate(self.demand_points):
            if p.fleet not in self.fleets:
                raise ValueError(f"demand_points[{i}].fleet {p.fleet!r} is not in fleets")
        for name in ("olympic_fleet", "logistics_fleet"):
            f = getattr(self.trips, name)
            if f is not None and f not in self.fleets:
                raise ValueError(f"trips.{name} {f!r} is not in fleets")
            seg = name.removesuffix("_fleet")
            if self.station_sizes and getattr(self.trips, seg) and f is None:
                raise ValueError(f"trips.{name} is needed with station_sizes (fuel per km)")
        both = sorted(set(self.required) & set(self.forbidden))
        if both:
            raise ValueError(f"node(s) both required and forbidden: {both}")
        return self

    @property
    def capacitated(self) -> bool:
        """True when stations have sizes (kg/day)."""
        return bool(self.station_sizes)


def parse_hydrogen_section(
    raw: Any, *, file: str | Path = "<scenario>", base_dir: Path | None = None
) -> HydrogenSection:
    """Validate a ``hydrogen:`` mapping; errors become one-line :class:`ScenarioError`.

    Parameters
    ----------
    raw : mapping
        The section as read from YAML.
    file : str or Path
        Name used in messages.
    base_dir : Path, optional
        Folder for relative paths (``corridor_dir``).

    Returns
    -------
    HydrogenSection
    """
    from siting._strict import validate

    sec = validate(
        HydrogenSection,
        raw,
        file=file,
        context={"base_dir": base_dir or Path.cwd()},
        prefix=("hydrogen",),
    )
    if sec.corridor_dir is not None and not sec.corridor_dir.is_absolute() and base_dir:
        sec.corridor_dir = Path(base_dir) / sec.corridor_dir
    return sec


def load_hydrogen_section(path: str | Path) -> HydrogenSection:
    """Read the ``hydrogen:`` section of a scenario YAML file (before the scenario wiring).

    Raises
    ------
    ScenarioError
        File unreadable, no ``hydrogen`` section, or an invalid value (one line).
    """
    from siting._yaml import load_yaml

    p = Path(path)
    raw = load_yaml(p)
    if not isinstance(raw, dict) or "hydrogen" not in raw:
        raise ScenarioError(f"{p}: hydrogen: missing section")
    return parse_hydrogen_section(raw["hydrogen"], file=p, base_dir=p.resolve().parent)


# ----------------------------------------------------------------------------- prepare
@dataclass
class HydrogenPrepared:
    """Stage outputs of :func:`prepare_hydrogen`, reused by every budget of a sweep.

    Attributes
    ----------
    section : HydrogenSection
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
    node_demand : geopandas.GeoDataFrame
        ``name, corridor_node, node, vehicles, km_per_day, kg_per_100km, kg_per_day, basis``.
    candidates : geopandas.GeoDataFrame
        Candidate contract of docs/ARCHITECTURE.md (kind ``hydrogen``, or ``fast_charger`` for
        BEV corridors), site ids ``h2:<corridor node>``.
    site_pos : ndarray of int
        Position in ``lex_nodes`` of each candidate's node.
    size_kg_per_day, size_cost_cny : ndarray (n_sites, n_sizes) or None
        Size options per site (inf cost = not available); None when uncapacitated.
    travel : scipy.sparse.csr_matrix
        Node demand × candidates, minutes, within ``max_travel_min``.
    """

    section: HydrogenSection
    graph: nx.MultiDiGraph
    arrays: network.GraphArrays
    corridor_ids: dict[str, int]
    trips: Trips
    lex_nodes: np.ndarray
    trip_table: pd.DataFrame
    node_demand: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    site_pos: np.ndarray
    size_kg_per_day: np.ndarray | None
    size_cost_cny: np.ndarray | None
    travel: sp.csr_matrix
    timings: dict[str, float] = field(default_factory=dict)
    data_sources: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _where(file: str | Path | None) -> str:
    return f"{file}: " if file else ""


def _join(
    C: nx.MultiDiGraph, city: nx.MultiDiGraph, sec: HydrogenSection, notes: list[str]
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


def _trip_table(C: nx.MultiDiGraph, sec: HydrogenSection, base: Path | None) -> pd.DataFrame:
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
        raise ScenarioError("hydrogen.trips: no trip set chosen (olympic and logistics both off)")
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


def prepare_hydrogen(
    section: HydrogenSection,
    city_graph: nx.MultiDiGraph | None,
    *,
    base_dir: str | Path | None = None,
    file: str | Path | None = None,
) -> HydrogenPrepared:
    """Build corridor graph, trips, node demand, candidates and travel times.

    Parameters
    ----------
    section : HydrogenSection
        The scenario's ``hydrogen`` section.
    city_graph : networkx.MultiDiGraph or None
        Central-Beijing road graph (project contract, integer node ids) to join the corridor to;
        None: the corridor skeleton alone.
    base_dir : str or Path, optional
        Scenario folder (for relative ``corridor_dir``).
    file : str or Path, optional
        Scenario file named in error messages.

    Returns
    -------
    HydrogenPrepared

    Raises
    ------
    ScenarioError
        A node id of the section is not a corridor node.
    """
    sec = section
    timings: dict[str, float] = {}
    notes: list[str] = []
    t0 = time.perf_counter()
    cdir = sec.corridor_dir
    if cdir is not None and not Path(cdir).is_absolute() and base_dir is not None:
        cdir = Path(base_dir) / cdir
    C = corridor.load_corridor(cdir)
    known = set(C.nodes)

    def check(node: str, where: str) -> None:
        if node not in known:
            raise ScenarioError(
                f"{_where(file)}hydrogen.{where}: unknown corridor node {node!r} "
                f"(see data/corridor/nodes.csv)"
            )

    for i, p in enumerate(sec.demand_points):
        check(p.node, f"demand_points[{i}].node")
    for i, e in enumerate(sec.existing):
        check(e.node, f"existing[{i}].node")
    for name in ("required", "forbidden"):
        for i, n in enumerate(getattr(sec, name)):
            check(n, f"{name}[{i}]")

    try:
        G = _join(C, city_graph, sec, notes) if city_graph is not None else C
    except InputError as exc:  # the road network does not reach the corridor
        raise ScenarioError(
            f"{_where(file)}hydrogen.max_snap_km: {exc}; the scenario's road network must reach "
            "the corridor's gateways (or raise max_snap_km)"
        ) from None
    H, ids, lex = _int_graph(G)
    arrays = network.graph_arrays(H)
    timings["corridor_network"] = time.perf_counter() - t0

    # trips: gravity flows on the corridor skeleton, paths on the joined graph (bulk, lex ties)
    t0 = time.perf_counter()
    tab = _trip_table(C, sec, Path(base_dir) if base_dir else None)
    pos_of = pd.Series(np.arange(lex.size), index=lex)
    uv = np.fromiter((x for u, v in H.edges() for x in (u, v)), np.int64, 2 * H.number_of_edges())
    uv = uv.reshape(-1, 2)
    km = np.fromiter((d for _, _, d in H.edges(data="length")), float) / 1000.0
    o = pos_of[tab["origin_node"].map(ids).to_numpy()].to_numpy()
    d = pos_of[tab["destination_node"].map(ids).to_numpy()].to_numpy()
    trips = shortest_path_trips(
        lex.size,
        pos_of[uv[:, 0]].to_numpy(),
        pos_of[uv[:, 1]].to_numpy(),
        np.maximum(km, 1e-6),
        o,
        d,
        tab["flow_per_day"].to_numpy(float),
        directed=True,
    )
    tab["path_km"] = trips.length_km
    if sec.fleets:
        per = {k: f.kg_per_100km / 100.0 for k, f in sec.fleets.items()}
        tab["fuel_kg_per_km"] = tab["fleet"].map(per).astype(float)
    else:
        tab["fuel_kg_per_km"] = np.nan
    timings["trips"] = time.perf_counter() - t0

    # node demand
    t0 = time.perf_counter()
    rows = []
    for p in sec.demand_points:
        kg100 = sec.fleets[p.fleet].kg_per_100km
        cd = C.nodes[p.node]
        rows.append({
            "name": p.name, "corridor_node": p.node, "node": ids[p.node],
            "vehicles": p.vehicles, "km_per_day": p.km_per_day, "kg_per_100km": kg100,
            "kg_per_day": p.vehicles * p.km_per_day * kg100 / 100.0,
            "basis": f"{p.vehicles:g} vehicles x {p.km_per_day:g} km/day x {kg100:g} kg/100 km"
                     + (f"; {p.source}" if p.source else ""),
            "lon": cd["x"], "lat": cd["y"],
        })  # fmt: skip
    cols = ["name", "corridor_node", "node", "vehicles", "km_per_day", "kg_per_100km",
            "kg_per_day", "basis", "lon", "lat"]  # fmt: skip
    nd = pd.DataFrame(rows, columns=cols)
    node_demand = gpd.GeoDataFrame(
        nd, geometry=[Point(x, y) for x, y in zip(nd["lon"], nd["lat"], strict=True)],
        crs="EPSG:4326",
    )  # fmt: skip

    # candidates
    kinds = set(sec.candidate_kinds)
    existing = {e.node: e for e in sec.existing}
    cand_nodes = sorted(
        (v for v, dd in C.nodes(data=True) if dd["kind"] in kinds or v in existing
         or v in sec.required),
        key=str,
    )  # fmt: skip
    kind = "hydrogen" if sec.vehicle == "fcev" else "fast_charger"
    status = [
        "built" if v in existing else "required" if v in sec.required
        else "forbidden" if v in sec.forbidden else "optional"
        for v in cand_nodes
    ]  # fmt: skip
    fixed = 0.0 if sec.capacitated else float(sec.station_cost_cny or 0.0)
    cands = pd.DataFrame({
        "site_id": [f"h2:{v}" if kind == "hydrogen" else f"dc:{v}" for v in cand_nodes],
        "name": [existing[v].name or C.nodes[v]["name"] if v in existing else C.nodes[v]["name"]
                 for v in cand_nodes],
        "kind": kind,
        "source": ["existing" if v in existing else f"corridor:{v}" for v in cand_nodes],
        "lon": [C.nodes[v]["x"] for v in cand_nodes],
        "lat": [C.nodes[v]["y"] for v in cand_nodes],
        "node": [ids[v] for v in cand_nodes],
        "corridor_node": cand_nodes,
        "fixed_cost_cny": [0.0 if v in existing else fixed for v in cand_nodes],
        "plug_cost_cny": 0.0, "plug_kw": np.nan, "kwh_per_plug_day": np.nan,
        "max_plugs": 0, "existing_plugs": 0, "status": status, "snap_m": 0.0,
    })  # fmt: skip
    candidates = gpd.GeoDataFrame(
        cands, geometry=[Point(x, y) for x, y in zip(cands["lon"], cands["lat"], strict=True)],
        crs="EPSG:4326",
    )  # fmt: skip
    site_pos = pos_of[cands["node"].to_numpy()].to_numpy()
    size_cap = size_cost = None
    if sec.capacitated:
        opts = [(s.size_kg_per_day, s.cost_cny) for s in sec.station_sizes]
        caps = sorted({c for c, _ in opts} | {e.size_kg_per_day for e in sec.existing})
        n = len(cand_nodes)
        size_cap = np.broadcast_to(np.array(caps, float), (n, len(caps))).copy()
        size_cost = np.full((n, len(caps)), np.inf)
        for c, cost in opts:
            j = caps.index(c)
            size_cost[:, j] = np.minimum(size_cost[:, j], cost)
        for i, v in enumerate(cand_nodes):
            if v in existing:
                size_cost[i, :] = np.inf
                size_cost[i, caps.index(existing[v].size_kg_per_day)] = 0.0
    tt = (
        travel.travel_times(arrays, node_demand["node"].to_numpy(), cands["node"].to_numpy(),
                            sec.max_travel_min)
        if len(node_demand) else sp.csr_matrix((0, len(cands)))
    )  # fmt: skip
    timings["hydrogen_candidates_travel"] = time.perf_counter() - t0
    sources = [{
        "name": "Olympic corridor expressway skeleton",
        "path": str(corridor._resolve_dir(cdir)),
        "licence": "", "attribution": "sources per node/link in nodes.csv / links.csv",
        "note": "expressway skeleton; lengths sourced or great-circle x "
                f"{corridor.DETOUR_FACTOR} (marked derived)",
    }]  # fmt: skip
    basis = sec.trips.basis or "; ".join(sorted(set(tab["basis"])))
    notes.append(f"trips: {len(tab)} O-D trips; basis: {basis}")
    return HydrogenPrepared(
        section=sec, graph=H, arrays=arrays, corridor_ids=ids, trips=trips, lex_nodes=lex,
        trip_table=tab, node_demand=node_demand, candidates=candidates, site_pos=site_pos,
        size_kg_per_day=size_cap, size_cost_cny=size_cost, travel=tt, timings=timings,
        data_sources=sources, notes=notes,
    )  # fmt: skip


# ----------------------------------------------------------------------------- solve
def _ids_mask(ids: Iterable[str] | None, site_ids: pd.Series) -> np.ndarray:
    mask = np.zeros(len(site_ids), bool)
    if ids is None:
        return mask
    wanted = set(ids)
    return site_ids.isin(wanted).to_numpy()


def _charger_component(
    b: MilpBuilder, cp: Any, keep_open: Iterable[str] | None, total: float, weight: float
) -> Component:
    """Add the fast-charger coverage of a prepared charger pipeline (siting.plan.Prepared).

    The same model and arrays as the charger-only run (:func:`siting.plan.solve_prepared`):
    :func:`siting.models.coverage.add_coverage_component` with plug modules, minus its budget
    row (the joint budget row takes its money terms). Plugs and served kWh are read back by the
    component's ``extract`` (:func:`siting.models.coverage.coverage_details`).
    """
    from siting.models.coverage import add_coverage_component, coverage_details

    c = cp.candidates
    status = c["status"].to_numpy()
    req = (status == "required") | (status == "built") | _ids_mask(keep_open, c["site_id"])
    handle = add_coverage_component(
        b,
        cp.travel,
        cp.demand["kwh_per_day"].to_numpy(float),
        c["fixed_cost_cny"].to_numpy(float),
        required=req,
        forbidden=status == "forbidden",
        module_capacity=c["kwh_per_plug_day"].to_numpy(float),
        module_cost=c["plug_cost_cny"].to_numpy(float),
        max_modules=c["max_plugs"].to_numpy(np.int64),
        existing_modules=c["existing_plugs"].to_numpy(np.int64),
    )

    def extract(x: np.ndarray) -> dict[str, Any]:
        return coverage_details(handle, x)

    return Component("fast_charger", "fast_charger", handle, total, weight, extract=extract)


def _colocation_pairs(h2: pd.DataFrame, ch: pd.DataFrame, max_m: float) -> tuple[np.ndarray, ...]:
    d = corridor.haversine_km(
        ch["lat"].to_numpy()[:, None], ch["lon"].to_numpy()[:, None],
        h2["lat"].to_numpy()[None, :], h2["lon"].to_numpy()[None, :],
    )  # fmt: skip
    a, b = np.nonzero(d * 1000.0 <= max_m)
    return a, b


def solve_hydrogen(
    prepared: HydrogenPrepared,
    charger_prepared: Any | None,
    budget_cny: float,
    *,
    keep_open: Iterable[str] | None = None,
    warm_start: Iterable[str] | None = None,
    time_limit: float | None = 60.0,
    mip_gap: float = 1e-4,
    threads: int | None = None,
    scenario: Any = None,
) -> Plan:
    """Choose hydrogen stations (sizes) and, when joint, fast chargers, for one budget.

    Parameters
    ----------
    prepared : HydrogenPrepared
        From :func:`prepare_hydrogen`.
    charger_prepared : siting.plan.Prepared or None
        The charger pipeline's stage outputs for joint siting (``joint.fast_chargers``).
    budget_cny : float
        Money budget (CNY); split by ``joint.budget_split`` when given.
    keep_open : iterable of str, optional
        Site ids that must be open (earlier phases).
    warm_start : iterable of str, optional
        Site ids of an earlier plan offered as a starting point.
    time_limit : float, optional
        Solver seconds.
    mip_gap : float
        Relative MIP gap.
    threads : int, optional
        HiGHS threads.
    scenario : Scenario, optional
        Stored in the plan (``Plan.scenario``); the charger pipeline's scenario when joint.

    Returns
    -------
    siting.results.Plan
        ``sites``: hydrogen stations (``size_kg_per_day``, ``trips_served``, ``demand_served``
        kg/day, ``cost_cny``, ``plugs`` NaN) and fast chargers; ``trips`` with
        ``origin, destination, segment, flow_per_day, refuelled, served_share, path_km``;
        ``summary`` with ``flow_refuelled_share`` and the issue-4 keys.
    """
    sec = prepared.section
    budget = float(budget_cny)
    if not (math.isfinite(budget) and budget >= 0):
        raise InputError(f"budget_cny must be a finite number >= 0, got {budget_cny}")
    t0 = time.perf_counter()
    cands = prepared.candidates
    sid = cands["site_id"]
    status = cands["status"].to_numpy()
    required = (status == "required") | (status == "built") | _ids_mask(keep_open, sid)
    forbidden = status == "forbidden"
    if (required & forbidden).any():
        raise InputError(f"keep_open: site(s) {sid[required & forbidden].tolist()[:5]} forbidden")
    trips = prepared.trips
    b = MilpBuilder("hydrogen_joint", sense="max")
    fuel = prepared.trip_table["fuel_kg_per_km"].to_numpy(float)
    cap = sec.capacitated
    fr = add_flow_refuelling(
        b, trips, sec.range_km, site_nodes=prepared.site_pos, n_sites=None,
        cost_cny=cands["fixed_cost_cny"].to_numpy(float), required=required,
        forbidden=forbidden,
        size_kg_per_day=prepared.size_kg_per_day if cap else None,
        size_cost_cny=prepared.size_cost_cny if cap else None,
        fuel_kg_per_km=np.nan_to_num(fuel) if cap else None,
        whole_trips=sec.whole_trips, prefix="h2",
    )  # fmt: skip
    w = sec.joint.weights
    kind = "hydrogen" if sec.vehicle == "fcev" else "fast_charger"
    comps = [Component("flow", kind, fr, float(trips.flow.sum()), w.get("flow", 1.0))]
    nd_tot = float(prepared.node_demand["kg_per_day"].sum()) if len(prepared.node_demand) else 0.0
    nd = None
    if nd_tot > 0:
        nd = add_node_demand(
            b, prepared.travel, prepared.node_demand["kg_per_day"].to_numpy(float),
            site_cols=fr.site_cols,
            capacity_rows=row_block(b, "h2_capacity") if cap else None, prefix="h2node",
        )  # fmt: skip
        comps.append(Component("node", kind, nd, nd_tot, w.get("node", 1.0)))
    ch = None
    colocation = []
    joint = sec.joint.fast_chargers and charger_prepared is not None
    if joint:
        tot = float(charger_prepared.demand["kwh_per_day"].sum())
        comp = _charger_component(b, charger_prepared, keep_open, tot, w.get("fast_charger", 1.0))
        ch = comp.handle
        comps.append(comp)
        if sec.joint.colocation_saving_cny > 0:
            a, bb = _colocation_pairs(cands, charger_prepared.candidates,
                                      sec.joint.colocation_max_m)  # fmt: skip
            if a.size:
                colocation.append(Colocation("fast_charger", "flow", a, bb,
                                             sec.joint.colocation_saving_cny))  # fmt: skip
    split = sec.joint.budget_split
    budgets = None
    if split is not None:
        kinds = {c.kind for c in comps}
        budgets = {k: budget * float(split.get(k, 0.0)) for k in kinds}
    warm = None
    if warm_start is not None:
        ws = set(warm_start)
        warm = {"flow": np.flatnonzero(sid.isin(ws).to_numpy())}
        if joint:
            warm["fast_charger"] = np.flatnonzero(
                charger_prepared.candidates["site_id"].isin(ws).to_numpy()
            )
    sol = joint_siting(
        b, comps, budget_cny=None if budgets else budget, budgets_cny=budgets,
        colocation=colocation, time_limit=time_limit, mip_gap=mip_gap, threads=threads,
        warm_start_open=warm,
    )  # fmt: skip
    t_model = time.perf_counter() - t0
    t0 = time.perf_counter()
    plan = _assemble(prepared, charger_prepared if joint else None, sol, fr, nd, ch, budget,
                     scenario)  # fmt: skip
    t_plan = time.perf_counter() - t0
    # the charger pipeline's timings hold the whole hydrogen preparation as "hydrogen"; its parts
    # are reported separately so that the stage times add up to the total
    outer = getattr(charger_prepared, "timings", None) if joint else None
    base = dict(outer) if outer and "hydrogen" in outer else dict(prepared.timings)
    if outer and "hydrogen" not in outer:
        base = {**outer, **prepared.timings}
    plan.timings = {**base, "model": t_model, "plan": t_plan}
    plan.summary["hydrogen_stage_seconds"] = {k: round(v, 3) for k, v in prepared.timings.items()}
    plan.summary["solve_seconds"] = round(float(sol.seconds), 3)
    plan.summary["total_seconds"] = round(sum(plan.timings.values()), 3)
    plan.summary["timings"] = {k: round(v, 3) for k, v in plan.timings.items()}
    return plan


def _trip_geometry(prepared: HydrogenPrepared) -> list[LineString]:
    lex = prepared.lex_nodes
    order = np.argsort(prepared.arrays.node_ids)
    pos = order[np.searchsorted(prepared.arrays.node_ids, lex, sorter=order)]
    lon, lat = prepared.arrays.lon[pos], prepared.arrays.lat[pos]
    t = prepared.trips
    return [LineString(np.column_stack([lon[t.path(q)], lat[t.path(q)]])) for q in range(t.n_trips)]


def _assemble(
    hp: HydrogenPrepared,
    cp: Any,
    sol: Any,
    fr: Any,
    nd: Any,
    ch: Any,
    budget: float,
    scenario: Any,
) -> Plan:
    sec = hp.section
    cands = hp.candidates.copy()
    n = len(cands)
    tab = hp.trip_table
    if not sol.is_feasible:
        raise InputError(f"hydrogen plan infeasible: {sol.message}")
    det = sol.details["components"]
    # re-solve-free extraction from the component details
    flow_d = det["flow"]
    open_h = np.zeros(n, bool)
    open_h[flow_d["open"]] = True
    from siting.models.frlm import refuelled_by

    refuelled = refuelled_by(fr.cover, open_h, hp.trips.n_trips)
    x = sol.details.get("x")
    served_share = refuelled.astype(float)
    if x is not None:
        served_share = np.clip(x[fr.trip_cols], 0, 1)
    trips_served = np.zeros(n)
    trip_flow = np.zeros(n)
    names = cands["name"].astype(str).to_numpy()
    stations = np.full(hp.trips.n_trips, "", dtype=object)
    # a refuelled trip is served by every open station on its path (counted once per station)
    for q in np.flatnonzero(served_share > 1e-9):
        on_path = np.isin(hp.site_pos, hp.trips.path(q)) & open_h
        trips_served[on_path] += 1
        trip_flow[on_path] += hp.trips.flow[q] * served_share[q]
        stations[q] = "; ".join(names[on_path])
    size = np.full(n, np.nan)
    cost = cands["fixed_cost_cny"].to_numpy(float) * open_h
    load = np.zeros(n)
    if fr.size_cols is not None and x is not None:
        zc = fr.size_cols
        zval = np.where(zc >= 0, x[np.where(zc >= 0, zc, 0)], 0.0) > 0.5
        si = np.where(zval.any(axis=1), zval.argmax(axis=1), -1)
        ok = si >= 0
        size[ok] = fr.size_kg_per_day[np.flatnonzero(ok), si[ok]]
        cost[ok] += fr.size_cost_cny[np.flatnonzero(ok), si[ok]]
        load = np.bincount(fr.alloc_site, weights=x[fr.alloc_cols], minlength=n)
    node_served = np.zeros(n)
    dem_served = np.zeros(len(hp.node_demand))
    if nd is not None and x is not None:
        v = x[nd.objective_cols]
        node_served = np.bincount(nd.pair_site, weights=v, minlength=n)
        dem_served = np.bincount(nd.pair_demand, weights=v, minlength=len(hp.node_demand))
    cands["chosen"] = open_h
    s = cands[open_h].copy()
    s["plugs"] = np.nan
    s["capacity_kw"] = np.nan
    s["cost_cny"] = cost[open_h]
    s["size_kg_per_day"] = size[open_h]
    s["trip_fuel_kg_per_day"] = load[open_h]
    s["node_demand_kg_per_day"] = node_served[open_h]
    s["demand_served"] = (load + node_served)[open_h] if sec.capacitated else node_served[open_h]
    s["trips_served"] = trips_served[open_h]
    s["trip_flow_per_day"] = trip_flow[open_h]
    s["max_travel_min"] = sec.max_travel_min
    keep = ["site_id", "kind", "name", "plugs", "capacity_kw", "cost_cny", "demand_served",
            "source", "lon", "lat", "max_travel_min", "size_kg_per_day", "trips_served",
            "status", "node", "geometry", "trip_fuel_kg_per_day",
            "node_demand_kg_per_day", "trip_flow_per_day"]  # fmt: skip
    sites = s[keep].reset_index(drop=True)

    flow = hp.trips.flow
    total_flow = float(flow.sum())
    flow_ref = float(flow @ served_share)
    trips_gdf = gpd.GeoDataFrame(
        {
            "origin": tab["origin"].astype(str), "destination": tab["destination"].astype(str),
            "segment": tab["segment"], "flow_per_day": flow, "refuelled": served_share > 0.5,
            "served_share": served_share, "path_km": tab["path_km"], "basis": tab["basis"],
            "stations": stations,
        },
        geometry=_trip_geometry(hp), crs="EPSG:4326",
    )  # fmt: skip
    nd_gdf = hp.node_demand.copy()
    nd_gdf["served_kg_per_day"] = dem_served
    kgd = nd_gdf["kg_per_day"].to_numpy(float)
    nd_gdf["served_share"] = np.divide(dem_served, kgd, out=np.zeros(len(kgd)), where=kgd > 0)
    nd_gdf["covered"] = np.asarray(hp.travel[:, open_h].sum(axis=1)).ravel() > 0 if n else False
    nd_tot = float(kgd.sum())
    summary: dict[str, Any] = {
        "scenario": getattr(scenario, "name", None) or "hydrogen",
        "status": sol.status,
        "objective": _num(sol.objective),
        "mip_gap": _num(sol.gap),
        "mip_gap_target": _num(sol.details.get("mip_gap_target")),
        "solve_seconds": _num(sol.seconds),
        "total_seconds": None,
        "budget_cny": budget,
        "spent_cny": round(float(sol.details["total_spent_cny"]), 2),
        "spent_cny_by_kind": {k: round(v, 2) for k, v in sol.details["spent_cny"].items()},
        "colocation_saving_cny": round(float(sol.details["saving_cny"]), 2),
        "flow_refuelled_share": round(flow_ref / total_flow, 6) if total_flow > 0 else 0.0,
        "flow_refuelled_per_day": round(flow_ref, 3),
        "trips_flow_per_day": round(total_flow, 3),
        "n_trips": int(hp.trips.n_trips),
        "range_km": sec.range_km,
        "hydrogen_node_demand_kg_per_day": round(nd_tot, 3),
        "hydrogen_node_demand_served_share": round(float(dem_served.sum()) / nd_tot, 6)
        if nd_tot > 0 else None,
        "objective_weights": {k: v["weight"] for k, v in det.items()},
        "objective_shares": {k: round(v["share"], 6) for k, v in det.items()},
        "n_candidates": int(n),
        "notes": list(hp.notes),
        "solver_message": sol.message,
    }  # fmt: skip
    sources = list(hp.data_sources)
    demand = nd_gdf
    if cp is not None:
        from siting import plan as plan_mod

        cd = det["fast_charger"]
        csol = _charger_solution(sol, cd)
        cplan = plan_mod.assemble_plan(cp, csol, budget)
        sites = pd.concat([cplan.sites, sites], ignore_index=True)
        cands = pd.concat([cplan.candidates, cands], ignore_index=True)
        demand = cplan.demand
        for k in ("demand_covered_share", "demand_reachable_share", "demand_kwh_per_day",
                  "served_kwh_per_day", "n_demand_cells", "max_travel_min", "study_area",
                  "h3_resolution", "population_in_study", "district_population"):  # fmt: skip
            summary[k] = cplan.summary.get(k)
        summary["n_candidates"] = int(len(cp.candidates) + n)
        summary["notes"] = cplan.summary.get("notes", []) + summary["notes"]
        sources = cp.data_sources + sources
    else:
        summary["demand_covered_share"] = summary["hydrogen_node_demand_served_share"] or 0.0
        summary["n_demand_cells"] = len(nd_gdf)
        summary["max_travel_min"] = sec.max_travel_min
    sites = gpd.GeoDataFrame(sites, geometry="geometry", crs="EPSG:4326")
    summary["sites_by_kind"] = {str(k): int(v) for k, v in sites["kind"].value_counts().items()}
    summary["n_candidates_by_kind"] = {
        str(k): int(v) for k, v in cands["kind"].value_counts().items()
    }
    plugs = pd.to_numeric(sites["plugs"], errors="coerce")
    summary["plugs_by_kind"] = {
        str(k): int(v) for k, v in plugs.groupby(sites["kind"]).sum(min_count=1).dropna().items()
    }
    if sec.capacitated:
        kg = pd.to_numeric(sites["size_kg_per_day"], errors="coerce")
        summary["hydrogen_capacity_kg_per_day"] = round(float(kg.sum()), 3)
    summary["data_sources"] = sources
    return Plan(
        scenario=scenario, budget_cny=budget, demand=demand,
        candidates=gpd.GeoDataFrame(cands, geometry="geometry", crs="EPSG:4326"),
        sites=sites, solution=sol, summary=summary, trips=trips_gdf, data_sources=sources,
    )  # fmt: skip


def _charger_solution(sol: Any, cd: dict[str, Any]) -> Any:
    """A Solution-like view of the charger component for :func:`siting.plan.assemble_plan`."""
    from siting.models import Solution

    det = {k: v for k, v in cd.items() if k in ("modules", "served", "assignment_matrix")}
    det["spent"] = cd["spent_cny"]
    return Solution(
        status=sol.status, objective=cd["value"], bound=np.nan, gap=sol.gap, open=cd["open"],
        seconds=sol.seconds, message=sol.message, details=det,
    )  # fmt: skip


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
