"""Road graph as tables: the same arrays, candidates, proxy and travel times as the graph."""

from pathlib import Path

import numpy as np
import pandas as pd

from siting import candidates, demand, network, road_tables, travel

EXTRACT = Path(__file__).parent / "data" / "beijing_extract" / "extract.graphml"


def _tables(G):
    nodes = pd.DataFrame(
        [(n, d["x"], d["y"]) for n, d in G.nodes(data=True)], columns=["osmid", "x", "y"]
    )
    edges = pd.DataFrame(
        [(u, v, d["highway"], d["length"]) for u, v, d in G.edges(data=True)],
        columns=["u", "v", "highway", "length"],
    )
    return road_tables.from_frames(nodes, edges, largest_component=False)


def _graph():
    G = network.load_network({"kind": "file", "path": EXTRACT})
    for _, _, d in G.edges(data=True):  # class speeds, as the table path sets them
        kph = network.DEFAULT_SPEEDS_KPH.get(d["highway"], network.FALLBACK_SPEED_KPH)
        d["travel_time"] = d["length"] / (kph / 3.6)
    return G


def test_tables_give_the_graphs_arrays_and_travel_times():
    G = _graph()
    t = _tables(G)
    assert len(t) == len(G) and t.number_of_edges() == G.number_of_edges()
    a, b = network.graph_arrays(G), road_tables.graph_arrays(t)
    order_a, order_b = np.argsort(a.node_ids), np.argsort(b.node_ids)
    ma = a.matrix[order_a][:, order_a]
    mb = b.matrix[order_b][:, order_b]
    assert abs(ma - mb).max() == 0  # float64 travel times, computed as the graph path does
    nodes = np.array(list(G.nodes))
    ta = travel.travel_times(G, nodes, nodes[:40], 4.0)
    tb = travel.travel_times(t, nodes, nodes[:40], 4.0)
    assert (ta.indptr == tb.indptr).all() and (ta.data == tb.data).all()


def test_tables_give_the_same_candidates_and_proxy_edges():
    G = _graph()
    t = _tables(G)
    for inter in (False, True):
        ca = candidates.road_candidates(G, ["primary", "secondary"], 300, intersections=inter)
        cb = candidates.road_candidates(t, ["primary", "secondary"], 300, intersections=inter)
        assert len(ca) > 0
        pd.testing.assert_frame_equal(ca.reset_index(drop=True), cb.reset_index(drop=True))
    pa, pb = demand.proxy_edges(G), demand.proxy_edges(t)
    key = ["lon", "lat"]
    pa, pb = pa.sort_values(key).reset_index(drop=True), pb.sort_values(key).reset_index(drop=True)
    assert len(pa) > 0
    assert np.allclose(pa[key], pb[key]) and (pa["length"] == pb["length"]).all()


def test_undirected_degree_counts_neighbours_once_and_self_loops_twice():
    u = np.array([1, 2, 1, 3, 4])
    v = np.array([2, 1, 3, 1, 4])
    deg = road_tables.undirected_degree(u, v, np.array([1, 2, 3, 4, 5]))
    assert deg.tolist() == [2, 1, 1, 2, 0]


def test_largest_component_drops_a_one_way_dead_end():
    nodes = pd.DataFrame({"osmid": [1, 2, 3], "x": [0.0, 0.01, 0.02], "y": [0.0, 0.0, 0.0]})
    edges = pd.DataFrame(
        {"u": [1, 2, 2], "v": [2, 1, 3], "highway": "primary", "length": [100.0, 100.0, 50.0]}
    )
    t = road_tables.from_frames(nodes, edges)
    assert sorted(t.nodes["osmid"]) == [1, 2] and len(t.edges) == 2
    assert t.edges["travel_time"].iloc[0] == np.float32(100.0 / (40.0 / 3.6))
