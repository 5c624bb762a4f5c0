"""Candidate sites: points on major roads, scenario site files, OSM POIs; costs and statuses.

Generated candidates
    Points are laid along every edge of the chosen road classes every ``spacing_m / 4`` (in bulk,
    along the straight line between the edge's end nodes), thinned to at most one point per
    ``spacing_m`` × ``spacing_m`` grid square (the point nearest the square's centre; junction
    nodes first when ``intersections`` is on), then snapped to the nearest graph node that lies
    on one of those roads. Neighbouring squares can give points closer than ``spacing_m``; on
    average there is about one candidate per ``spacing_m`` of major road.
Site files
    CSV (``lon,lat,name`` and optional ``id,kind,status,plugs``) or GeoJSON points (same
    properties). Coordinates must be WGS84 unless the file is declared ``GCJ-02`` (the offset
    system used by Chinese web maps), in which case they are converted by :func:`gcj02_to_wgs84`.
    A point farther than ``max_offset_m`` from the road graph is an error; when a WGS84 file's
    points sit typically several hundred metres off the roads, a warning suggests GCJ-02.
OSM POIs
    ``amenity=fuel|charging_station|parking`` from :func:`siting.network.osm_sites` (the embedded
    snapshot has none).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from siting import network, road_tables
from siting._errors import InputError

logger = logging.getLogger(__name__)

COLUMNS = [
    "site_id",
    "name",
    "kind",
    "source",
    "lon",
    "lat",
    "node",
    "fixed_cost_cny",
    "plug_cost_cny",
    "plug_kw",
    "kwh_per_plug_day",
    "max_plugs",
    "existing_plugs",
    "connection_kw_max",
    "status",
    "snap_m",
]
KINDS = ("fast_charger", "hydrogen")
STATUSES = ("optional", "required", "forbidden", "built")
#: Median snap distance (m) above which a WGS84 site file is checked for a GCJ-02 offset.
GCJ_SUSPECT_M = 20.0

# ----------------------------------------------------------------------------- GCJ-02

#: Krasovsky 1940 ellipsoid: semi-major axis (m) and first eccentricity squared, the constants of
#: the published GCJ-02 ("Mars coordinates") obfuscation.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323


def _gcj_offsets(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (degrees lon, degrees lat) added to a WGS84 point."""
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    dlat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))) + (
        (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))) + (
        (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    )
    rad = np.radians(lat)
    s = 1.0 - _GCJ_EE * np.sin(rad) ** 2
    dlat = dlat * 180.0 / ((_GCJ_A * (1.0 - _GCJ_EE)) / (s * np.sqrt(s)) * pi)
    dlon = dlon * 180.0 / (_GCJ_A / np.sqrt(s) * np.cos(rad) * pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """Forward GCJ-02 transform (degrees in, degrees out), valid inside mainland China."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    dlon, dlat = _gcj_offsets(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: Any, lat: Any, *, iterations: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 coordinates to WGS84 (degrees), vectorised.

    GCJ-02 is WGS84 plus a smooth, published offset of a few hundred metres (a function of the
    WGS84 position, see :func:`wgs84_to_gcj02`). The inverse is found by fixed-point iteration
    ``w ← g − offset(w)``, which converges because the offset changes slowly with position;
    10 iterations leave an error far below a millimetre.

    Parameters
    ----------
    lon, lat
        GCJ-02 coordinates (degrees).

    Returns
    -------
    tuple of numpy.ndarray
        WGS84 longitude and latitude (degrees).
    """
    glon, glat = np.asarray(lon, float), np.asarray(lat, float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(iterations):
        dlon, dlat = _gcj_offsets(wlon, wlat)
        wlon, wlat = glon - dlon, glat - dlat
    return wlon, wlat


# ----------------------------------------------------------------------------- place names

#: Road classes from the most to the least important (names of bigger roads come first).
ROAD_RANK = ("motorway", "trunk", "primary", "secondary", "tertiary", "unclassified",
             "residential", "living_street", "road")  # fmt: skip
#: OSM tags tried, in order, for a Latin-script name of a road (where the graph carries them).
LATIN_NAME_TAGS = ("name:en", "name:zh_pinyin", "name:zh-Latn-pinyin", "int_name")


def _first(v: Any) -> str:
    """A tag value as one string (osmnx gives lists where merged ways differ)."""
    if isinstance(v, list | tuple):
        v = next((x for x in v if isinstance(x, str) and x.strip()), "")
    return v.strip() if isinstance(v, str) else ""


def _road_label(d: Mapping[str, Any]) -> str:
    """``name`` of an edge, with its English / pinyin name in brackets where OSM has one; the
    Latin name alone where the road has no ``name``."""
    name = _first(d.get("name"))
    latin = next((_first(d.get(t)) for t in LATIN_NAME_TAGS if _first(d.get(t))), "")
    if name and latin and latin != name:
        return f"{name} ({latin})"
    return name or latin


def _rank(highway: Any) -> int:
    h = _first(highway).removesuffix("_link")
    return ROAD_RANK.index(h) if h in ROAD_RANK else len(ROAD_RANK)


def road_names(G: nx.MultiDiGraph, nodes: Iterable[Any], *, max_names: int = 2) -> list[str]:
    """Names of the roads at each node, for people: ``"东三环中路 / 建国门外大街"``.

    The names of the edges at the node, the most important road class first (then the most
    edges), at most ``max_names``. A node on one named road only adds the nearest other road
    within two edges: ``"4th Ring Road (near 安定路)"``; a node on unnamed roads only (slip
    roads) takes the names of the roads nearby: ``"near 东三环中路"``; with none either, the
    class: ``"unnamed primary road"``. Where the graph carries ``name:en`` /
    ``name:zh_pinyin`` (OSM), it follows in brackets, or stands alone for a road with no
    ``name``.

    Parameters
    ----------
    G : networkx.MultiDiGraph
        Road graph with edge attributes ``name`` and ``highway``.
    nodes : iterable
        Graph node ids.
    max_names : int
        Most road names in one label.

    Returns
    -------
    list of str
        One label per node.
    """
    und = G.to_undirected(as_view=True) if G.is_directed() else G

    def names_at(n: Any) -> tuple[list[str], str]:
        seen: dict[str, tuple[int, int]] = {}
        best_class, best_rank = "", len(ROAD_RANK) + 1
        for _, _, d in und.edges(n, data=True):
            r = _rank(d.get("highway"))
            if r < best_rank:
                best_rank, best_class = r, _first(d.get("highway"))
            label = _road_label(d)
            if label:
                rk, cnt = seen.get(label, (r, 0))
                seen[label] = (min(rk, r), cnt + 1)
        ordered = sorted(seen, key=lambda k: (seen[k][0], -seen[k][1], k))
        return ordered, best_class

    out = []
    for n in nodes:
        if n not in und:
            out.append("")
            continue
        names, cls = names_at(n)
        if len(names) >= 2:
            out.append(" / ".join(names[:max_names]))
            continue
        near = _names_nearby(und, n, set(names), names_at)
        if names:
            out.append(names[0] + (f" (near {near[0]})" if near else ""))
        elif near:
            out.append("near " + " / ".join(near[:max_names]))
        else:
            out.append(f"unnamed {cls.replace('_', ' ') or 'road'}".strip())
    return out


#: Nodes named per neighbourhood graph by :func:`_table_road_names` (bounds its memory).
NAME_BATCH = 4000


def _table_road_names(t: road_tables.RoadTables, nodes: list[Any], max_names: int = 2) -> list:
    """:func:`road_names` for a road network held as tables: the same labels.

    The nodes are named in batches of :data:`NAME_BATCH`, each on the small graph of the roads
    within two edges of them (:func:`siting.road_tables.neighbourhood_graph`), which is all
    :func:`road_names` looks at; no graph of the whole network is built.
    """
    out: list[str] = []
    for i in range(0, len(nodes), NAME_BATCH):
        batch = list(nodes[i : i + NAME_BATCH])
        sub = road_tables.neighbourhood_graph(t, batch, hops=2)
        out += road_names(sub, batch, max_names=max_names)
    return out


def _names_nearby(und: Any, n: Any, skip: set[str], names_at: Any, hops: int = 2) -> list[str]:
    """Road names within ``hops`` edges of node ``n`` (nearest first), except ``skip``."""
    found: list[str] = []
    frontier, seen = [n], {n}
    for _ in range(hops):
        nxt = []
        for a in frontier:
            for b in und.neighbors(a):
                if b in seen:
                    continue
                seen.add(b)
                nxt.append(b)
                for name in names_at(b)[0]:
                    if name not in skip and name not in found:
                        found.append(name)
        if found:
            return found
        frontier = nxt
    return found


def _boundary_labels(boundaries: Any) -> tuple[np.ndarray, list[str]]:
    """Polygons and ``"Chaoyang 朝阳区"``-style labels of a boundary table."""
    cols = boundaries.columns
    if "district_en" in cols:
        zh = boundaries["district_zh"] if "district_zh" in cols else ""
        labels = (boundaries["district_en"].astype(str) + " " + zh.astype(str)).str.strip()
    elif "name_en" in cols:
        labels = boundaries["name_en"].astype(str)
    else:
        labels = boundaries.get("name", pd.Series([""] * len(boundaries))).astype(str)
    return boundaries.geometry.to_numpy(), labels.tolist()


def district_names(lon: Any, lat: Any, boundaries: Any = None) -> list[str]:
    """The district (or county) each point lies in: ``"Chaoyang 朝阳区"``; '' outside them all.

    Parameters
    ----------
    lon, lat : array-like
        WGS84 degrees.
    boundaries : geopandas.GeoDataFrame or list of them, optional
        Polygons with ``district_en`` / ``district_zh`` (Beijing) or ``name_en`` (Zhangjiakou
        counties); default the embedded Beijing districts and Zhangjiakou counties. Where
        polygons nest (a prefecture and its counties), the smallest one holding the point wins.

    Returns
    -------
    list of str
    """
    import shapely

    if boundaries is None:
        import geopandas as gpd

        from siting import data

        boundaries = []
        for f in ("beijing_districts.parquet", "zhangjiakou_counties.parquet"):
            try:
                boundaries.append(gpd.read_parquet(data.data_path(f"boundaries/{f}")))
            except (OSError, InputError) as exc:
                logger.info("candidates: no district names from %s (%s)", f, exc)
    tables = boundaries if isinstance(boundaries, list | tuple) else [boundaries]
    polys: list[Any] = []
    labels: list[str] = []
    for t in tables:
        p, lab = _boundary_labels(t)
        polys += list(p)
        labels += lab
    pts = shapely.points(np.asarray(lon, float), np.asarray(lat, float))
    out = [""] * len(pts)
    if not polys:
        return out
    areas = shapely.area(np.asarray(polys, dtype=object))
    tree = shapely.STRtree(polys)
    pi, gi = tree.query(pts, predicate="within")
    best: dict[int, int] = {}
    for p_, g_ in zip(pi.tolist(), gi.tolist(), strict=True):
        if p_ not in best or areas[g_] < areas[best[p_]]:
            best[p_] = g_
    for p_, g_ in best.items():
        out[p_] = labels[g_]
    return out


def add_place_names(
    cands: pd.DataFrame, G: nx.MultiDiGraph | None, boundaries: Any = None
) -> pd.DataFrame:
    """Name candidate sites for people, in place.

    Sites with no name, or with a generated placeholder name, are named by :func:`road_names`
    of their graph node; every site gets a ``district`` column (:func:`district_names`).
    """
    if len(cands) == 0:
        cands["district"] = pd.Series(dtype=object)
        return cands
    name = cands["name"].fillna("").astype(str) if "name" in cands else pd.Series("", cands.index)
    unnamed = (name.str.strip() == "") | (cands["source"].astype(str) == "generated")
    if G is not None and unnamed.any() and "node" in cands:
        nodes = cands.loc[unnamed, "node"].tolist()
        if isinstance(G, road_tables.RoadTables):
            cands.loc[unnamed, "name"] = _table_road_names(G, nodes)
        else:
            cands.loc[unnamed, "name"] = road_names(G, nodes)
    cands["district"] = district_names(cands["lon"], cands["lat"], boundaries)
    return cands


# ----------------------------------------------------------------------------- generated


def _local_xy(lon: np.ndarray, lat: np.ndarray, lat0: float) -> tuple[np.ndarray, np.ndarray]:
    """Equirectangular metres around latitude ``lat0`` (good to < 0.1 % over a city)."""
    k = network.EARTH_RADIUS_M * math.pi / 180.0
    return lon * k * math.cos(math.radians(lat0)), lat * k


def road_candidates(
    G: nx.MultiDiGraph | road_tables.RoadTables,
    road_classes: Iterable[str],
    spacing_m: float,
    *,
    intersections: bool = False,
) -> pd.DataFrame:
    """Candidate nodes about every ``spacing_m`` along the roads of ``road_classes``.

    Parameters
    ----------
    G
        Road graph or :class:`siting.road_tables.RoadTables`.
    road_classes
        OSM ``highway`` values, e.g. ``["motorway", "trunk", "primary"]``.
    spacing_m
        Target spacing (m).
    intersections
        Prefer junction nodes (three or more neighbours) of those roads within each grid square.

    Returns
    -------
    pandas.DataFrame
        ``node``, ``lon``, ``lat``, ``highway`` (class of a road at the node), sorted by node.
    """
    classes = set(road_classes)
    e = road_tables.edge_list(G, classes)[["u", "v", "highway"]]
    if not len(e):
        logger.warning("candidates: no road of classes %s in the graph", sorted(classes))
        return pd.DataFrame({"node": [], "lon": [], "lat": [], "highway": []})
    road_nodes = np.unique(np.concatenate([e["u"].to_numpy(), e["v"].to_numpy()]))
    nx_, ny_ = road_tables.node_coords(G, road_nodes)
    lat0 = float(ny_.mean())
    node_x, node_y = _local_xy(nx_, ny_, lat0)
    pos = pd.Series(np.arange(len(road_nodes)), index=road_nodes)
    iu, iv = pos[e["u"]].to_numpy(), pos[e["v"]].to_numpy()

    # points every spacing/4 along each edge (straight line between its end nodes), in bulk
    step = spacing_m / 4.0
    seg_len = np.hypot(node_x[iv] - node_x[iu], node_y[iv] - node_y[iu])
    k = np.maximum(np.ceil(seg_len / step).astype(np.int64), 1)
    edge = np.repeat(np.arange(len(e)), k)
    start = np.repeat(np.cumsum(k) - k, k)
    t = (np.arange(k.sum()) - start) / k[edge]
    px = node_x[iu[edge]] + t * (node_x[iv[edge]] - node_x[iu[edge]])
    py = node_y[iu[edge]] + t * (node_y[iv[edge]] - node_y[iu[edge]])
    prio = np.zeros(len(px))
    if intersections:
        deg = road_tables.undirected_degree(e["u"].to_numpy(), e["v"].to_numpy(), road_nodes)
        junction = deg >= 3
        jx, jy = node_x[junction], node_y[junction]
        px, py = np.concatenate([jx, px]), np.concatenate([jy, py])
        prio = np.concatenate([np.full(len(jx), -1.0), prio])

    # thin: one point per grid square, the junction / point nearest the square's centre
    gx, gy = np.floor(px / spacing_m), np.floor(py / spacing_m)
    d_centre = np.hypot(px - (gx + 0.5) * spacing_m, py - (gy + 0.5) * spacing_m)
    order = np.lexsort((d_centre, prio, gy, gx))
    gxs, gys = gx[order], gy[order]
    first = np.ones(len(order), bool)
    first[1:] = (gxs[1:] != gxs[:-1]) | (gys[1:] != gys[:-1])
    keep = order[first]

    # snap to the nearest node on those roads
    tree = cKDTree(np.column_stack([node_x, node_y]))
    _, idx = tree.query(np.column_stack([px[keep], py[keep]]))
    idx = np.unique(idx)
    hw = e.drop_duplicates("u").set_index("u")["highway"]
    hw_v = e.drop_duplicates("v").set_index("v")["highway"]
    nodes = road_nodes[idx]
    highway = hw.reindex(nodes).fillna(hw_v.reindex(nodes)).to_numpy()
    out = pd.DataFrame({"node": nodes, "lon": nx_[idx], "lat": ny_[idx], "highway": highway})
    logger.info(
        "candidates: %d generated on %s every ~%.0f m", len(out), sorted(classes), spacing_m
    )
    return out


# ----------------------------------------------------------------------------- site files


def read_site_file(path: str | Path, *, crs: str = "WGS84") -> pd.DataFrame:
    """Read a site list (CSV or GeoJSON points) into a table with WGS84 coordinates.

    Parameters
    ----------
    path
        ``.csv`` with columns ``lon``, ``lat``, ``name`` and optional ``id``, ``kind``,
        ``status``, ``plugs``, ``connection_kw_max`` (kW); or ``.geojson`` / ``.json`` with Point
        features whose properties hold the same optional fields.
    crs
        ``"WGS84"`` or ``"GCJ-02"`` (converted to WGS84 with :func:`gcj02_to_wgs84`).

    Returns
    -------
    pandas.DataFrame
        ``id`` (str), ``name``, ``lon``, ``lat`` (WGS84 degrees), ``kind``, ``status`` (None where
        the file gives none), ``plugs`` (existing plugs, 0 where not given),
        ``connection_kw_max`` (kW, NaN where not given).

    Raises
    ------
    InputError
        Unreadable file, missing columns, bad coordinates, unknown kind/status, duplicate ids
        (the checks of :func:`siting._sitefile.read_site_table`; one line naming file and row).
    """
    from siting._sitefile import read_site_table

    table = read_site_table(path)
    if table.empty:
        logger.warning("candidates: site file %s has no rows", path)
    elif crs == "GCJ-02":
        logger.warning("candidates: %s declared GCJ-02: converted to WGS84", Path(path).name)
        lon, lat = gcj02_to_wgs84(table["lon"].to_numpy(), table["lat"].to_numpy())
        table["lon"], table["lat"] = lon, lat
    return table


# ----------------------------------------------------------------------------- assembly


def check_built_connections(
    table: pd.DataFrame, site_file: Any, costs: Any, default_kw: float | None
) -> None:
    """Plugs already built in a site file must fit their grid connection (one-line InputError).

    Parameters
    ----------
    table : DataFrame
        From :func:`read_site_file`.
    site_file : SiteFile
        Its scenario entry (``path``, ``kind``, ``status``).
    costs : Costs
        The scenario's costs (``plug_kw`` per kind).
    default_kw : float or None
        The scenario's ``grid.connection_kw_max`` (None: no limit).
    """
    kind = table["kind"].where(table["kind"].notna(), site_file.kind)
    plug_kw = np.array([getattr(getattr(costs, k, None), "plug_kw", 0.0) or 0.0 for k in kind])
    df = pd.DataFrame({
        "site_id": table["id"], "name": table["name"], "existing_plugs": table["plugs"],
        "plug_kw": plug_kw, "_file": str(site_file.path), "_row": np.arange(1, len(table) + 1),
        "_conn_given": table["connection_kw_max"].notna(),
        "connection_kw_max": table["connection_kw_max"].fillna(
            float("inf") if default_kw is None else float(default_kw)
        ),
    })  # fmt: skip
    _check_connection(df, float("inf") if default_kw is None else float(default_kw))


def _check_connection(df: pd.DataFrame, default_kw: float) -> None:
    """Plugs already built must fit their site's grid connection (else one-line InputError)."""
    draw = df["existing_plugs"].to_numpy(float) * df["plug_kw"].to_numpy(float)
    over = draw - df["connection_kw_max"].to_numpy(float)
    bad = np.flatnonzero(over > 1e-9)
    if not bad.size:
        return
    i = int(bad[0])
    r = df.iloc[i]
    own = "_file" in df and isinstance(r.get("_file"), str)
    where = f"{r['_file']}: row {int(r['_row'])}" if own else "candidates"
    field = (
        "connection_kw_max"
        if bool(r["_conn_given"])
        else "connection_kw_max (the scenario's default grid.connection_kw_max)"
    )
    raise InputError(
        f"{where} ({r['name'] or r['site_id']}): {int(r['existing_plugs'])} built plugs × "
        f"{r['plug_kw']:g} kW = {draw[i]:g} kW > {field} {r['connection_kw_max']:g} kW "
        f"({over[i]:g} kW over)"
    )


def build_candidates(
    G: nx.MultiDiGraph | road_tables.RoadTables,
    *,
    costs: Mapping[str, Any],
    kind: str = "fast_charger",
    spacing_m: float = 1000.0,
    road_classes: Iterable[str] = ("motorway", "trunk", "primary"),
    intersections: bool = False,
    site_files: Iterable[Any] = (),
    osm_sites: gpd.GeoDataFrame | None = None,
    required: Iterable[str] = (),
    forbidden: Iterable[str] = (),
    area: Any = None,
    arrays: network.GraphArrays | None = None,
    connection_kw_max: float = float("inf"),
    districts: Any = None,
) -> gpd.GeoDataFrame:
    """All candidate sites with costs, statuses, graph nodes and names people can read.

    Parameters
    ----------
    G
        Road graph or :class:`siting.road_tables.RoadTables`.
    costs
        ``{kind: cost}``, each with ``fixed_cost_cny``, ``plug_cost_cny`` (CNY), ``plug_kw``
        (kW), ``kwh_per_plug_day`` (kWh/day a plug delivers) and ``max_plugs``.
    kind
        Kind of generated and OSM candidates.
    spacing_m, road_classes, intersections
        Generated candidates, see :func:`road_candidates`; ``spacing_m <= 0`` turns them off.
    site_files
        Objects with ``path``, ``kind``, ``status``, ``crs``, ``max_offset_m`` (as
        :class:`siting.scenario.SiteFile`).
    osm_sites
        From :func:`siting.network.osm_sites` (or None).
    required, forbidden
        Site ids whose status is forced.
    area
        Study-area polygon (WGS84); generated and OSM candidates outside it are dropped.
    arrays
        :func:`siting.network.graph_arrays` of ``G`` if already computed.
    connection_kw_max
        Default grid connection limit of a site (kW; inf = none); a site file's
        ``connection_kw_max`` column overrides it per site (:mod:`siting.grid`).
    districts
        Boundary polygons for the ``district`` column (see :func:`district_names`); default the
        embedded Beijing districts and Zhangjiakou counties.

    Returns
    -------
    geopandas.GeoDataFrame
        The candidates contract of ``docs/ARCHITECTURE.md`` plus ``kwh_per_plug_day``,
        ``snap_m`` (distance to the node, m) and ``district``. Generated sites, and sites with
        no name, are named after the OSM roads at their node (:func:`road_names`).

    Raises
    ------
    InputError
        Bad site file, a site too far from the roads, an unknown required/forbidden id.
    """
    arrays = arrays if arrays is not None else road_tables.graph_arrays(G)
    parts: list[pd.DataFrame] = []
    if spacing_m and spacing_m > 0:
        gen = road_candidates(G, road_classes, spacing_m, intersections=intersections)
        if area is not None and len(gen):
            import shapely

            gen = gen[shapely.contains_xy(area, gen["lon"], gen["lat"])]
        parts.append(
            pd.DataFrame(
                {
                    "site_id": [f"g{int(n)}" for n in gen["node"]],
                    "name": "",
                    "kind": kind,
                    "source": "generated",
                    "lon": gen["lon"].to_numpy(float),
                    "lat": gen["lat"].to_numpy(float),
                    "status": "optional",
                    "existing_plugs": 0,
                    "node": gen["node"].to_numpy(np.int64),
                    "snap_m": 0.0,
                }
            )
        )
    if osm_sites is not None and len(osm_sites):
        osm = osm_sites
        if area is not None:
            import shapely

            osm = osm[shapely.contains_xy(area, osm["lon"], osm["lat"])]
        names = osm["name"].fillna("").astype(str)
        ids = [f"osm:{e}/{i}" for e, i in zip(osm["element"], osm["osmid"], strict=True)]
        parts.append(
            pd.DataFrame(
                {
                    "site_id": ids,
                    "name": [n or f"OSM {a}" for n, a in zip(names, osm["amenity"], strict=True)],
                    "kind": kind,
                    "source": [f"osm:{i}" for i in osm["osmid"]],
                    "lon": osm["lon"].to_numpy(float),
                    "lat": osm["lat"].to_numpy(float),
                    "status": "optional",
                    "existing_plugs": 0,
                }
            )
        )
    for sf in site_files:
        table = read_site_file(sf.path, crs=sf.crs)
        if table.empty:
            continue
        node, dist = network.nearest_nodes(arrays, table["lon"], table["lat"], return_dist=True)
        far = dist > sf.max_offset_m
        if far.any():
            i = int(np.flatnonzero(far)[0])
            raise InputError(
                f"{sf.path}: row {i + 1} ({table['name'].iloc[i] or table['id'].iloc[i]}): "
                f"{dist[i]:.0f} m from the nearest road of the network (max_offset_m "
                f"{sf.max_offset_m:.0f}): outside the study area, or wrong coordinates?"
            )
        med = float(np.median(dist))
        if sf.crs == "WGS84" and med > GCJ_SUSPECT_M:
            # would the points sit much closer to the roads if they were GCJ-02?
            alt = gcj02_to_wgs84(table["lon"].to_numpy(), table["lat"].to_numpy())
            _, alt_dist = network.nearest_nodes(arrays, *alt, return_dist=True)
            if float(np.median(alt_dist)) < 0.25 * med:
                logger.warning(
                    "candidates: %s: sites lie %.0f m (median) from the nearest road node, "
                    "%.0f m if read as GCJ-02: coordinates from a Chinese web map? "
                    "Declare `crs: GCJ-02` in the scenario's site file entry",
                    Path(sf.path).name,
                    med,
                    float(np.median(alt_dist)),
                )
        status = table["status"].where(table["status"].notna(), sf.status)
        parts.append(
            pd.DataFrame(
                {
                    "site_id": table["id"].to_numpy(),
                    "name": table["name"].to_numpy(),
                    "kind": table["kind"].where(table["kind"].notna(), sf.kind).to_numpy(),
                    "source": np.where(status == "built", "existing", f"file:{Path(sf.path).name}"),
                    "lon": table["lon"].to_numpy(),
                    "lat": table["lat"].to_numpy(),
                    "status": status.to_numpy(),
                    "existing_plugs": table["plugs"].to_numpy(),
                    "connection_kw_max": table["connection_kw_max"].to_numpy(),
                    "node": node,
                    "snap_m": dist,
                    "_file": str(sf.path),
                    "_row": np.arange(1, len(table) + 1),
                }
            )
        )
    if parts:
        df = pd.concat(parts, ignore_index=True)
    else:
        df = pd.DataFrame(columns=COLUMNS)
    if df["node"].isna().any() if "node" in df else len(df):
        need = df["node"].isna().to_numpy() if "node" in df else np.ones(len(df), bool)
        node, dist = network.nearest_nodes(
            arrays, df.loc[need, "lon"], df.loc[need, "lat"], return_dist=True
        )
        df.loc[need, "node"] = node
        df.loc[need, "snap_m"] = dist
    dup = df["site_id"][df["site_id"].duplicated()]
    if len(dup):
        raise InputError(f"candidates: site id {dup.iloc[0]!r} appears twice (site files?)")

    ids = set(df["site_id"])
    for what, wanted in (("required", required), ("forbidden", forbidden)):
        for sid in wanted:
            if sid not in ids:
                raise InputError(f"candidates.{what}: no candidate site with id {sid!r}")
        df.loc[df["site_id"].isin(list(wanted)), "status"] = what
    built = df["status"] == "built"
    for k in df["kind"].unique():
        cost = costs.get(k)
        if cost is None:
            raise InputError(f"candidates: no costs for site kind {k!r}")
        sel = df["kind"] == k
        df.loc[sel, "fixed_cost_cny"] = float(cost.fixed_cost_cny)
        df.loc[sel, "plug_cost_cny"] = float(cost.plug_cost_cny)
        df.loc[sel, "plug_kw"] = float(cost.plug_kw)
        df.loc[sel, "kwh_per_plug_day"] = float(cost.kwh_per_plug_day)
        df.loc[sel, "max_plugs"] = int(cost.max_plugs)
    df.loc[built, "fixed_cost_cny"] = 0.0  # already paid for
    if "connection_kw_max" not in df:
        df["connection_kw_max"] = np.nan
    conn = pd.to_numeric(df["connection_kw_max"], errors="coerce")
    df["_conn_given"] = conn.notna().to_numpy()
    df["connection_kw_max"] = conn.fillna(connection_kw_max).astype(float)
    _check_connection(df, connection_kw_max)
    df["node"] = df["node"].astype(np.int64)
    df["existing_plugs"] = df["existing_plugs"].astype(np.int64)
    df["max_plugs"] = np.maximum(df["max_plugs"].astype(np.int64), df["existing_plugs"])
    for c in ("fixed_cost_cny", "plug_cost_cny", "plug_kw", "kwh_per_plug_day", "snap_m"):
        df[c] = df[c].astype(float)
    df = df[COLUMNS].reset_index(drop=True)
    add_place_names(df, G, districts)
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs="EPSG:4326")
    logger.info(
        "candidates: %d sites (%s)",
        len(gdf),
        ", ".join(
            f"{k} {v}" for k, v in gdf["source"].str.split(":").str[0].value_counts().items()
        ),
    )
    return gdf
