"""Read the drivable roads of a local OSM file (.osm.pbf / .osm) inside a polygon, with a cache.

A planner with a Geofabrik-size download (a whole province) needs only the roads of the study area
or corridor. :func:`read_osm_file` streams the file once with pyosmium (PyPI package ``osmium``),
never holding the whole file nor building a graph of it:

* **nodes** go into pyosmium's node-location index in C++ (:data:`LOCATION_INDEX`, 16 bytes per
  node of the file) and never reach Python;
* **ways**: only ways with a ``highway`` key reach Python (a C++ key filter), each with its node
  locations; the drivable ones (:data:`siting._osm_ways.DRIVABLE_HIGHWAYS`, not ``access=no|
  private``, not ``area=yes``, or the classes given) that have a node inside the polygon's bounding
  box are kept as compact arrays (node ref, lon, lat); all others are dropped at once.

A second pass that fetches only the referenced nodes (pyosmium's ``IdFilter``) was measured and
rejected: its dense id set costs about ``max node id / 8`` bytes (214 MB for the 33k-node central
extract), and handing every node to Python instead costs about 7 µs per node.

The ways are then cut to the polygon (a way leaving it keeps every run of two or more consecutive
nodes inside it), simplified (a node is kept where it ends a way piece or is shared by two way
positions, i.e. at junctions; the nodes between are folded into the edge's geometry and length)
and turned into directed edges (``oneway`` as in :func:`siting.network.edges_from_ways`).

The result is cached as GeoParquet next to the file, in ``<file>.siting-cache/`` (or, when that
folder cannot be written, in ``$SITING_CACHE_DIR`` / ``~/.cache/siting/osm_file/``). The cache key
covers the file (size, modification time and a hash of its first and last MiB), the polygon, the
road classes and :data:`CACHE_VERSION`; a changed file gets a new key and the stale entries of the
same file are removed. Nodes are a GeoParquet of points (``osmid``, ``x``, ``y``), edges a
GeoParquet of line strings (``u``, ``v``, ``key``, ``osmid`` = way id, ``highway``, ``name``,
``maxspeed``, ``oneway``, ``reversed``, ``length`` m, ``geometry``: the way's shape).

What was kept (nodes, edges, km, bounding box) and dropped (ways outside, pieces cut at the
boundary, nodes folded) is returned in :attr:`OsmFileGraph.stats` and logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from siting import _progress
from siting._errors import InputError
from siting._osm_ways import DRIVABLE_HIGHWAYS, great_circle_m

logger = logging.getLogger(__name__)

#: Bump when the cached tables change meaning; old cache entries are then ignored.
CACHE_VERSION = 1
#: Suffix of the cache folder created next to an OSM file.
CACHE_SUFFIX = ".siting-cache"
#: Bytes hashed at the start and at the end of the file for the cache key.
_HASH_BYTES = 1 << 20

#: pyosmium node-location index: sorted (id, location) pairs, 16 bytes per node of the file.
LOCATION_INDEX = "sparse_mem_array"
#: Progress callback: ``progress(message)``; called a few times per pass.
Progress = Callable[[str], None] | None


class NoRoadsInPolygon(InputError):
    """The file has no drivable road inside the polygon asked for (e.g. the study area)."""


@dataclass
class OsmFileGraph:
    """Road tables read from an OSM file (see the module docstring for the columns)."""

    nodes: pd.DataFrame  #: osmid, x (lon), y (lat)
    edges: pd.DataFrame  #: u, v, key, osmid, highway, name, maxspeed, oneway, reversed, length
    stats: dict[str, Any] = field(default_factory=dict)
    cache_file: Path | None = None  #: the cached edges table (None when caching is off)
    from_cache: bool = False


# ----------------------------------------------------------------------------- checks


def _osmium() -> Any:
    try:
        import osmium
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError(
            "reading .osm.pbf files needs the 'osmium' package (pip install 'siting[pbf]')"
        ) from exc
    return osmium


def check_osm_file(path: str | Path) -> dict[str, Any]:
    """Check that ``path`` is a readable OSM file without reading its data.

    Parameters
    ----------
    path
        A ``.osm.pbf`` or ``.osm`` file.

    Returns
    -------
    dict
        ``bytes`` (file size) and ``header_bbox`` ((west, south, east, north) degrees, or None
        when the header has none).

    Raises
    ------
    InputError
        Missing, unreadable, or not an OSM file (one line naming the file).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"network file not found: {p}")
    osmium = _osmium()
    try:
        reader = osmium.io.Reader(str(p), osmium.osm.osm_entity_bits.NOTHING)
        try:
            box = reader.header().box()
        finally:
            reader.close()
        if p.name.lower().endswith(".pbf"):
            # the header alone does not prove the blocks are readable: decode the first one
            for _ in osmium.FileProcessor(str(p), osmium.osm.NODE | osmium.osm.WAY):
                break
    except Exception as exc:  # the reader raises RuntimeError and friends on bad input
        raise InputError(f"network file {p} is unreadable: {type(exc).__name__}: {exc}") from exc
    bbox = None
    if box.valid():
        bbox = (box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat)
    return {"bytes": p.stat().st_size, "header_bbox": bbox}


# ----------------------------------------------------------------------------- cache


def _file_fingerprint(path: Path) -> dict[str, Any]:
    st = path.stat()
    h = hashlib.sha256()
    with path.open("rb") as f:
        h.update(f.read(_HASH_BYTES))
        if st.st_size > 2 * _HASH_BYTES:
            f.seek(-_HASH_BYTES, os.SEEK_END)
            h.update(f.read(_HASH_BYTES))
    return {"bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "head_tail_sha256": h.hexdigest()}


def cache_key(path: Path, polygon: Any, highways: Iterable[str]) -> str:
    """Cache key of a (file, polygon, road classes) read; see the module docstring."""
    import shapely

    poly = None if polygon is None else shapely.to_wkb(shapely.set_precision(polygon, 1e-7)).hex()
    key = {
        "version": CACHE_VERSION,
        "file": _file_fingerprint(path),
        "polygon": poly,
        "highways": sorted(highways),
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def cache_folder(path: Path, cache_dir: str | Path | None = None) -> Path:
    """Folder for the cache of ``path``: next to it, else the user cache folder."""
    beside = path.parent / (path.name + CACHE_SUFFIX)
    if _writable(beside):
        return beside
    if cache_dir is None:
        env = os.environ.get("SITING_CACHE_DIR")
        cache_dir = Path(env) if env else Path.home() / ".cache" / "siting"
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    folder = Path(cache_dir) / "osm_file" / f"{path.name}-{digest}"
    if not _writable(folder):
        raise InputError(f"network file {path}: no writable cache folder ({beside}, {folder})")
    logger.info("%s is read-only: caching the road graph in %s", beside.parent, folder)
    return folder


#: Edge columns of the cache besides ``geometry`` (what a caller without geometry reads).
EDGE_COLUMNS = ["u", "v", "key", "osmid", "highway", "name", "maxspeed", "oneway", "reversed",
                "length"]  # fmt: skip


def _read_cache(folder: Path, key: str, geometry: bool = True) -> OsmFileGraph | None:
    import geopandas as gpd

    meta_file = folder / f"{key}.json"
    if not meta_file.is_file():
        return None
    try:
        stats = json.loads(meta_file.read_text(encoding="utf-8"))
        nodes = pd.read_parquet(folder / f"{key}-nodes.parquet", columns=["osmid", "x", "y"])
        if geometry:
            edges = gpd.read_parquet(folder / f"{key}-edges.parquet")
        else:
            edges = pd.read_parquet(folder / f"{key}-edges.parquet", columns=EDGE_COLUMNS)
    except (OSError, ValueError) as exc:
        logger.warning("road-graph cache %s unreadable (%s): rebuilding it", meta_file, exc)
        return None
    return OsmFileGraph(nodes, edges, stats, folder / f"{key}-edges.parquet", from_cache=True)


def _remove_stale(folder: Path, fingerprint: dict[str, Any]) -> None:
    """Delete the cache entries made from another version of the file (other polygons stay)."""
    for meta in folder.glob("*.json"):
        try:
            old = json.loads(meta.read_text(encoding="utf-8")).get("file_fingerprint")
        except (OSError, ValueError):
            old = None
        if old != fingerprint:
            for f in (meta, *(folder / f"{meta.stem}-{t}.parquet" for t in ("nodes", "edges"))):
                f.unlink(missing_ok=True)
            logger.info("removed stale road-graph cache entry %s", meta.stem)


def _write_cache(folder: Path, key: str, g: OsmFileGraph, name: str) -> Path:
    import geopandas as gpd

    _remove_stale(folder, g.stats["file_fingerprint"])
    nodes = gpd.GeoDataFrame(
        g.nodes, geometry=gpd.points_from_xy(g.nodes["x"], g.nodes["y"]), crs="EPSG:4326"
    )
    tmp = f".tmp-{os.getpid()}"
    paths = []
    for table, stem in ((nodes, "nodes"), (g.edges, "edges")):
        final = folder / f"{key}-{stem}.parquet"
        table.to_parquet(final.with_name(final.name + tmp), index=False, compression="zstd")
        paths.append(final)
    for final in paths:
        os.replace(final.with_name(final.name + tmp), final)
    meta = folder / f"{key}.json"
    meta.with_name(meta.name + tmp).write_text(
        json.dumps({**g.stats, "source_file": name}, indent=1, ensure_ascii=False),
        encoding="utf-8",
    )
    os.replace(meta.with_name(meta.name + tmp), meta)  # written last: marks the entry complete
    return paths[1]


# ----------------------------------------------------------------------------- reading


def _oneway(tags: Any, hwy: str) -> int:
    ow = tags.get("oneway", "")
    if ow == "-1":
        return -1
    if ow in ("yes", "true", "1") or tags.get("junction", "") in ("roundabout", "circular"):
        return 1
    return 1 if hwy == "motorway" and ow == "" else 0


def _read_ways(
    path: Path, highways: frozenset[str], bbox: tuple[float, ...] | None, progress: Progress
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """The drivable ways touching ``bbox``: attributes, and flat node refs / lon / lat arrays.

    One streaming pass: nodes feed pyosmium's location index in C++ (never Python); only ways
    with a ``highway`` key reach Python, each with its node locations.
    """
    osmium = _osmium()
    attrs: list[tuple[int, str, int, str, str | None, int]] = []
    refs, lon, lat = array("q"), array("d"), array("d")
    n_highway = n_drivable = 0
    w0, s0, e0, n0 = bbox if bbox is not None else (-180.0, -90.0, 180.0, 90.0)
    index = osmium.index.create_map(LOCATION_INDEX)
    fp = (
        osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        .with_locations(index)
        .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
        .with_filter(osmium.filter.KeyFilter("highway"))
    )
    t0 = time.perf_counter()
    for w in fp:
        n_highway += 1
        tags = w.tags
        hwy = tags.get("highway")
        if hwy not in highways or tags.get("access") in ("no", "private"):
            continue
        if tags.get("area") == "yes":
            continue
        n_drivable += 1
        way_refs, xs, ys = [], [], []
        touches = False
        for n in w.nodes:
            loc = n.location
            if loc.valid():
                x, y = loc.lon, loc.lat
                touches = touches or (w0 <= x <= e0 and s0 <= y <= n0)
            else:  # a node missing from the file: never inside the polygon
                x = y = float("nan")
            way_refs.append(n.ref)
            xs.append(x)
            ys.append(y)
        if not touches or len(way_refs) < 2:
            continue
        refs.extend(way_refs)
        lon.extend(xs)
        lat.extend(ys)
        attrs.append(
            (w.id, hwy, _oneway(tags, hwy), tags.get("name", ""), tags.get("maxspeed"), len(xs))
        )
        if progress is not None and n_drivable % 200_000 == 0:
            progress(f"{n_drivable:,} drivable ways read ({time.perf_counter() - t0:.0f} s)")
    ways = pd.DataFrame(attrs, columns=["way", "highway", "oneway", "name", "maxspeed", "n_refs"])
    ways.attrs.update(highway_ways=n_highway, drivable_ways=n_drivable)
    return ways, *(
        np.frombuffer(a, dtype=t) if len(a) else np.zeros(0, t)
        for a, t in ((refs, np.int64), (lon, float), (lat, float))
    )


def _pieces(way_of: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of >= 2 consecutive inside positions of the same way: (piece id per position, keep)."""
    n = len(way_of)
    start = np.ones(n, bool)
    start[1:] = (way_of[1:] != way_of[:-1]) | ~inside[:-1]
    run = np.cumsum(start) - 1
    size = np.bincount(run[inside], minlength=run.max() + 1 if n else 0) if n else np.zeros(0)
    keep = inside & (size[run] >= 2) if n else np.zeros(0, bool)
    return run, keep


def _edges_from_pieces(
    ways: pd.DataFrame,
    piece_way: np.ndarray,
    refs: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    piece: np.ndarray,
) -> pd.DataFrame:
    """Simplified directed edges (with line geometry) from the kept positions of way pieces."""
    import geopandas as gpd
    import shapely

    n = len(refs)
    first = np.ones(n, bool)
    first[1:] = piece[1:] != piece[:-1]
    last = np.ones(n, bool)
    last[:-1] = piece[:-1] != piece[1:]
    _, inverse, count = np.unique(refs, return_inverse=True, return_counts=True)
    junction = first | last | (count[inverse] >= 2)
    # a segment runs from one junction position to the next one of the same piece
    seg_start = np.flatnonzero(junction & ~last)
    nxt = np.flatnonzero(junction)
    seg_end = nxt[np.searchsorted(nxt, seg_start, side="right")]
    step = np.zeros(n)
    step[1:] = np.where(first[1:], 0.0, great_circle_m(lat[:-1], lon[:-1], lat[1:], lon[1:]))
    cum = np.cumsum(step)
    length = cum[seg_end] - cum[seg_start]
    # line geometry through every position of the segment
    sizes = seg_end - seg_start + 1
    pos = np.repeat(seg_start - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes) + np.arange(
        sizes.sum()
    )
    geom = shapely.linestrings(lon[pos], lat[pos], indices=np.repeat(np.arange(len(sizes)), sizes))
    w = ways.iloc[piece_way[piece[seg_start]]]
    oneway = w["oneway"].to_numpy()
    fwd, bwd = oneway >= 0, oneway <= 0
    u = np.concatenate([refs[seg_start][fwd], refs[seg_end][bwd]])
    v = np.concatenate([refs[seg_end][fwd], refs[seg_start][bwd]])
    rows = np.concatenate([np.flatnonzero(fwd), np.flatnonzero(bwd)])
    geoms = np.concatenate([geom[fwd], shapely.reverse(geom[bwd])])
    edges = gpd.GeoDataFrame(
        {
            "u": u,
            "v": v,
            "osmid": w["way"].to_numpy(np.int64)[rows],
            "highway": w["highway"].to_numpy()[rows],
            "name": w["name"].fillna("").to_numpy()[rows],
            "maxspeed": w["maxspeed"].to_numpy()[rows],
            "oneway": oneway[rows] != 0,
            "reversed": np.concatenate([np.zeros(fwd.sum(), bool), np.ones(bwd.sum(), bool)]),
            "length": np.round(np.concatenate([length[fwd], length[bwd]]), 3),
        },
        geometry=geoms,
        crs="EPSG:4326",
    )
    edges = edges.sort_values(["u", "v", "osmid", "reversed"], kind="stable")
    edges.insert(2, "key", edges.groupby(["u", "v"]).cumcount().to_numpy(np.int64))
    return edges.reset_index(drop=True)


def build_tables(
    path: str | Path,
    polygon: Any = None,
    *,
    highways: Iterable[str] | None = None,
    progress: Progress = None,
) -> OsmFileGraph:
    """Read, clip and simplify the drivable roads of an OSM file (no cache; see the module doc).

    Parameters
    ----------
    path
        ``.osm.pbf`` or ``.osm`` file.
    polygon
        shapely (Multi)Polygon in degrees (WGS84); None keeps the whole file.
    highways
        OSM highway classes to keep (default :data:`siting._osm_ways.DRIVABLE_HIGHWAYS`).
    progress
        Optional ``progress(message)`` callback.

    Returns
    -------
    OsmFileGraph
    """
    import shapely

    p = Path(path)
    classes = frozenset(highways) if highways is not None else DRIVABLE_HIGHWAYS
    t0 = time.perf_counter()
    if progress is not None:
        progress(f"reading the roads of {p.name}")
    try:
        ways, refs, lon, lat = _read_ways(
            p, classes, None if polygon is None else polygon.bounds, progress
        )
    except InputError:
        raise
    except Exception as exc:  # pyosmium raises RuntimeError and friends on corrupt input
        raise InputError(f"network file {p} is unreadable: {type(exc).__name__}: {exc}") from exc
    t_read = time.perf_counter() - t0
    way_of = np.repeat(np.arange(len(ways)), ways["n_refs"].to_numpy(np.int64))
    known = ~np.isnan(lon)
    inside = known.copy()
    if polygon is not None and len(refs):
        shapely.prepare(polygon)
        inside &= shapely.contains_xy(polygon, np.nan_to_num(lon), np.nan_to_num(lat))
    run, keep = _pieces(way_of, inside)
    piece_way = np.zeros(run.max() + 1 if len(run) else 0, np.int64)
    piece_way[run] = way_of
    kept_pos = np.flatnonzero(keep)
    _, piece = np.unique(run[kept_pos], return_inverse=True)
    piece_way = piece_way[np.unique(run[kept_pos])]
    edges = _edges_from_pieces(ways, piece_way, refs[kept_pos], lon[kept_pos], lat[kept_pos], piece)
    used = np.unique(np.concatenate([edges["u"].to_numpy(), edges["v"].to_numpy()]))
    kr = refs[kept_pos]
    first = np.unique(kr, return_index=True)[1]
    nodes = pd.DataFrame({"osmid": kr[first], "x": lon[kept_pos][first], "y": lat[kept_pos][first]})
    nodes = nodes[nodes["osmid"].isin(used)].reset_index(drop=True)
    uniq = np.unique(refs)
    ways_kept = np.unique(piece_way)
    ways_any_inside = np.unique(way_of[inside]) if len(refs) else np.zeros(0, np.int64)
    n_kept_refs = len(np.unique(refs[kept_pos]))
    stats = _stats(
        p, polygon, ways, refs, uniq, nodes, edges, ways_kept, ways_any_inside, piece, n_kept_refs
    )
    stats.update(read_seconds=round(t_read, 2), build_seconds=round(time.perf_counter() - t0, 2))
    return OsmFileGraph(nodes, edges, stats)


def _stats(
    p: Path, polygon: Any, ways: pd.DataFrame, refs: np.ndarray, uniq: np.ndarray,
    nodes: pd.DataFrame, edges: pd.DataFrame, ways_kept: np.ndarray,
    ways_any_inside: np.ndarray, piece: np.ndarray, n_kept_refs: int,
) -> dict[str, Any]:  # fmt: skip
    one_copy = ~(edges["reversed"].to_numpy() & ~edges["oneway"].to_numpy())
    bbox = (
        [round(float(nodes["x"].min()), 6), round(float(nodes["y"].min()), 6),
         round(float(nodes["x"].max()), 6), round(float(nodes["y"].max()), 6)]
        if len(nodes) else None
    )  # fmt: skip
    n_pieces = int(piece.max() + 1) if len(piece) else 0
    return {
        "file": str(p),
        "file_bytes": p.stat().st_size,
        "polygon_bbox": None if polygon is None else [round(b, 6) for b in polygon.bounds],
        "highway_ways_in_file": int(ways.attrs.get("highway_ways", 0)),
        "drivable_ways_in_file": int(ways.attrs.get("drivable_ways", len(ways))),
        "drivable_way_nodes_read": len(uniq),
        "ways_kept": len(ways_kept),
        "ways_outside_dropped": int(ways.attrs.get("drivable_ways", len(ways)))
        - len(ways_any_inside),
        "ways_cut_at_boundary": n_pieces
        - len(ways_kept)
        + int(np.setdiff1d(ways_any_inside, ways_kept).size),
        "way_pieces": n_pieces,
        "nodes": len(nodes),
        "nodes_folded_into_edges": n_kept_refs - len(nodes),
        "directed_edges": len(edges),
        "road_km": round(float(edges["length"].to_numpy()[one_copy].sum()) / 1000, 1),
        "bbox": bbox,
    }


def read_osm_file(
    path: str | Path,
    polygon: Any = None,
    *,
    highways: Iterable[str] | None = None,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    progress: Progress = None,
    geometry: bool = True,
) -> OsmFileGraph:
    """The drivable roads of an OSM file inside ``polygon``, from the cache when it is current.

    Parameters
    ----------
    path
        ``.osm.pbf`` or ``.osm`` file.
    polygon
        shapely (Multi)Polygon in degrees (WGS84) to keep; None keeps the whole file.
    highways
        OSM highway classes to keep (default: the drivable classes).
    cache
        Read and write the GeoParquet cache (see the module docstring).
    cache_dir
        User cache folder used when the file's folder is read-only.
    progress
        Optional ``progress(message)`` callback for long reads.
    geometry
        Keep the edges' line geometry (a GeoDataFrame); False returns a plain DataFrame
        without it (what routing needs: the road tables of :mod:`siting.road_tables`), read
        without the geometry column from the cache (the cache itself always has it).

    Returns
    -------
    OsmFileGraph

    Raises
    ------
    InputError
        Missing or unreadable file, or no drivable road inside the polygon.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"network file not found: {p}")
    if progress is None:  # the run's progress display, when there is one
        progress = _progress.status
    classes = frozenset(highways) if highways is not None else DRIVABLE_HIGHWAYS
    folder = key = None
    fingerprint = _file_fingerprint(p)
    if cache:
        key = cache_key(p, polygon, classes)
        folder = cache_folder(p, cache_dir)
        hit = _read_cache(folder, key, geometry)
        if hit is not None:
            progress(f"{p.name}: road graph from the cache")
            logger.info("road graph of %s from cache %s", p.name, hit.cache_file)
            return hit
    g = build_tables(p, polygon, highways=classes, progress=progress)
    g.stats["file_fingerprint"] = fingerprint
    if g.edges.empty:
        if polygon is None:
            raise InputError(f"network file {p}: no drivable roads")
        raise NoRoadsInPolygon(
            f"network file {p}: no drivable roads inside the polygon {g.stats['polygon_bbox']}"
        )
    s = g.stats
    logger.info(
        "%s: kept %d nodes, %d directed edges, %.1f km of road in bbox %s; dropped %d of %d "
        "drivable ways outside the polygon, cut %d at its boundary (%.1f s)",
        p.name, s["nodes"], s["directed_edges"], s["road_km"], s["bbox"],
        s["ways_outside_dropped"], s["drivable_ways_in_file"], s["ways_cut_at_boundary"],
        s["build_seconds"],
    )  # fmt: skip
    if folder is not None and key is not None:
        try:
            g.cache_file = _write_cache(folder, key, g, p.name)
        except OSError as exc:
            logger.warning("could not cache the road graph in %s: %s", folder, exc)
    if not geometry:
        g.edges = pd.DataFrame(g.edges.drop(columns="geometry"))
    return g
