"""Folium map of a plan: chosen sites, demand grid, coverage, candidates, trips, legend and title.

One writer for every kind of plan (fast chargers, hydrogen stations, both). The map holds:

- the demand grid as a choropleth (kWh/day per cell, ColorBrewer *YlGnBu*, quantile classes);
- the demand **not covered** within the scenario's travel-time limit: the uncovered cells merged
  into one dark, dashed-outline overlay (its own layer, on by default);
- chosen sites, one layer per kind: fast chargers as blue circles labelled with their number of
  plugs, hydrogen stations as orange diamonds labelled "H₂"; marker size grows with plugs or
  kg/day. Colours are from the Okabe–Ito colour-blind-safe palette and the two kinds also differ by
  shape. A click opens a popup (name or OSM id, kind, plugs, capacity, cost, demand served,
  farthest travel time served; for hydrogen also size in kg/day and trips served);
- candidate sites as small grey dots (layer off by default);
- trips (flow-refuelling plans) as lines whose width grows with vehicles/day: bluish green and
  solid when refuelled, orange and dotted when partly refuelled (some of the trip's flow, e.g.
  when station capacity runs short), vermillion and dashed when not;
- a layer control, a fixed legend with units, a title with the scenario name, budget, money spent
  and share of demand covered, and the OpenStreetMap attribution.

Every string that comes from the data (OSM names, ids, scenario name) is HTML-escaped before it
reaches a popup, tooltip, title or legend, so a name such as ``<script>`` shows as text.

Network use: like every Folium map, ``map.html`` loads Leaflet from the jsDelivr CDN and the
basemap tiles from OpenStreetMap / CARTO servers when opened, which a reviewer's browser normally
can reach. ``write_map(..., inline_assets=True)`` instead copies the vendored Leaflet 1.9.3
(``siting/_assets/leaflet``, BSD-2-Clause) into the file so the map's data layers work with no
network at all; only the basemap then stays blank.
"""

from __future__ import annotations

import base64
import html
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

#: Fallback map centre when a plan has no geometry at all (Tiananmen, lat/lon).
BEIJING_CENTRE = (39.9087, 116.3975)

KIND_LABELS = {"fast_charger": "Fast charger", "hydrogen": "Hydrogen station"}

_ASSETS = Path(__file__).with_name("_assets") / "leaflet"
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
    return html.escape(str(value), quote=True)


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


def title_line(plan: Plan) -> str:
    """Plain-text headline: ``Budget 50 M CNY · spent 48.7 M CNY · 62 % of demand covered``."""
    parts = [f"Budget {fmt_cny(plan.budget_cny)}", f"spent {fmt_cny(_spent(plan))}"]
    s = plan.summary
    h2 = _finite(s.get("hydrogen_node_demand_served_share"))
    charging = s.get("demand_kwh_per_day") is not None
    share = _covered_share(plan)
    if share is not None and (charging or h2 is None):
        what = "charging demand" if h2 is not None else "demand"
        parts.append(f"{fmt_share(share)} of {what} covered")
    flow = _flow_share(plan)
    if flow is not None:
        parts.append(f"{fmt_share(flow)} of trip flow refuelled")
    if h2 is not None:
        parts.append(f"{fmt_share(h2)} of hydrogen depot demand served")
    status = plan.summary.get("status") or getattr(plan.solution, "status", None)
    if status and status != "optimal":
        parts.append(f"status {status}")
    return " · ".join(parts)


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


def _site_popup(row: Any, demand_unit: str) -> str:
    kind = str(_field(row, "kind"))
    unit = "kg/day" if kind == "hydrogen" else demand_unit or "kWh/day"
    rows = [
        ("Kind", esc(KIND_LABELS.get(kind, kind))),
        ("Site id", esc(_field(row, "site_id"))),
        ("Source", esc(_field(row, "source"))),
    ]
    plugs = _finite(_field(row, "plugs"))
    cap = _finite(_field(row, "capacity_kw"))
    if kind == "hydrogen":
        rows.append(("Size", f"{fmt_num(_field(row, 'size_kg_per_day'))} kg/day"))
        trips = _finite(_field(row, "trips_served"))
        if trips is not None:
            rows.append(("Trips served", fmt_num(trips)))
        tflow = _finite(_field(row, "trip_flow_per_day"))
        if tflow is not None:
            rows.append(("Trip flow refuelled", f"{fmt_num(tflow)} vehicles/day"))
        fuel = _finite(_field(row, "trip_fuel_kg_per_day"))
        if fuel is not None:
            rows.append(("Fuel for trips", f"{fmt_num(fuel)} kg/day"))
        depot = _finite(_field(row, "node_demand_kg_per_day"))
        if depot is not None:
            rows.append(("Depot demand served", f"{fmt_num(depot)} kg/day"))
    if plugs is not None and (kind != "hydrogen" or plugs > 0):
        rows.append(("Plugs" if kind != "hydrogen" else "Dispensers", f"{plugs:.0f}"))
    if cap is not None and cap > 0:
        rows.append(("Capacity", f"{cap:,.0f} kW"))
    rows.append(("Cost", fmt_cny(_field(row, "cost_cny"))))
    rows.append(("Demand served", f"{fmt_num(_field(row, 'demand_served'))} {unit}"))
    t = _finite(_field(row, "max_travel_min"))
    rows.append(("Farthest demand served", "—" if t is None else f"{t:.1f} min drive"))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<div class="siting-pop"><b>{esc(_site_label(row))}</b><table>{body}</table></div>'


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
    return float(np.clip(6 + 2.2 * math.sqrt(max(p, 1.0)), 10, 20))


def hydrogen_marker_px(kg_per_day: float) -> float:
    """Marker width (px) of a hydrogen station of ``kg_per_day`` (area grows with size)."""
    k = _finite(kg_per_day) or 500.0
    return float(np.clip(8 + 30 * math.sqrt(max(k, 0.0) / 1000), 22, 50))


def _add_sites(m: folium.Map, plan: Plan, demand_unit: str) -> dict[str, int]:
    sites = _to_wgs84(plan.sites)
    counts: dict[str, int] = {}
    if sites is None:
        return counts
    for kind in ("hydrogen", "fast_charger"):
        sub = sites[sites["kind"] == kind]
        if len(sub) == 0:
            continue
        counts[kind] = len(sub)
        props, styles = [], []
        for row in sub.itertuples(index=False):
            tip = f"{esc(_site_label(row))} · {esc(KIND_LABELS[kind].lower())}"
            if kind == "hydrogen":
                kg = _field(row, "size_kg_per_day")
                size = hydrogen_marker_px(kg)
                html, box, anchor = _hydrogen_icon_html(size, _size_caption(kg))
                if _finite(kg) is not None:
                    tip += f" · {fmt_num(kg)} kg/day"
            else:
                plugs = _finite(_field(row, "plugs"))
                size = charger_marker_px(plugs or 1)
                label = "" if plugs is None else f"{plugs:.0f}"
                html, box = _icon_html(kind, size, label), [round(size), round(size)]
                anchor = [round(size) / 2, round(size) / 2]
                if plugs is not None:
                    tip += f" · {plugs:.0f} plugs"
            props.append({"popup": _site_popup(row, demand_unit), "tip": tip})
            styles.append({"html": html, "iconSize": box, "iconAnchor": anchor})
        # biggest first so that small markers stay clickable on top
        order = np.argsort([-s["iconSize"][0] for s in styles], kind="stable")
        geoms = _round_geoms(sub.geometry.to_numpy()[order])
        fc = _features(geoms, [props[i] for i in order])
        for f, i in zip(fc["features"], order, strict=True):
            f["properties"]["_s"] = int(i)
        name = f"{'Hydrogen stations' if kind == 'hydrogen' else 'Fast chargers'} ({len(sub)})"
        # hydrogen stations stay above the (many) chargers whatever their latitude
        z = 1000 if kind == "hydrogen" else 0
        folium.GeoJson(
            fc,
            name=name,
            marker=folium.Marker(icon=folium.DivIcon(class_name="siting-icon"), z_index_offset=z),
            style_function=lambda f, st=styles: st[f["properties"]["_s"]],
            popup=folium.GeoJsonPopup(fields=["popup"], labels=False, max_width=360),
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        ).add_to(m)
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
.siting-title{top:10px;left:50%;transform:translateX(-50%);padding:7px 14px;text-align:center;
 max-width:60%}
.siting-title h1{font-size:17px;margin:0 0 2px 0}
.siting-legend{bottom:24px;right:10px;padding:8px 11px;max-width:290px}
.siting-legend h4{margin:6px 0 3px;font-size:13px}
.siting-legend h4:first-child{margin-top:0}
.siting-legend .row{display:flex;align-items:center;gap:7px;margin:2px 0}
.siting-legend .sw{width:18px;height:13px;border:1px solid #999;flex:none}
.siting-legend svg{flex:none}
.siting-legend .note{font-size:11px;color:#555;margin-top:6px}
.siting-icon{background:none;border:none}
path.siting-hatch{fill:url(#siting-hatch)}
.siting-icon svg{filter:drop-shadow(0 1px 2px rgba(0,0,0,.5))}
.siting-pop table{border-collapse:collapse;margin-top:4px}
.siting-pop th{text-align:left;font-weight:normal;color:#555;padding:1px 10px 1px 0;
 vertical-align:top}
.siting-pop td{padding:1px 0}
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


class _MetricScale(MacroElement):
    """A metric-only scale bar (Leaflet's default shows miles too)."""

    _template = Template(
        """
{% macro script(this, kwargs) %}
L.control.scale({imperial: false, maxWidth: 150}).addTo({{ this._parent.get_name() }});
{% endmacro %}
"""
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
            rows.append(
                f'<div class="row">{_hydrogen_icon_html(hydrogen_marker_px(500), "500 kg/d")[0]}'
                f"{_hydrogen_icon_html(hydrogen_marker_px(1000), '1,000 kg/d')[0]}"
                "hydrogen station (size grows with kg/day; the capacity is written under it)</div>"
            )
        rows.append('<div class="note">Click a site for plugs, cost and demand served.</div>')
    if trips is not None:
        rows.append("<h4>Trips, width ∝ vehicles/day</h4>")
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
    blank = "Cells without demand are not drawn. " if demand and demand["per"] == "per cell" else ""
    rows.append(
        f'<div class="note">{blank}Travel times are by car on the road network. '
        "Road and site data © OpenStreetMap contributors (ODbL).</div>"
    )
    return f'<div class="siting-box siting-legend">{"".join(rows)}</div>'


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


def build_map(plan: Plan) -> folium.Map:
    """Build the Folium map of a plan.

    Parameters
    ----------
    plan : siting.results.Plan
        A solved plan. Uses ``plan.demand`` (``kwh_per_day`` in kWh/day, ``covered``,
        ``served_share``, optional ``travel_min`` in minutes), ``plan.sites``, ``plan.candidates``
        (``chosen``), ``plan.trips`` (``flow_per_day`` in vehicles/day, ``refuelled``) and
        ``plan.summary`` (``scenario``, ``spent_cny``, ``demand_covered_share``,
        ``flow_refuelled_share``, ``max_travel_min``).

    Returns
    -------
    folium.Map
        Layers: basemaps (CARTO light, OpenStreetMap), demand choropleth, uncovered demand,
        candidate sites (hidden), trips, hydrogen stations, fast chargers; a layer control, a
        scale bar, a title box and a legend. Opening the saved HTML loads Leaflet from a CDN and
        tiles from the tile servers (see the module docstring and :func:`write_map`).
    """
    bounds = _bounds(plan)
    centre = (
        [round((bounds[0][0] + bounds[1][0]) / 2, 6), round((bounds[0][1] + bounds[1][1]) / 2, 6)]
        if bounds
        else list(BEIJING_CENTRE)
    )
    m = folium.Map(location=centre, zoom_start=11, tiles=None, zoom_snap=0.25, zoom_delta=0.5)
    # Only Leaflet is needed: no jQuery / Bootstrap / Font Awesome downloads.
    m.default_js = [js for js in m.default_js if js[0] == "leaflet"]
    m.default_css = [css for css in m.default_css if css[0] == "leaflet_css"]
    m.get_root().title = f"siting · {esc(_scenario_name(plan))}"
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

    demand = _add_demand(m, plan)
    n_cands = _add_candidates(m, plan)
    trips = _add_trips(m, plan)
    _, unit = demand_column(plan.demand)
    counts = _add_sites(m, plan, unit)

    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    m.add_child(_MetricScale())
    overlay = _title_html(plan) + _legend_html(plan, demand, counts, n_cands, trips)
    m.get_root().add_child(_Overlay(overlay))
    if bounds:
        # keep the data clear of the title (top) and of the layer control and legend (right)
        m.fit_bounds(bounds, padding_top_left=(20, 70), padding_bottom_right=(300, 20))
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
        layers, popups, legend and title work with no network; basemap tiles still need the
        network and stay blank without it. Falls back to the CDN, with a warning, if the
        vendored files are not installed.

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
