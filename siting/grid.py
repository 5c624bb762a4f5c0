"""Grid limits of charging sites: connection power per site and substation / feeder headroom.

Two limits, both on *plug power* (plugs × the plug's rated kW, what a site's connection and the
feeding substation must carry when every plug delivers full power):

Connection (per site)
    ``connection_kw_max``: a site may have at most ``floor(connection_kw_max / plug_kw)`` plugs.
    A scenario default (``grid.connection_kw_max``), overridden per site by a
    ``connection_kw_max`` column (CSV) or property (GeoJSON) of a site file. Plugs already built
    above their site's limit are an input error.
Substations / feeder zones (optional file)
    Each feature has a ``name``, ``headroom_mw`` (spare capacity for *new* charging load, MW;
    the load of plugs already built is part of today's load, so it does not count) and a
    ``coincidence_factor`` in (0, 1] (share of the new plug power assumed to draw at the same
    time; default 1). It limits ``sum over the sites it feeds of cf × plug_kw × new plugs
    <= 1000 × headroom_mw``. Which sites a feature feeds:

    - a polygon or multipolygon feeds every candidate site inside it;
    - a point feeds the sites whose *nearest* point substation it is, when they lie within its
      ``radius_m`` (property, else the scenario's ``grid.substation_radius_m``).

    A site can be fed by one point substation and by any polygons containing it; every such
    limit applies. Files: GeoJSON (points and polygons) or CSV (points: ``lon, lat, name,
    headroom_mw`` and optional ``coincidence_factor, radius_m``); ``crs`` WGS84 or GCJ-02.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from siting._errors import InputError

logger = logging.getLogger(__name__)

EARTH_RADIUS_M = 6_371_008.8


@dataclass
class Substations:
    """Substations / feeder zones read from a file.

    Attributes
    ----------
    names : list of str
    headroom_kw : ndarray
        Spare capacity for new plugs (kW).
    coincidence : ndarray
        Coincidence factor (0, 1].
    geometry : list of shapely geometries (WGS84)
    radius_m : ndarray
        Service radius of point substations (m; NaN for polygons).
    path : str
        The file (for messages).
    """

    names: list[str]
    headroom_kw: np.ndarray
    coincidence: np.ndarray
    geometry: list[Any]
    radius_m: np.ndarray
    path: str

    def __len__(self) -> int:
        return len(self.names)


def _number(value: Any, where: str, field: str, *, default: float | None = None) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        if default is None:
            raise InputError(f"{where}: {field}: missing")
        return default
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {field}: not a number ({value!r})") from None
    if not math.isfinite(x):
        raise InputError(f"{where}: {field}: not a finite number ({value!r})")
    return x


def _raw_rows(path: Path) -> list[dict[str, Any]]:
    """Features of a substation file as dicts with ``_geom`` (shapely) and ``_where`` (text)."""
    from shapely.geometry import Point, shape

    rows: list[dict[str, Any]] = []
    if path.suffix.lower() == ".csv":
        df = pd.read_csv(path, keep_default_na=False, dtype={"name": str})
        for c in ("lon", "lat", "name", "headroom_mw"):
            if c not in df.columns:
                raise InputError(f"{path}: missing column {c!r} (need lon, lat, name, headroom_mw)")
        for i, r in enumerate(df.to_dict("records")):
            where = f"{path}: row {i + 1}"
            geom = Point(_number(r["lon"], where, "lon"), _number(r["lat"], where, "lat"))
            rows.append({**r, "_geom": geom, "_where": where})
        return rows
    if path.suffix.lower() not in (".geojson", ".json"):
        raise InputError(f"{path}: unknown substation file type (use .geojson or .csv)")
    from siting._sitefile import read_feature_collection  # shapes checked, one-line errors

    for i, f in enumerate(read_feature_collection(path, "Point or Polygon")):
        props = dict(f.get("properties") or {})
        where = f"{path}: feature {i}" + (f" ({props['name']})" if props.get("name") else "")
        try:
            geom = shape(f.get("geometry"))
        except Exception:
            raise InputError(f"{where}: geometry: not a valid GeoJSON geometry") from None
        if geom.geom_type not in ("Point", "Polygon", "MultiPolygon") or geom.is_empty:
            raise InputError(f"{where}: geometry: must be a Point, Polygon or MultiPolygon")
        rows.append({**props, "_geom": geom, "_where": where})
    return rows


def read_substations(
    path: str | Path, *, crs: str = "WGS84", radius_m: float = 3000.0
) -> Substations:
    """Read a substation / feeder-zone file (module doc) and validate every field.

    Parameters
    ----------
    path : path-like
        ``.geojson`` / ``.json`` (points, polygons) or ``.csv`` (points).
    crs : ``"WGS84"`` or ``"GCJ-02"``
        Coordinate system of the file (GCJ-02 is converted to WGS84).
    radius_m : float
        Service radius of point substations without their own ``radius_m``.

    Returns
    -------
    Substations

    Raises
    ------
    InputError
        One line naming the file, the feature and the field: unreadable file, missing name,
        negative headroom, coincidence factor outside (0, 1], bad geometry, duplicate names.
    """
    import shapely

    path = Path(path)
    try:
        rows = _raw_rows(path)
    except InputError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{path}: unreadable substation file: {exc}") from None
    names: list[str] = []
    head, cf, geoms, rad = [], [], [], []
    for r in rows:
        where = r["_where"]
        name = str(r.get("name") or "").strip()
        if not name:
            raise InputError(f"{where}: name: missing")
        if name in names:
            raise InputError(f"{where}: name: {name!r} given twice")
        h = _number(r.get("headroom_mw"), where, "headroom_mw")
        if h < 0:
            raise InputError(f"{where}: headroom_mw: must be >= 0 MW, got {h:g}")
        k = _number(r.get("coincidence_factor"), where, "coincidence_factor", default=1.0)
        if not 0 < k <= 1:
            raise InputError(f"{where}: coincidence_factor: must be in (0, 1], got {k:g}")
        rm = math.nan
        if r["_geom"].geom_type == "Point":
            rm = _number(r.get("radius_m"), where, "radius_m", default=radius_m)
            if rm <= 0:
                raise InputError(f"{where}: radius_m: must be > 0 m, got {rm:g}")
        names.append(name)
        head.append(1000.0 * h)
        cf.append(k)
        geoms.append(r["_geom"])
        rad.append(rm)
    if crs == "GCJ-02":
        from siting.candidates import gcj02_to_wgs84

        def to_wgs(coords: np.ndarray) -> np.ndarray:
            lon, lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
            return np.column_stack([lon, lat])

        geoms = [shapely.transform(g, to_wgs) for g in geoms]
    logger.info("grid: %d substations / feeder zones from %s", len(names), path.name)
    return Substations(names, np.array(head), np.array(cf), geoms, np.array(rad), str(path))


def _metres(lon1: np.ndarray, lat1: np.ndarray, lon2: float, lat2: float) -> np.ndarray:
    """Great-circle distance (m) from many points to one (haversine)."""
    p1, p2 = np.radians(lat1), math.radians(lat2)
    dl = np.radians(lon1 - lon2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * math.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def feeder_matrix(subs: Substations, lon: np.ndarray, lat: np.ndarray) -> sp.csr_matrix:
    """Which substation feeds which site: boolean (n_substations, n_sites) (module doc rules)."""
    import shapely

    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    n_k, n_s = len(subs), lon.size
    rows, cols = [], []
    is_point = np.array([g.geom_type == "Point" for g in subs.geometry], dtype=bool)
    if is_point.any():
        pts = np.flatnonzero(is_point)
        dist = np.vstack([_metres(lon, lat, subs.geometry[k].x, subs.geometry[k].y) for k in pts])
        near = dist.argmin(axis=0)
        ok = dist[near, np.arange(n_s)] <= subs.radius_m[pts][near]
        rows.append(pts[near[ok]])
        cols.append(np.flatnonzero(ok))
    for k in np.flatnonzero(~is_point):
        inside = shapely.covers(subs.geometry[k], shapely.points(lon, lat))
        rows.append(np.full(int(inside.sum()), k))
        cols.append(np.flatnonzero(inside))
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    return sp.csr_matrix((np.ones(r.size, dtype=bool), (r, c)), shape=(n_k, n_s))


def plug_limit(
    max_plugs: np.ndarray, plug_kw: np.ndarray, connection_kw_max: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Most plugs per site and whether the grid connection (not ``max_plugs``) sets it.

    Returns
    -------
    tuple of ndarray
        ``limit`` (int) = ``min(max_plugs, floor(connection_kw_max / plug_kw))`` and
        ``by_connection`` (bool) where the connection is the tighter limit.
    """
    conn = np.asarray(connection_kw_max, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        by_conn = np.where(np.isfinite(conn), np.floor(conn / plug_kw + 1e-9), np.inf)
    mp = np.asarray(max_plugs, dtype=float)
    limit = np.minimum(mp, by_conn)
    return limit.astype(np.int64), by_conn < mp
