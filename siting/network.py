"""Load a drivable road graph with travel times, and find nearest graph nodes in bulk.

Sources (chosen in the scenario, see :class:`NetworkSource`):

``embedded``
    The snapshot committed under ``data/network/`` (central Beijing, OSM 2013 vintage, built by
    ``python -m siting.data build``). It covers only lon 116.148–116.613, lat 39.788–40.096.
``file``
    A local OSM file: ``.osm.pbf`` (e.g. a Geofabrik download; read with pyosmium, PyPI package
    ``osmium``, by :mod:`siting.osm_file`: only the roads inside the clip polygon, cached as
    GeoParquet next to the file), ``.osm`` (XML, read with ``osmnx.graph_from_xml``) or
    ``.graphml`` (a graph saved by ``osmnx.save_graphml``). With a clip polygon, nodes outside it
    are dropped whatever the format.
``osmnx``
    A live Overpass download by ``place`` (geocoded by Nominatim) or ``bbox`` (west, south,
    east, north in degrees) through osmnx, with osmnx's HTTP cache and a GraphML cache keyed by
    the query.

Every graph follows osmnx conventions (see ``docs/ARCHITECTURE.md``): graph attribute
``crs="EPSG:4326"``, node attributes ``x`` (lon), ``y`` (lat), edge attributes ``length`` (m),
``speed_kph``, ``travel_time`` (s), ``highway`` (str), ``name`` (when OSM has one) and ``osmid``.

Speeds
------
OSM ``maxspeed`` is used where a way has one (osmnx ``add_edge_speeds``); every other edge gets the
default of its road class from :data:`DEFAULT_SPEEDS_KPH`, in km/h:

=================  =====  =================  =====
motorway            80    motorway_link       40
trunk               60    trunk_link          35
primary             40    primary_link        30
secondary           35    secondary_link      30
tertiary            30    tertiary_link       25
unclassified        25    residential         20
living_street       10    road                25
=================  =====  =================  =====

These are **assumptions** (not sourced figures): typical all-day urban driving speeds in a large,
congested city, well below the legal limits. For reference, China's road-traffic law regulations
(道路交通安全法实施条例, art. 45) set 30 km/h on urban roads without a centre line and 50 km/h on
urban roads with one lane per direction where no sign says otherwise; expressways allow up to
120 km/h. A class not in the table (e.g. a list left by graph simplification) gets
:data:`FALLBACK_SPEED_KPH`. ``speed_factor`` scales all speeds (e.g. 0.7 for a peak-hour run).

The embedded snapshot's source gives a ``speed_kmh`` per way, but it is a speed assigned by road
class (motorway 120, trunk 100, primary/secondary 80, residential 60 …), i.e. free-flow design
speeds with no more information than the class itself; it is not OSM ``maxspeed`` and is not used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import networkx as nx
import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree

from siting._errors import InputError
from siting._osm_ways import DRIVABLE_HIGHWAYS as DRIVABLE_HIGHWAYS  # re-exported
from siting._osm_ways import EARTH_RADIUS_M as EARTH_RADIUS_M
from siting._osm_ways import edges_from_ways as edges_from_ways
from siting._osm_ways import great_circle_m as great_circle_m

logger = logging.getLogger(__name__)

#: Default speeds (km/h) per OSM highway class, used where OSM gives no ``maxspeed``.
#: Assumptions, see the module docstring.
DEFAULT_SPEEDS_KPH: dict[str, float] = {
    "motorway": 80.0,
    "motorway_link": 40.0,
    "trunk": 60.0,
    "trunk_link": 35.0,
    "primary": 40.0,
    "primary_link": 30.0,
    "secondary": 35.0,
    "secondary_link": 30.0,
    "tertiary": 30.0,
    "tertiary_link": 25.0,
    "unclassified": 25.0,
    "residential": 20.0,
    "living_street": 10.0,
    "road": 25.0,
}

#: Speed (km/h) for a highway class missing from :data:`DEFAULT_SPEEDS_KPH`.
FALLBACK_SPEED_KPH = 25.0

# DRIVABLE_HIGHWAYS (the classes of DEFAULT_SPEEDS_KPH, a test checks they agree),
# edges_from_ways and great_circle_m live in siting._osm_ways so that the embedded-data build
# (siting.data) can use them without importing this module, which imports siting.data.

#: Amenity values returned by :func:`osm_sites` by default.
SITE_AMENITIES: tuple[str, ...] = ("fuel", "charging_station", "parking")

OSM_ATTRIBUTION = "© OpenStreetMap contributors, ODbL"
_KINDS = ("embedded", "file", "osmnx")
_SITE_COLUMNS = ["osmid", "element", "amenity", "name", "lon", "lat"]


@dataclass(frozen=True)
class NetworkSource:
    """Where the road graph comes from.

    Parameters
    ----------
    kind
        ``"embedded"`` (default), ``"file"`` or ``"osmnx"``.
    path
        For ``file``: a ``.osm``, ``.osm.pbf`` or ``.graphml`` file (relative paths are resolved
        against ``base_dir`` of :func:`load_network`).
    place
        For ``osmnx``: a place name geocoded by Nominatim, e.g. ``"Dongcheng District, Beijing"``.
    bbox
        For ``osmnx``: ``(west, south, east, north)`` in degrees (WGS84).
    network_type
        osmnx network type for the ``osmnx`` source (default ``"drive"``).
    """

    kind: str = "embedded"
    path: str | Path | None = None
    place: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    network_type: str = "drive"


class GraphArrays(NamedTuple):
    """Array form of a road graph for bulk routing (see :func:`graph_arrays`)."""

    matrix: csr_matrix  #: n×n travel time (s), min over parallel edges
    node_ids: np.ndarray  #: graph node id of each row/column
    lon: np.ndarray  #: degrees
    lat: np.ndarray  #: degrees


# ----------------------------------------------------------------------------- sources


def as_source(source: Any) -> NetworkSource:
    """Normalise a source description to a :class:`NetworkSource`.

    Parameters
    ----------
    source
        ``None`` (embedded), a :class:`NetworkSource`, a mapping with the same keys, or any object
        with those attributes (e.g. a pydantic model of the scenario's ``network`` section).

    Returns
    -------
    NetworkSource
    """
    if source is None:
        return NetworkSource()
    if isinstance(source, NetworkSource):
        src = source
    else:
        if isinstance(source, Mapping):
            fields = dict(source)
        else:
            fields = {
                k: getattr(source, k)
                for k in ("kind", "path", "place", "bbox", "network_type")
                if hasattr(source, k)
            }
        unknown = set(fields) - {"kind", "path", "place", "bbox", "network_type"}
        if unknown:
            raise InputError(f"network source: unknown field(s) {sorted(unknown)}")
        fields = {k: v for k, v in fields.items() if v is not None}
        if "bbox" in fields:
            fields["bbox"] = tuple(fields["bbox"])
        src = NetworkSource(**fields)
    if src.kind not in _KINDS:
        raise InputError(f"network source: kind {src.kind!r} is not one of {list(_KINDS)}")
    if src.kind == "file" and src.path is None:
        raise InputError("network source: kind 'file' needs a 'path'")
    if src.kind == "osmnx":
        if (src.place is None) == (src.bbox is None):
            raise InputError("network source: kind 'osmnx' needs exactly one of 'place' or 'bbox'")
        if src.bbox is not None:
            _check_bbox(src.bbox)
    return src


def _check_bbox(bbox: tuple[float, ...]) -> None:
    if len(bbox) != 4:
        raise InputError(f"network source: bbox needs 4 numbers (west, south, east, north): {bbox}")
    west, south, east, north = (float(b) for b in bbox)
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InputError(
            f"network source: bbox {bbox} is not (west, south, east, north) in degrees "
            "with west < east and south < north"
        )


def load_network(
    source: Any = None,
    *,
    base_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    speeds_kph: Mapping[str, float] | None = None,
    speed_factor: float = 1.0,
    largest_component: bool = True,
    clip: Any = None,
    file_cache: bool = True,
    progress: Any = None,
) -> nx.MultiDiGraph:
    """Load a drivable road graph with speeds and travel times.

    Parameters
    ----------
    source
        Where to load from: see :func:`as_source` and :class:`NetworkSource`. ``None`` = embedded.
    base_dir
        Folder against which a relative ``path`` is resolved (e.g. the scenario file's folder).
        Default: the current directory.
    cache_dir
        Cache folder for the ``osmnx`` source (HTTP responses and GraphML graphs).
        Default: ``$SITING_CACHE_DIR`` or ``~/.cache/siting``.
    speeds_kph
        Per-class speeds (km/h) overriding :data:`DEFAULT_SPEEDS_KPH` where OSM gives no maxspeed.
    speed_factor
        Multiplies every edge speed (dimensionless, > 0), e.g. 0.7 for congestion.
    largest_component
        Keep only the largest strongly connected component (every node can reach every other).
    clip
        For the ``file`` source: a shapely (Multi)Polygon in degrees; only roads inside it are
        read (e.g. the study area, buffered). None keeps the whole file.
    file_cache
        For a ``.osm.pbf`` file: read/write the GeoParquet cache (:mod:`siting.osm_file`).
    progress
        Optional ``progress(message)`` callback for long file reads.

    Returns
    -------
    networkx.MultiDiGraph
        Graph in osmnx conventions (see module docstring), ``G.graph["source"]`` describes it.

    Raises
    ------
    InputError
        Missing, unreadable or empty file; unknown extension; bad source description.
    """
    src = as_source(source)
    if not speed_factor > 0:
        raise InputError(f"network: speed_factor must be > 0, got {speed_factor}")
    speeds = {**DEFAULT_SPEEDS_KPH, **(speeds_kph or {})}
    if src.kind == "embedded":
        G = _load_embedded(base_dir)
        _set_class_speeds(G, speeds)
    else:
        if src.kind == "file":
            G = _load_file(_resolve(src.path, base_dir), clip, file_cache, progress)
        else:
            G = _load_osmnx(src, _cache_dir(cache_dir))
        _normalise_osmnx_graph(G)
        _set_osm_speeds(G, speeds)
    if speed_factor != 1.0:
        _scale_speeds(G, speed_factor)
    if largest_component:
        n0 = len(G)
        G = _largest_strong_component(G)
        if "osm_file" in G.graph:
            G.graph["osm_file"]["nodes_outside_largest_component"] = n0 - len(G)
    if "osm_file" in G.graph:
        logger.info("%s: %s", src.path, describe_osm_file(G.graph["osm_file"]))
    if G.number_of_edges() == 0:
        raise InputError(f"network: no drivable roads in {G.graph.get('source', src)}")
    logger.info("road graph %s: %d nodes, %d edges", G.graph["source"], len(G), G.number_of_edges())
    return G


def check_source(
    source: Any = None, *, base_dir: str | Path | None = None, cache_dir: str | Path | None = None
) -> str:
    """Check, without loading it, that a network source can be used; say what it needs.

    Parameters
    ----------
    source, base_dir, cache_dir
        As for :func:`load_network`.

    Returns
    -------
    str
        One line describing the source (e.g. what an ``osmnx`` source needs at run time).

    Raises
    ------
    InputError
        Missing embedded data, missing or unreadable file, unknown extension, no osmnx.
    """
    src = as_source(source)
    if src.kind == "embedded":
        from siting import data

        folder = data.data_dir(base_dir) / "network"
        for name in ("nodes.parquet", "edges.parquet"):
            _parquet_readable(folder / name)
        return f"embedded road network ({folder})"
    if src.kind == "file":
        path = _resolve(src.path, base_dir)
        kind = _file_kind(path)
        if kind == ".osm.pbf":
            from siting import osm_file

            info = osm_file.check_osm_file(path)
            return f"OSM file {path} ({info['bytes'] / 1e6:.1f} MB)"
        _xml_root_is(path, "graphml" if kind == ".graphml" else "osm")
        return f"{kind.lstrip('.')} file {path}"
    graph_file = _cache_dir(cache_dir) / "graphs" / f"{_query_key(src, 'graph')}.graphml"
    if graph_file.is_file():
        return f"osmnx source: graph cached in {graph_file} (no download needed)"
    what = f"place {src.place!r}" if src.place else f"bbox {tuple(src.bbox or ())}"
    return (
        f"osmnx source ({what}): needs internet access at run time (Overpass download, then cached)"
    )


def _parquet_readable(path: Path) -> None:
    import pyarrow.parquet as pq

    try:
        pq.read_metadata(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"embedded road network file {path} is unreadable: {exc}") from exc


def _xml_root_is(path: Path, tag: str) -> None:
    """The XML file parses to its end and its root element is ``tag``."""
    try:
        root_seen = False
        for event, el in ET.iterparse(path, events=("start", "end")):
            if not root_seen:
                if el.tag.rsplit("}", 1)[-1] != tag:
                    raise InputError(f"network file {path}: not a {tag} file (root <{el.tag}>)")
                root_seen = True
            elif event == "end":
                el.clear()
    except ET.ParseError as exc:
        raise InputError(f"network file {path} is unreadable: {exc}") from exc
    except OSError as exc:
        raise InputError(f"network file {path} is unreadable: {exc.strerror or exc}") from exc


def _resolve(path: str | Path | None, base_dir: str | Path | None) -> Path:
    p = Path(path).expanduser()  # type: ignore[arg-type]
    if not p.is_absolute():
        p = Path(base_dir or Path.cwd()) / p
    if not p.is_file():
        raise InputError(f"network file not found: {p}")
    return p


def resolve_path(path: str | Path | None, base_dir: str | Path | None) -> Path:
    """A network file's path, relative paths against ``base_dir``; InputError when missing."""
    return _resolve(path, base_dir)


def file_kind(path: Path) -> str:
    """``.osm.pbf``, ``.osm`` or ``.graphml``; InputError for any other extension."""
    return _file_kind(path)


def _cache_dir(cache_dir: str | Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("SITING_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "siting"


def _file_kind(path: Path) -> str:
    name = path.name.lower()
    for suffix in (".osm.pbf", ".osm", ".graphml"):
        if name.endswith(suffix):
            return suffix
    raise InputError(f"network file {path}: unknown extension (use .osm, .osm.pbf or .graphml)")


# ----------------------------------------------------------------------------- embedded


def embedded_frames(near: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """The embedded snapshot's node and edge tables and its folder (``data/network``).

    Raises
    ------
    InputError
        The tables are missing or unreadable.
    """
    from siting import data

    folder = data.data_dir(near) / "network"
    try:
        nodes = pd.read_parquet(folder / "nodes.parquet", columns=["osmid", "x", "y"])
        edges = pd.read_parquet(
            folder / "edges.parquet",
            columns=["u", "v", "key", "osmid", "highway", "name", "oneway", "reversed", "length"],
        )
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"embedded road network in {folder} is unreadable: {exc}") from exc
    return nodes, edges, folder


def _load_embedded(near: str | Path | None = None) -> nx.MultiDiGraph:
    nodes, edges, folder = embedded_frames(near)
    G = graph_from_frames(nodes, edges)
    G.graph["source"] = f"embedded: {folder}"
    G.graph["attribution"] = OSM_ATTRIBUTION
    return G


def graph_from_frames(nodes: pd.DataFrame, edges: pd.DataFrame) -> nx.MultiDiGraph:
    """Build a MultiDiGraph from a node table and an edge table.

    Parameters
    ----------
    nodes
        Columns ``osmid``, ``x`` (lon, degrees), ``y`` (lat, degrees).
    edges
        Columns ``u``, ``v``, ``key`` and any edge attributes (e.g. ``length`` in m); an empty
        or missing ``name`` is left out of the edge's attributes (osmnx convention).

    Returns
    -------
    networkx.MultiDiGraph
        With ``crs="EPSG:4326"``.
    """
    G = nx.MultiDiGraph(crs="EPSG:4326")
    ids = nodes["osmid"].to_numpy()
    xs = nodes["x"].to_numpy(dtype=float)
    ys = nodes["y"].to_numpy(dtype=float)
    G.add_nodes_from(
        (int(i), {"x": float(x), "y": float(y)}) for i, x, y in zip(ids, xs, ys, strict=True)
    )
    attr_cols = [c for c in edges.columns if c not in ("u", "v", "key")]
    records = edges[attr_cols].to_dict("records")
    if "name" in attr_cols:
        for rec in records:
            name = rec["name"]
            if name is None or name == "" or (isinstance(name, float) and np.isnan(name)):
                del rec["name"]
    G.add_edges_from(
        zip(
            edges["u"].astype("int64").tolist(),
            edges["v"].astype("int64").tolist(),
            edges["key"].astype("int64").tolist(),
            records,
            strict=True,
        )
    )
    return G


# ----------------------------------------------------------------------------- files


def _load_file(
    path: Path, clip: Any = None, cache: bool = True, progress: Any = None
) -> nx.MultiDiGraph:
    import osmnx as ox

    kind = _file_kind(path)
    try:
        if kind == ".graphml":
            G = ox.load_graphml(path)
        elif kind == ".osm":
            G = ox.graph_from_xml(path, simplify=False, retain_all=True)
            G = _keep_drivable(G)
            G = ox.simplify_graph(G) if G.number_of_edges() else G
        else:
            G = _graph_from_osm_file(path, clip, cache, progress)
    except InputError:
        raise
    except Exception as exc:  # parsers raise many types on corrupt input
        raise InputError(f"network file {path} is unreadable: {type(exc).__name__}: {exc}") from exc
    if clip is not None and kind != ".osm.pbf":
        _clip_graph(G, clip)
    if G.number_of_edges() == 0:
        if clip is not None:
            from siting.osm_file import NoRoadsInPolygon

            raise NoRoadsInPolygon(f"network file {path}: no drivable roads inside the polygon")
        raise InputError(f"network file {path}: no drivable roads found")
    G.graph["crs"] = G.graph.get("crs", "EPSG:4326")
    G.graph["source"] = f"file: {path}"
    G.graph["attribution"] = OSM_ATTRIBUTION
    return G


def describe_osm_file(stats: Mapping[str, Any]) -> str:
    """One line saying what was kept of an OSM file (stats of :mod:`siting.osm_file`)."""
    text = (
        f"kept {stats['nodes']:,} nodes, {stats['directed_edges']:,} directed edges, "
        f"{stats['road_km']:,} km of road in bbox {stats['bbox']}; dropped "
        f"{stats['ways_outside_dropped']:,} of {stats['drivable_ways_in_file']:,} drivable ways "
        f"outside the clip polygon, cut {stats['ways_cut_at_boundary']:,} at its boundary"
    )
    if stats.get("nodes_outside_largest_component"):
        text += (
            f", {stats['nodes_outside_largest_component']:,} nodes outside the largest strongly "
            "connected component"
        )
    return text + (" (from cache)" if stats.get("from_cache") else "")


def _clip_graph(G: nx.MultiDiGraph, polygon: Any) -> None:
    """Drop the nodes outside ``polygon`` (degrees), in place."""
    import shapely

    ids = list(G.nodes)
    x = np.fromiter((G.nodes[n]["x"] for n in ids), float, len(ids))
    y = np.fromiter((G.nodes[n]["y"] for n in ids), float, len(ids))
    shapely.prepare(polygon)
    inside = shapely.contains_xy(polygon, x, y)
    G.remove_nodes_from([n for n, ok in zip(ids, inside, strict=True) if not ok])


def _graph_from_osm_file(path: Path, clip: Any, cache: bool, progress: Any) -> nx.MultiDiGraph:
    """A ``.osm.pbf`` file through :mod:`siting.osm_file` (clip polygon, GeoParquet cache)."""
    from siting import osm_file

    g = osm_file.read_osm_file(path, clip, cache=cache, progress=progress)
    edges = pd.DataFrame(g.edges.drop(columns="geometry"))
    if edges["maxspeed"].isna().all():
        edges = edges.drop(columns="maxspeed")
    G = graph_from_frames(g.nodes, edges)
    for _, _, d in G.edges(data=True):
        if "maxspeed" in d and not isinstance(d["maxspeed"], str):
            del d["maxspeed"]
    G.graph["osm_file"] = {
        **g.stats,
        "cache": str(g.cache_file) if g.cache_file else None,
        "from_cache": g.from_cache,
    }
    return G


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _is_drivable(d: Mapping[str, Any]) -> bool:
    return (
        _first(d.get("highway")) in DRIVABLE_HIGHWAYS
        and _first(d.get("access")) not in ("no", "private")
        and d.get("area") != "yes"
    )


def _keep_drivable(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    drop = [(u, v, k) for u, v, k, d in G.edges(keys=True, data=True) if not _is_drivable(d)]
    G.remove_edges_from(drop)
    G.remove_nodes_from([n for n in list(G.nodes) if G.degree(n) == 0])
    return G


# ----------------------------------------------------------------------------- osmnx download


@contextlib.contextmanager
def _osmnx_cache(folder: Path) -> Iterator[None]:
    """Point osmnx's HTTP cache at ``folder`` for the duration of the block."""
    import osmnx as ox

    saved = (ox.settings.use_cache, ox.settings.cache_folder)
    ox.settings.use_cache, ox.settings.cache_folder = True, str(folder)
    try:
        yield
    finally:
        ox.settings.use_cache, ox.settings.cache_folder = saved


def _query_key(src: NetworkSource, what: str) -> str:
    import osmnx as ox

    query = {
        "what": what,
        "place": src.place,
        "bbox": [round(float(b), 6) for b in src.bbox] if src.bbox else None,
        "network_type": src.network_type,
        "osmnx": ox.__version__,
    }
    return hashlib.sha1(json.dumps(query, sort_keys=True).encode()).hexdigest()[:16]


def _load_osmnx(src: NetworkSource, cache: Path) -> nx.MultiDiGraph:
    import osmnx as ox
    import requests

    graph_file = cache / "graphs" / f"{_query_key(src, 'graph')}.graphml"
    what = f"osmnx: place={src.place!r}" if src.place else f"osmnx: bbox={tuple(src.bbox or ())}"
    if graph_file.is_file():
        logger.info("road graph from cache %s", graph_file)
        G = ox.load_graphml(graph_file)
    else:
        try:
            with _osmnx_cache(cache / "osmnx"):
                if src.place is not None:
                    G = ox.graph_from_place(src.place, network_type=src.network_type)
                else:
                    G = ox.graph_from_bbox(src.bbox, network_type=src.network_type)
        except (ValueError, ox._errors.InsufficientResponseError) as exc:
            raise InputError(f"network source {what}: {exc}") from exc
        except requests.RequestException as exc:
            raise InputError(
                f"network source {what}: download failed ({type(exc).__name__}); "
                "check the connection or use the embedded or a local-file source"
            ) from exc
        graph_file.parent.mkdir(parents=True, exist_ok=True)
        ox.save_graphml(G, graph_file)
    G.graph["source"] = what
    G.graph["attribution"] = OSM_ATTRIBUTION
    return G


# ----------------------------------------------------------------------------- speeds


def _normalise_osmnx_graph(G: nx.MultiDiGraph) -> None:
    """Check the CRS; collapse list-valued ``highway``/``name`` (from simplification)."""
    crs = str(G.graph.get("crs", "EPSG:4326"))
    if crs.upper() != "EPSG:4326":
        raise InputError(
            f"network {G.graph.get('source')}: graph CRS is {crs}, expected unprojected EPSG:4326"
        )
    G.graph["crs"] = "EPSG:4326"
    for _, _, d in G.edges(data=True):
        for attr in ("highway", "name"):
            if isinstance(d.get(attr), list):
                d[attr] = d[attr][0]


def _set_class_speeds(G: nx.MultiDiGraph, speeds: Mapping[str, float]) -> None:
    for _, _, d in G.edges(data=True):
        kph = float(speeds.get(d["highway"], FALLBACK_SPEED_KPH))
        d["speed_kph"] = kph
        d["travel_time"] = d["length"] / (kph / 3.6)


def _set_osm_speeds(G: nx.MultiDiGraph, speeds: Mapping[str, float]) -> None:
    import osmnx as ox

    if G.number_of_edges() == 0:
        return
    ox.add_edge_speeds(G, hwy_speeds=dict(speeds), fallback=FALLBACK_SPEED_KPH)
    ox.add_edge_travel_times(G)


def _scale_speeds(G: nx.MultiDiGraph, factor: float) -> None:
    for _, _, d in G.edges(data=True):
        d["speed_kph"] = d["speed_kph"] * factor
        d["travel_time"] = d["length"] / (d["speed_kph"] / 3.6)


def _largest_strong_component(G: nx.MultiDiGraph) -> nx.MultiDiGraph:
    from scipy.sparse.csgraph import connected_components

    if len(G) == 0:
        return G
    arr = graph_arrays(G)
    n_comp, labels = connected_components(arr.matrix, directed=True, connection="strong")
    if n_comp == 1:
        return G
    biggest = np.bincount(labels).argmax()
    drop = arr.node_ids[labels != biggest]
    logger.info("keeping the largest strongly connected component: dropping %d nodes", len(drop))
    G.remove_nodes_from(drop.tolist())
    return G


# ----------------------------------------------------------------------------- arrays


def graph_arrays(G: nx.MultiDiGraph, weight: str = "travel_time") -> GraphArrays:
    """Sparse travel-time matrix and node coordinates of a road graph, for bulk routing.

    Parameters
    ----------
    G
        Road graph from :func:`load_network`.
    weight
        Edge attribute used as the matrix value (default ``travel_time``, seconds).

    Returns
    -------
    GraphArrays
        ``(matrix, node_ids, lon, lat)``: ``matrix`` is an n×n ``csr_matrix`` whose entry (i, j)
        is the smallest ``weight`` over the parallel edges i→j (seconds for ``travel_time``),
        rows/columns in the order of ``node_ids``; ``lon``/``lat`` in degrees.
    """
    node_ids = np.fromiter(G.nodes, dtype=np.int64, count=len(G))
    lon = np.fromiter((d["x"] for _, d in G.nodes(data=True)), dtype=float, count=len(G))
    lat = np.fromiter((d["y"] for _, d in G.nodes(data=True)), dtype=float, count=len(G))
    m = G.number_of_edges()
    uv = np.fromiter(
        (x for u, v in G.edges() for x in (u, v)), dtype=np.int64, count=2 * m
    ).reshape(-1, 2)
    w = np.fromiter((d for _, _, d in G.edges(data=weight)), dtype=float, count=m)
    order = np.argsort(node_ids)
    i = order[np.searchsorted(node_ids, uv[:, 0], sorter=order)]
    j = order[np.searchsorted(node_ids, uv[:, 1], sorter=order)]
    # min over parallel edges: sort by (i, j, w) and keep the first of each (i, j)
    srt = np.lexsort((w, j, i))
    i, j, w = i[srt], j[srt], w[srt]
    first = np.ones(len(i), bool)
    first[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1])
    n = len(node_ids)
    # a zero-weight edge would vanish from a sparse matrix: keep it as a tiny positive value
    w = np.where(w[first] > 0, w[first], 1e-9)
    matrix = csr_matrix((w, (i[first], j[first])), shape=(n, n))
    return GraphArrays(matrix, node_ids, lon, lat)


def _unit_xyz(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    lo, la = np.radians(lon), np.radians(lat)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


def nearest_nodes(
    G_or_arrays: nx.MultiDiGraph | GraphArrays | tuple,
    lon: Any,
    lat: Any,
    *,
    return_dist: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Nearest graph node of each point, vectorised (k-d tree on 3-D unit-sphere coordinates).

    Parameters
    ----------
    G_or_arrays
        A road graph or the result of :func:`graph_arrays`.
    lon, lat
        Point coordinates in degrees (scalars or arrays of equal length).
    return_dist
        Also return the great-circle distance to that node in metres.

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        Node ids (int64), and distances (m) when ``return_dist``.
    """
    if isinstance(G_or_arrays, nx.MultiDiGraph):
        node_ids = np.fromiter(G_or_arrays.nodes, dtype=np.int64, count=len(G_or_arrays))
        nlon = np.array([d["x"] for _, d in G_or_arrays.nodes(data=True)], dtype=float)
        nlat = np.array([d["y"] for _, d in G_or_arrays.nodes(data=True)], dtype=float)
    else:
        _, node_ids, nlon, nlat = G_or_arrays
    if len(node_ids) == 0:
        raise InputError("nearest_nodes: the road graph has no nodes")
    qlon = np.atleast_1d(np.asarray(lon, dtype=float))
    qlat = np.atleast_1d(np.asarray(lat, dtype=float))
    tree = cKDTree(_unit_xyz(nlon, nlat))
    chord, idx = tree.query(_unit_xyz(qlon, qlat))
    nodes = np.asarray(node_ids)[idx]
    if return_dist:
        return nodes, 2 * EARTH_RADIUS_M * np.arcsin(np.clip(chord / 2, 0, 1))
    return nodes


# ----------------------------------------------------------------------------- POIs


def _empty_sites() -> Any:
    import geopandas as gpd

    return gpd.GeoDataFrame(
        {
            "osmid": pd.Series(dtype="int64"),
            "element": pd.Series(dtype=str),
            "amenity": pd.Series(dtype=str),
            "name": pd.Series(dtype=str),
            "lon": pd.Series(dtype=float),
            "lat": pd.Series(dtype=float),
        },
        geometry=gpd.GeoSeries([], crs="EPSG:4326"),
    )


def _sites_frame(rows: list[tuple[int, str, str, str, float, float]]) -> Any:
    import geopandas as gpd

    if not rows:
        return _empty_sites()
    df = pd.DataFrame(rows, columns=_SITE_COLUMNS)
    df = df.sort_values(["element", "osmid"], kind="stable").reset_index(drop=True)
    return gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs="EPSG:4326")


def osm_sites(
    source: Any = None,
    *,
    base_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    amenities: tuple[str, ...] = SITE_AMENITIES,
) -> Any:
    """OSM amenity points (fuel, charging stations, parking) for candidate sites.

    Parameters
    ----------
    source
        As for :func:`load_network`. The embedded snapshot and ``.graphml`` files carry no POIs:
        the result is empty (logged).
    base_dir, cache_dir
        As for :func:`load_network`.
    amenities
        OSM ``amenity`` values to return.

    Returns
    -------
    geopandas.GeoDataFrame
        EPSG:4326, one row per feature, sorted by element and id: ``osmid`` (int), ``element``
        (``node`` | ``way`` | ``relation``), ``amenity``, ``name`` (may be empty), ``lon``,
        ``lat`` (degrees; the centroid for areas), ``geometry`` (Point).
    """
    src = as_source(source)
    wanted = set(amenities)
    if src.kind == "embedded":
        logger.info("the embedded road snapshot has no OSM POIs (roads only): no OSM sites")
        return _empty_sites()
    if src.kind == "file":
        path = _resolve(src.path, base_dir)
        kind = _file_kind(path)
        if kind == ".graphml":
            logger.info("%s is a road graph without POIs: no OSM sites", path)
            return _empty_sites()
        try:
            rows = _xml_sites(path, wanted) if kind == ".osm" else _pbf_sites(path, wanted)
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"OSM file {path} is unreadable: {type(exc).__name__}: {exc}") from exc
        return _sites_frame(rows)
    return _osmnx_sites(src, _cache_dir(cache_dir), wanted)


def _xml_sites(path: Path, wanted: set[str]) -> list[tuple[int, str, str, str, float, float]]:
    """Amenity nodes and ways of an OSM XML file (ways: mean of their node coordinates)."""
    node_xy: dict[int, tuple[float, float]] = {}
    rows = []
    pending_ways = []
    for _, el in ET.iterparse(path, events=("end",)):
        if el.tag not in ("node", "way"):
            continue
        tags = {t.get("k"): t.get("v") for t in el.findall("tag")}
        oid = int(el.get("id"))
        if el.tag == "node":
            xy = (float(el.get("lon")), float(el.get("lat")))
            node_xy[oid] = xy
            if tags.get("amenity") in wanted:
                rows.append((oid, "node", tags["amenity"], tags.get("name", ""), *xy))
        elif tags.get("amenity") in wanted:
            refs = [int(nd.get("ref")) for nd in el.findall("nd")]
            pending_ways.append((oid, tags["amenity"], tags.get("name", ""), refs))
        el.clear()
    for oid, amenity, name, refs in pending_ways:
        xy = np.array([node_xy[r] for r in dict.fromkeys(refs) if r in node_xy])
        if len(xy):
            rows.append((oid, "way", amenity, name, float(xy[:, 0].mean()), float(xy[:, 1].mean())))
    return rows


def _pbf_sites(path: Path, wanted: set[str]) -> list[tuple[int, str, str, str, float, float]]:
    import osmium

    rows = []
    fp = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations()
    fp = fp.with_filter(osmium.filter.KeyFilter("amenity"))
    for obj in fp:
        amenity = obj.tags.get("amenity")
        if amenity not in wanted:
            continue
        name = obj.tags.get("name", "")
        if obj.is_node():
            rows.append((obj.id, "node", amenity, name, obj.location.lon, obj.location.lat))
        else:
            xy = np.array([(n.lon, n.lat) for n in obj.nodes if n.location.valid()])
            if len(xy):
                rows.append(
                    (obj.id, "way", amenity, name, float(xy[:, 0].mean()), float(xy[:, 1].mean()))
                )
    return rows


def _osmnx_sites(src: NetworkSource, cache: Path, wanted: set[str]) -> Any:
    import osmnx as ox

    tags: dict[str, bool | str | list[str]] = {"amenity": sorted(wanted)}
    try:
        with _osmnx_cache(cache / "osmnx"):
            if src.place is not None:
                gdf = ox.features_from_place(src.place, tags)
            else:
                gdf = ox.features_from_bbox(src.bbox, tags)
    except ox._errors.InsufficientResponseError:
        logger.info("no OSM amenities %s found", sorted(wanted))
        return _empty_sites()
    gdf = gdf[gdf["amenity"].isin(wanted)]
    if gdf.empty:
        return _empty_sites()
    pts = gdf.geometry.representative_point()
    elements = gdf.index.get_level_values(0).astype(str)
    ids = gdf.index.get_level_values(1).astype("int64")
    names = gdf["name"].fillna("").astype(str) if "name" in gdf else [""] * len(gdf)
    rows = list(zip(ids, elements, gdf["amenity"].astype(str), names, pts.x, pts.y, strict=True))
    return _sites_frame([(int(a), str(b), c, d, float(x), float(y)) for a, b, c, d, x, y in rows])
