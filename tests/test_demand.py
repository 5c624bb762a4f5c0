"""Demand grid on the real Tiananmen extract: population and kWh conserved, proxy, fallbacks."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import h3
import numpy as np
import pytest
from shapely.geometry import box

from siting import network
from siting._errors import InputError
from siting.demand import build_demand, h3_cells, proxy_edges

EXTRACT = Path(__file__).parent / "data" / "beijing_extract" / "extract.graphml"
BBOX = (116.385, 39.898, 116.410, 39.918)


@pytest.fixture(scope="module")
def G():
    return network.load_network({"kind": "file", "path": EXTRACT})


def _districts(pops=(1000.0, 500.0)):
    """Two made-up halves of the extract (west, east) holding given populations."""
    w, s, e, n = BBOX
    mid = (w + e) / 2
    return gpd.GeoDataFrame(
        {"district_code": ["A", "B"], "district_en": ["West", "East"],
         "population_in_area": list(pops)},
        geometry=[box(w - 0.01, s - 0.01, mid, n + 0.01), box(mid, s - 0.01, e + 0.01, n + 0.01)],
        crs="EPSG:4326",
    )  # fmt: skip


def _seg(vehicles, kwh, share, scope="study_area"):
    return SimpleNamespace(
        vehicles=vehicles, kwh_per_vehicle_day=kwh, public_fast_share=share, scope=scope
    )


def test_cells_have_centres_inside_the_area():
    cells = h3_cells(box(*BBOX), 9)
    assert len(cells) > 20
    assert cells["cell"].is_unique
    assert box(*BBOX).contains(gpd.points_from_xy(cells.lon, cells.lat)).all()
    assert all(h3.get_resolution(c) == 9 for c in cells["cell"])


def test_population_and_energy_are_conserved_per_district(G):
    segs = {"taxi": _seg(100, 40.0, 0.5), "car": _seg(1000, 5.0, 0.2)}
    dem = build_demand(
        G, box(*BBOX), _districts(), segs, municipality_population=1, h3_resolution=9
    )
    by = dem.groupby("district_code")["population"].sum()
    assert by["A"] == pytest.approx(1000) and by["B"] == pytest.approx(500)
    assert dem["kwh_taxi"].sum() == pytest.approx(100 * 40 * 0.5)
    assert dem["kwh_car"].sum() == pytest.approx(1000 * 5 * 0.2)
    assert np.allclose(dem["kwh_per_day"], dem["kwh_taxi"] + dem["kwh_car"])
    # vehicles follow population
    share = dem["population"] / dem["population"].sum()
    assert np.allclose(dem["kwh_taxi"], 2000 * share)
    assert set(dem["node"]).issubset(set(G.nodes))


def test_population_follows_residential_road_length(G):
    dem = build_demand(G, box(*BBOX), _districts(), {"t": _seg(1, 1, 1)},
                       municipality_population=1, h3_resolution=9)  # fmt: skip
    pe = proxy_edges(G)
    cell = [h3.latlng_to_cell(la, lo, 9) for lo, la in zip(pe.lon, pe.lat, strict=True)]
    has_road = dem["cell"].isin(set(cell))
    assert (dem.loc[~has_road, "population"] == 0).all()
    assert (dem.loc[has_road, "population"] > 0).all()


def test_district_without_proxy_roads_falls_back_to_uniform_and_says_so(G, caplog):
    dem = build_demand(G, box(*BBOX), _districts(), {"t": _seg(1, 1, 1)},
                       municipality_population=1, h3_resolution=9, proxy="uniform")  # fmt: skip
    for code, pop in (("A", 1000), ("B", 500)):
        p = dem.loc[dem.district_code == code, "population"]
        assert np.allclose(p, pop / len(p))
    G2 = G.copy()
    for _, _, d in G2.edges(data=True):
        if d["highway"] in ("residential", "living_street"):
            d["highway"] = "tertiary"
    dem2 = build_demand(G2, box(*BBOX), _districts(), {"t": _seg(1, 1, 1)},
                        municipality_population=1, h3_resolution=9)  # fmt: skip
    assert "spread uniformly" in " ".join(dem2.attrs["notes"])
    assert "spread uniformly" in caplog.text


def test_municipal_fleet_is_scaled_by_the_area_population_share(G):
    dem = build_demand(G, box(*BBOX), _districts(), {"t": _seg(300, 10, 1, "municipality")},
                       municipality_population=15000, h3_resolution=9)  # fmt: skip
    assert dem["kwh_per_day"].sum() == pytest.approx(300 * (1500 / 15000) * 10)


def test_area_without_cells_is_an_input_error(G):
    with pytest.raises(InputError, match="no H3 cell"):
        build_demand(G, box(116.4, 39.9, 116.4001, 39.9001), _districts(), {"t": _seg(1, 1, 1)},
                     municipality_population=1, h3_resolution=6)  # fmt: skip
