"""Candidates: spacing on major roads, site files (CSV/GeoJSON, GCJ-02), statuses and costs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.spatial import cKDTree

from siting import network
from siting._errors import InputError
from siting.candidates import (
    build_candidates,
    gcj02_to_wgs84,
    read_site_file,
    road_candidates,
    wgs84_to_gcj02,
)

HERE = Path(__file__).parent / "data"
EXTRACT = HERE / "beijing_extract" / "extract.graphml"
SITES = HERE / "sites"
COSTS = {
    "fast_charger": SimpleNamespace(
        fixed_cost_cny=5e5, plug_cost_cny=4e4, plug_kw=120, kwh_per_plug_day=195, max_plugs=10
    )
}


@pytest.fixture(scope="module")
def G():
    return network.load_network({"kind": "file", "path": EXTRACT})


def _sf(name, **kw):
    base = dict(kind="fast_charger", status="optional", crs="WGS84", max_offset_m=1000.0)
    return SimpleNamespace(path=SITES / name, **{**base, **kw})


def test_generated_candidates_lie_on_the_chosen_roads_and_thin_with_spacing(G):
    classes = {"primary", "secondary"}
    dense = road_candidates(G, classes, 150)
    sparse = road_candidates(G, classes, 600)
    assert len(sparse) < len(dense)
    on_class = {n for u, v, d in G.edges(data=True) if d["highway"] in classes for n in (u, v)}
    assert set(sparse["node"]).issubset(on_class)
    # at most one point per 600 m square → no more points than squares, far apart on average
    xy = np.column_stack([sparse.lon * 85_000, sparse.lat * 111_000])
    d, _ = cKDTree(xy).query(xy, k=2)
    assert np.median(d[:, 1]) > 300


def test_intersections_option_prefers_junctions(G):
    c = road_candidates(G, {"primary", "secondary", "tertiary"}, 400, intersections=True)
    assert len(c) > 0


def test_gcj02_round_trip_and_offset_size_in_beijing():
    lon, lat = np.array([116.3975, 116.30]), np.array([39.9087, 40.05])
    glon, glat = wgs84_to_gcj02(lon, lat)
    # the GCJ-02 offset in Beijing is a few hundred metres (mostly eastwards)
    dx = (glon - lon) * 85_000
    dy = (glat - lat) * 111_000
    assert np.all((np.hypot(dx, dy) > 300) & (np.hypot(dx, dy) < 800))
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert np.allclose(wlon, lon, atol=1e-8) and np.allclose(wlat, lat, atol=1e-8)


def test_gcj02_site_file_is_converted_back_to_wgs84():
    a = read_site_file(SITES / "tiananmen_sites.csv")
    b = read_site_file(SITES / "tiananmen_sites_gcj02.csv", crs="GCJ-02")
    assert np.allclose(a.lon, b.lon, atol=1e-6) and np.allclose(a.lat, b.lat, atol=1e-6)


def test_csv_and_geojson_site_files_read_ids_statuses_and_plugs():
    a = read_site_file(SITES / "tiananmen_sites.csv")
    assert a["id"].tolist() == ["existing_1", "req_1", "opt_1"]
    assert a["status"].tolist()[:2] == ["built", "required"] and a["status"].isna().iloc[2]
    assert a["plugs"].tolist() == [4, 0, 0]
    g = read_site_file(SITES / "tiananmen_sites.geojson")
    assert g["id"].tolist() == ["gj_1", "gj_2"] and g["plugs"].tolist() == [2, 0]


def test_build_candidates_sets_costs_statuses_and_nodes(G):
    c = build_candidates(G, costs=COSTS, spacing_m=400, road_classes=["primary", "secondary"],
                         site_files=[_sf("tiananmen_sites.csv")], forbidden=["opt_1"])  # fmt: skip
    assert c["site_id"].is_unique
    row = c.set_index("site_id")
    assert row.loc["existing_1", "status"] == "built"
    assert row.loc["existing_1", "fixed_cost_cny"] == 0  # already built
    assert row.loc["existing_1", "existing_plugs"] == 4
    assert row.loc["existing_1", "source"] == "existing"
    assert row.loc["req_1", "status"] == "required"
    assert row.loc["opt_1", "status"] == "forbidden"
    assert row.loc["opt_1", "name"] == "<script>alert(1)</script>"  # kept raw; maps escape it
    gen = c[c.source == "generated"]
    assert (gen.fixed_cost_cny == 5e5).all() and (gen.plug_kw == 120).all()
    assert set(c["node"]).issubset(set(G.nodes))
    assert c.crs == "EPSG:4326"


def test_site_far_from_the_network_is_an_input_error(G):
    with pytest.raises(InputError, match=r"far_away.csv: row 1 .*from the nearest road"):
        build_candidates(G, costs=COSTS, spacing_m=0, site_files=[_sf("far_away.csv")])


def test_unknown_required_id_is_an_input_error(G):
    with pytest.raises(InputError, match=r"candidates\.required: no candidate site with id 'x'"):
        build_candidates(G, costs=COSTS, spacing_m=400, required=["x"])


def test_wgs84_file_far_off_the_roads_warns_about_gcj02(G, caplog):
    build_candidates(G, costs=COSTS, spacing_m=0, site_files=[_sf("road_nodes_gcj02.csv")])
    assert "GCJ-02" in caplog.text


def test_declared_gcj02_file_snaps_onto_the_roads(G):
    c = build_candidates(G, costs=COSTS, spacing_m=0,
                         site_files=[_sf("road_nodes_gcj02.csv", crs="GCJ-02")])  # fmt: skip
    assert c["snap_m"].max() < 1.0


# ----------------------------------------------------------------------------- place names


def _toy_graph():
    import networkx as nx

    G = nx.MultiDiGraph(crs="EPSG:4326")
    for n, (x, y) in enumerate([(116.40, 39.90), (116.41, 39.90), (116.42, 39.90),
                                (116.41, 39.91), (116.43, 39.90), (116.44, 39.90)]):  # fmt: skip
        G.add_node(n, x=x, y=y)
    edges = [
        (0, 1, {"name": "建国门外大街", "highway": "primary"}),
        (1, 2, {"name": "建国门外大街", "highway": "primary"}),
        (1, 3, {"name": "东三环中路", "highway": "trunk"}),
        (2, 4, {"name": "", "highway": "primary_link"}),
        (
            4,
            5,
            {
                "highway": "secondary",
                "name": ["光华路", "Guanghua Road"],
                "name:en": "Guanghua Road",
            },
        ),
    ]
    for u, v, d in edges:
        G.add_edge(u, v, **d)
        G.add_edge(v, u, **d)
    return G


def test_road_names_put_the_bigger_road_first_and_join_two():
    from siting.candidates import road_names

    names = road_names(_toy_graph(), [1, 0, 4, 5, 99])
    assert names[0] == "东三环中路 / 建国门外大街"  # trunk before primary
    assert names[1] == "建国门外大街 (near 东三环中路)"
    assert names[2] == "光华路 (Guanghua Road) (near 建国门外大街)"  # the slip road has no name
    assert names[3] == "光华路 (Guanghua Road) (near 建国门外大街)"
    assert names[4] == ""  # not in the graph


def test_node_on_unnamed_roads_is_named_after_the_roads_nearby():
    import networkx as nx

    from siting.candidates import road_names

    G = nx.MultiDiGraph()
    for n in range(4):
        G.add_node(n, x=116.4 + n / 100, y=39.9)
    G.add_edge(0, 1, highway="motorway_link", name="")
    G.add_edge(1, 2, highway="motorway", name="京通快速路")
    G.add_edge(3, 3, highway="trunk")
    assert road_names(G, [0, 3]) == ["near 京通快速路", "unnamed trunk"]


def test_district_names_in_beijing_and_zhangjiakou():
    from siting.candidates import district_names

    # Tiananmen, the Bird's Nest, Yanqing town, Taizicheng (Chongli), the sea
    lon = [116.3975, 116.3966, 115.985, 115.468, 121.0]
    lat = [39.9087, 39.9929, 40.4563, 40.901, 38.0]
    assert district_names(lon, lat) == [
        "Dongcheng 东城区", "Chaoyang 朝阳区", "Yanqing 延庆区", "Chongli", "",
    ]  # fmt: skip


def test_generated_candidates_are_named_after_their_roads_and_district(G):
    c = build_candidates(G, costs=COSTS, spacing_m=1000, road_classes=["primary", "trunk"])
    gen = c[c["source"] == "generated"]
    assert len(gen) > 3
    assert not gen["name"].str.contains("road node").any()
    assert (gen["name"].str.len() > 0).all()
    assert gen["district"].str.endswith("区").all()  # every site lies in a Beijing district


def test_gcj02_matches_an_independent_implementation_to_a_millimetre():
    import prcoords  # CC0 implementation from PyPI, used only here

    rng = np.random.default_rng(11)
    lon, lat = rng.uniform(114.0, 118.0, 200), rng.uniform(39.0, 41.5, 200)
    glon, glat = wgs84_to_gcj02(lon, lat)
    ref = np.array([tuple(prcoords.wgs_gcj((a, o))) for a, o in zip(lat, lon, strict=True)])
    dy = (glat - ref[:, 0]) * 111_320.0
    dx = (glon - ref[:, 1]) * 111_320.0 * np.cos(np.radians(lat))
    assert np.hypot(dx, dy).max() < 1e-3  # metres (the requirement is ≤ 1 m)
    # and the inverse returns the WGS84 points
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    assert np.abs(wlon - lon).max() < 1e-8 and np.abs(wlat - lat).max() < 1e-8
