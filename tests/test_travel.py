"""Travel-time matrix: bulk csgraph result equals networkx shortest paths, one-way aware."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from siting import network
from siting._errors import InputError
from siting.travel import SAME_NODE_MIN, travel_times

EXTRACT = Path(__file__).parent / "data" / "beijing_extract" / "extract.graphml"


def _tiny() -> nx.MultiDiGraph:
    """A 4-node graph with a one-way street: 1->2 is 60 s, 2->1 must go round (300 s)."""
    G = nx.MultiDiGraph(crs="EPSG:4326")
    for n, (x, y) in {1: (0, 0), 2: (0.01, 0), 3: (0.01, 0.01), 4: (0, 0.01)}.items():
        G.add_node(n, x=x, y=y)
    for u, v, t in [(1, 2, 60), (2, 3, 100), (3, 2, 100), (3, 4, 100), (4, 3, 100),
                    (4, 1, 100), (1, 4, 100), (1, 4, 50)]:  # fmt: skip
        G.add_edge(u, v, travel_time=t, length=t * 10)
    return G


def test_one_way_street_times_are_demand_to_site():
    G = _tiny()
    m = travel_times(G, [2], [1], limit_min=10).toarray()
    assert m[0, 0] == pytest.approx(300 / 60)  # 2->3->4->1
    m = travel_times(G, [1], [2], limit_min=10).toarray()
    assert m[0, 0] == pytest.approx(1.0)


def test_parallel_edges_use_the_fastest_and_same_node_is_stored():
    G = _tiny()
    m = travel_times(G, [1, 1], [4, 1], limit_min=10).toarray()
    assert m[0, 0] == pytest.approx(50 / 60)
    assert m[0, 1] == SAME_NODE_MIN and m[1, 1] == SAME_NODE_MIN


def test_limit_drops_pairs_beyond_it():
    G = _tiny()
    m = travel_times(G, [2], [1], limit_min=4.9)
    assert m.nnz == 0


@pytest.mark.parametrize("limit", [0.5, 2.0, 30.0])
def test_matches_networkx_on_the_real_extract_both_routing_directions(limit):
    G = network.load_network({"kind": "file", "path": EXTRACT})
    nodes = np.array(list(G.nodes))
    rng = np.random.default_rng(1)
    few, many = rng.choice(nodes, 7, replace=False), rng.choice(nodes, 40, replace=False)
    for orig, dest in ((many, few), (few, many)):  # from sites (reversed) and from demand
        got = travel_times(G, orig, dest, limit, dtype=np.float64).toarray()
        for i, o in enumerate(orig):
            lengths = nx.single_source_dijkstra_path_length(G, o, weight="travel_time")
            for j, d in enumerate(dest):
                t = lengths.get(d, np.inf) / 60
                if o == d:
                    assert got[i, j] == SAME_NODE_MIN
                elif t <= limit:
                    assert got[i, j] == pytest.approx(t, rel=1e-9)
                else:
                    assert got[i, j] == 0


def test_chunking_does_not_change_the_result():
    G = network.load_network({"kind": "file", "path": EXTRACT})
    nodes = np.array(list(G.nodes))
    a = travel_times(G, nodes, nodes[:50], 3.0, chunk=7)
    b = travel_times(G, nodes, nodes[:50], 3.0)
    assert (a != b).nnz == 0


def test_unknown_node_and_bad_limit_are_input_errors():
    G = _tiny()
    with pytest.raises(InputError, match="not in the road graph"):
        travel_times(G, [99], [1], 5)
    with pytest.raises(InputError, match="> 0"):
        travel_times(G, [1], [1], 0)


def _grid_graph(n: int = 60, seed: int = 3) -> nx.MultiDiGraph:
    """A jittered n × n grid (~200 m spacing) with fast diagonal-free arterials and one-ways."""
    rng = np.random.default_rng(seed)
    G = nx.MultiDiGraph(crs="EPSG:4326")
    for i in range(n):
        for j in range(n):
            G.add_node(i * n + j, x=116.0 + 0.0024 * i + rng.normal(0, 3e-4),
                       y=40.0 + 0.0018 * j + rng.normal(0, 3e-4))  # fmt: skip
    for i in range(n):
        for j in range(n):
            for di, dj in ((1, 0), (0, 1)):
                a, b = i * n + j, (i + di) * n + (j + dj)
                if i + di >= n or j + dj >= n:
                    continue
                fast = (i % 10 == 0 and dj) or (j % 10 == 0 and di)
                t = float(rng.uniform(15, 40)) / (1.5 if fast else 1.0)
                G.add_edge(a, b, travel_time=t, length=200.0)
                if rng.random() > 0.1:  # 10 % one-way
                    G.add_edge(b, a, travel_time=t, length=200.0)
    return G


@pytest.mark.parametrize("limit", [1.0, 2.0])
def test_windowed_routing_equals_routing_on_the_whole_graph(limit):
    from siting.travel import plan_tiles

    G = _grid_graph()
    arrays = network.graph_arrays(G)
    nodes = np.array(list(G.nodes))
    rng = np.random.default_rng(0)
    sites = rng.choice(nodes, 120, replace=False)
    whole = travel_times(arrays, nodes, sites, limit, dtype=np.float64, window_min_nodes=10**9)
    tiled = travel_times(arrays, nodes, sites, limit, dtype=np.float64, window_min_nodes=0)
    assert whole.nnz > 0 and (whole != tiled).nnz == 0
    graph = arrays.matrix.T.tocsr()
    pos = np.searchsorted(arrays.node_ids, np.unique(sites))
    tiles = plan_tiles(graph, arrays.lon, arrays.lat, pos, np.arange(len(nodes)), limit * 60,
                       window_min_nodes=0)  # fmt: skip
    assert len(tiles) > 1 and all(t.window.size < len(nodes) for t in tiles)


def test_compact_result_is_float32_with_int32_indices_and_close_to_float64():
    G = network.load_network({"kind": "file", "path": EXTRACT})
    nodes = np.array(list(G.nodes))
    a = travel_times(G, nodes, nodes[:60], 5.0)
    b = travel_times(G, nodes, nodes[:60], 5.0, dtype=np.float64)
    assert a.dtype == np.float32 and a.indices.dtype == np.int32
    assert (a.indptr == b.indptr).all() and (a.indices == b.indices).all()
    assert np.allclose(a.data, b.data, rtol=1e-6)


def test_repeated_origins_and_destinations_get_the_rows_and_columns_of_their_node():
    G = network.load_network({"kind": "file", "path": EXTRACT})
    nodes = np.array(list(G.nodes))
    rng = np.random.default_rng(5)
    half = len(nodes) // 2
    uniq_o, uniq_d = nodes[:half], nodes[half : half + 20]
    o_idx, d_idx = rng.integers(0, half, 3 * half), rng.integers(0, 20, 50)
    base = travel_times(G, uniq_o, uniq_d, 4.0).toarray()
    for window_min_nodes in (0, 10**9):  # tiled and whole-graph routing
        got = travel_times(G, uniq_o[o_idx], uniq_d[d_idx], 4.0, window_min_nodes=window_min_nodes)
        assert got.has_sorted_indices
        assert np.array_equal(got.toarray(), base[o_idx][:, d_idx])
