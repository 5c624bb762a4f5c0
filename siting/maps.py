"""Folium map of a plan: chosen sites, demand grid, coverage, candidates, trips, legend and title.

One writer for every kind of plan (area charging, trip flows, depot demand; chargers, hydrogen
stations, both). The map holds:

- base layers: CARTO light (shown first), OpenStreetMap, Amap (GCJ-02: while it is shown every
  overlay is drawn shifted to GCJ-02 so that a site still sits on its road; the outputs stay
  WGS84), Tianditu (with the reviewer's own key in ``SITING_TIANDITU_KEY``) and an **offline
  base** drawn from the embedded data (:mod:`siting.basemap`: roads by class and zoom, named on
  hover; district/county outlines and names; the corridor skeleton with towns and venues; zoom
  0–6 OSM raster tiles for regional maps). The page switches to the offline base by itself
  when the first online tiles fail to load (or none has loaded after 6 s);
- the demand grid as a choropleth (kWh/day per cell, ColorBrewer *YlGnBu*, quantile classes);
- the demand **not covered** within the scenario's travel-time limit: the uncovered cells merged
  into one hatched overlay (its own layer, on by default);
- chosen sites, one clustered layer per kind (Leaflet.markercluster: nearby sites merge into a
  white badge with their count when zoomed out, so labels do not pile up): fast chargers as blue
  circles labelled with their number of plugs, hydrogen stations as orange diamonds labelled
  "H₂" with their size under them; marker size grows with plugs or kg/day. Colours are from the
  Okabe–Ito colour-blind-safe palette and the two kinds also differ by shape. A click opens a
  popup: the site's name (its OSM roads), district and coordinates, then its figures in the
  units of its demand kinds (plugs, kW, kWh/day; trips and vehicles/day; kg/day; cost; queueing
  figures when planned), and its ids (site id, source, OSM node) as a detail. Popups pan clear
  of the title, layer control and legend;
- candidate sites as small grey dots (layer off by default);
- trips (flow-refuelling plans) as lines whose width grows with vehicles/day: bluish green and
  solid when refuelled, orange and dotted when partly refuelled (some of the trip's flow, e.g.
  when station capacity runs short), vermillion and dashed when not;
- a layer control, a metric scale bar, a foldable legend listing only what the map holds, a title
  with the scenario name, budget, money spent and what the plan buys in its kinds' terms, and the
  OpenStreetMap attribution.

Every string that comes from the data (OSM names, ids, scenario name) is HTML-escaped before it
reaches a popup, tooltip, title or legend, so a name such as ``<script>`` shows as text.

Network use: ``write_map(..., inline_assets=True)`` (what ``siting run`` does by default) copies
the vendored Leaflet 1.9.3 (``siting/_assets/leaflet``, BSD-2-Clause) into the file;
Leaflet.markercluster 1.5.3 (MIT) and the project's map script (``siting/_assets/siting_map.js``)
are always inlined. The whole map then works with no network, on its offline base.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from jinja2 import Template

from siting import basemap
from siting.results import Plan

logger = logging.getLogger(__name__)

#: Okabe & Ito (2008) colour-blind-safe colours used for the map's symbols.
CHARGER_COLOUR = "#0072B2"  # blue
HYDROGEN_COLOUR = "#E69F00"  # orange
REFUELLED_COLOUR = "#009E73"  # bluish green
NOT_REFUELLED_COLOUR = "#D55E00"  # vermillion
PARTLY_REFUELLED_COLOUR = "#E69F00"  # orange
#: Line style per trip status: (colour, dash pattern or None, layer label).
TRIP_STYLES = {
    "not": (NOT_REFUELLED_COLOUR, "8 6", "not refuelled"),
    "partly": (PARTLY_REFUELLED_COLOUR, "2 6", "partly refuelled"),
    "refuelled": (REFUELLED_COLOUR, None, "refuelled"),
}
CANDIDATE_COLOUR = "#6e6e6e"
UNCOVERED_COLOUR = "#222222"

#: ColorBrewer YlGnBu, 6 classes (sequential, colour-blind safe), light → dark = low → high.
DEMAND_PALETTE = ("#ffffcc", "#c7e9b4", "#7fcdbb", "#41b6c4", "#2c7fb8", "#253494")

OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)
CARTO_ATTRIBUTION = OSM_ATTRIBUTION + ' &copy; <a href="https://carto.com/attributions">CARTO</a>'
AMAP_ATTRIBUTION = '&copy; <a href="https://www.amap.com/">高德地图 AutoNavi</a> (GCJ-02)'
TIANDITU_ATTRIBUTION = '&copy; <a href="https://www.tianditu.gov.cn/">天地图 Tianditu</a>'
#: Names of the base layers in the layer control.
OFFLINE_BASE_NAME = "Basemap: offline (embedded data)"
AMAP_NAME = "Basemap: Amap 高德 (GCJ-02)"
TIANDITU_NAME = "Basemap: 天地图 Tianditu"
#: Environment variable holding the reviewer's own Tianditu key (never stored in the repo).
TIANDITU_KEY_ENV = "SITING_TIANDITU_KEY"

#: Fallback map centre when a plan has no geometry at all (Tiananmen, lat/lon).
BEIJING_CENTRE = (39.9087, 116.3975)

KIND_LABELS = {"fast_charger": "Fast charger", "hydrogen": "Hydrogen station"}

_ASSETS = Path(__file__).with_name("_assets") / "leaflet"
_CLUSTER_ASSETS = Path(__file__).with_name("_assets") / "markercluster"
_SITING_JS = Path(__file__).with_name("_assets") / "siting_map.js"
_COORD_DECIMALS = 6


# ----------------------------------------------------------------------------- formatting


def esc(value: Any) -> str:
    """HTML-escape a data value for popups, tooltips, title and legend ('' for None / NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    text = html.escape(str(value), quote=True)
    # Folium renders scripts through Jinja twice: braces from data must not open a template tag
    return text.replace("{", "&#123;").replace("}", "&#125;")


def _finite(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def fmt_cny(value: Any) -> str:
    """Money for people: ``48.7 M CNY``, ``1.2 B CNY``, ``350 k CNY``, ``820 CNY``; '—' unknown."""
    v = _finite(value)
    if v is None:
        return "—"
    a = abs(v)
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if a >= scale:
            x = v / scale
            text = f"{x:.1f}" if abs(x) < 100 else f"{x:.0f}"
            return f"{text.removesuffix('.0')} {unit} CNY"
    return f"{v:.0f} CNY"


def fmt_num(value: Any, digits: int = 3) -> str:
    """A quantity with thousands separators and ~``digits`` significant digits; '—' if unknown."""
    v = _finite(value)
    if v is None:
        return "—"
    if v == 0:
        return "0"
    mag = math.floor(math.log10(abs(v)))
    decimals = max(0, digits - 1 - mag)
    text = f"{v:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if decimals else text


def fmt_share(value: Any) -> str:
    """A 0..1 share as a percentage: ``62 %`` (one decimal below 10 %); '—' if unknown."""
    v = _finite(value)
    if v is None:
        return "—"
    p = 100 * v
    text = f"{p:.1f}" if 0 < abs(p) < 10 else f"{p:.0f}"
    return f"{text} %"


# ----------------------------------------------------------------------------- geometry helpers


def _round_geoms(geoms: Iterable[Any], tolerance: float = 0.0) -> np.ndarray:
    """Geometries simplified (degrees) and rounded to 6 decimals (~0.1 m)."""
    arr = np.asarray(list(geoms), dtype=object)
    if len(arr) == 0:
        return arr
    if tolerance > 0:
        arr = shapely.simplify(arr, tolerance, preserve_topology=True)
    return shapely.transform(arr, lambda c: np.round(c, _COORD_DECIMALS))


def _features(geoms: np.ndarray, props: list[dict[str, Any]]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection with integer ids (folium styles features by id)."""
    feats = []
    for i, (g, p) in enumerate(zip(geoms, props, strict=True)):
        if g is None or shapely.is_empty(g):
            continue
        feats.append({"type": "Feature", "id": i, "properties": p, "geometry": g.__geo_interface__})
    return {"type": "FeatureCollection", "features": feats}


def _to_wgs84(gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    if gdf is None or len(gdf) == 0 or "geometry" not in gdf:
        return None
    if gdf.crs is not None and str(gdf.crs).upper() not in ("EPSG:4326", "OGC:CRS84"):
        gdf = gdf.to_crs("EPSG:4326")
    return gdf


def _col(df: pd.DataFrame, name: str, default: Any = np.nan) -> pd.Series:
    return df[name] if name in df else pd.Series(default, index=df.index)


# ----------------------------------------------------------------------------- plan facts


def _scenario_name(plan: Plan) -> str:
    return str(plan.summary.get("scenario") or getattr(plan.scenario, "name", "") or "scenario")


def _max_travel_min(plan: Plan) -> float | None:
    v = plan.summary.get("max_travel_min")
    if v is None:
        cov = getattr(plan.scenario, "coverage", None)
        v = getattr(cov, "max_travel_min", None)
    return _finite(v)


def demand_column(demand: pd.DataFrame) -> tuple[str | None, str]:
    """The demand column the map shows and its unit: ``kwh_per_day`` (kWh/day) or ``kg_per_day``."""
    for col, unit in (("kwh_per_day", "kWh/day"), ("kg_per_day", "kg/day")):
        if col in demand:
            return col, unit
    return None, ""


def _spent(plan: Plan) -> float | None:
    v = _finite(plan.summary.get("spent_cny"))
    if v is None and len(plan.sites) and "cost_cny" in plan.sites:
        v = float(pd.to_numeric(plan.sites["cost_cny"], errors="coerce").sum())
    return v


def _covered_share(plan: Plan) -> float | None:
    v = _finite(plan.summary.get("demand_covered_share"))
    if v is None:
        col, _ = demand_column(plan.demand)
        if col and "served_kwh" in plan.demand:
            total = float(plan.demand[col].sum())
            v = float(plan.demand["served_kwh"].sum()) / total if total > 0 else None
    return v


def _flow_share(plan: Plan) -> float | None:
    v = _finite(plan.summary.get("flow_refuelled_share"))
    if v is None and plan.trips is not None and len(plan.trips):
        flow = pd.to_numeric(plan.trips["flow_per_day"], errors="coerce").fillna(0).to_numpy()
        ok = plan.trips["refuelled"].fillna(False).astype(bool).to_numpy()
        v = float(flow[ok].sum() / flow.sum()) if flow.sum() > 0 else None
    return v


def plan_kinds(plan: Plan) -> dict[str, bool]:
    """Which demand kinds the plan serves: ``area`` (charging demand in kWh/day over the demand
    grid), ``trips`` (trip flows refuelled on the way), ``depots`` (depot / venue demand)."""
    s = plan.summary
    dem = plan.demand
    kwh = dem["kwh_per_day"] if dem is not None and "kwh_per_day" in dem else None
    area = s.get("demand_kwh_per_day") is not None or (kwh is not None and float(kwh.sum()) > 0)
    trips = (plan.trips is not None and len(plan.trips) > 0) or (
        _finite(s.get("flow_refuelled_share")) is not None
    )
    depots = (_finite(s.get("hydrogen_node_demand_kg_per_day")) or 0) > 0 or (
        _finite(s.get("hydrogen_node_demand_served_share")) is not None
    )
    return {"area": bool(area), "trips": bool(trips), "depots": bool(depots)}


def title_line(plan: Plan) -> str:
    """Plain-text headline of what the plan buys, in the words of its demand kinds.

    ``Budget 50 M CNY · spent 48.7 M CNY · 62 % of charging demand covered``; a trip-flow plan
    says ``… of trip flow refuelled``, depot demand ``… of hydrogen depot demand served``.
    """
    parts = [f"Budget {fmt_cny(plan.budget_cny)}", f"spent {fmt_cny(_spent(plan))}"]
    s = plan.summary
    kinds = plan_kinds(plan)
    share = _covered_share(plan) if kinds["area"] else None
    if share is not None:
        parts.append(f"{fmt_share(share)} of charging demand covered")
    flow = _flow_share(plan) if kinds["trips"] else None
    if flow is not None:
        parts.append(f"{fmt_share(flow)} of trip flow refuelled")
    depot = _finite(s.get("hydrogen_node_demand_served_share")) if kinds["depots"] else None
    if depot is not None:
        h2 = "hydrogen" in set(_col(plan.sites, "kind", "").astype(str))
        parts.append(f"{fmt_share(depot)} of {'hydrogen ' if h2 else ''}depot demand served")
    level = _service_level_text(s.get("service_level"))
    if level:
        parts.append(level)
    if s.get("binding_limit"):
        parts.append(f"limited by {s['binding_limit']}")
    status = plan.summary.get("status") or getattr(plan.solution, "status", None)
    if status and status != "optimal":
        parts.append(f"status {status}")
    return " · ".join(parts)


def _service_level_text(level: Any) -> str:
    """The plug-sizing rule of ``summary.json``'s ``service_level`` in words ('' when absent)."""
    if not isinstance(level, dict):
        return ""
    rule = level.get("rule")
    if rule == "p_wait" and _finite(level.get("alpha")) is not None:
        return f"plugs sized for P(wait) ≤ {fmt_num(level['alpha'], 2)} at the peak"
    if rule == "mean_wait" and _finite(level.get("max_mean_wait_min")) is not None:
        return f"plugs sized for a mean wait ≤ {fmt_num(level['max_mean_wait_min'], 2)} min"
    if rule == "daily_energy":
        return "plugs sized by kWh per plug per day"
    return ""


# ----------------------------------------------------------------------------- layers


def _demand_classes(values: np.ndarray) -> np.ndarray:
    """Upper class breaks (quantiles rounded to 2 significant digits), at most 5 → ≤ 6 classes."""
    pos = values[values > 0]
    if len(pos) == 0:
        return np.zeros(0)
    k = min(len(DEMAND_PALETTE), len(np.unique(pos)))
    qs = np.quantile(pos, np.linspace(0, 1, k + 1)[1:-1])
    out = []
    for q in qs:
        if q <= 0:
            continue
        mag = 10 ** (math.floor(math.log10(q)) - 1)
        r = round(q / mag) * mag
        if (not out or r > out[-1]) and r < pos.max():
            out.append(float(r))
    return np.asarray(out)


def _add_demand(m: folium.Map, plan: Plan) -> dict[str, Any] | None:
    dem = _to_wgs84(plan.demand)
    col, unit = demand_column(plan.demand)
    if dem is None or col is None:
        return None
    values = pd.to_numeric(dem[col], errors="coerce").fillna(0).to_numpy(float)
    keep = values > 0
    dem, values = dem[keep], values[keep]
    if len(dem) == 0:
        return None
    breaks = _demand_classes(values)
    cls = np.searchsorted(breaks, values, side="right")
    # fewer classes are spread over the palette; one or two avoid its near-white end
    n_cls = len(breaks) + 1
    start = {1: 4, 2: 2}.get(n_cls, 0)
    idx = np.rint(np.linspace(start, len(DEMAND_PALETTE) - 1, n_cls)).astype(int)
    palette = tuple(DEMAND_PALETTE[i] for i in idx)

    limit = _max_travel_min(plan)
    served = pd.to_numeric(_col(dem, "served_share"), errors="coerce").to_numpy(float)
    covered = _col(dem, "covered", True).fillna(False).astype(bool).to_numpy()
    tmin = pd.to_numeric(_col(dem, "travel_min"), errors="coerce").to_numpy(float)
    tips = [
        {"k": int(k), "tip": _cell_tip(v, s, c, t, unit, limit)}
        for k, v, s, c, t in zip(cls, values, served, covered, tmin, strict=True)
    ]
    geoms = dem.geometry.to_numpy()
    is_point = shapely.get_type_id(geoms) == 0
    per = "per demand point" if is_point.all() else "per cell"
    fc = _features(_round_geoms(geoms), tips)

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        return {
            "fillColor": palette[feature["properties"]["k"]],
            "fillOpacity": 0.6,
            "color": "#ffffff",
            "weight": 0.4,
            "opacity": 0.7,
            "radius": 9,
        }

    folium.GeoJson(
        fc,
        name=f"Demand, {unit} {per}",
        style_function=style,
        marker=folium.CircleMarker(radius=9) if is_point.all() else None,
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        smooth_factor=0.5,
    ).add_to(m)

    # uncovered demand: cells merged into one outline overlay
    unc = ~covered
    if unc.any():
        merged = (
            shapely.union_all(shapely.buffer(geoms[unc & ~is_point], 0))
            if (unc & ~is_point).any()
            else None
        )
        pts = geoms[unc & is_point]
        parts = [merged] if merged is not None and not merged.is_empty else []
        parts += [shapely.buffer(p, 0.004) for p in pts]
        label = "Demand not covered" + (f" within {limit:g} min" if limit else "")
        ugeoms = _round_geoms(parts, tolerance=1e-5)
        ufc = _features(ugeoms, [{} for _ in ugeoms])
        folium.GeoJson(
            ufc,
            name=label,
            style_function=lambda f: {
                "fillColor": UNCOVERED_COLOUR,
                "fillOpacity": 0.6,
                "color": UNCOVERED_COLOUR,
                "weight": 1.2,
                "opacity": 0.8,
            },
            # the CSS class fills the area with a diagonal hatch (see _Overlay), so the demand
            # colours underneath stay readable
            class_name="siting-hatch",
            interactive=False,  # hovering still reaches the cells' own tooltips underneath
        ).add_to(m)
    return {
        "unit": unit,
        "per": per,
        "breaks": breaks,
        "palette": palette,
        "uncovered": bool(unc.any()),
    }


def _cell_tip(v: float, s: float, c: bool, t: float, unit: str, limit: float | None) -> str:
    tip = f"<b>{fmt_num(v)} {unit}</b> demand"
    if c:
        if math.isfinite(s):
            tip += f"<br>{fmt_share(s)} served"
        if math.isfinite(t):
            tip += f"<br>nearest chosen site {t:.1f} min"
    else:
        tip += "<br>not covered" + (f" within {limit:g} min" if limit else "")
    return tip


def _field(row: Any, key: str) -> Any:
    """A field of an itertuples row or a pandas Series (whose ``.name`` is its index label)."""
    if isinstance(row, pd.Series):
        return row.get(key)
    return getattr(row, key, None)


def _site_label(row: Any) -> str:
    for key in ("name", "source", "site_id"):
        v = _field(row, key)
        if v is not None and not (isinstance(v, float) and math.isnan(v)) and str(v).strip():
            return str(v)
    return "site"


def _coords_text(lon: Any, lat: Any) -> str:
    """``39.9087° N, 116.3975° E`` ('' if unknown)."""
    x, y = _finite(lon), _finite(lat)
    if x is None or y is None:
        return ""
    return f"{abs(y):.5f}° {'N' if y >= 0 else 'S'}, {abs(x):.5f}° {'E' if x >= 0 else 'W'}"


def _osm_node(row: Any) -> str:
    """The OSM node id of a site on the embedded / OSM road graph ('' if not known)."""
    for key in ("osm_node", "node"):
        v = _finite(_field(row, key))
        if (
            v is not None
            and v > 0
            and str(_field(row, "source") or "").startswith(("generated", "osm"))
        ):
            return f"{v:.0f}"
    m = re.fullmatch(r"g(\d+)", str(_field(row, "site_id") or ""))
    return m.group(1) if m else ""


#: Optional per-site queueing fields (issue 9) shown when the plan has them: column → (label,
#: formatter).
QUEUE_FIELDS: dict[str, tuple[str, Any]] = {
    "plugs_new": ("New plugs", lambda v: f"{v:.0f}"),
    "plugs_existing": ("Existing plugs", lambda v: f"{v:.0f}"),
    "peak_arrivals_per_h": ("Peak arrivals", lambda v: f"{fmt_num(v)} vehicles/h"),
    "service_min": ("Mean charging time", lambda v: f"{fmt_num(v)} min"),
    "p_wait": ("Chance of waiting (peak)", fmt_share),
    "mean_wait_min": ("Mean wait (peak)", lambda v: f"{fmt_num(v)} min"),
    "connection_kw": ("Grid connection used", lambda v: f"{v:,.0f} kW"),
    "connection_kw_max": ("Grid connection available", lambda v: f"{v:,.0f} kW"),
}


def _queue_rows(row: Any) -> list[tuple[str, str]]:
    rows = []
    for col, (label, fmt) in QUEUE_FIELDS.items():
        v = _finite(_field(row, col))
        if v is not None:
            rows.append((label, fmt(v)))
    return rows


def _site_rows(row: Any, kind: str, unit: str) -> list[tuple[str, str]]:
    """The popup's figures of one site (HTML-safe values), those of its demand kinds only:
    plugs and kWh/day for area charging, trips and vehicles/day for trip flows, kg/day for
    hydrogen stations; a figure the plan does not have is left out, not shown as 0."""
    rows: list[tuple[str, str]] = [("Kind", esc(KIND_LABELS.get(kind, kind)))]
    plugs = _finite(_field(row, "plugs"))
    cap = _finite(_field(row, "capacity_kw"))
    if kind == "hydrogen":
        rows.append(("Size", f"{fmt_num(_field(row, 'size_kg_per_day'))} kg/day"))
    if plugs is not None and (kind != "hydrogen" or plugs > 0):
        rows.append(("Plugs" if kind != "hydrogen" else "Dispensers", f"{plugs:.0f}"))
    if cap is not None and cap > 0:
        rows.append(("Capacity", f"{cap:,.0f} kW"))
    rows.append(("Cost", fmt_cny(_field(row, "cost_cny"))))
    trips = _finite(_field(row, "trips_served"))
    if trips is not None:
        rows.append(("Trips refuelled here", f"{fmt_num(trips)} O-D trips"))
    tflow = _finite(_field(row, "trip_flow_per_day"))
    if tflow is not None:
        rows.append(("Trip flow refuelled", f"{fmt_num(tflow)} vehicles/day"))
    fuel = _finite(_field(row, "trip_fuel_kg_per_day"))
    if fuel is not None:
        rows.append(("Fuel for trips", f"{fmt_num(fuel)} kg/day"))
    depot = _finite(_field(row, "node_demand_kg_per_day"))
    if depot is not None:
        rows.append(("Depot demand served", f"{fmt_num(depot)} kg/day"))
    served = _finite(_field(row, "demand_served"))
    if served is not None and ((fuel is None and depot is None) or kind != "hydrogen"):
        rows.append(("Demand served", f"{fmt_num(served)} {unit}"))
    elif served is not None:
        rows.append(("Hydrogen dispensed", f"{fmt_num(served)} kg/day"))
    t = _finite(_field(row, "max_travel_min"))
    if t is not None and trips is None:
        rows.append(("Farthest demand served", f"{t:.1f} min drive"))
    elif t is not None and (depot or 0) > 0:  # a corridor station: its depots' travel limit
        rows.append(("Depots served within", f"{t:.0f} min drive"))
    return rows + _queue_rows(row)


def _site_popup(row: Any, demand_unit: str) -> str:
    """Popup HTML of a chosen site: its name, district and coordinates, its figures, and the
    ids (site id, source, OSM node) as a detail at the bottom."""
    kind = str(_field(row, "kind"))
    unit = "kg/day" if kind == "hydrogen" else demand_unit or "kWh/day"
    where = [esc(_field(row, "district")), _coords_text(_field(row, "lon"), _field(row, "lat"))]
    if not where[1]:
        geom = _field(row, "geometry")
        if geom is not None and not getattr(geom, "is_empty", True):
            where[1] = _coords_text(geom.x, geom.y)
    sub = " · ".join(w for w in where if w)
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in _site_rows(row, kind, unit))
    ids = [f"site id {esc(_field(row, 'site_id'))}", f"source {esc(_field(row, 'source'))}"]
    node = _osm_node(row)
    if node:
        ids.append(f"OSM node {node}")
    return (
        f'<div class="siting-pop"><b class="siting-pop-name">{esc(_site_label(row))}</b>'
        f'<div class="siting-pop-where">{sub}</div><table>{body}</table>'
        f'<div class="siting-pop-ids">{" · ".join(ids)}</div></div>'
    )


def _size_caption(kg_per_day: Any) -> str:
    """Short size text under a hydrogen marker: ``500 kg/d``, ``1,000 kg/d`` ('' if unknown)."""
    k = _finite(kg_per_day)
    return "" if k is None else f"{fmt_num(k)} kg/d"


def _hydrogen_icon_html(size: float, caption: str) -> tuple[str, list[int], list[float]]:
    """Diamond labelled H₂ with ``caption`` (the station size) written under it.

    Returns the HTML, Leaflet's ``iconSize`` and ``iconAnchor`` (anchored at the diamond's
    centre, so the caption hangs below the site).
    """
    s = round(size)
    if not caption:
        return _icon_html("hydrogen", s, "H₂"), [s, s], [s / 2, s / 2]
    w = max(s, 8 * len(caption))
    h = s + 15
    x0 = (w - s) / 2
    pts = f"{x0 + s / 2},1 {x0 + s - 1},{s / 2} {x0 + s / 2},{s - 1} {x0 + 1},{s / 2}"
    fs = max(8, round(s * 0.45))
    html = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}"><polygon points="{pts}" fill="{HYDROGEN_COLOUR}" stroke="#000" '
        f'stroke-width="1.5"/><text x="50%" y="{s / 2}" dy="0.35em" text-anchor="middle" '
        f'font-family="Arial,Helvetica,sans-serif" font-weight="bold" font-size="{fs}" '
        f'fill="#000">H₂</text><text x="50%" y="{h - 3}" text-anchor="middle" '
        f'font-family="Arial,Helvetica,sans-serif" font-weight="bold" font-size="11" fill="#000" '
        f'stroke="#fff" stroke-width="3" paint-order="stroke">{esc(caption)}</text></svg>'
    )
    return html, [w, h], [w / 2, s / 2]


def _icon_html(kind: str, size: float, label: str) -> str:
    s = round(size)
    if kind == "hydrogen":
        h = s / 2
        pts = f"{h},1 {s - 1},{h} {h},{s - 1} 1,{h}"
        shape = (
            f'<polygon points="{pts}" fill="{HYDROGEN_COLOUR}" stroke="#000" stroke-width="1.5"/>'
        )
        text_colour = "#000"
    else:
        shape = (
            f'<circle cx="{s / 2}" cy="{s / 2}" r="{s / 2 - 1.5}" fill="{CHARGER_COLOUR}" '
            f'stroke="#fff" stroke-width="1.2"/>'
        )
        text_colour = "#fff"
    fs = max(8, round(s * 0.5))
    if kind != "hydrogen" and s < 13:
        label = ""  # too small to read: the popup and tooltip carry the number
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{s}" height="{s}" '
        f'viewBox="0 0 {s} {s}">{shape}<text x="50%" y="50%" dy="0.35em" '
        f'text-anchor="middle" font-family="Arial,Helvetica,sans-serif" font-weight="bold" '
        f'font-size="{fs}" fill="{text_colour}">{label}</text></svg>'
    )


def charger_marker_px(plugs: float) -> float:
    """Marker diameter (px) of a fast charger with ``plugs`` plugs (area grows with plugs)."""
    p = _finite(plugs) or 1.0
    # at least 15 px, so that the number of plugs is always readable
    return float(np.clip(8 + 2.4 * math.sqrt(max(p, 1.0)), 15, 24))


def hydrogen_marker_px(kg_per_day: float) -> float:
    """Marker width (px) of a hydrogen station of ``kg_per_day`` (area grows with size)."""
    k = _finite(kg_per_day) or 500.0
    return float(np.clip(8 + 30 * math.sqrt(max(k, 0.0) / 1000), 22, 50))


def _js_json(obj: Any) -> str:
    """JSON for a ``<script>`` block.

    ``</`` is escaped so that no data can close the script, and a ``{`` followed by ``{``, ``%``
    or ``#`` is written ``\\u007b``: Folium renders each script through Jinja a second time, where
    such pairs (possible in encoded polylines or names) would open a template tag. In compact JSON
    a structural ``{`` is always followed by ``"`` or ``}``, so only string contents change.
    """
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return re.sub(r"\{(?=[{%#])", r"\\u007b", text)


class _SitesLayer(folium.map.Layer):
    """One kind of chosen sites as a Leaflet.markercluster group (an overlay of the control)."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = siting.sitesLayer({{ this.spec }});
{% endmacro %}
"""
    )

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "SitesLayer"
        self.spec = _js_json(spec)


def _site_marker(row: Any, kind: str, demand_unit: str) -> dict[str, Any]:
    """Marker spec of one site for ``siting.sitesLayer``: icon HTML, size, popup, tooltip."""
    tip = f"{esc(_site_label(row))} · {esc(KIND_LABELS[kind].lower())}"
    if kind == "hydrogen":
        kg = _field(row, "size_kg_per_day")
        size = hydrogen_marker_px(kg)
        icon, box, anchor = _hydrogen_icon_html(size, _size_caption(kg))
        if _finite(kg) is not None:
            tip += f" · {fmt_num(kg)} kg/day"
    else:
        plugs = _finite(_field(row, "plugs"))
        size = charger_marker_px(plugs or 1)
        label = "" if plugs is None else f"{plugs:.0f}"
        icon, box = _icon_html(kind, size, label), [round(size), round(size)]
        anchor = [round(size) / 2, round(size) / 2]
        if plugs is not None:
            tip += f" · {plugs:.0f} plugs"
    geom = _field(row, "geometry")
    return {
        "lat": round(float(geom.y), _COORD_DECIMALS),
        "lon": round(float(geom.x), _COORD_DECIMALS),
        "html": icon,
        "size": box,
        "anchor": anchor,
        "popup": _site_popup(row, demand_unit),
        "tip": tip,
        "z": 1000 if kind == "hydrogen" else 0,
    }


def _add_sites(m: folium.Map, plan: Plan, demand_unit: str) -> dict[str, int]:
    """Chosen sites, one clustered layer per kind; returns the number of sites of each kind."""
    sites = _to_wgs84(plan.sites)
    counts: dict[str, int] = {}
    if sites is None:
        return counts
    for kind in ("hydrogen", "fast_charger"):
        sub = sites[(sites["kind"] == kind) & ~sites.geometry.is_empty]
        if len(sub) == 0:
            continue
        counts[kind] = len(sub)
        markers = [_site_marker(row, kind, demand_unit) for row in sub.itertuples(index=False)]
        # biggest first so that small markers stay clickable on top
        markers.sort(key=lambda f: -f["size"][0])
        colour = HYDROGEN_COLOUR if kind == "hydrogen" else CHARGER_COLOUR
        name = f"{'Hydrogen stations' if kind == 'hydrogen' else 'Fast chargers'} ({len(sub)})"
        spec = {"kind": kind, "colour": colour, "radius": 90 if kind == "hydrogen" else 45,
                "sites": markers}  # fmt: skip
        _SitesLayer(name, spec).add_to(m)
    return counts


def _add_candidates(m: folium.Map, plan: Plan) -> int:
    cands = _to_wgs84(plan.candidates)
    if cands is None:
        return 0
    if "chosen" in cands:
        cands = cands[~cands["chosen"].fillna(False).astype(bool)]
    if len(cands) == 0:
        return 0
    kinds = _col(cands, "kind", "")
    props = [
        {"tip": f"{esc(_site_label(r))} · candidate {esc(str(k).replace('_', ' '))}"}
        for r, k in zip(cands.itertuples(index=False), kinds, strict=True)
    ]
    fc = _features(_round_geoms(cands.geometry.to_numpy()), props)
    folium.GeoJson(
        fc,
        name=f"Candidate sites not chosen ({len(cands)})",
        show=False,
        marker=folium.CircleMarker(radius=2.5),
        style_function=lambda f: {
            "color": CANDIDATE_COLOUR,
            "fillColor": CANDIDATE_COLOUR,
            "fillOpacity": 0.9,
            "weight": 0,
            "radius": 2.5,
        },
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
    ).add_to(m)
    return len(cands)


def trip_line_px(flow: float, max_flow: float) -> float:
    """Line width (px) of a trip with ``flow`` vehicles/day when the largest has ``max_flow``."""
    f, mx = _finite(flow) or 0.0, _finite(max_flow) or 0.0
    return round(1.5 + 7.5 * math.sqrt(f / mx), 1) if mx > 0 else 2.0


def _stations_row(trips: pd.DataFrame, i: int) -> str:
    """Popup row naming the stations a refuelled trip uses ('' when unknown)."""
    if "stations" not in trips:
        return ""
    v = trips["stations"].iloc[i]
    if not isinstance(v, str) or not v.strip():
        return ""
    return f"<tr><th>Refuels at</th><td>{esc(v)}</td></tr>"


def trip_status(trips: pd.DataFrame) -> np.ndarray:
    """``refuelled`` / ``partly`` / ``not`` per trip: the ``refuel_status`` column, else from
    ``served_share`` (0..1), else from the ``refuelled`` flag."""
    if "refuel_status" in trips:
        return trips["refuel_status"].fillna("not").astype(str).to_numpy()
    if "served_share" in trips:
        v = pd.to_numeric(trips["served_share"], errors="coerce").fillna(0).to_numpy(float)
        return np.where(v >= 1 - 1e-6, "refuelled", np.where(v > 1e-6, "partly", "not"))
    ok = trips["refuelled"].fillna(False).astype(bool).to_numpy()
    return np.where(ok, "refuelled", "not")


def _trip_popup(trips: pd.DataFrame, i: int, head: str, flow: float, status: str) -> str:
    said = {"refuelled": "yes", "not": "no"}.get(status, "partly")
    if status == "partly" and "served_share" in trips:
        said += f" ({fmt_share(float(trips['served_share'].iloc[i]))} of its flow)"
    return (
        f'<div class="siting-pop"><b>{head}</b><table>'
        f"<tr><th>Flow</th><td>{fmt_num(flow)} vehicles/day</td></tr>"
        f"<tr><th>Refuelled</th><td>{said}</td></tr>{_stations_row(trips, i)}</table></div>"
    )


def _add_trips(m: folium.Map, plan: Plan) -> dict[str, Any] | None:
    trips = _to_wgs84(plan.trips)
    if trips is None:
        return None
    flow = pd.to_numeric(trips["flow_per_day"], errors="coerce").fillna(0).to_numpy(float)
    status = trip_status(trips)
    mx = float(flow.max()) if len(flow) else 0.0
    count = {k: int((status == k).sum()) for k in TRIP_STYLES}
    out = {"max_flow": mx, "refuelled": count["refuelled"], "partly": count["partly"],
           "not_refuelled": count["not"]}  # fmt: skip
    for key, (colour, dash, label) in TRIP_STYLES.items():
        sel = np.flatnonzero(status == key)
        if len(sel) == 0:
            continue
        sel = sel[np.argsort(-flow[sel], kind="stable")]  # widest drawn first (underneath)
        props = []
        for i in sel:
            head = f"{esc(trips['origin'].iloc[i])} → {esc(trips['destination'].iloc[i])}"
            props.append(
                {
                    "w": trip_line_px(flow[i], mx),
                    "tip": f"{head} · {fmt_num(flow[i])} vehicles/day",
                    "popup": _trip_popup(trips, i, head, flow[i], key),
                }
            )
        fc = _features(_round_geoms(trips.geometry.to_numpy()[sel], tolerance=1e-5), props)
        folium.GeoJson(
            fc,
            name=f"Trips {label} ({len(sel)})",
            style_function=lambda f, c=colour, dsh=dash: {
                "color": c,
                "weight": f["properties"]["w"],
                "opacity": 0.85,
                "dashArray": dsh,
                "lineCap": "round" if dsh is None else "butt",
            },
            popup=folium.GeoJsonPopup(fields=["popup"], labels=False),
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        ).add_to(m)
    return out


# ----------------------------------------------------------------------------- title and legend


class _Overlay(MacroElement):
    """Fixed-position HTML boxes (title, legend) and their CSS."""

    _template = Template(
        """
{% macro header(this, kwargs) %}
<style>
.siting-box{position:fixed;z-index:9999;background:rgba(255,255,255,.94);border-radius:6px;
 box-shadow:0 1px 5px rgba(0,0,0,.4);font:13px/1.35 Arial,Helvetica,sans-serif;color:#222}
.siting-title{top:10px;left:54px;padding:7px 14px;max-width:45%}
.siting-title h1{font-size:17px;margin:0 0 2px 0}
.siting-legend{bottom:24px;right:10px;padding:8px 11px;max-width:290px;overflow-y:auto}
.siting-legend h4{margin:6px 0 3px;font-size:13px}
.siting-legend h4:first-child{margin-top:0}
.siting-legend .row{display:flex;align-items:center;gap:7px;margin:2px 0}
.siting-legend .sw{width:18px;height:13px;border:1px solid #999;flex:none}
.siting-legend svg{flex:none}
.siting-legend .note{font-size:11px;color:#555;margin-top:6px}
.siting-icon{background:none;border:none}
path.siting-hatch{fill:url(#siting-hatch)}
.siting-icon svg{filter:drop-shadow(0 1px 2px rgba(0,0,0,.5))}
.siting-legend-head{font-weight:bold;cursor:pointer;user-select:none;margin-bottom:4px}
.siting-legend-head::after{content:" ▾";color:#777}
.siting-legend.siting-folded .siting-legend-head::after{content:" ▸"}
.siting-legend.siting-folded>*:not(.siting-legend-head){display:none}
.siting-legend.siting-folded .siting-legend-head{margin:0}
.siting-offline-only{display:none}
body.siting-offline-on .siting-offline-only{display:block}
</style>
{% endmacro %}
{% macro html(this, kwargs) %}
<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>
<pattern id="siting-hatch" width="7" height="7" patternUnits="userSpaceOnUse"
 patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="7" stroke="#222"
 stroke-width="2.2" stroke-opacity="0.75"/></pattern></defs></svg>
{{ this.body }}
{% endmacro %}
"""
    )

    def __init__(self, body: str) -> None:
        super().__init__()
        self._name = "SitingOverlay"
        self.body = body


class _Assets(MacroElement):
    """Leaflet.markercluster (vendored, MIT) and the project's map script, inlined in the header.

    Always inline (a few tens of kB), so that clustering, the offline base and the GCJ-02 shift
    work with no network whether Leaflet itself is inlined or loaded from the CDN.
    """

    _template = Template(
        """
{% macro header(this, kwargs) %}
<style>{{ this.css }}</style>
<style>
.siting-pop table{border-collapse:collapse;margin-top:4px}
.siting-pop th{text-align:left;font-weight:normal;color:#555;padding:1px 10px 1px 0;
 vertical-align:top}
.siting-pop td{padding:1px 0}
.siting-pop-name{font-size:14px}
.siting-pop-where{color:#444;font-size:12px;margin-top:1px}
.siting-pop-ids{color:#777;font-size:11px;margin-top:5px;border-top:1px solid #ddd;padding-top:3px}
#siting-road-name{position:fixed;left:10px;bottom:44px;z-index:9998;display:none;padding:3px 8px;
 background:rgba(255,255,255,.94);border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.35);
 font:12px/1.3 Arial,Helvetica,sans-serif;color:#222}
.leaflet-container.siting-offline{background:#f3f1ec}
.siting-base-label{background:none;border:none;white-space:nowrap;pointer-events:none}
.siting-base-label span{position:relative;left:-50%;top:-8px;display:inline-block;
 font:12px/1.2 Arial,Helvetica,sans-serif;color:#4a3b5c;text-shadow:0 0 2px #fff,0 0 2px #fff,
 0 0 3px #fff}
.siting-base-label-area span{font-size:13px;font-weight:bold;color:#6b5a80;letter-spacing:.3px}
.siting-base-label-town span{font-weight:bold;color:#222}
.siting-base-label-venue span,.siting-base-label-hub span,.siting-base-label-interchange span{
 font-size:11px;color:#444}
.siting-cluster{background:none;border:none}
.siting-icon{background:none;border:none}
</style>
<script>{{ this.js }}</script>
{% endmacro %}
{% macro html(this, kwargs) %}
<div id="siting-road-name"></div>
{% endmacro %}
"""
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "SitingAssets"
        js = (_CLUSTER_ASSETS / "leaflet.markercluster.js").read_text(encoding="utf-8")
        js += "\n" + _SITING_JS.read_text(encoding="utf-8")
        css = (_CLUSTER_ASSETS / "MarkerCluster.css").read_text(encoding="utf-8")
        if "</script" in js.lower() or "</style" in css.lower():  # pragma: no cover
            raise ValueError("vendored map scripts cannot be inlined safely")
        self.js, self.css = js, css


class _OfflineBase(folium.map.Layer):
    """The offline base layer (a radio button of the layer control) drawn from ``data/``."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = new siting.OfflineBase({{ this.data }});
{% endmacro %}
"""
    )

    def __init__(self, bounds: list[list[float]] | None) -> None:
        super().__init__(name=OFFLINE_BASE_NAME, overlay=False, control=True, show=False)
        self._name = "OfflineBase"
        try:
            context = basemap.offline_context(bounds)
        except Exception as exc:  # the map must still be written without its context
            logger.warning("map: offline base layer left empty (%s)", exc)
            context = {}
        self.data = _js_json(context)


class _Tianditu(folium.map.Layer):
    """Tianditu vector map + its annotation layer (Web Mercator, CGCS2000 ≈ WGS84)."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = L.layerGroup(["vec", "cva"].map(function (layer) {
  return L.tileLayer("https://t{s}.tianditu.gov.cn/" + layer + "_w/wmts?SERVICE=WMTS"
    + "&REQUEST=GetTile&VERSION=1.0.0&LAYER=" + layer + "&STYLE=default&TILEMATRIXSET=w"
    + "&FORMAT=tiles"
    + "&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=" + {{ this.key }},
    {subdomains: "01234567", maxZoom: 18, attribution: {{ this.attribution }}});
}));
{% endmacro %}
"""
    )

    def __init__(self, key: str) -> None:
        super().__init__(name=TIANDITU_NAME, overlay=False, control=True, show=False)
        self._name = "Tianditu"
        self.key = _js_json(key)
        self.attribution = _js_json(TIANDITU_ATTRIBUTION)


class _Init(MacroElement):
    """Runs ``siting.init`` once the layer control exists (fallback, GCJ-02 shift, legend)."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
siting.init({{ this._parent.get_name() }}, {{ this.control.get_name() }},
            {{ this.offline.get_name() }}, {{ this.bounds }});
{% endmacro %}
"""
    )

    def __init__(
        self,
        control: folium.LayerControl,
        offline: folium.map.Layer,
        bounds: list[list[float]] | None = None,
    ) -> None:
        super().__init__()
        self._name = "SitingInit"
        self.control, self.offline = control, offline
        self.bounds = _js_json(bounds)


class _MetricScale(MacroElement):
    """A metric-only scale bar (Leaflet's default shows miles too)."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
L.control.scale({imperial: false, maxWidth: 150}).addTo({{ this._parent.get_name() }});
{% endmacro %}
"""
    )


def _queue_legend_note(plan: Plan) -> str:
    """Legend text for the sites' queue and grid fields (issue 9 output contract)."""
    level = (plan.summary or {}).get("service_level") or {}
    target = ""
    if level.get("rule") == "p_wait":
        target = f" (plugs sized so that it is ≤ {fmt_num(level.get('alpha'), 2)})"
    elif level.get("rule") == "mean_wait":
        w = fmt_num(level.get("max_mean_wait_min"), 2)
        target = f" (plugs sized so that the mean wait is ≤ {w} min)"
    peak = level.get("peak_hour")
    when = f"; busiest hour overall {int(peak):02d}:00" if peak is not None else ""
    return (
        '<div class="note">Waiting, at each site\'s busiest hour (M/M/c queue): P(wait) = chance '
        f"that every plug is busy when a vehicle arrives{target}; mean wait in minutes; arrivals "
        f"per hour and minutes per session{when}. Plugs: new / already built; connection kW: "
        "plugs × rated kW used / allowed.</div>"
    )


def _legend_html(
    plan: Plan,
    demand: dict[str, Any] | None,
    sites: dict[str, int],
    n_cands: int,
    trips: dict[str, Any] | None,
) -> str:
    rows: list[str] = []
    if demand is not None:
        unit = demand["unit"]
        rows.append(f"<h4>Demand, {unit} {demand['per']}</h4>")
        edges = [0.0, *demand["breaks"]]
        for i, colour in enumerate(demand["palette"]):
            lo = edges[i] if i < len(edges) else None
            hi = demand["breaks"][i] if i < len(demand["breaks"]) else None
            if hi is None:
                text = f"≥ {fmt_num(lo, 2)}" if lo else "all"
            elif i == 0:
                text = f"&lt; {fmt_num(hi, 2)}"
            else:
                text = f"{fmt_num(lo, 2)} – {fmt_num(hi, 2)}"
            rows.append(
                f'<div class="row"><span class="sw" style="background:{colour};opacity:.8">'
                f"</span>{text}</div>"
            )
        if demand["uncovered"]:
            limit = _max_travel_min(plan)
            within = f" within {limit:g} min drive" if limit else ""
            rows.append(
                '<div class="row"><svg width="20" height="15"><rect x="0.5" y="0.5" width="19" '
                'height="14" fill="url(#siting-hatch)" stroke="#222"/></svg>'
                f"not covered{within}</div>"
            )
    if sites:
        rows.append("<h4>Chosen sites</h4>")
        if "fast_charger" in sites:
            rows.append(
                f'<div class="row">{_icon_html("fast_charger", 22, "6")}fast charger '
                "(number = plugs; size grows with plugs)</div>"
            )
        if "hydrogen" in sites:
            rows.append(f'<div class="row">{_hydrogen_sizes_html(plan)}</div>')
            rows.append('<div class="row">hydrogen station (size grows with kg/day; the capacity '
                        "is written under it)</div>")  # fmt: skip
        colour = CHARGER_COLOUR if "fast_charger" in sites else HYDROGEN_COLOUR
        rows.append(
            '<div class="row"><svg width="24" height="24"><circle cx="12" cy="12" r="9.5" '
            f'fill="#fff" stroke="{colour}" stroke-width="4"/><text x="50%" y="50%" dy="0.35em" '
            'text-anchor="middle" font-family="Arial" font-weight="bold" font-size="10" '
            f'fill="{colour}">12</text></svg>a group of nearby sites (the number is how many): '
            "zoom in or click to see them</div>"
        )
        kinds = plan_kinds(plan)
        what = ["plugs" if "fast_charger" in sites else "", "kg/day" if "hydrogen" in sites else "",
                "cost", "demand served" if kinds["area"] or kinds["depots"] else "",
                "trips refuelled" if kinds["trips"] else ""]  # fmt: skip
        rows.append(f'<div class="note">Click a site for its name, '
                    f"{', '.join(w for w in what if w)}.</div>")  # fmt: skip
        rows.append(_queue_legend_note(plan))
    if trips is not None:
        rows.append("<h4>Trips, width ∝ vehicles/day</h4>")
        if trips.get("refuelled"):
            rows.append(
                f'<div class="row"><svg width="30" height="10"><line x1="1" y1="5" x2="29" y2="5" '
                f'stroke="{REFUELLED_COLOUR}" stroke-width="4"/></svg>can refuel on the way</div>'
            )
        if trips.get("partly"):
            rows.append(
                f'<div class="row"><svg width="30" height="10"><line x1="1" y1="5" x2="29" '
                f'y2="5" stroke="{PARTLY_REFUELLED_COLOUR}" stroke-width="4" '
                'stroke-dasharray="2 4"/></svg>partly refuelled (station capacity serves only '
                "part of the trip's flow)</div>"
            )
        if trips.get("not_refuelled"):
            rows.append(
                f'<div class="row"><svg width="30" height="10"><line x1="1" y1="5" x2="29" y2="5" '
                f'stroke="{NOT_REFUELLED_COLOUR}" stroke-width="4" stroke-dasharray="7 4"/></svg>'
                "cannot refuel (not served)</div>"
            )
    if n_cands:
        rows.append(
            f'<div class="row"><svg width="18" height="10"><circle cx="9" cy="5" r="2.5" '
            f'fill="{CANDIDATE_COLOUR}"/></svg>candidate site not chosen (layer off by default)'
            "</div>"
        )
    rows.append(
        '<div class="siting-offline-only"><h4>Offline base (embedded data)</h4>'
        '<div class="row"><svg width="30" height="10"><line x1="1" y1="5" x2="29" y2="5" '
        'stroke="#c4553f" stroke-width="3"/></svg>expressway; trunk and primary roads lighter; '
        "minor roads appear as you zoom in (point at a road for its name)</div>"
        '<div class="row"><svg width="30" height="10"><line x1="1" y1="5" x2="29" y2="5" '
        'stroke="#7a6a8a" stroke-width="1.2" stroke-dasharray="6 4"/></svg>district / county '
        "boundary</div></div>"
    )
    blank = "Cells without demand are not drawn. " if demand and demand["per"] == "per cell" else ""
    rows.append(
        f'<div class="note">{blank}Travel times are by car on the road network. '
        "Road and site data © OpenStreetMap contributors (ODbL).</div>"
    )
    rows.insert(0, '<div class="siting-legend-head" title="fold / unfold">Legend</div>')
    return f'<div class="siting-box siting-legend">{"".join(rows)}</div>'


def _hydrogen_sizes_html(plan: Plan) -> str:
    """One legend symbol per hydrogen station size the plan builds (at most three)."""
    sizes = pd.to_numeric(_col(plan.sites, "size_kg_per_day"), errors="coerce").dropna()
    sizes = sorted(set(sizes[sizes > 0].round().tolist()))[:3] or [None]
    return "".join(
        _hydrogen_icon_html(hydrogen_marker_px(k if k else 500), _size_caption(k))[0] for k in sizes
    )


def _title_html(plan: Plan) -> str:
    return (
        '<div class="siting-box siting-title">'
        f"<h1>{esc(_scenario_name(plan))}</h1>{esc(title_line(plan))}</div>"
    )


# ----------------------------------------------------------------------------- map


def _bounds(plan: Plan) -> list[list[float]] | None:
    boxes = []
    for gdf in (plan.demand, plan.sites, plan.trips):
        g = _to_wgs84(gdf)
        if g is not None and not g.geometry.is_empty.all():
            boxes.append(g.total_bounds)
    if not boxes:
        return None
    b = np.vstack(boxes)
    w, s = np.nanmin(b[:, 0]), np.nanmin(b[:, 1])
    e, n = np.nanmax(b[:, 2]), np.nanmax(b[:, 3])
    if not np.isfinite([w, s, e, n]).all():
        return None
    return [[round(float(s), 6), round(float(w), 6)], [round(float(n), 6), round(float(e), 6)]]


def _add_base_layers(
    m: folium.Map, bounds: list[list[float]] | None, tianditu_key: str | None
) -> _OfflineBase:
    """Base layers: CARTO light (shown first), OpenStreetMap, Amap (GCJ-02), Tianditu (with a
    key), and the offline base drawn from the embedded data (chosen automatically when the
    online tiles do not load)."""
    folium.TileLayer(
        "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png",
        attr=CARTO_ATTRIBUTION,
        name="Basemap: light (CARTO)",
        subdomains="abcd",
        max_zoom=20,
    ).add_to(m)
    folium.TileLayer(
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        attr=OSM_ATTRIBUTION,
        name="Basemap: OpenStreetMap",
        max_zoom=19,
        show=False,
    ).add_to(m)
    folium.TileLayer(
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
        "&x={x}&y={y}&z={z}",
        attr=AMAP_ATTRIBUTION,
        name=AMAP_NAME,
        subdomains="1234",
        max_zoom=18,
        show=False,
        sitingCrs="GCJ-02",
    ).add_to(m)
    key = tianditu_key if tianditu_key is not None else os.environ.get(TIANDITU_KEY_ENV, "")
    if key.strip():
        _Tianditu(key.strip()).add_to(m)
    else:
        logger.info("map: no Tianditu base layer (set %s to the reviewer's own key)",
                    TIANDITU_KEY_ENV)  # fmt: skip
    offline = _OfflineBase(bounds)
    offline.add_to(m)
    return offline


def add_base_layers(
    m: folium.Map, bounds: list[list[float]] | None, *, tianditu_key: str | None = None
) -> folium.map.Layer:
    """Give any Folium map of this project the base layers of :func:`build_map`.

    Adds the inlined scripts (clustering, offline base, GCJ-02 shift), the online base layers
    and the offline base drawn from the embedded data for ``bounds`` (``[[south, west], [north,
    east]]``). Returns the offline base layer, to pass to :func:`finish_map` once the map's
    overlays are added.
    """
    m.options["maxZoom"], m.options["minZoom"] = 19, 3
    m.get_root().add_child(_Assets())
    return _add_base_layers(m, bounds, tianditu_key)


def finish_map(m: folium.Map, offline: folium.map.Layer) -> folium.LayerControl:
    """Add the layer control (expanded, top right), the automatic switch to the offline base
    when tiles cannot load, the GCJ-02 overlay shift and a metric scale bar."""
    control = folium.LayerControl(collapsed=False, position="topright")
    control.add_to(m)
    m.add_child(_Init(control, offline))
    m.add_child(_MetricScale())
    return control


def build_map(plan: Plan, *, tianditu_key: str | None = None) -> folium.Map:
    """Build the Folium map of a plan.

    Parameters
    ----------
    plan : siting.results.Plan
        A solved plan. Uses ``plan.demand`` (``kwh_per_day`` in kWh/day, ``covered``,
        ``served_share``, optional ``travel_min`` in minutes), ``plan.sites``, ``plan.candidates``
        (``chosen``), ``plan.trips`` (``flow_per_day`` in vehicles/day, ``refuelled``) and
        ``plan.summary`` (``scenario``, ``spent_cny``, ``demand_covered_share``,
        ``flow_refuelled_share``, ``max_travel_min``).

    tianditu_key : str, optional
        The reviewer's own Tianditu key; default the environment variable
        ``SITING_TIANDITU_KEY``. Without a key the Tianditu base layer is left out. The key is
        written into the page (so do not share a map made with a private key), never into the
        repository.

    Returns
    -------
    folium.Map
        Base layers: CARTO light, OpenStreetMap, Amap (GCJ-02: the overlays are shifted to
        GCJ-02 while it is shown), Tianditu (with a key) and the offline base drawn from the
        embedded data (chosen automatically when the online tiles cannot load). Overlays: demand
        choropleth, uncovered demand, candidate sites (hidden), trips, hydrogen stations, fast
        chargers (clustered when zoomed out); a layer control, a metric scale bar, a title box
        and a legend.
    """
    bounds = _bounds(plan)
    centre = (
        [round((bounds[0][0] + bounds[1][0]) / 2, 6), round((bounds[0][1] + bounds[1][1]) / 2, 6)]
        if bounds
        else list(BEIJING_CENTRE)
    )
    m = folium.Map(
        location=centre, zoom_start=11, tiles=None, zoom_snap=0.25, zoom_delta=0.5,
        minZoom=3, maxZoom=19,
    )  # fmt: skip
    # Only Leaflet is needed: no jQuery / Bootstrap / Font Awesome downloads.
    m.default_js = [js for js in m.default_js if js[0] == "leaflet"]
    m.default_css = [css for css in m.default_css if css[0] == "leaflet_css"]
    m.get_root().title = f"siting · {esc(_scenario_name(plan))}"
    m.get_root().add_child(_Assets())
    offline = _add_base_layers(m, bounds, tianditu_key)
    demand = _add_demand(m, plan)
    n_cands = _add_candidates(m, plan)
    trips = _add_trips(m, plan)
    _, unit = demand_column(plan.demand)
    counts = _add_sites(m, plan, unit)

    control = folium.LayerControl(collapsed=False, position="topright")
    control.add_to(m)
    m.add_child(_MetricScale())
    overlay = _title_html(plan) + _legend_html(plan, demand, counts, n_cands, trips)
    m.get_root().add_child(_Overlay(overlay))
    if bounds:
        # keep the data clear of the title (top) and of the layer control and legend (right)
        m.fit_bounds(bounds, padding_top_left=(20, 70), padding_bottom_right=(300, 20))
    # last: it refits the data around the laid-out title, control and legend
    m.add_child(_Init(control, offline, bounds))
    return m


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def inline_leaflet(page: str) -> str:
    """Replace the CDN Leaflet ``<script>``/``<link>`` of a Folium page by the vendored files.

    Parameters
    ----------
    page : str
        HTML from ``folium.Map.get_root().render()``.

    Returns
    -------
    str
        The page with Leaflet 1.9.3 JS and CSS inline (layer-control icons as data URIs).

    Raises
    ------
    FileNotFoundError
        The vendored files are not installed (``siting/_assets/leaflet``).
    """
    js = (_ASSETS / "leaflet.js").read_text(encoding="utf-8")
    css = (_ASSETS / "leaflet.css").read_text(encoding="utf-8")
    for name in ("layers.png", "layers-2x.png"):
        css = css.replace(f"url(images/{name})", f"url({_data_uri(_ASSETS / 'images' / name)})")
    if "</script" in js.lower() or "</style" in css.lower():  # pragma: no cover - never in 1.9.3
        raise ValueError("vendored Leaflet cannot be inlined safely")
    page, n_js = re.subn(
        r'<script src="[^"]*/leaflet(?:\.min)?\.js"></script>',
        lambda _: f"<script>{js}</script>",
        page,
        count=1,
    )
    page, n_css = re.subn(
        r'<link rel="stylesheet" href="[^"]*/leaflet(?:\.min)?\.css"\s*/?>',
        lambda _: f"<style>{css}</style>",
        page,
        count=1,
    )
    if not (n_js and n_css):
        logger.warning("inline_leaflet: Leaflet <script>/<link> not found; page left unchanged")
    return page


def write_map(plan: Plan, path: str | os.PathLike[str], *, inline_assets: bool = False) -> Path:
    """Write the plan's map as one HTML file.

    Parameters
    ----------
    plan : siting.results.Plan
        A solved plan.
    path : path-like
        Output file (e.g. ``maps/beijing/map.html``); written to a temporary file in the same
        folder, then renamed into place.
    inline_assets : bool, default False
        False: the page loads Leaflet 1.9.3 from the jsDelivr CDN (as Folium does) — a
        reviewer's browser normally has the network; about 0.2 MB smaller. True: the vendored
        Leaflet (``siting/_assets/leaflet``, BSD-2-Clause) is copied into the page so its data
        layers, popups, legend, title and offline base work with no network (only the online
        base layers need it). Falls back to the CDN, with a warning, if the vendored files are
        not installed.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    path = Path(path)
    page = build_map(plan).get_root().render()
    if inline_assets:
        try:
            page = inline_leaflet(page)
        except FileNotFoundError as exc:
            logger.warning("inline_assets: vendored Leaflet missing (%s); using the CDN", exc)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    logger.info("map written: %s (%.0f kB)", path, path.stat().st_size / 1e3)
    return path
