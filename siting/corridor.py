"""Olympic-corridor expressway skeleton (sourced nodes and links), its OSM twin, and trip tables.

The embedded corridor is a compact expressway skeleton (``data/corridor/nodes.csv`` and
``links.csv``): every node coordinate and every link length carries its source in the file;
lengths that are not published are great-circle distance times :data:`DETOUR_FACTOR` and are
marked ``derived: ...``. :func:`load_corridor` turns the tables into a road graph in the project
contract (osmnx conventions), :func:`join_with_city` hooks its gateway nodes onto the central
Beijing OSM graph and :func:`corridor_from_osm` builds the same corridor from live OSM (Overpass).

Trips follow the FRLM convention of the project: one shortest path per O-D pair by length, ties
broken by the lexicographically smallest node sequence (:func:`shortest_path_lex`).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd

from siting._corridor_facts import LOGISTICS_FCEV_TOTAL as LOGISTICS_FCEV_TOTAL  # re-exported
from siting._corridor_facts import NODE_KINDS as NODE_KINDS
from siting._corridor_facts import OLYMPIC_FCEV_BEIJING_YANQING as OLYMPIC_FCEV_BEIJING_YANQING
from siting._corridor_facts import OLYMPIC_FCEV_TOTAL as OLYMPIC_FCEV_TOTAL
from siting._errors import InputError

log = logging.getLogger(__name__)

#: Detour factor applied to great-circle distances where no road length is published.
DETOUR_FACTOR = 1.25
#: Mean Earth radius (km) used for great-circle distances.
EARTH_RADIUS_KM = 6371.0088
#: Bounding box of the central-Beijing OSM extract (west, south, east, north), degrees WGS84.
CENTRAL_BBOX = (116.148, 39.788, 116.613, 40.096)
#: Bounding box that holds the whole corridor (west, south, east, north), degrees WGS84.
CORRIDOR_BBOX = (114.80, 39.85, 116.45, 41.00)
#: Overpass filter for the live corridor: expressways, trunk roads and their ramps.
CORRIDOR_FILTER = '["highway"~"motorway|motorway_link|trunk|trunk_link"]'

#: Speeds (km/h) for OSM ways without ``maxspeed`` in the live corridor. Assumptions: 100 for
#: motorways follows the G6 limit in Wikipedia "Badaling Expressway"; the others are not sourced.
OSM_DEFAULT_SPEEDS_KPH = (
    ("motorway", 100.0),
    ("trunk", 80.0),
    ("motorway_link", 40.0),
    ("trunk_link", 40.0),
)

CLUSTERS = frozenset({"Beijing", "Yanqing", "Zhangjiakou"})
NODE_COLUMNS = ("node_id", "name_en", "name_zh", "kind", "cluster", "lat", "lon", "coord_source")
LINK_COLUMNS = (
    "from",
    "to",
    "road",
    "length_km",
    "length_source",
    "speed_kph",
    "speed_source",
)

OLYMPIC_BASIS = (
    "gravity; origin/destination masses = Olympic FCEVs per zone (816 total, 312 Beijing+Yanqing,"
    " Global Times 2022-02-22 via Flanders-China; Zhangjiakou 504 derived) shared equally by the"
    " zone's venue/hub nodes; total = 816 vehicles x 1 round trip per day (assumption);"
    " beta assumed"
)
LOGISTICS_BASIS = (
    "gravity on 2020 census population; total = 3,000 FCEVs (Beijing 2023 target, Argus 2021)"
    " x 1 round trip per day over all zone pairs (assumption); only pairs that use the corridor"
    " kept; beta assumed"
)


# ----------------------------------------------------------------------------------------------
# geometry
def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance on a sphere.

    Parameters
    ----------
    lat1, lon1, lat2, lon2 : float or array_like
        Coordinates in degrees (WGS84); broadcast against each other.

    Returns
    -------
    numpy.ndarray
        Distances in km (radius :data:`EARTH_RADIUS_KM`).
    """
    p1, l1, p2, l2 = (np.radians(np.asarray(v, dtype=float)) for v in (lat1, lon1, lat2, lon2))
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin((l2 - l1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _nearest(lat: np.ndarray, lon: np.ndarray, qlat: float, qlon: float) -> tuple[int, float]:
    d = haversine_km(lat, lon, qlat, qlon)
    i = int(np.argmin(d))
    return i, float(d[i])


# ----------------------------------------------------------------------------------------------
# tables and graph
def default_corridor_dir() -> Path:
    """Folder of the embedded corridor tables (``<data_dir>/corridor``).

    Returns
    -------
    pathlib.Path
        ``siting.data.data_dir() / "corridor"`` when :mod:`siting.data` is available, else the
        repository's ``data/corridor``.
    """
    repo = Path(__file__).resolve().parent.parent / "data" / "corridor"
    try:
        from siting.data import data_dir

        found = Path(data_dir()) / "corridor"
    except (ImportError, AttributeError, InputError):
        return repo
    return found if (found / "nodes.csv").exists() or not repo.exists() else repo


def _resolve_dir(data_dir: str | Path | None) -> Path:
    if data_dir is None:
        return default_corridor_dir()
    p = Path(data_dir)
    if (p / "corridor" / "nodes.csv").exists() and not (p / "nodes.csv").exists():
        return p / "corridor"
    return p


def read_corridor_tables(data_dir: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and validate ``nodes.csv`` and ``links.csv``.

    Parameters
    ----------
    data_dir : str or Path, optional
        Folder holding the two tables, or the data folder that holds ``corridor/``.

    Returns
    -------
    nodes, links : pandas.DataFrame
        Nodes (lat/lon in degrees WGS84) and links (length in km, speed in km/h).

    Raises
    ------
    InputError
        A file is missing, a column is missing, a value is out of range, or a link names an
        unknown node.
    """
    folder = _resolve_dir(data_dir)
    files = {name: folder / f"{name}.csv" for name in ("nodes", "links")}
    for path in files.values():
        if not path.exists():
            raise InputError(f"{path}: corridor table not found")
    nodes = pd.read_csv(files["nodes"], dtype={"node_id": str}, keep_default_na=False)
    links = pd.read_csv(files["links"], dtype={"from": str, "to": str}, keep_default_na=False)
    for df, cols, path in (
        (nodes, NODE_COLUMNS, files["nodes"]),
        (links, LINK_COLUMNS, files["links"]),
    ):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    path = files["nodes"]
    if nodes["node_id"].duplicated().any():
        dup = nodes.loc[nodes["node_id"].duplicated(), "node_id"].iloc[0]
        raise InputError(f"{path}: duplicate node_id {dup!r}")
    bad_kind = ~nodes["kind"].isin(NODE_KINDS)
    if bad_kind.any():
        raise InputError(
            f"{path}: node {nodes.loc[bad_kind, 'node_id'].iloc[0]!r} has unknown kind"
        )
    bad_cluster = ~nodes["cluster"].isin(CLUSTERS)
    if bad_cluster.any():
        raise InputError(
            f"{path}: node {nodes.loc[bad_cluster, 'node_id'].iloc[0]!r} has unknown cluster"
        )
    for col, lo, hi in (("lat", -90, 90), ("lon", -180, 180)):
        vals = pd.to_numeric(nodes[col], errors="coerce")
        bad = vals.isna() | (vals < lo) | (vals > hi)
        if bad.any():
            raise InputError(f"{path}: node {nodes.loc[bad, 'node_id'].iloc[0]!r} has bad {col}")
        nodes[col] = vals.astype(float)
    if (nodes["coord_source"].str.strip() == "").any():
        raise InputError(f"{path}: every node needs a coord_source")
    path = files["links"]
    known = set(nodes["node_id"])
    for end in ("from", "to"):
        unknown = ~links[end].isin(known)
        if unknown.any():
            raise InputError(f"{path}: link end {links.loc[unknown, end].iloc[0]!r} is not a node")
    for col in ("length_km", "speed_kph"):
        vals = pd.to_numeric(links[col], errors="coerce")
        bad = vals.isna() | (vals <= 0)
        if bad.any():
            raise InputError(f"{path}: link row {int(np.flatnonzero(bad)[0]) + 2} has bad {col}")
        links[col] = vals.astype(float)
    for col in ("length_source", "speed_source"):
        if (links[col].str.strip() == "").any():
            raise InputError(f"{path}: every link needs a {col}")
    return nodes, links


def load_corridor(data_dir: str | Path | None = None) -> nx.MultiDiGraph:
    """Build the corridor road graph from the embedded tables.

    Every link becomes two directed edges (expressways are dual carriageways).

    Parameters
    ----------
    data_dir : str or Path, optional
        Folder with ``nodes.csv`` and ``links.csv`` (default :func:`default_corridor_dir`).

    Returns
    -------
    networkx.MultiDiGraph
        Graph attribute ``crs="EPSG:4326"``; node attributes ``x`` (lon), ``y`` (lat), ``name``,
        ``name_zh``, ``kind``, ``cluster``, ``coord_source``; edge attributes ``length`` (m),
        ``speed_kph``, ``travel_time`` (s), ``highway``, ``name``, ``osmid``
        (``"corridor:<from>__<to>"``), ``length_source``.
    """
    nodes, links = read_corridor_tables(data_dir)
    G = nx.MultiDiGraph(crs="EPSG:4326", name="olympic_corridor")
    for r in nodes.itertuples(index=False):
        G.add_node(
            r.node_id,
            x=float(r.lon),
            y=float(r.lat),
            name=r.name_en,
            name_zh=r.name_zh,
            kind=r.kind,
            cluster=r.cluster,
            coord_source=r.coord_source,
        )
    for r in links.to_dict("records"):
        road = str(r["road"])
        highway = "unclassified" if road.startswith("local") else "motorway"
        length_m = float(r["length_km"]) * 1000.0
        speed = float(r["speed_kph"])
        for u, v in ((r["from"], r["to"]), (r["to"], r["from"])):
            G.add_edge(
                u,
                v,
                length=length_m,
                speed_kph=speed,
                travel_time=length_m / (speed / 3.6),
                highway=highway,
                name=road,
                osmid=f"corridor:{r['from']}__{r['to']}",
                length_source=r["length_source"],
            )
    log.info("corridor: %d nodes, %d directed edges", G.number_of_nodes(), G.number_of_edges())
    return G


def gateway_nodes(G: nx.MultiDiGraph) -> list:
    """Gateways: nodes of kind ``junction_city`` inside :data:`CENTRAL_BBOX`.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Corridor graph from :func:`load_corridor`.

    Returns
    -------
    list
        Node ids, sorted.
    """
    w, s, e, n = CENTRAL_BBOX
    return sorted(
        v
        for v, d in G.nodes(data=True)
        if d.get("kind") == "junction_city" and w <= d["x"] <= e and s <= d["y"] <= n
    )


def join_with_city(
    corridor_G: nx.MultiDiGraph,
    city_G: nx.MultiDiGraph,
    *,
    gateways: Iterable | None = None,
    speed_kph: float = 40.0,
    max_snap_km: float = 5.0,
) -> nx.MultiDiGraph:
    """Connect the corridor's gateway nodes to the nearest city-graph nodes, both directions.

    Parameters
    ----------
    corridor_G : networkx.MultiDiGraph
        Corridor graph (:func:`load_corridor`).
    city_G : networkx.MultiDiGraph
        City road graph in the project contract (node ``x``/``y`` in degrees).
    gateways : iterable, optional
        Corridor nodes to connect; default :func:`gateway_nodes`.
    speed_kph : float
        Speed on the connector edges (km/h).
    max_snap_km : float
        A gateway farther than this from every city node is an input error (km).

    Returns
    -------
    networkx.MultiDiGraph
        Union of both graphs plus connector edges (``highway="motorway_link"``,
        ``osmid="corridor:join:<gateway>"``, length = great-circle distance in m, at least 1 m).
        Node ids shared by both graphs must not occur.

    Raises
    ------
    InputError
        The graphs share node ids, the city graph is empty, or a gateway cannot be snapped.
    """
    shared = set(corridor_G.nodes) & set(city_G.nodes)
    if shared:
        raise InputError(
            f"corridor and city graphs share node id(s), e.g. {sorted(map(str, shared))[0]!r}"
        )
    if city_G.number_of_nodes() == 0:
        raise InputError("city graph has no nodes; cannot join the corridor")
    city_ids = list(city_G.nodes)
    lat = np.fromiter((city_G.nodes[v]["y"] for v in city_ids), float, len(city_ids))
    lon = np.fromiter((city_G.nodes[v]["x"] for v in city_ids), float, len(city_ids))
    H = nx.compose(city_G, corridor_G)
    H.graph.update(city_G.graph)
    H.graph["crs"] = city_G.graph.get("crs", "EPSG:4326")
    gws = gateway_nodes(corridor_G) if gateways is None else list(gateways)
    for g in gws:
        d = corridor_G.nodes[g]
        i, km = _nearest(lat, lon, d["y"], d["x"])
        if km > max_snap_km:
            raise InputError(
                f"gateway {g!r} is {km:.1f} km from the nearest city node (limit {max_snap_km} km)"
            )
        length = max(km * 1000.0, 1.0)
        for u, v in ((g, city_ids[i]), (city_ids[i], g)):
            H.add_edge(
                u,
                v,
                length=length,
                speed_kph=speed_kph,
                travel_time=length / (speed_kph / 3.6),
                highway="motorway_link",
                name="corridor gateway",
                osmid=f"corridor:join:{g}",
            )
        log.info("gateway %s -> city node %s (%.0f m)", g, city_ids[i], length)
    return H


# ----------------------------------------------------------------------------------------------
# live OSM path
def corridor_from_osm(
    skeleton: nx.MultiDiGraph | None = None,
    *,
    bbox: tuple[float, float, float, float] = CORRIDOR_BBOX,
    custom_filter: str = CORRIDOR_FILTER,
    max_snap_km: float = 10.0,
) -> nx.MultiDiGraph:
    """Build the corridor from live OpenStreetMap (Overpass) and snap the skeleton nodes onto it.

    Downloads the expressway/trunk network in ``bbox`` with :func:`osmnx.graph_from_bbox`
    (``custom_filter``), keeps the largest strongly connected component, adds speeds and travel
    times (:func:`osmnx.routing.add_edge_speeds`, ``add_edge_travel_times``) and marks the OSM
    node nearest to each skeleton node.

    Parameters
    ----------
    skeleton : networkx.MultiDiGraph, optional
        Skeleton whose nodes are snapped; default :func:`load_corridor`.
    bbox : tuple of float
        (west, south, east, north) in degrees WGS84.
    custom_filter : str
        Overpass way filter.
    max_snap_km : float
        Skeleton nodes farther than this from every OSM node are left unsnapped (km).

    Returns
    -------
    networkx.MultiDiGraph
        OSM graph (osmnx conventions; ``speed_kph``, ``travel_time`` added); nodes that a
        skeleton node snapped to carry ``corridor_node`` (the skeleton id) and
        ``G.graph["skeleton_snap"]`` maps skeleton id -> (OSM node, distance km).
    """
    import osmnx as ox

    if skeleton is None:
        skeleton = load_corridor()
    G = ox.graph_from_bbox(bbox, custom_filter=custom_filter, simplify=True, retain_all=False)
    G = ox.routing.add_edge_speeds(G, hwy_speeds=dict(OSM_DEFAULT_SPEEDS_KPH), fallback=60.0)
    G = ox.routing.add_edge_travel_times(G)
    ids = list(G.nodes)
    lat = np.fromiter((G.nodes[v]["y"] for v in ids), float, len(ids))
    lon = np.fromiter((G.nodes[v]["x"] for v in ids), float, len(ids))
    snap: dict = {}
    for s, d in sorted(skeleton.nodes(data=True), key=lambda t: str(t[0])):
        i, km = _nearest(lat, lon, d["y"], d["x"])
        if km <= max_snap_km:
            snap[s] = (ids[i], km)
            G.nodes[ids[i]].setdefault("corridor_node", s)
        else:
            log.warning("skeleton node %s: nearest OSM node %.1f km away, not snapped", s, km)
    G.graph["skeleton_snap"] = snap
    return G


# ----------------------------------------------------------------------------------------------
# paths
def _min_lengths(G: nx.MultiDiGraph, weight: str) -> dict:
    out: dict = {}
    for u, v, w in G.edges(data=weight):
        if w is None or w < 0:
            raise InputError(f"edge {u!r}->{v!r} has no non-negative {weight!r}")
        key = (u, v)
        if key not in out or w < out[key]:
            out[key] = float(w)
    return out


def _dijkstra(adj: dict, source) -> dict:
    dist = {source: 0.0}
    heap = [(0.0, 0, source)]
    counter = 1
    while heap:
        d, _, u = heapq.heappop(heap)
        if d > dist.get(u, math.inf):
            continue
        for v, w in adj.get(u, ()):
            nd = d + w
            if nd < dist.get(v, math.inf):
                dist[v] = nd
                heapq.heappush(heap, (nd, counter, v))
                counter += 1
    return dist


def shortest_path_lex(G: nx.MultiDiGraph, source, target, *, weight: str = "length") -> list:
    """Shortest path by ``weight``; among equally short paths the lexicographically smallest.

    Node ids are compared as strings. Lengths are equal when they agree within 1e-9 relative.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Road graph.
    source, target : hashable
        End nodes.
    weight : str
        Edge attribute to minimise (m for ``"length"``).

    Returns
    -------
    list
        Node sequence from ``source`` to ``target``.

    Raises
    ------
    InputError
        ``target`` is unreachable from ``source`` or a node is not in the graph.
    """
    for v in (source, target):
        if v not in G:
            raise InputError(f"node {v!r} is not in the graph")
    w = _min_lengths(G, weight)
    fwd: dict = {}
    bwd: dict = {}
    for (u, v), x in w.items():
        fwd.setdefault(u, []).append((v, x))
        bwd.setdefault(v, []).append((u, x))
    ds = _dijkstra(fwd, source)
    if target not in ds:
        raise InputError(f"no path from {source!r} to {target!r}")
    dt = _dijkstra(bwd, target)
    best = ds[target]
    tol = 1e-9 * max(best, 1.0)
    path = [source]
    u = source
    while u != target:
        cands = [
            v
            for v, x in fwd.get(u, ())
            if v not in path
            and v in dt
            and abs(ds[u] + x - ds.get(v, math.inf)) <= tol
            and abs(ds[v] + dt[v] - best) <= tol
        ]
        u = min(cands, key=str)
        path.append(u)
    return path


def path_arcs(G: nx.MultiDiGraph, path: Sequence) -> np.ndarray:
    """Arc lengths along a node path, for the flow-refuelling model.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Road graph with edge ``length`` in m.
    path : sequence
        Node sequence.

    Returns
    -------
    numpy.ndarray
        ``len(path) - 1`` arc lengths in km (shortest parallel edge).

    Raises
    ------
    InputError
        Two consecutive nodes are not joined by an edge.
    """
    out = np.empty(max(len(path) - 1, 0), dtype=float)
    for k, (u, v) in enumerate(itertools.pairwise(path)):
        data = G.get_edge_data(u, v)
        if not data:
            raise InputError(f"path uses a missing edge {u!r}->{v!r}")
        out[k] = min(float(d["length"]) for d in data.values()) / 1000.0
    return out


# ----------------------------------------------------------------------------------------------
# trips
def gravity_trips(
    origins: Sequence,
    destinations: Sequence,
    *,
    mass_o,
    mass_d,
    cost,
    beta: float,
    total_flow: float,
) -> pd.DataFrame:
    """Gravity-model O-D flows ``T_ij = k * m_i * m_j * exp(-beta * c_ij)``, with ``T_ii = 0``.

    Parameters
    ----------
    origins, destinations : sequence
        Zone ids; a pair with the same id gets no flow (zero diagonal).
    mass_o, mass_d : array_like
        Non-negative masses (e.g. population, vehicles), one per origin / destination.
    cost : array_like
        ``len(origins) x len(destinations)`` generalised cost (e.g. km), non-negative.
    beta : float
        Deterrence per unit cost (1/km for km costs), >= 0.
    total_flow : float
        Sum of all flows (vehicles per day); ``k`` is set to meet it.

    Returns
    -------
    pandas.DataFrame
        Columns ``origin``, ``destination``, ``flow_per_day`` (vehicles/day), one row per pair
        with positive flow, in origin-major order.

    Raises
    ------
    InputError
        Shapes disagree, or a mass, cost, beta or total is negative or not finite, or all
        weights are zero while ``total_flow > 0``.
    """
    o = list(origins)
    d = list(destinations)
    mo = np.asarray(mass_o, dtype=float).ravel()
    md = np.asarray(mass_d, dtype=float).ravel()
    c = np.asarray(cost, dtype=float)
    if mo.shape != (len(o),) or md.shape != (len(d),):
        raise InputError("gravity_trips: mass_o/mass_d must have one value per origin/destination")
    if c.shape != (len(o), len(d)):
        raise InputError(f"gravity_trips: cost must be {len(o)}x{len(d)}, got {c.shape}")
    for name, arr in (("mass_o", mo), ("mass_d", md), ("cost", c)):
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise InputError(f"gravity_trips: {name} must be finite and non-negative")
    if not (math.isfinite(beta) and beta >= 0) or not (
        math.isfinite(total_flow) and total_flow >= 0
    ):
        raise InputError("gravity_trips: beta and total_flow must be finite and non-negative")
    weight = mo[:, None] * md[None, :] * np.exp(-beta * c)
    same = np.asarray(o, dtype=object)[:, None] == np.asarray(d, dtype=object)[None, :]
    weight[same] = 0.0
    s = weight.sum()
    if s <= 0:
        if total_flow > 0:
            raise InputError("gravity_trips: all pair weights are zero; cannot distribute flow")
        flow = weight
    else:
        flow = weight * (total_flow / s)
    i, j = np.nonzero(flow > 0)
    return pd.DataFrame(
        {
            "origin": [o[k] for k in i],
            "destination": [d[k] for k in j],
            "flow_per_day": flow[i, j],
        }
    )


def _attach_paths(G: nx.MultiDiGraph, trips: pd.DataFrame) -> pd.DataFrame:
    paths, kms = [], []
    cache: dict = {}
    for u, v in zip(trips["origin_node"], trips["destination_node"], strict=True):
        if (u, v) not in cache:
            p = shortest_path_lex(G, u, v)
            cache[(u, v)] = (tuple(p), float(path_arcs(G, p).sum()))
        paths.append(cache[(u, v)][0])
        kms.append(cache[(u, v)][1])
    out = trips.copy()
    out["path"] = paths
    out["path_km"] = kms
    return out


def _all_pairs_path_km(G: nx.MultiDiGraph, nodes: Sequence) -> np.ndarray:
    lengths = dict(nx.all_pairs_dijkstra_path_length(nx.DiGraph(G), weight="length"))
    n = len(nodes)
    out = np.empty((n, n))
    for a, u in enumerate(nodes):
        for b, v in enumerate(nodes):
            out[a, b] = lengths[u].get(v, np.inf) / 1000.0
    return out


def olympic_trips(
    G: nx.MultiDiGraph,
    *,
    total_flow: float = OLYMPIC_FCEV_TOTAL,
    beta: float = 0.01,
) -> pd.DataFrame:
    """Olympic-fleet FCEV trips between venues, villages and transport hubs of the corridor.

    Zone masses: 312 FCEVs in the Beijing + Yanqing zones and 504 (= 816 - 312) in the
    Zhangjiakou zone (Global Times 2022-02-22 via Flanders-China, facts file), each shared equally
    by the zone's venue/hub/village nodes. Cost: shortest-path length (km). The total is an
    assumption (816 vehicles x 1 round trip per day) unless ``total_flow`` is given.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Corridor graph (:func:`load_corridor`).
    total_flow : float
        Round trips per day over all pairs.
    beta : float
        Deterrence per km (assumption; 0.01/km halves the weight every ~69 km).

    Returns
    -------
    pandas.DataFrame
        See :func:`build_trip_table`.
    """
    pts = sorted(
        (v for v, d in G.nodes(data=True) if d.get("kind") in ("venue", "hub", "village")), key=str
    )
    clusters = [G.nodes[v]["cluster"] for v in pts]
    zone = np.array(["BY" if c in ("Beijing", "Yanqing") else "Z" for c in clusters])
    veh = {
        "BY": OLYMPIC_FCEV_BEIJING_YANQING,
        "Z": OLYMPIC_FCEV_TOTAL - OLYMPIC_FCEV_BEIJING_YANQING,
    }
    mass = np.array([veh[z] / np.count_nonzero(zone == z) for z in zone])
    cost = _all_pairs_path_km(G, pts)
    t = gravity_trips(
        pts, pts, mass_o=mass, mass_d=mass, cost=cost, beta=beta, total_flow=total_flow
    )
    t["origin_node"] = t["origin"]
    t["destination_node"] = t["destination"]
    t = _attach_paths(G, t)
    t["segment"] = "olympic"
    t["basis"] = OLYMPIC_BASIS
    return t


def logistics_trips(
    G: nx.MultiDiGraph,
    zones: pd.DataFrame,
    *,
    total_flow: float = LOGISTICS_FCEV_TOTAL,
    beta: float = 0.02,
    attach_kinds: Iterable[str] = ("junction_city", "interchange", "town"),
) -> pd.DataFrame:
    """Everyday FCEV logistics/bus trips between population zones, kept where they use the corridor.

    Each zone (district centroid) attaches to the nearest corridor node of ``attach_kinds``;
    cost = access km + path km + egress km. The gravity total covers all zone pairs; pairs whose
    zones attach to the same node never use the corridor and are dropped.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Corridor graph.
    zones : pandas.DataFrame
        Columns ``zone_id``, ``lat``, ``lon`` (degrees WGS84), ``population``.
    total_flow : float
        Round trips per day over all zone pairs (assumption by default, see module constants).
    beta : float
        Deterrence per km (assumption).
    attach_kinds : iterable of str
        Node kinds zones may attach to.

    Returns
    -------
    pandas.DataFrame
        See :func:`build_trip_table`.

    Raises
    ------
    InputError
        A zones column is missing or holds bad values.
    """
    for col in ("zone_id", "lat", "lon", "population"):
        if col not in zones.columns:
            raise InputError(f"zones: missing column {col!r}")
    kinds = set(attach_kinds)
    cand = sorted((v for v, d in G.nodes(data=True) if d.get("kind") in kinds), key=str)
    if not cand:
        raise InputError("corridor graph has no node of the attach kinds")
    clat = np.array([G.nodes[v]["y"] for v in cand])
    clon = np.array([G.nodes[v]["x"] for v in cand])
    zlat = zones["lat"].to_numpy(float)
    zlon = zones["lon"].to_numpy(float)
    acc = haversine_km(zlat[:, None], zlon[:, None], clat[None, :], clon[None, :])
    k = acc.argmin(axis=1)
    node = [cand[i] for i in k]
    access = acc[np.arange(len(k)), k]
    pk = _all_pairs_path_km(G, cand)
    cost = access[:, None] + pk[k][:, k] + access[None, :]
    ids = zones["zone_id"].astype(str).tolist()
    pop = zones["population"].to_numpy(float)
    t = gravity_trips(ids, ids, mass_o=pop, mass_d=pop, cost=cost, beta=beta, total_flow=total_flow)
    zmap = dict(zip(ids, node, strict=True))
    t["origin_node"] = t["origin"].map(zmap)
    t["destination_node"] = t["destination"].map(zmap)
    t = t[t["origin_node"] != t["destination_node"]].reset_index(drop=True)
    t = _attach_paths(G, t)
    t["segment"] = "logistics"
    t["basis"] = LOGISTICS_BASIS
    return t


def load_zones(data_dir: str | Path | None = None) -> pd.DataFrame:
    """Population zones for logistics trips (``zones.csv`` next to the corridor tables).

    Parameters
    ----------
    data_dir : str or Path, optional
        Corridor folder (default :func:`default_corridor_dir`).

    Returns
    -------
    pandas.DataFrame
        ``zone_id``, ``name``, ``lat``, ``lon`` (degrees), ``population`` (persons), ``source``.
    """
    path = _resolve_dir(data_dir) / "zones.csv"
    if not path.exists():
        raise InputError(f"{path}: zones table not found")
    z = pd.read_csv(path, dtype={"zone_id": str})
    for col in ("zone_id", "lat", "lon", "population"):
        if col not in z.columns:
            raise InputError(f"{path}: missing column {col!r}")
    return z


def build_trip_table(
    G: nx.MultiDiGraph,
    zones: pd.DataFrame | None = None,
    *,
    olympic_total: float = OLYMPIC_FCEV_TOTAL,
    logistics_total: float = LOGISTICS_FCEV_TOTAL,
    olympic_beta: float = 0.01,
    logistics_beta: float = 0.02,
) -> pd.DataFrame:
    """Olympic plus logistics trip table on the corridor graph.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Corridor graph.
    zones : pandas.DataFrame, optional
        Logistics zones (default :func:`load_zones`).
    olympic_total, logistics_total : float
        Round trips per day (see :func:`olympic_trips`, :func:`logistics_trips`).
    olympic_beta, logistics_beta : float
        Deterrence per km.

    Returns
    -------
    pandas.DataFrame
        ``origin``, ``destination`` (zone/node ids), ``origin_node``, ``destination_node``,
        ``flow_per_day`` (vehicle round trips/day), ``path`` (tuple of node ids, shortest by
        length, ties -> lexicographically smallest), ``path_km``, ``segment``
        (``olympic`` | ``logistics``), ``basis`` (how the flow was made and what is sourced).
    """
    if zones is None:
        zones = load_zones()
    a = olympic_trips(G, total_flow=olympic_total, beta=olympic_beta)
    b = logistics_trips(G, zones, total_flow=logistics_total, beta=logistics_beta)
    cols = [
        "origin",
        "destination",
        "origin_node",
        "destination_node",
        "flow_per_day",
        "path",
        "path_km",
        "segment",
        "basis",
    ]
    return pd.concat([a[cols], b[cols]], ignore_index=True)
