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
from siting._errors import ScenarioError
from siting._strict import error_line
from siting.scenario import Scenario

#: Equal-area projection used for district area shares (metres), same as :mod:`siting.data`.
EQUAL_AREA_CRS = data.EQUAL_AREA_CRS


def _fail(scenario: Scenario, loc: tuple[Any, ...], msg: str) -> ScenarioError:
    return ScenarioError(error_line(scenario.path or "<scenario>", loc, msg))


def _bounds_text(geom: Any) -> str:
    if geom is None or geom.is_empty:
        return "empty"
    w, s, e, n = geom.bounds
    return f"lon {w:.3f}..{e:.3f}, lat {s:.3f}..{n:.3f}"


def _district_codes(names: Iterable[str], table: pd.DataFrame) -> set[str]:
    keys = {str(n).strip().lower() for n in names}
    pick = (
        table["district_code"].astype(str).str.lower().isin(keys)
        | table["district_en"].str.lower().isin(keys)
        | table["district_zh"].isin({str(n).strip() for n in names})
    )
    return set(table.loc[pick, "district_code"].astype(str))


def _base_area(scenario: Scenario) -> Any:
    sa = scenario.study_area
    if sa.area == "embedded":
        return data.study_area(scenario.path).to_crs("EPSG:4326").geometry.union_all()
    from siting._sitefile import read_area_file

    return read_area_file(sa.area, f"{scenario.path or '<scenario>'}: study_area.area")


def study_area_geometry(scenario: Scenario) -> Any:
    """The study-area polygon: the embedded area or the polygon file, clipped by bbox/districts.

    ``siting validate`` and the run build it with this one function, so a scenario that
    validates has a study area the run can use.

    Parameters
    ----------
    scenario : Scenario

    Returns
    -------
    shapely geometry (WGS84, polygonal, not empty)

    Raises
    ------
    SitingError
        One line naming the scenario file and the ``study_area`` field: an unreadable or
        non-polygon area file, nothing left after ``bbox`` / ``districts``, or an area outside
        Beijing's districts (whose census population the demand is counted from).
    """
    sa = scenario.study_area
    base = area = _base_area(scenario)
    if sa.bbox is not None:
        area = area.intersection(box(*sa.bbox))
        if area.is_empty or area.area == 0:
            raise _fail(
                scenario,
                ("study_area", "bbox"),
                f"{list(sa.bbox)} does not overlap the study area ({_bounds_text(base)})",
            )
    polys = data.districts(scenario.path)
    if sa.districts:
        codes = _district_codes(sa.districts, data.district_table(scenario.path))
        sel = polys[polys["district_code"].astype(str).isin(codes)]
        area = area.intersection(sel.geometry.union_all())
        if area.is_empty or area.area == 0:
            raise _fail(
                scenario,
                ("study_area", "districts"),
                "none of these districts overlaps the study area (area / bbox)",
            )
    if not polys.geometry.intersects(area).any():
        raise _fail(
            scenario,
            ("study_area", "area" if sa.area != "embedded" else "bbox"),
            f"the study area ({_bounds_text(area)}) lies outside Beijing's 16 districts; "
            "demand is counted from their census population",
        )
    return area


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
    area = study_area_geometry(scenario)
    if sa.area == "embedded":
        sources.append(manifest_source("study_area.geojson", near))
    else:
        sources.append({"name": "study area", "path": sa.area, "licence": "", "attribution": "",
                        "note": "user-supplied polygon"})  # fmt: skip

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
