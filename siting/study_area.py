"""Study area: the polygon where demand is counted, and the census population of its districts.

Also :func:`manifest_source`, the data-source record of an embedded file (from
``data/MANIFEST.json``), used by every stage that reads embedded data.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box

from siting import data
from siting._errors import InputError, ScenarioError
from siting.scenario import Scenario

#: Equal-area projection used for district area shares (metres), same as :mod:`siting.data`.
EQUAL_AREA_CRS = data.EQUAL_AREA_CRS


def _match_districts(names: Iterable[str], table: pd.DataFrame) -> list[str]:
    codes = []
    for name in names:
        key = str(name).strip()
        hit = table[
            (table["district_code"].astype(str) == key)
            | (table["district_en"].str.lower() == key.lower())
            | (table["district_zh"] == key)
        ]
        if hit.empty:
            raise ScenarioError(f"study_area.districts: unknown district {name!r}")
        codes.append(str(hit["district_code"].iloc[0]))
    return codes


def study_area(scenario: Scenario) -> tuple[Any, pd.DataFrame, list[dict[str, Any]]]:
    """Study-area polygon and per-district population inside it.

    Returns
    -------
    tuple
        ``(area, districts, sources)``: WGS84 geometry; a GeoDataFrame of the districts touching
        the area with ``population_2020``, ``area_share_in_study`` (0..1),
        ``population_in_area`` (census population × area share: uniform density within each
        district) and ``geometry``; data-source records.
    """
    sa = scenario.study_area
    near = scenario.path
    table = data.district_table(near)
    polys = data.districts(near)
    code_col = "district_code"
    polys[code_col] = polys[code_col].astype(str)
    sources = []
    embedded_plain = sa.area == "embedded" and sa.bbox is None and not sa.districts
    if sa.area == "embedded":
        area = data.study_area(near).to_crs("EPSG:4326").geometry.union_all()
        sources.append(manifest_source("study_area.geojson", near))
    else:
        try:
            area = gpd.read_file(sa.area).to_crs("EPSG:4326").geometry.union_all()
        except Exception as exc:
            raise InputError(f"study_area.area: cannot read {sa.area}: {exc}") from exc
        sources.append({"name": "study area", "path": sa.area, "licence": "", "attribution": "",
                        "note": "user-supplied polygon"})  # fmt: skip
    if sa.bbox is not None:
        area = area.intersection(box(*sa.bbox))
    if sa.districts:
        codes = _match_districts(sa.districts, table)
        area = area.intersection(polys[polys[code_col].isin(codes)].geometry.union_all())
    if area.is_empty:
        raise ScenarioError("study_area: the study area is empty (bbox / districts outside it?)")

    merged = polys[[code_col, "geometry"]].merge(
        table[[code_col, "district_en", "district_zh", "resident_population_2020",
               "area_share_in_study", "population_in_study_est"]],
        on=code_col,
    )  # fmt: skip
    merged = merged.rename(columns={"resident_population_2020": "population_2020"})
    if embedded_plain:
        share = merged["area_share_in_study"].to_numpy(float)
    else:
        proj = merged.to_crs(EQUAL_AREA_CRS)
        area_proj = gpd.GeoSeries([area], crs="EPSG:4326").to_crs(EQUAL_AREA_CRS).iloc[0]
        inter = shapely.area(shapely.intersection(proj.geometry.to_numpy(), area_proj))
        share = inter / proj.geometry.area.to_numpy()
    merged["area_share_in_study"] = np.round(share, 6)
    merged["population_in_area"] = merged["population_2020"].to_numpy(float) * share
    merged = merged.drop(columns="population_in_study_est")
    merged = merged[merged["area_share_in_study"] > 0].reset_index(drop=True)
    sources.append(manifest_source("districts_in_study_area.csv", near))
    sources.append(manifest_source("boundaries/beijing_districts.parquet", near))
    sources.append(manifest_source("facts/beijing_districts_2020_census.csv", near))
    return area, gpd.GeoDataFrame(merged, geometry="geometry", crs="EPSG:4326"), sources


def manifest_source(rel: str, near: Path | None) -> dict[str, Any]:
    """Data-source record ``{name, path, licence, attribution, note}`` of an embedded file."""
    try:
        files = {f["path"]: f for f in data.manifest(near).get("files", [])}
    except Exception:
        files = {}
    f = files.get(rel, {})
    return {
        "name": rel,
        "path": str(data.data_dir(near) / rel),
        "licence": f.get("licence", ""),
        "attribution": f.get("attribution", ""),
        "note": f.get("description", ""),
    }


def area_km2(geom: Any) -> float:
    """Area (km²) of a WGS84 geometry, in :data:`EQUAL_AREA_CRS`."""
    return float(gpd.GeoSeries([geom], crs="EPSG:4326").to_crs(EQUAL_AREA_CRS).area.iloc[0] / 1e6)
