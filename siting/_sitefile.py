"""Read site files (CSV / GeoJSON points) and study-area polygon files, checking everything.

A site file is read completely before any other work: its encoding, its shape (a CSV header
with ``lon`` and ``lat``, or a GeoJSON ``FeatureCollection`` of ``Point`` features), the type
of every value (numbers are numbers, not text or booleans), the range of every coordinate
(WGS84 degrees) and count (``plugs`` whole and at most :data:`MAX_PLUGS`), the allowed values
of ``kind`` / ``status``, and unique ids. Coordinates in a non-WGS84 CRS declared inside a
GeoJSON file are refused (declare ``crs: GCJ-02`` in the scenario instead).

A study-area file must hold polygons (any format GDAL reads) in WGS84 degrees or a CRS it
declares; points, lines or an empty file are refused with the scenario field that names it.

Every problem raises :class:`~siting.InputError` with one line ``<file>: <where>: <problem>``,
where ``<where>`` is ``line N: <column>`` (CSV) or ``features[i].<member>`` (GeoJSON).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from siting._errors import InputError
from siting._yaml import decode_text

__all__ = [
    "KINDS",
    "MAX_PLUGS",
    "STATUSES",
    "read_area_file",
    "read_feature_collection",
    "read_site_table",
]

KINDS = ("fast_charger", "hydrogen")
STATUSES = ("optional", "required", "forbidden", "built")
#: Most existing plugs a site in a file may declare.
MAX_PLUGS = 10_000
#: Largest grid connection a site in a file may declare (kW; 1 GW).
MAX_CONNECTION_KW = 1e6
#: Largest site file read (bytes).
MAX_BYTES = 64 << 20
#: Most sites in one file.
MAX_ROWS = 1_000_000
#: Deepest JSON nesting accepted in a GeoJSON site file (a FeatureCollection needs 5).
MAX_JSON_DEPTH = 64
_WGS84_NAMES = ("urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", "EPSG:4326")


def _read_bytes(path: Path, what: str, limit: int = MAX_BYTES) -> bytes:
    try:
        if not path.exists():
            raise InputError(f"{path}: {what} not found")
        if path.is_dir():
            raise InputError(f"{path}: is a folder, not a {what}")
        if not path.is_file():
            raise InputError(f"{path}: not a regular file (a device or pipe?)")
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except InputError:
        raise
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if len(data) > limit:
        raise InputError(f"{path}: larger than {limit >> 20} MiB; not a {what}")
    return data


# ----------------------------------------------------------------------------- values


def _text(value: Any) -> str | None:
    """A property as text: None / "" -> None; numbers written as they read."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or value is None:
        raise InputError(f"{where}: must be a number (got {value!r})")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise InputError(f"{where}: {shown!r} is not a number") from None
    if not isinstance(value, int | float):
        raise InputError(f"{where}: must be a number (got {type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{where}: must be a finite number (got {value})")
    return value


def _coord(lon: Any, lat: Any, where: str) -> tuple[float, float]:
    x = _number(lon, f"{where}lon")
    y = _number(lat, f"{where}lat")
    if not -180 <= x <= 180:
        raise InputError(f"{where}lon: {x:g} is outside -180..180 degrees")
    if not -90 <= y <= 90:
        hint = " (lon and lat swapped?)" if -90 <= x <= 90 else ""
        raise InputError(f"{where}lat: {y:g} is outside -90..90 degrees{hint}")
    return x, y


def _plugs(value: Any, where: str) -> int:
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0
    v = _number(value, where)
    if not v.is_integer():
        raise InputError(f"{where}: must be a whole number of plugs (got {v:g})")
    if not 0 <= v <= MAX_PLUGS:
        raise InputError(f"{where}: {v:g} is out of range (0..{MAX_PLUGS})")
    return int(v)


def _optional_kw(value: Any, where: str) -> float:
    """An optional power limit (kW): NaN where not given, else a finite number in range."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    v = _number(value, where)
    if not 0 <= v <= MAX_CONNECTION_KW:
        raise InputError(f"{where}: {v:g} kW is out of range (0..{MAX_CONNECTION_KW:g})")
    return v


def _choice(value: Any, allowed: tuple[str, ...], where: str) -> str | None:
    text = _text(value)
    if text is not None and text not in allowed:
        raise InputError(f"{where}: {text!r} is not one of {', '.join(allowed)}")
    return text


# ----------------------------------------------------------------------------- CSV


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        while header is not None and not any(h.strip() for h in header):
            header = next(reader, None)
        if header is None:
            raise InputError(f"{path}: empty file; need a header line 'lon,lat,name'")
        names = [h.strip().lower() for h in header]
        dup = sorted({n for n in names if n and names.count(n) > 1})
        if dup:
            raise InputError(f"{path}: line {reader.line_num}: column {dup[0]!r} given twice")
        missing = [c for c in ("lon", "lat") if c not in names]
        if missing:
            got = ", ".join(repr(n) for n in names[:6])
            hint = ""
            if len(names) == 1 and any(sep in names[0] for sep in ";\t|"):
                hint = "; columns must be separated by commas"
            raise InputError(
                f"{path}: line {reader.line_num}: header lacks column(s) {', '.join(missing)} "
                f"(need lon, lat, name; got {got}{hint})"
            )
        rows = []
        for fields in reader:
            line = reader.line_num
            if not any(f.strip() for f in fields):
                continue
            if len(fields) != len(names):
                raise InputError(
                    f"{path}: line {line}: {len(fields)} fields, the header has {len(names)}"
                )
            rows.append((line, dict(zip(names, fields, strict=True))))
            if len(rows) > MAX_ROWS:
                raise InputError(f"{path}: more than {MAX_ROWS} sites")
    except csv.Error as exc:
        raise InputError(f"{path}: line {reader.line_num}: not valid CSV: {exc}") from None
    return rows


# ----------------------------------------------------------------------------- GeoJSON


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"key {k!r} given twice in one object")
        out[k] = v
    return out


def _json_depth_ok(text: str) -> bool:
    depth = best = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            best = max(best, depth)
            if best > MAX_JSON_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _load_json(path: Path, text: str) -> Any:
    if not _json_depth_ok(text):
        raise InputError(f"{path}: nested more than {MAX_JSON_DEPTH} levels deep; not GeoJSON")
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: line {exc.lineno}, column {exc.colno}: not valid JSON: {exc.msg}"
        ) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{path}: not valid JSON: {exc}") from None


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "text", bool: "true/false"}.get(
        type(value), "a number"
    )


def _check_crs(path: Path, gj: dict[str, Any]) -> None:
    crs = gj.get("crs")
    if crs is None:
        return
    name = None
    if isinstance(crs, dict) and isinstance(crs.get("properties"), dict):
        name = crs["properties"].get("name")
    if not isinstance(name, str):
        raise InputError(f"{path}: crs: not a named CRS; remove it (GeoJSON is WGS84)")
    norm = name.strip().upper().replace("EPSG::", "EPSG:")
    if not any(norm == w.upper() or norm.endswith(":4326") for w in _WGS84_NAMES):
        raise InputError(
            f"{path}: crs: {name!r}: only WGS84 (CRS84 / EPSG:4326) coordinates are read; "
            "for GCJ-02 coordinates declare `crs: GCJ-02` in the scenario's site file entry"
        )


def _features(path: Path, text: str, what: str) -> list[tuple[str, dict[str, Any]]]:
    """``(where, feature)`` of a GeoJSON FeatureCollection (or one Feature), shapes checked."""
    gj = _load_json(path, text)
    if not isinstance(gj, dict):
        raise InputError(
            f"{path}: (top level): must be a GeoJSON FeatureCollection object, not {_type_name(gj)}"
        )
    _check_crs(path, gj)
    kind = gj.get("type")
    if kind == "Feature":
        features: Any = [gj]
    elif kind == "FeatureCollection":
        features = gj.get("features")
        if not isinstance(features, list):
            raise InputError(f"{path}: features: must be a list, not {_type_name(features)}")
    else:
        raise InputError(
            f"{path}: type: must be 'FeatureCollection' (of {what} features), got {kind!r}"
        )
    if len(features) > MAX_ROWS:
        raise InputError(f"{path}: more than {MAX_ROWS} features")
    out = []
    for i, f in enumerate(features):
        where = f"features[{i}]" if kind == "FeatureCollection" else "(feature)"
        if not isinstance(f, dict) or f.get("type") != "Feature":
            got = f.get("type") if isinstance(f, dict) else _type_name(f)
            raise InputError(f"{path}: {where}: must be a Feature object (got {got!r})")
        if not isinstance(f.get("geometry"), dict):
            raise InputError(
                f"{path}: {where}.geometry: must be a {what} object, not "
                f"{_type_name(f.get('geometry'))}"
            )
        props = f.get("properties")
        if props is not None and not isinstance(props, dict):
            raise InputError(
                f"{path}: {where}.properties: must be an object, not {_type_name(props)}"
            )
        out.append((where, f))
    return out


def read_feature_collection(path: str | Path, what: str = "geometry") -> list[dict[str, Any]]:
    """Read a GeoJSON file's features with every shape checked (for any reader of GeoJSON).

    Parameters
    ----------
    path : str or Path
    what : str
        The geometry the caller wants, for messages (``"Point or Polygon"``).

    Returns
    -------
    list of dict
        The features (``type: Feature``, ``geometry`` an object, ``properties`` an object or
        null), each with ``"_where"``: ``<file>: features[i]`` for messages.

    Raises
    ------
    InputError
        Unreadable, not UTF-8, not JSON (line and column), NaN or duplicate keys, too deep,
        not a FeatureCollection, a feature or geometry of the wrong shape, a non-WGS84 ``crs``.
    """
    path = Path(path)
    text = decode_text(_read_bytes(path, "GeoJSON file"), path, InputError)
    return [{**f, "_where": f"{path}: {where}"} for where, f in _features(path, text, what)]


def _geojson_rows(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    rows = []
    for where, f in _features(path, text, "Point"):
        geom = f["geometry"]
        if geom.get("type") != "Point":
            raise InputError(
                f"{path}: {where}.geometry.type: must be 'Point' (a site is one point), "
                f"got {geom.get('type')!r}"
            )
        xy = geom.get("coordinates")
        if (
            not isinstance(xy, list)
            or len(xy) not in (2, 3)
            or any(isinstance(v, bool) or not isinstance(v, int | float) for v in xy)
        ):
            shown = repr(xy) if len(repr(xy)) <= 40 else repr(xy)[:37] + "..."
            raise InputError(
                f"{path}: {where}.geometry.coordinates: must be [lon, lat] numbers, got {shown}"
            )
        row = {str(k).lower(): v for k, v in (f.get("properties") or {}).items()}
        if "id" not in row and f.get("id") is not None:
            row["id"] = f["id"]
        row["lon"], row["lat"] = xy[0], xy[1]
        rows.append((f"{where}.", row))
    return rows


# ----------------------------------------------------------------------------- both


def read_site_table(path: str | Path) -> pd.DataFrame:
    """Read and check a site file; see :func:`siting.candidates.read_site_file`.

    Parameters
    ----------
    path : str or Path
        ``.csv`` or ``.geojson`` / ``.json``.

    Returns
    -------
    pandas.DataFrame
        ``id, name, lon, lat, kind, status, plugs, connection_kw_max`` (kW, NaN where not
        given); coordinates as in the file (degrees; a GCJ-02 file is converted by the caller).

    Raises
    ------
    InputError
        One line naming the file, the line or feature, the column and what is wrong.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".geojson", ".json"):
        raise InputError(
            f"{path}: unknown site-file type {suffix or '(none)'!r} (use .csv or .geojson)"
        )
    text = decode_text(_read_bytes(path, "site file"), path, InputError)
    if suffix == ".csv":
        raw = [(f"line {line}: ", row) for line, row in _csv_rows(path, text)]
    else:
        raw = _geojson_rows(path, text)
    ids: list[str] = []
    columns = ("name", "lon", "lat", "kind", "status", "plugs", "connection_kw_max")
    out: dict[str, list[Any]] = {c: [] for c in columns}
    seen: dict[str, str] = {}
    for i, (where, row) in enumerate(raw):
        at = f"{path}: {where}"
        lon, lat = _coord(row.get("lon"), row.get("lat"), at)
        sid = _text(row.get("id")) or f"{path.stem}:{i + 1}"
        if sid in seen:
            raise InputError(f"{at}id: {sid!r} given twice (first at {seen[sid].rstrip(': .')})")
        seen[sid] = where
        ids.append(sid)
        out["name"].append(_text(row.get("name")) or "")
        out["lon"].append(lon)
        out["lat"].append(lat)
        out["kind"].append(_choice(row.get("kind"), KINDS, f"{at}kind"))
        out["status"].append(_choice(row.get("status"), STATUSES, f"{at}status"))
        out["plugs"].append(_plugs(row.get("plugs"), f"{at}plugs"))
        out["connection_kw_max"].append(
            _optional_kw(row.get("connection_kw_max"), f"{at}connection_kw_max")
        )
    lon = np.asarray(out["lon"], dtype=float)
    lat = np.asarray(out["lat"], dtype=float)
    return pd.DataFrame(
        {
            "id": pd.Series(ids, dtype=object),
            "name": pd.Series(out["name"], dtype=object).astype(str),
            "lon": lon,
            "lat": lat,
            "kind": pd.Series(out["kind"], dtype=object),
            "status": pd.Series(out["status"], dtype=object),
            "plugs": np.asarray(out["plugs"], dtype=np.int64),
            "connection_kw_max": np.asarray(out["connection_kw_max"], dtype=float),
        }
    )


# ----------------------------------------------------------------------------- areas


def read_area_file(path: str | Path, where: str) -> Any:
    """Read a study-area polygon file as one WGS84 (multi)polygon.

    Parameters
    ----------
    path : str or Path
        Any vector file GDAL reads (GeoJSON, GeoPackage, shapefile, ...).
    where : str
        ``<scenario file>: <field>`` naming what points at the file, for messages.

    Returns
    -------
    shapely geometry
        The union of the file's polygons, valid, in WGS84 degrees.

    Raises
    ------
    InputError
        Unreadable, empty, non-polygon geometries, coordinates outside WGS84 degrees.
    """
    import geopandas as gpd
    import shapely

    path = Path(path)
    _read_bytes(path, "study-area file", limit=MAX_BYTES)  # exists, regular, not huge
    if path.suffix.lower() in (".geojson", ".json"):
        text = decode_text(_read_bytes(path, "study-area file"), path, InputError)
        _load_json(path, text)  # JSON shape problems get a line number, not a GDAL message
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:  # GDAL / pyogrio raise many types
        msg = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"{where}: cannot read {path} as a polygon file: {msg}") from None
    geoms = gdf.geometry[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if geoms.empty:
        raise InputError(f"{where}: {path} holds no geometry; a study area is a polygon")
    types = sorted(set(geoms.geom_type))
    bad = [t for t in types if t not in ("Polygon", "MultiPolygon")]
    if bad:
        raise InputError(
            f"{where}: {path} holds {', '.join(bad)} geometries; a study area must be "
            "Polygon or MultiPolygon"
        )
    try:
        if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
            geoms = geoms.to_crs("EPSG:4326")
    except Exception as exc:
        raise InputError(f"{where}: {path}: cannot convert its CRS to WGS84: {exc}") from None
    w, s, e, n = (float(v) for v in geoms.total_bounds)
    if not (
        all(math.isfinite(v) for v in (w, s, e, n))
        and -180 <= w <= e <= 180
        and -90 <= s <= n <= 90
    ):
        raise InputError(
            f"{where}: {path}: coordinates ({w:g}, {s:g}, {e:g}, {n:g}) are not WGS84 degrees "
            "(declare the file's CRS, or convert it)"
        )
    area = shapely.union_all(shapely.make_valid(geoms.to_numpy()))
    area = _polygonal(area)
    if area.is_empty or area.area == 0:
        raise InputError(f"{where}: {path}: the polygons have no area")
    return area


def _polygonal(geom: Any) -> Any:
    """Keep only the polygon parts of ``geom`` (make_valid can add lines and points)."""
    import shapely
    from shapely.geometry import MultiPolygon, Polygon

    if isinstance(geom, Polygon | MultiPolygon):
        return geom
    parts = [
        g
        for g in shapely.get_parts(geom)
        if isinstance(g, Polygon | MultiPolygon) and not g.is_empty
    ]
    return shapely.union_all(parts) if parts else Polygon()
