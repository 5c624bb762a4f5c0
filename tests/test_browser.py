"""The maps in a real browser: headless Chromium (Debian's), network blocked, no skips.

``tests/install_browser.sh`` (run by the README's test command) installs chromium when it is
missing; without it these tests fail, they are never skipped. The shipped scenarios are run once
each (short solver time limit: a ``time_limit`` plan is as good a map as an optimal one) and their
``map.html`` and ``comparison.html`` opened as a reviewer would, with no network.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _browser import OfflinePage, base_only_png, launch, pixel_stats, wait_for_offline_base
from _plan_fixtures import charger_plan, hydrogen_plan

from siting import maps
from siting.candidates import wgs84_to_gcj02

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ["beijing_fast_charging", "jjj_intercity_fast_charging", "olympic_corridor_hydrogen"]


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # a missing piece fails, it is not skipped
        pytest.fail("playwright is not installed: pip install '.[test]'")
    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


@pytest.fixture(scope="module")
def fixture_maps(tmp_path_factory):
    d = tmp_path_factory.mktemp("maps")
    return {
        "charger": maps.write_map(charger_plan(), d / "c" / "map.html", inline_assets=True),
        "hydrogen": maps.write_map(hydrogen_plan(), d / "h" / "map.html", inline_assets=True),
    }


def _open(browser, path):
    pg = OfflinePage(browser, path)
    wait_for_offline_base(pg.page)
    return pg


def _assert_base_not_blank(frame, page):
    stats = pixel_stats(base_only_png(frame, page))
    # roads, boundaries and names: a blank grey page has one colour and nothing else
    assert stats["not_background_share"] > 0.03, stats
    assert stats["colours"] > 50, stats


# ----------------------------------------------------------------------------- fixture maps


def test_offline_base_is_chosen_when_tiles_cannot_load_and_is_not_blank(browser, fixture_maps):
    pg = _open(browser, fixture_maps["charger"])
    try:
        st = pg.page.evaluate("({base: siting.state.base, why: siting.state.autoSwitched})")
        assert st["base"] == maps.OFFLINE_BASE_NAME and st["why"]
        assert pg.page.is_checked(f"label:has-text('{maps.OFFLINE_BASE_NAME}') input")
        assert any("cartocdn.com" in u for u in pg.blocked)  # the online tiles were tried
        assert not any("cdn.jsdelivr" in u for u in pg.blocked)  # all scripts are inline
        assert pg.errors == []
        scale = pg.page.inner_text(".leaflet-control-scale")
        assert scale.strip().endswith(("m", "km")) and "mi" not in scale and "ft" not in scale
        _assert_base_not_blank(pg.page, pg.page)
    finally:
        pg.close()


def test_js_gcj02_shift_matches_the_python_converter_within_a_metre(browser, fixture_maps):
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(114.0, 118.5, 300), rng.uniform(38.5, 41.5, 300)
    pg = _open(browser, fixture_maps["charger"])
    try:
        js = np.array(pg.page.evaluate("pts => pts.map(p => siting.wgs2gcj(p[0], p[1]))",
                                       np.column_stack([lat, lon]).tolist()))  # fmt: skip
    finally:
        pg.close()
    glon, glat = wgs84_to_gcj02(lon, lat)
    d_m = np.hypot((js[:, 0] - glat) * 111_320, (js[:, 1] - glon) * 111_320 * np.cos(lat / 57.3))
    assert d_m.max() < 1.0
    assert np.hypot(glat - lat, glon - lon).min() * 111_320 > 100  # it does shift (~500 m)


_POSITIONS = """() => {
  const out = {sites: [], shapes: []};
  siting.state.overlays.forEach(l => {
    if (l instanceof L.MarkerClusterGroup) {
      l.getLayers().forEach(m => out.sites.push([m.getLatLng().lat, m.getLatLng().lng,
                                                 m.sitingSite.lat, m.sitingSite.lon]));
    } else if (l.eachLayer) {
      l.eachLayer(s => {
        if (s.getLatLngs) { let p = s.getLatLngs(); while (Array.isArray(p[0])) p = p[0];
                            out.shapes.push([p[0].lat, p[0].lng]); }
        else if (s.getLatLng) out.shapes.push([s.getLatLng().lat, s.getLatLng().lng]);
      });
    }
  });
  return out;
}"""


def test_amap_shifts_every_overlay_to_gcj02_and_switching_back_restores_wgs84(
    browser, fixture_maps
):
    pg = _open(browser, fixture_maps["hydrogen"])
    try:
        before = pg.page.evaluate(_POSITIONS)
        pg.page.click(f"label:has-text('{maps.AMAP_NAME}')")
        assert pg.page.evaluate("siting.state.mode") == "gcj"
        shifted = pg.page.evaluate(_POSITIONS)
        pg.page.click(f"label:has-text('{maps.OFFLINE_BASE_NAME}')")
        assert pg.page.evaluate("siting.state.mode") == "wgs"
        after = pg.page.evaluate(_POSITIONS)
        assert pg.errors == []
    finally:
        pg.close()
    s0, s1 = np.array(before["sites"]), np.array(shifted["sites"])
    assert len(s0) == 3 and np.allclose(s0[:, :2], s0[:, 2:], atol=1e-9)  # WGS84 at first
    glon, glat = wgs84_to_gcj02(s0[:, 3], s0[:, 2])
    assert np.abs(s1[:, 0] - glat).max() * 111_320 < 1.0
    assert np.abs(s1[:, 1] - glon).max() * 111_320 < 1.0
    c0, c1 = np.array(before["shapes"]), np.array(shifted["shapes"])
    assert len(c0) >= 30  # demand, uncovered area, candidates, trips
    glon, glat = wgs84_to_gcj02(c0[:, 1], c0[:, 0])
    assert np.abs(c1[:, 0] - glat).max() * 111_320 < 1.0
    assert np.abs(c1[:, 1] - glon).max() * 111_320 < 1.0
    assert np.array_equal(np.array(after["sites"]), s0)
    assert np.array_equal(np.array(after["shapes"]), c0)


def test_site_popup_opens_with_name_plugs_cost_and_clear_of_the_legend(browser, fixture_maps):
    pg = _open(browser, fixture_maps["charger"])
    try:
        page = pg.page
        # a site at the right, where the legend is: its popup must not open under the legend
        page.evaluate(
            """() => {
            const g = siting.state.overlays.find(l => l instanceof L.MarkerClusterGroup);
            const m = g.getLayers().sort((a, b) => b.getLatLng().lng - a.getLatLng().lng)[0];
            const map = siting.state.map;
            map.setView(m.getLatLng(), 16, {animate: false});
            map.panBy([520, 250], {animate: false});
            g.zoomToShowLayer(m, () => m.openPopup());
        }"""
        )
        page.wait_for_selector(".leaflet-popup-content", timeout=5000)
        page.wait_for_timeout(600)
        text = page.inner_text(".leaflet-popup-content")
        assert "Plugs" in text and "Cost" in text and "CNY" in text
        boxes = page.evaluate(
            """() => ['.leaflet-popup-content-wrapper', '.siting-legend',
                      '.leaflet-control-layers', '.siting-title'].map(s => {
                const e = document.querySelector(s); const r = e.getBoundingClientRect();
                const folded = e.classList.contains('siting-folded');
                return [r.left, r.top, r.right, r.bottom, folded];
            })"""
        )
        pop = boxes[0]
        for other in boxes[1:]:
            overlap = not (pop[2] <= other[0] or other[2] <= pop[0] or pop[3] <= other[1]
                           or other[3] <= pop[1])  # fmt: skip
            assert not overlap, (pop, other)
        assert pg.errors == []
    finally:
        pg.close()


def test_road_under_the_mouse_is_named(browser, fixture_maps):
    pg = _open(browser, fixture_maps["charger"])
    try:
        page = pg.page
        # a vertex of a named primary road, from the page's own data
        xy = page.evaluate(
            """() => {
            const map = siting.state.map;
            const r = siting.state.offline._roads.find(r => r.name && r.cls.minZoom === 0 &&
                map.getBounds().contains(r.pts[1]) && map.distance(r.pts[0], r.pts[1]) > 300);
            const a = map.latLngToContainerPoint(r.pts[0]);
            const b = map.latLngToContainerPoint(r.pts[1]);
            const p = a.add(b).divideBy(2);  // the middle of a long segment, away from junctions
            const box = map.getContainer().getBoundingClientRect();
            return [p.x + box.left, p.y + box.top, r.name];
        }"""
        )
        page.mouse.move(xy[0], xy[1] + 1)
        page.wait_for_timeout(200)
        assert page.is_visible("#siting-road-name")
        assert xy[2] in page.inner_text("#siting-road-name")
    finally:
        pg.close()


# ----------------------------------------------------------------------------- shipped scenarios


def _run_scenario(name: str, out: Path) -> tuple[Path, Path]:
    """map.html (short time limit) and comparison.html (two budgets) of a shipped scenario."""
    from siting import compare, plan, report
    from siting.scenario import load_scenario

    scn = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    scn.solver.time_limit_s = 8.0
    result = plan.run_scenario(scn)
    report.write_outputs(result, out / "run", inline_assets=True)
    budget = float(result.budget_cny)
    compare.compare(scn, [budget / 4, budget], out / "compare")
    return out / "run" / "map.html", out / "compare" / "comparison.html"


def _open_site_popup(frame, page) -> str:
    frame.evaluate(
        """() => {
        const map = siting.state.map;
        // the shown sites layer: a cluster group (plan map) or a GeoJSON layer whose popup is
        // bound to the layer (comparison map): a click on one of its markers opens it
        const g = siting.state.overlays.find(l => map.hasLayer(l) && l.getLayers &&
            (l instanceof L.MarkerClusterGroup || (l.getPopup && l.getPopup() &&
                                                    l.getLayers()[0].getLatLng)));
        const m = g.getLayers()[0];
        if (g instanceof L.MarkerClusterGroup) g.zoomToShowLayer(m, () => m.openPopup());
        else {
            map.setView(m.getLatLng(), 14, {animate: false});
            m.fire('click', {latlng: m.getLatLng()}, true);  // propagates to the layer
        }
    }"""
    )
    frame.wait_for_selector(".leaflet-popup-content", timeout=8000)
    return frame.inner_text(".leaflet-popup-content")


def _piled_up_share(frame) -> float:
    """Share of the visible site icons (sites and groups) that another icon of the same kind
    covers by half or more at the opening view: how much the labels pile up."""
    return frame.evaluate(
        """() => {
        // icons of one kind (co-located hydrogen stations and chargers may share a node)
        const icons = [...document.querySelectorAll('.leaflet-marker-icon.siting-icon')];
        const r = icons.map(e => Object.assign(e.getBoundingClientRect().toJSON(),
                                               {k: e.className.includes('hydrogen')}))
            .filter(b => b.width > 0);
        const piled = new Set();
        for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) {
            if (r[i].k !== r[j].k) continue;
            const w = Math.min(r[i].right, r[j].right) - Math.max(r[i].left, r[j].left);
            const h = Math.min(r[i].bottom, r[j].bottom) - Math.max(r[i].top, r[j].top);
            const small = Math.min(r[i].width * r[i].height, r[j].width * r[j].height);
            if (w > 0 && h > 0 && w * h >= 0.5 * small) { piled.add(i); piled.add(j); }
        }
        return r.length ? piled.size / r.length : 0;
    }"""
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", SCENARIOS)
def test_shipped_scenario_map_and_comparison_work_offline(browser, tmp_path, name):
    map_html, comparison_html = _run_scenario(name, tmp_path)

    pg = _open(browser, map_html)
    try:
        page = pg.page
        assert pg.errors == []
        assert page.evaluate("siting.state.base") == maps.OFFLINE_BASE_NAME
        page.wait_for_timeout(1000)  # cluster animations after the opening fit
        assert _piled_up_share(page) <= 0.1  # clustered: labels do not pile up
        text = _open_site_popup(page, page)
        assert "Cost" in text and "CNY" in text
        assert "Plugs" in text or "kg/day" in text
        assert "°" in text  # coordinates
        _assert_base_not_blank(page, page)
    finally:
        pg.close()

    pg = OfflinePage(browser, comparison_html)
    try:
        page = pg.page
        frame = next(f for f in page.frames if f != page.main_frame)
        wait_for_offline_base(frame)
        assert pg.errors == []
        assert frame.evaluate("siting.state.base") == maps.OFFLINE_BASE_NAME
        text = _open_site_popup(frame, page)
        assert "Cost" in text and "CNY" in text
        assert "Plugs" in text or "kg/day" in text
        headers = page.eval_on_selector_all("table.tbl th", "els => els.map(e => e.innerText)")
        assert headers and not any("_" in h for h in headers), headers  # words, not field names
        _assert_base_not_blank(frame, page)
    finally:
        pg.close()
    assert json.loads((tmp_path / "run" / "summary.json").read_text(encoding="utf-8"))
