"""Olympic-corridor skeleton data, graph, city join, live-OSM path (recorded) and trip tables."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from siting import corridor
from siting._errors import InputError

DATA = corridor.default_corridor_dir()
RECORDED = Path(__file__).parent / "data" / "corridor" / "overpass_g6_gateway.json"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any socket use in these tests is a failure."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted in a corridor test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(scope="module")
def tables():
    return corridor.read_corridor_tables(DATA)


@pytest.fixture(scope="module")
def G():
    return corridor.load_corridor(DATA)


def _gc(nodes: pd.DataFrame, links: pd.DataFrame) -> np.ndarray:
    n = nodes.set_index("node_id")
    a, b = n.loc[links["from"]], n.loc[links["to"]]
    return corridor.haversine_km(a["lat"].to_numpy(), a["lon"].to_numpy(), b["lat"], b["lon"])


# ---------------------------------------------------------------------------------- data files
def test_every_node_has_a_coordinate_source_and_approximations_say_so(tables):
    nodes, _ = tables
    assert nodes["coord_source"].str.len().min() > 10
    # nodes whose source is not a published coordinate must say APPROXIMATE/approximate
    unsourced = nodes["coord_source"].str.startswith("approximate")
    assert nodes.loc[unsourced, "coord_note"].str.contains("APPROXIMATE").all()
    assert set(nodes["kind"]) <= corridor.NODE_KINDS
    assert set(nodes["cluster"]) == {"Beijing", "Yanqing", "Zhangjiakou"}


def test_every_link_has_a_length_source_and_a_speed_source(tables):
    _, links = tables
    assert (links["length_source"].str.len() > 10).all()
    assert (links["speed_source"].str.len() > 10).all()


def test_no_link_is_shorter_than_the_great_circle_between_its_ends(tables):
    nodes, links = tables
    gc = _gc(nodes, links)
    short = links.loc[links["length_km"].to_numpy() < gc - 1e-6, ["from", "to", "length_km"]]
    assert short.empty, short


def test_derived_lengths_are_great_circle_times_the_stated_factor(tables):
    nodes, links = tables
    derived = links["length_source"].str.startswith(
        f"derived: great-circle × {corridor.DETOUR_FACTOR}"
    )
    assert derived.any()
    gc = _gc(nodes, links)[derived.to_numpy()]
    np.testing.assert_allclose(
        links.loc[derived, "length_km"], gc * corridor.DETOUR_FACTOR, atol=0.006
    )


@pytest.mark.parametrize(("prefix", "sourced_km"), [("Xingyan", 42.2), ("Yanchong", 116.0)])
def test_xingyan_and_yanchong_totals_match_the_sourced_lengths(tables, prefix, sourced_km):
    _, links = tables
    total = links.loc[links["road"].str.startswith(prefix), "length_km"].sum()
    assert total == pytest.approx(sourced_km, rel=0.05)


def test_gateway_lies_in_the_central_osm_bbox(G):
    assert corridor.gateway_nodes(G) == ["gw_g6"]


def test_missing_node_in_links_is_an_input_error(tmp_path, tables):
    nodes, links = tables
    nodes.to_csv(tmp_path / "nodes.csv", index=False)
    bad = links.copy()
    bad.loc[0, "to"] = "nowhere"
    bad.to_csv(tmp_path / "links.csv", index=False)
    with pytest.raises(InputError, match="nowhere"):
        corridor.load_corridor(tmp_path)


# ---------------------------------------------------------------------------------- graph
def test_graph_follows_the_project_contract_and_is_strongly_connected(G):
    assert G.graph["crs"] == "EPSG:4326"
    assert nx.is_strongly_connected(G)
    for _, d in G.nodes(data=True):
        assert {"x", "y", "name", "kind", "cluster"} <= d.keys()
    for _, _, d in G.edges(data=True):
        assert d["length"] > 0 and d["speed_kph"] > 0
        assert d["travel_time"] == pytest.approx(d["length"] / (d["speed_kph"] / 3.6))
        assert d["osmid"].startswith("corridor:")
        assert d["highway"] in ("motorway", "unclassified")


def test_join_with_city_connects_gateways_both_ways():
    city = nx.MultiDiGraph(crs="EPSG:4326")
    city.add_node(1, x=116.30, y=40.00)
    city.add_node(2, x=116.2921, y=40.0930)  # about 50 m from the G6 gateway
    city.add_edge(1, 2, length=10_000.0, speed_kph=50.0, travel_time=720.0)
    city.add_edge(2, 1, length=10_000.0, speed_kph=50.0, travel_time=720.0)
    H = corridor.join_with_city(corridor.load_corridor(DATA), city)
    assert H.has_edge("gw_g6", 2) and H.has_edge(2, "gw_g6")
    assert not H.has_edge("gw_g6", 1)
    assert nx.has_path(H, 1, "zjk_ski_jumping") and nx.has_path(H, "yq_alpine", 1)
    (d,) = H.get_edge_data("gw_g6", 2).values()
    assert 10 < d["length"] < 100


def test_join_with_city_refuses_a_far_away_city():
    city = nx.MultiDiGraph(crs="EPSG:4326")
    city.add_node(1, x=121.47, y=31.23)  # Shanghai
    with pytest.raises(InputError, match="gw_g6"):
        corridor.join_with_city(corridor.load_corridor(DATA), city)


# ---------------------------------------------------------------------------------- paths
def _diamond(lengths: dict) -> nx.MultiDiGraph:
    g = nx.MultiDiGraph()
    for (u, v), w in lengths.items():
        g.add_edge(u, v, length=w)
    return g


def test_equal_shortest_paths_break_ties_by_smallest_node_sequence():
    g = _diamond({("s", "c"): 1.0, ("c", "t"): 1.0, ("s", "b"): 1.0, ("b", "t"): 1.0})
    assert corridor.shortest_path_lex(g, "s", "t") == ["s", "b", "t"]
    g.add_edge("s", "a", length=0.5)  # a longer route through a smaller id must not win
    g.add_edge("a", "t", length=1.6)
    assert corridor.shortest_path_lex(g, "s", "t") == ["s", "b", "t"]
    g.add_edge("a", "t", length=1.4)  # now strictly shorter (parallel edge): wins
    assert corridor.shortest_path_lex(g, "s", "t") == ["s", "a", "t"]


def test_path_arcs_are_km_and_sum_to_the_path_length(G):
    p = corridor.shortest_path_lex(G, "bj_north_station", "zjk_ski_jumping")
    arcs = corridor.path_arcs(G, p)
    assert p[0] == "bj_north_station" and p[-1] == "zjk_ski_jumping"
    assert len(arcs) == len(p) - 1
    assert arcs.sum() == pytest.approx(
        nx.shortest_path_length(G, p[0], p[-1], weight="length") / 1000
    )


# ---------------------------------------------------------------------------------- gravity
def test_gravity_is_symmetric_hits_the_total_and_has_zero_diagonal():
    ids = ["a", "b", "c"]
    cost = np.array([[0, 10, 30], [10, 0, 20], [30, 20, 0]], float)
    m = np.array([100.0, 50.0, 10.0])
    t = corridor.gravity_trips(ids, ids, mass_o=m, mass_d=m, cost=cost, beta=0.05, total_flow=900)
    assert t["flow_per_day"].sum() == pytest.approx(900)
    assert not (t["origin"] == t["destination"]).any()
    f = t.set_index(["origin", "destination"])["flow_per_day"]
    for (o, d), v in f.items():
        assert f[(d, o)] == pytest.approx(v)
    # deterrence: a-b (10 km) gets more than a-c (30 km) beyond the mass ratio
    assert f[("a", "b")] / f[("a", "c")] == pytest.approx(5 * np.exp(0.05 * 20))


def test_gravity_rejects_a_cost_matrix_of_the_wrong_shape():
    with pytest.raises(InputError, match="cost"):
        corridor.gravity_trips(
            ["a", "b"], ["a", "b"], mass_o=[1, 1], mass_d=[1, 1], cost=np.zeros((2, 3)),
            beta=0.1, total_flow=1,
        )  # fmt: skip


# ---------------------------------------------------------------------------------- trips
def test_trip_table_totals_paths_and_basis(G):
    t = corridor.build_trip_table(G)
    oly = t[t["segment"] == "olympic"]
    assert oly["flow_per_day"].sum() == pytest.approx(corridor.OLYMPIC_FCEV_TOTAL)
    assert set(t["segment"]) == {"olympic", "logistics"}
    assert t["basis"].str.contains("gravity").all()
    lg = t[t["segment"] == "logistics"]
    assert 0 < lg["flow_per_day"].sum() < corridor.LOGISTICS_FCEV_TOTAL
    assert (lg["origin_node"] != lg["destination_node"]).all()
    for r in t.sample(20, random_state=0).itertuples():
        assert r.path[0] == r.origin_node and r.path[-1] == r.destination_node
        assert corridor.path_arcs(G, r.path).sum() == pytest.approx(r.path_km)


# ---------------------------------------------------------------------------------- live OSM
def test_corridor_from_osm_builds_from_a_recorded_overpass_response(monkeypatch):
    import osmnx as ox

    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    calls = []

    def fake_download(polygon, network_type, custom_filter):
        calls.append(custom_filter)
        yield recorded

    monkeypatch.setattr(ox._overpass, "_download_overpass_network", fake_download)
    G = corridor.corridor_from_osm(corridor.load_corridor(DATA))
    assert calls == [corridor.CORRIDOR_FILTER]
    assert G.number_of_edges() > 0
    assert {d["highway"] for _, _, d in G.edges(data=True)} == {"motorway"}
    assert all(d["speed_kph"] == 100.0 and d["travel_time"] > 0 for *_, d in G.edges(data=True))
    node, km = G.graph["skeleton_snap"]["gw_g6"]
    # 280038804 itself is an interstitial node that simplification removes; its ramp neighbour
    # (about 60 m away) remains
    assert node in (280038804, 280038855) and km < 0.1
    assert G.nodes[node]["corridor_node"] == "gw_g6"
    assert "zjk_city" not in G.graph["skeleton_snap"]  # 170 km away from the recorded area
