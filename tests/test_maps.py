"""The Folium map writer: escaping, layers, legend, title, attribution, trips, offline assets."""

from __future__ import annotations

import json
import re

import folium
import numpy as np
import pytest
from _plan_fixtures import HOSTILE, charger_plan, hydrogen_plan

from siting import maps


@pytest.fixture(scope="module")
def cplan():
    return charger_plan()


@pytest.fixture(scope="module")
def hplan():
    return hydrogen_plan()


@pytest.fixture(scope="module")
def chtml(cplan):
    return maps.build_map(cplan).get_root().render()


@pytest.fixture(scope="module")
def hhtml(hplan):
    return maps.build_map(hplan).get_root().render()


def _geojson_layers(m: folium.Map) -> list[folium.GeoJson]:
    return [c for c in m._children.values() if isinstance(c, folium.GeoJson)]


def _site_layers(m: folium.Map) -> list:
    return [c for c in m._children.values() if isinstance(c, maps._SitesLayer)]


def _overlay_names(m: folium.Map) -> list[str]:
    return [c.layer_name for c in m._children.values()
            if isinstance(c, folium.map.Layer) and c.overlay and c.control]  # fmt: skip


def _only_escaped(page: str, needle: str = "alert(1)") -> bool:
    """Every occurrence of ``needle`` is preceded by an escaped ``<script>`` tag."""
    hits = [m.start() for m in re.finditer(re.escape(needle), page)]
    ok_prefixes = ("&lt;script&gt;", "\\u0026lt;script\\u0026gt;")
    return bool(hits) and all(page[:i].endswith(ok_prefixes) for i in hits)


def test_osm_name_with_script_tag_appears_only_escaped(chtml, hhtml):
    for page in (chtml, hhtml):
        assert HOSTILE not in page
        assert "<script>alert" not in page
        assert _only_escaped(page)


def test_hostile_scenario_name_is_escaped_in_title_and_page_title():
    plan = charger_plan(name='Beijing <img src=x onerror="alert(2)">')
    page = maps.build_map(plan).get_root().render()
    assert "<img src=x" not in page
    assert "<h1>Beijing &lt;img src=x onerror=&quot;alert(2)&quot;&gt;</h1>" in page
    assert "<title>siting · Beijing &lt;img" in page


def test_title_line_reads_budget_spent_and_covered_share(cplan):
    plan = charger_plan()
    plan.budget_cny = 50e6
    plan.summary.update(spent_cny=48.7e6, demand_covered_share=0.62)
    assert maps.title_line(plan) == (
        "Budget 50 M CNY · spent 48.7 M CNY · 62 % of charging demand covered"
    )


def test_title_shows_service_level_and_binding_limit_when_the_plan_has_them():
    plan = charger_plan()
    assert "service level" not in maps.title_line(plan)
    plan.summary.update(service_level={"rule": "p_wait", "alpha": 0.2, "peak_hour": 23},
                        binding_limit="budget")  # fmt: skip
    assert maps.title_line(plan).endswith(
        "· plugs sized for P(wait) ≤ 0.2 at the peak · limited by budget"
    )
    page = maps.build_map(plan).get_root().render()
    assert "P(wait) ≤ 0.2 at the peak · limited by budget" in page
    plan.summary.update(service_level={"rule": "mean_wait", "max_mean_wait_min": 5.0})
    assert "plugs sized for a mean wait ≤ 5 min" in maps.title_line(plan)


def test_trip_flow_charger_plan_reads_in_trips_not_demand_or_kilograms():
    # the intercity BEV case: chargers on a corridor, trip flows only (no cells, no depots)
    plan = hydrogen_plan()
    plan.sites = plan.sites.assign(kind="fast_charger", plugs=4.0, capacity_kw=480.0,
                                   size_kg_per_day=np.nan, trip_fuel_kg_per_day=np.nan,
                                   node_demand_kg_per_day=np.nan, demand_served=np.nan,
                                   max_travel_min=np.nan, trip_flow_per_day=120.0)  # fmt: skip
    plan.demand = plan.demand.iloc[:0]
    plan.summary.update(demand_covered_share=None, flow_refuelled_share=0.97,
                        hydrogen_node_demand_served_share=None, max_travel_min=None)  # fmt: skip
    plan.summary.pop("demand_kwh_per_day", None)
    line = maps.title_line(plan)
    assert line.endswith("97 % of trip flow refuelled") and "demand" not in line
    pop = maps._site_popup(plan.sites.iloc[0], "")
    assert "<th>Plugs</th><td>4</td>" in pop and "<th>Capacity</th><td>480 kW</td>" in pop
    assert "vehicles/day" in pop and "O-D trips" in pop
    assert "kg/day" not in pop and "kWh/day" not in pop and "Farthest" not in pop
    page = maps.build_map(plan).get_root().render()
    assert "Demand, " not in page and "not covered within" not in page


def test_title_line_adds_flow_share_and_non_optimal_status(hplan):
    plan = hydrogen_plan()
    plan.summary.update(flow_refuelled_share=0.5, status="time_limit")
    line = maps.title_line(plan)
    assert "50 % of trip flow refuelled" in line
    assert line.endswith("status time_limit")


@pytest.mark.parametrize(
    ("value", "text"),
    [(50e6, "50 M CNY"), (48.7e6, "48.7 M CNY"), (1_234_567, "1.2 M CNY"), (2.5e9, "2.5 B CNY"),
     (350_000, "350 k CNY"), (820, "820 CNY"), (float("nan"), "—"), (None, "—")],
)  # fmt: skip
def test_money_is_formatted_for_people(value, text):
    assert maps.fmt_cny(value) == text


def test_layer_control_lists_every_group_and_candidates_start_hidden(cplan, chtml):
    m = maps.build_map(cplan)
    layers = {g.layer_name: g for g in _geojson_layers(m)}
    cand = [g for name, g in layers.items() if name.startswith("Candidate sites")]
    assert len(cand) == 1 and cand[0].show is False
    assert "Fast chargers (3)" in _overlay_names(m)
    assert any(name.startswith("Demand not covered within 10 min") for name in layers)
    assert any(isinstance(c, folium.LayerControl) for c in m._children.values())
    for name in _overlay_names(m):
        assert json.dumps(name)[1:-1] in chtml


def test_one_layer_per_group_not_per_feature(cplan):
    m = maps.build_map(cplan)
    # demand, uncovered, candidates; fast chargers — however many cells and sites
    assert len(_geojson_layers(m)) == 3
    assert len(_site_layers(m)) == 1
    assert len(cplan.demand) > 100


def test_legend_has_units_and_symbols(chtml, hhtml):
    assert "siting-legend" in chtml
    assert "Demand, kWh/day per cell" in chtml
    assert "not covered within 10 min drive" in chtml
    assert "number = plugs" in chtml
    assert "size grows with kg/day" in hhtml
    assert "Trips, width ∝ vehicles/day" in hhtml


def test_osm_attribution_on_tiles_and_legend(cplan, chtml):
    m = maps.build_map(cplan)
    tiles = [c for c in m._children.values() if isinstance(c, folium.TileLayer)]
    osm = [t for t in tiles if "autonavi" not in t.tiles]
    assert len(osm) == 2 and len(tiles) == 3
    assert all("OpenStreetMap</a> contributors" in t.options["attribution"] for t in osm)
    amap = next(t for t in tiles if "autonavi" in t.tiles)
    assert "AutoNavi" in amap.options["attribution"]
    assert "OpenStreetMap\\u003c/a\\u003e contributors" in chtml  # as rendered into the page
    assert "© OpenStreetMap contributors (ODbL)" in chtml  # legend, visible without tiles


def test_site_popup_has_plugs_cost_demand_and_travel_time(cplan):
    row = next(cplan.sites.itertuples(index=False))
    pop = maps._site_popup(row, "kWh/day")
    assert "<th>Plugs</th><td>4</td>" in pop
    assert "<th>Capacity</th><td>480 kW</td>" in pop
    assert "<th>Cost</th><td>1.1 M CNY</td>" in pop
    assert "9,100 kWh/day" in pop
    assert "7.5 min drive" in pop


def test_site_popup_names_the_place_district_coordinates_and_keeps_the_ids():
    plan = charger_plan()
    site = plan.sites.iloc[0].copy()
    site["name"], site["district"] = "东三环中路 / 建国门外大街", "Chaoyang 朝阳区"
    site["site_id"], site["source"], site["node"] = "g25248785", "generated", 25248785
    pop = maps._site_popup(site, "kWh/day")
    assert '<b class="siting-pop-name">东三环中路 / 建国门外大街</b>' in pop
    assert "Chaoyang 朝阳区 · 39.91100° N, 116.37360° E" in pop
    assert "site id g25248785 · source generated · OSM node 25248785" in pop


def test_site_popup_shows_queueing_fields_only_when_present(cplan):
    row = cplan.sites.iloc[0].copy()
    assert "Chance of waiting" not in maps._site_popup(row, "kWh/day")
    row["p_wait"], row["mean_wait_min"], row["peak_arrivals_per_h"] = 0.12, 3.4, 9.0
    row["plugs_new"], row["plugs_existing"], row["connection_kw"] = 3, 1, 480.0
    pop = maps._site_popup(row, "kWh/day")
    assert "<th>Chance of waiting (peak)</th><td>12 %</td>" in pop
    assert "<th>Mean wait (peak)</th><td>3.4 min</td>" in pop
    assert "<th>Peak arrivals</th><td>9 vehicles/h</td>" in pop
    assert "<th>New plugs</th><td>3</td>" in pop and "<th>Existing plugs</th><td>1</td>" in pop
    assert "<th>Grid connection used</th><td>480 kW</td>" in pop


def test_hydrogen_popup_has_size_and_trips_served(hplan):
    h2 = hplan.sites[hplan.sites["kind"] == "hydrogen"]
    pop = maps._site_popup(next(h2.itertuples(index=False)), "kWh/day")
    assert "<th>Size</th><td>1,000 kg/day</td>" in pop
    assert "<th>Trips refuelled here</th><td>3 O-D trips</td>" in pop
    assert "820 kg/day" in pop  # hydrogen demand served in kg/day, not kWh/day
    assert "Hydrogen station" in pop


def test_nameless_site_is_labelled_by_its_osm_id(cplan):
    row = cplan.candidates[cplan.candidates["site_id"] == "c6"].iloc[0]
    assert maps._site_label(row) == "osm:123456789"


def test_hydrogen_plan_with_trips_renders_coloured_weighted_lines(hplan, hhtml):
    m = maps.build_map(hplan)
    names = _overlay_names(m)
    assert "Trips refuelled (3)" in names and "Trips not refuelled (1)" in names
    assert "Hydrogen stations (2)" in names and "Fast chargers (1)" in names
    assert maps.REFUELLED_COLOUR in hhtml and maps.NOT_REFUELLED_COLOUR in hhtml
    tips = [f["properties"]["tip"] for g in _geojson_layers(m) if g.layer_name.startswith("Trips")
            for f in g.data["features"]]  # fmt: skip
    assert "Beijing (Tiananmen) → Yanqing · 240 vehicles/day" in tips
    assert "&lt;script&gt;alert(1)&lt;/script&gt; → Chongli Taizicheng · 40 vehicles/day" in tips
    widths = [maps.trip_line_px(f, 240) for f in (12.5, 40, 85, 240)]
    assert widths == sorted(widths) and widths[-1] > 2.5 * widths[0]


def test_sites_are_clustered_per_kind_and_hydrogen_stays_on_top(hplan):
    m = maps.build_map(hplan)
    specs = {json.loads(layer.spec)["kind"]: json.loads(layer.spec) for layer in _site_layers(m)}
    assert set(specs) == {"hydrogen", "fast_charger"}
    assert len(specs["hydrogen"]["sites"]) == 2 and len(specs["fast_charger"]["sites"]) == 1
    assert all(f["z"] == 1000 for f in specs["hydrogen"]["sites"])
    sizes = [f["size"][0] for f in specs["hydrogen"]["sites"]]
    assert sizes == sorted(sizes, reverse=True)  # biggest first, small ones clickable on top
    assert "L.markerClusterGroup" in m.get_root().render()


def test_legend_lists_only_what_the_map_holds(cplan, hplan):
    charger = maps.build_map(cplan).get_root().render()
    assert "Trips, width" not in charger and "hydrogen station" not in charger
    plan = hydrogen_plan()
    plan.trips["refuelled"] = True
    page = maps.build_map(plan).get_root().render()
    assert "can refuel on the way" in page and "cannot refuel (not served)" not in page
    assert "1,000 kg/d" in page and "500 kg/d" in page  # the sizes the plan builds


def test_base_layers_offer_offline_amap_and_tianditu_only_with_a_key(cplan, monkeypatch):
    monkeypatch.delenv(maps.TIANDITU_KEY_ENV, raising=False)
    m = maps.build_map(cplan)
    bases = [c.layer_name for c in m._children.values()
             if isinstance(c, folium.map.Layer) and not c.overlay]  # fmt: skip
    assert bases == ["Basemap: light (CARTO)", "Basemap: OpenStreetMap", maps.AMAP_NAME,
                     maps.OFFLINE_BASE_NAME]  # fmt: skip
    page = m.get_root().render()
    assert "tianditu" not in page.lower() and '"sitingCrs": "GCJ-02"' in page
    monkeypatch.setenv(maps.TIANDITU_KEY_ENV, "reviewer-key-123")
    page = maps.build_map(cplan).get_root().render()
    assert json.dumps(maps.TIANDITU_NAME)[1:-1] in page and "reviewer-key-123" in page


def test_offline_base_holds_roads_and_districts_of_the_map_extent(cplan):
    m = maps.build_map(cplan)
    (base,) = [c for c in m._children.values() if isinstance(c, maps._OfflineBase)]
    data = json.loads(base.data.replace("\\u007b", "{"))
    classes = {c[0]: c[1] for c in data["roads"]["classes"]}
    assert classes["motorway"] == 0 and classes["residential"] >= 14  # minor roads zoomed in
    assert "东三环中路" in data["roads"]["names"]
    assert any(a[0] == "Dongcheng 东城区" for a in data["areas"])
    assert data["tiles"] == {}  # a city map: zoom-6 tiles would be useless at zoom 11
    assert "OpenStreetMap" in data["attribution"]


def test_regional_map_inlines_the_raster_tiles_under_its_data(hplan):
    m = maps.build_map(hplan)
    (base,) = [c for c in m._children.values() if isinstance(c, maps._OfflineBase)]
    tiles = json.loads(base.data.replace("\\u007b", "{"))["tiles"]
    assert sorted(tiles) == ["3/6/3", "4/13/6", "5/26/12", "6/52/24"]  # Beijing to Zhangjiakou
    assert all(v.startswith("data:image/png;base64,") for v in tiles.values())


def test_script_json_cannot_close_the_script_or_open_a_template_tag():
    text = maps._js_json({"a": "</script>{{x}}{%y%}{#z#}", "b": {}})
    assert "</" not in text and "{{" not in text and "{%" not in text and "{#" not in text
    assert json.loads(text) == {"a": "</script>{{x}}{%y%}{#z#}", "b": {}}
    assert maps.esc("{{7*7}}") == "&#123;&#123;7*7&#125;&#125;"


def test_marker_size_grows_with_plugs_and_kg_per_day():
    assert maps.charger_marker_px(2) < maps.charger_marker_px(12)
    assert maps.hydrogen_marker_px(500) < maps.hydrogen_marker_px(1000)


def test_bounds_fit_all_sites_and_trips(hplan):
    m = maps.build_map(hplan)
    fit = [c for c in m._children.values() if isinstance(c, folium.FitBounds)]
    (s, w), (n, e) = fit[0].bounds
    lon = np.concatenate([hplan.sites.geometry.x, hplan.trips.get_coordinates()["x"]])
    lat = np.concatenate([hplan.sites.geometry.y, hplan.trips.get_coordinates()["y"]])
    assert w <= lon.min() and e >= lon.max() and s <= lat.min() and n >= lat.max()


def test_coordinates_are_rounded_to_six_decimals(chtml):
    # lon/lat of Beijing with more than 6 decimals would look like 116.3975123 or 39.9087123
    assert not re.search(r"\b1[01]\d\.\d{7,}", chtml)
    assert not re.search(r"\b[34]\d\.\d{7,}", chtml)


def test_page_loads_only_leaflet_from_the_cdn_by_default(chtml):
    srcs = re.findall(r'<script src="([^"]+)"', chtml)
    assert srcs == ["https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"]
    assert "jquery" not in chtml.lower()


def test_inline_assets_make_the_map_self_contained(cplan, tmp_path):
    path = maps.write_map(cplan, tmp_path / "map.html", inline_assets=True)
    page = path.read_text(encoding="utf-8")
    assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', page)
    assert "Leaflet 1.9.3" in page and "data:image/png;base64," in page
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left


def test_plan_without_sites_still_renders_with_its_status(cplan):
    plan = charger_plan()
    plan.sites = plan.sites.iloc[:0]
    plan.demand["covered"] = False
    plan.summary.update(status="infeasible", spent_cny=0.0, demand_covered_share=0.0)
    page = maps.build_map(plan).get_root().render()
    assert "status infeasible" in page
    assert "Fast chargers" not in page
