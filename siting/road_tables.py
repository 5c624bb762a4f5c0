"""A road graph as two compact tables (nodes, edges), for city-size networks without networkx.

A ``networkx.MultiDiGraph`` keeps a Python dict per edge: about 1 KB per directed edge, so a
city-size graph of 320,000 nodes and 1.2 million edges takes ~1.2 GB before any stage runs (and
15 s to build). :class:`RoadTables` holds the same graph in ~40 MB of NumPy columns, and the
stages that read roads (:mod:`siting.demand` for the residential-road proxy,
:mod:`siting.candidates` for candidates along roads, :mod:`siting.travel` through
:func:`graph_arrays`) accept it wherever they accept a graph. :func:`edge_list` and
:func:`node_coords` are the two accessors they use, for either form.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from siting import network


@dataclass
class RoadTables:
    """Road graph as tables (osmnx conventions, one row per directed edge).

    Attributes
    ----------
    nodes : pandas.DataFrame
        ``osmid`` (int64, unique), ``x`` (lon, degrees), ``y`` (lat, degrees).
    edges : pandas.DataFrame
        ``u``, ``v`` (int64 node ids), ``highway`` (category), ``length`` (m, float32),
        ``speed_kph`` (float32), ``travel_time`` (s, float32) and, when given, ``name``
        (category).
    source : str
        Where the graph came from (shown in summaries).
    """

    nodes: pd.DataFrame
    edges: pd.DataFrame
    source: str = ""

    def __len__(self) -> int:
        return len(self.nodes)

    def number_of_edges(self) -> int:
        """Number of directed edges (as ``networkx``)."""
        return len(self.edges)


def from_frames(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    *,
    speeds_kph: Mapping[str, float] | None = None,
    speed_factor: float = 1.0,
    largest_component: bool = True,
    source: str = "",
) -> RoadTables:
    """Build :class:`RoadTables` from node / edge tables, with speeds and travel times by class.

    Parameters
    ----------
    nodes
        ``osmid``, ``x``, ``y`` (as the embedded ``nodes.parquet``).
    edges
        ``u``, ``v``, ``highway``, ``length`` (m), optionally ``name``; other columns are
        dropped.
    speeds_kph
        Per-class speeds (km/h) over :data:`siting.network.DEFAULT_SPEEDS_KPH`.
    speed_factor
        Multiplies every speed.
    largest_component
        Keep only the largest strongly connected component (as :func:`network.load_network`).
    source
        Description kept in :attr:`RoadTables.source`.
    """
    speeds = {**network.DEFAULT_SPEEDS_KPH, **(speeds_kph or {})}
    hw = edges["highway"].astype("category")
    kph = hw.cat.categories.map(lambda c: float(speeds.get(c, network.FALLBACK_SPEED_KPH)))
    kph = np.asarray(kph, dtype=float)[hw.cat.codes.to_numpy()] * float(speed_factor)
    length = edges["length"].to_numpy(float)
    e = pd.DataFrame(
        {
            "u": edges["u"].to_numpy(np.int64),
            "v": edges["v"].to_numpy(np.int64),
            "highway": hw.to_numpy(),
            "length": length.astype(np.float32),
            "speed_kph": kph.astype(np.float32),
            "travel_time": (length / (kph / 3.6)).astype(np.float32),
        }
    )
    e["highway"] = e["highway"].astype("category")
    if "name" in edges:
        e["name"] = edges["name"].fillna("").astype(str).astype("category").to_numpy()
    n = pd.DataFrame(
        {
            "osmid": nodes["osmid"].to_numpy(np.int64),
            "x": nodes["x"].to_numpy(float),
            "y": nodes["y"].to_numpy(float),
        }
    )
    t = RoadTables(n, e, source)
    if largest_component:
        t = _largest_strong_component(t)
    return t


def _largest_strong_component(t: RoadTables) -> RoadTables:
    arr = graph_arrays(t)
    n_comp, labels = connected_components(arr.matrix, directed=True, connection="strong")
    if n_comp <= 1:
        return t
    keep_ids = arr.node_ids[labels == np.bincount(labels).argmax()]
    nodes = t.nodes[t.nodes["osmid"].isin(keep_ids)].reset_index(drop=True)
    ok = np.isin(t.edges["u"].to_numpy(), keep_ids) & np.isin(t.edges["v"].to_numpy(), keep_ids)
    return RoadTables(nodes, t.edges[ok].reset_index(drop=True), t.source)


def graph_arrays(t: RoadTables | nx.MultiDiGraph, weight: str = "travel_time") -> Any:
    """:func:`siting.network.graph_arrays` for tables (a graph is passed on unchanged).

    Returns
    -------
    siting.network.GraphArrays
        ``(matrix, node_ids, lon, lat)``; ``matrix`` entry (i, j) is the smallest ``weight``
        over the parallel edges i→j (float64 seconds, zero kept as 1e-9).
    """
    if isinstance(t, nx.MultiDiGraph):
        return network.graph_arrays(t, weight)
    node_ids = t.nodes["osmid"].to_numpy(np.int64)
    order = np.argsort(node_ids)
    i = order[np.searchsorted(node_ids, t.edges["u"].to_numpy(), sorter=order)]
    j = order[np.searchsorted(node_ids, t.edges["v"].to_numpy(), sorter=order)]
    w = t.edges[weight].to_numpy(float)
    srt = np.lexsort((w, j, i))
    i, j, w = i[srt], j[srt], w[srt]
    first = np.ones(i.size, bool)
    first[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1])
    w = np.where(w[first] > 0, w[first], 1e-9)
    n = node_ids.size
    matrix = csr_matrix((w, (i[first].astype(np.int32), j[first].astype(np.int32))), shape=(n, n))
    lon = t.nodes["x"].to_numpy(float)
    lat = t.nodes["y"].to_numpy(float)
    return network.GraphArrays(matrix, node_ids, lon, lat)


def edge_list(
    G: RoadTables | nx.MultiDiGraph, classes: Iterable[str] | None = None
) -> pd.DataFrame:
    """Directed edges ``u``, ``v``, ``highway``, ``length`` (m), optionally of some classes only.

    Works on a ``networkx`` graph (list-valued ``highway`` left as is, as the stages expect) and
    on :class:`RoadTables`.
    """
    wanted = None if classes is None else set(classes)
    if isinstance(G, RoadTables):
        e = G.edges
        if wanted is not None:
            e = e[e["highway"].isin(list(wanted))]
        return pd.DataFrame(
            {
                "u": e["u"].to_numpy(np.int64),
                "v": e["v"].to_numpy(np.int64),
                "highway": e["highway"].astype(object).to_numpy(),
                "length": e["length"].to_numpy(float),
            }
        )
    rows = [
        (u, v, d.get("highway"), d.get("length", 0.0))
        for u, v, d in G.edges(data=True)
        if wanted is None or d.get("highway") in wanted
    ]
    return pd.DataFrame(rows, columns=["u", "v", "highway", "length"])


def node_coords(G: RoadTables | nx.MultiDiGraph, ids: Any) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (degrees) of the nodes ``ids``."""
    ids = np.asarray(ids, dtype=np.int64)
    if isinstance(G, RoadTables):
        all_ids = G.nodes["osmid"].to_numpy(np.int64)
        order = np.argsort(all_ids)
        pos = order[np.searchsorted(all_ids, ids, sorter=order)]
        return G.nodes["x"].to_numpy(float)[pos], G.nodes["y"].to_numpy(float)[pos]
    x = np.array([G.nodes[n]["x"] for n in ids.tolist()], dtype=float)
    y = np.array([G.nodes[n]["y"] for n in ids.tolist()], dtype=float)
    return x, y


def undirected_degree(u: np.ndarray, v: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Degree of ``nodes`` in the simple undirected graph of the edges ``u``–``v``.

    As ``networkx.Graph(...).degree``: parallel and reverse edges count once, a self-loop twice.
    """
    a, b = np.minimum(u, v), np.maximum(u, v)
    pairs = np.unique(np.stack([a, b], axis=1), axis=0) if a.size else np.zeros((0, 2), np.int64)
    ends = np.concatenate([pairs[:, 0], pairs[:, 1]])
    uniq, count = np.unique(ends, return_counts=True)
    nodes = np.asarray(nodes, dtype=np.int64)
    if uniq.size == 0:
        return np.zeros(nodes.size, dtype=np.int64)
    pos = np.clip(np.searchsorted(uniq, nodes), 0, uniq.size - 1)
    return np.where(uniq[pos] == nodes, count[pos], 0)
