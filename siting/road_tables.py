"""The road network as two compact tables (nodes, edges): the form every area-demand stage reads.

A ``networkx.MultiDiGraph`` keeps a Python dict per edge: about 1 KB per directed edge, so a
city-size graph of 320,000 nodes and 1.2 million edges takes ~1.2 GB before any stage runs (and
15 s to build). :class:`RoadTables` holds the same network in ~60 MB of NumPy columns.
:func:`load_road_tables` is what :func:`siting.plan.prepare` calls: the embedded snapshot and a
``.osm.pbf`` file (:mod:`siting.osm_file`) go straight to tables; the other sources
(``.osm``, ``.graphml``, osmnx) are loaded as a graph by :func:`siting.network.load_network` and
converted (:func:`from_graph`). The stages that read roads (:mod:`siting.demand` for the
residential-road proxy, :mod:`siting.candidates` for candidates along roads and their names,
:mod:`siting.travel` through :func:`graph_arrays`) accept tables or a graph; :func:`edge_list`,
:func:`node_coords` and :func:`neighbourhood_graph` are the accessors they use for either form.

The tables give exactly the graph path's results: the same speeds and travel times (float64,
computed with the same operations as :mod:`siting.network`: the per-class rule for the embedded
snapshot, osmnx's ``maxspeed`` rule for files), the same node order, and :func:`edge_list`
returns edges in the order a graph built from the same tables iterates them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from siting import network
from siting._errors import InputError

logger = logging.getLogger(__name__)

#: Columns of :attr:`RoadTables.edges` besides ``u``, ``v`` (``name`` when the source has names).
EDGE_COLUMNS = ("highway", "length", "speed_kph", "travel_time", "name")


@dataclass
class RoadTables:
    """Road network as tables (osmnx conventions, one row per directed edge).

    Attributes
    ----------
    nodes : pandas.DataFrame
        ``osmid`` (int64, unique), ``x`` (lon, degrees), ``y`` (lat, degrees).
    edges : pandas.DataFrame
        ``u``, ``v`` (int64 node ids), ``highway`` (category), ``length`` (m), ``speed_kph``,
        ``travel_time`` (s) as float64 and, when given, ``name`` (category, '' for none).
        Parallel edges keep their order of the source (their ``key`` in a graph is their rank
        among the edges u→v).
    source : str
        Where the network came from (shown in summaries).
    meta : dict
        What a graph keeps in ``G.graph``: ``source``, ``attribution``, and for a ``.osm.pbf``
        file ``osm_file`` (what was kept and dropped, :func:`siting.network.describe_osm_file`).
    """

    nodes: pd.DataFrame
    edges: pd.DataFrame
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    _order: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _ends: tuple[np.ndarray, np.ndarray] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __len__(self) -> int:
        return len(self.nodes)

    def number_of_edges(self) -> int:
        """Number of directed edges (as ``networkx``)."""
        return len(self.edges)

    def graph_order(self) -> np.ndarray:
        """Edge positions in the order ``networkx`` iterates a graph built from these tables.

        A graph built by :func:`to_graph` (or :func:`siting.network.graph_from_frames`) yields
        its edges node by node (node-table order), each node's neighbours in the order they were
        first met, parallel edges in table order.
        """
        if self._order is None:
            pu, pv = self.edge_ends()
            pair = pu.astype(np.int64) * max(len(self.nodes), 1) + pv
            _, first, inverse = np.unique(pair, return_index=True, return_inverse=True)
            m = len(pair)
            self._order = np.lexsort((np.arange(m), first[inverse], pu))
        return self._order

    def edge_ends(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions in :attr:`nodes` of each edge's ``u`` and ``v`` (int64 arrays)."""
        if self._ends is None:
            ids = self.nodes["osmid"].to_numpy(np.int64)
            srt = np.argsort(ids, kind="stable")
            pu = srt[np.searchsorted(ids, self.edges["u"].to_numpy(np.int64), sorter=srt)]
            pv = srt[np.searchsorted(ids, self.edges["v"].to_numpy(np.int64), sorter=srt)]
            self._ends = (pu, pv)
        return self._ends


# ----------------------------------------------------------------------------- speeds


def _class_kph(hw: pd.Series, speeds: Mapping[str, float]) -> np.ndarray:
    """Speed of each edge from its class alone (the embedded snapshot's rule)."""
    cat = hw.astype("category")
    kph = cat.cat.categories.map(lambda c: float(speeds.get(c, network.FALLBACK_SPEED_KPH)))
    return np.asarray(kph, dtype=float)[cat.cat.codes.to_numpy()]


def _clean_maxspeed() -> Any:
    try:  # osmnx's own parser, so that the tables give the graph path's speeds exactly
        from osmnx.routing import _clean_maxspeed as clean
    except ImportError:  # pragma: no cover - osmnx 1.x
        from osmnx.speed import _clean_maxspeed as clean
    return clean


def _osm_kph(hw: pd.Series, maxspeed: pd.Series | None, speeds: Mapping[str, float]) -> np.ndarray:
    """Speed of each edge as :func:`osmnx.add_edge_speeds` sets it (``hwy_speeds=speeds``,
    fallback :data:`siting.network.FALLBACK_SPEED_KPH`): the edge's OSM ``maxspeed`` where it
    parses, else its class's speed (a class missing from ``speeds``: the mean ``maxspeed`` of
    its edges, else the fallback)."""
    hw = hw.astype(str).reset_index(drop=True)
    if maxspeed is None:
        own = pd.Series(np.nan, index=hw.index)
    else:
        ms = maxspeed.reset_index(drop=True).map(lambda x: x if isinstance(x, str) else np.nan)
        text = ms.astype(str)
        uniq = pd.unique(text)
        clean = _clean_maxspeed()
        parsed = pd.Series([clean(u) for u in uniq], index=uniq, dtype=float)
        own = pd.Series(parsed.reindex(text).to_numpy(float), index=hw.index)
    avg = pd.Series({k: float(v) for k, v in speeds.items()}, dtype=float).dropna()
    for cls, vals in own.groupby(hw):
        if cls not in avg:
            avg.loc[cls] = np.mean(vals)
    avg = avg.fillna(network.FALLBACK_SPEED_KPH)
    return own.fillna(hw.map(avg)).to_numpy(float)


def from_frames(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    *,
    speeds_kph: Mapping[str, float] | None = None,
    speed_factor: float = 1.0,
    largest_component: bool = True,
    source: str = "",
    speed_rule: str = "class",
) -> RoadTables:
    """Build :class:`RoadTables` from node / edge tables, with speeds and travel times.

    Parameters
    ----------
    nodes
        ``osmid``, ``x``, ``y`` (as the embedded ``nodes.parquet``).
    edges
        ``u``, ``v``, ``highway``, ``length`` (m), optionally ``name`` and (``speed_rule="osm"``)
        ``maxspeed``; other columns are dropped.
    speeds_kph
        Per-class speeds (km/h) over :data:`siting.network.DEFAULT_SPEEDS_KPH`.
    speed_factor
        Multiplies every speed.
    largest_component
        Keep only the largest strongly connected component (as :func:`network.load_network`).
    source
        Description kept in :attr:`RoadTables.source`.
    speed_rule
        ``"class"``: every edge at its class's speed (the embedded snapshot); ``"osm"``: OSM
        ``maxspeed`` where given, as osmnx reads it (files and downloads).

    Returns
    -------
    RoadTables
    """
    speeds = {**network.DEFAULT_SPEEDS_KPH, **(speeds_kph or {})}
    length = edges["length"].to_numpy(float)
    if speed_rule == "class":
        kph = _class_kph(edges["highway"], speeds)
        tt = length / (kph / 3.6)
    elif speed_rule == "osm":
        kph = _osm_kph(edges["highway"], edges["maxspeed"] if "maxspeed" in edges else None, speeds)
        tt = (length / 1000) / (kph / (60 * 60))  # osmnx.add_edge_travel_times
    else:
        raise ValueError(f"speed_rule must be 'class' or 'osm', got {speed_rule!r}")
    if speed_factor != 1.0:  # as network._scale_speeds
        kph = kph * float(speed_factor)
        tt = length / (kph / 3.6)
    e = pd.DataFrame(
        {
            "u": edges["u"].to_numpy(np.int64),
            "v": edges["v"].to_numpy(np.int64),
            "highway": pd.Categorical(edges["highway"].astype(str).to_numpy()),
            "length": length,
            "speed_kph": kph,
            "travel_time": tt,
        }
    )
    if "name" in edges:
        e["name"] = pd.Categorical(edges["name"].fillna("").astype(str).to_numpy())
    n = pd.DataFrame(
        {
            "osmid": nodes["osmid"].to_numpy(np.int64),
            "x": nodes["x"].to_numpy(float),
            "y": nodes["y"].to_numpy(float),
        }
    )
    meta = {"crs": "EPSG:4326", "source": source, "attribution": network.OSM_ATTRIBUTION}
    t = RoadTables(n, e, source, meta)
    if largest_component:
        t = _largest_strong_component(t)
    return t


def _largest_strong_component(t: RoadTables) -> RoadTables:
    if len(t) == 0:
        return t
    arr = graph_arrays(t)
    n_comp, labels = connected_components(arr.matrix, directed=True, connection="strong")
    if n_comp <= 1:
        return t
    keep_ids = arr.node_ids[labels == np.bincount(labels).argmax()]
    logger.info(
        "keeping the largest strongly connected component: dropping %d nodes",
        len(t) - len(keep_ids),
    )
    nodes = t.nodes[t.nodes["osmid"].isin(keep_ids)].reset_index(drop=True)
    ok = np.isin(t.edges["u"].to_numpy(), keep_ids) & np.isin(t.edges["v"].to_numpy(), keep_ids)
    return RoadTables(nodes, t.edges[ok].reset_index(drop=True), t.source, dict(t.meta))


# ----------------------------------------------------------------------------- loading


def load_road_tables(
    source: Any = None,
    *,
    base_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    speeds_kph: Mapping[str, float] | None = None,
    speed_factor: float = 1.0,
    largest_component: bool = True,
    clip: Any = None,
    file_cache: bool = True,
    progress: Any = None,
) -> RoadTables:
    """Load the drivable road network as tables: :func:`siting.network.load_network`'s network.

    The embedded snapshot and ``.osm.pbf`` files never become a ``networkx`` graph; ``.osm``,
    ``.graphml`` and osmnx sources are loaded as a graph and converted (:func:`from_graph`).

    Parameters
    ----------
    source, base_dir, cache_dir, speeds_kph, speed_factor, largest_component, clip, file_cache,
    progress
        As for :func:`siting.network.load_network`.

    Returns
    -------
    RoadTables
        The same nodes (in the same order), directed edges, speeds and travel times as the graph
        :func:`siting.network.load_network` returns; ``meta`` holds its ``G.graph`` keys.

    Raises
    ------
    InputError
        As :func:`siting.network.load_network` (:class:`siting.osm_file.NoRoadsInPolygon` when a
        file has no road inside ``clip``).
    """
    src = network.as_source(source)
    if not speed_factor > 0:
        raise InputError(f"network: speed_factor must be > 0, got {speed_factor}")
    opts = {"speeds_kph": speeds_kph, "speed_factor": speed_factor}
    if src.kind == "embedded":
        nodes, edges, folder = network.embedded_frames(base_dir)
        t = from_frames(nodes, edges, **opts, largest_component=largest_component,
                        source=f"embedded: {folder}")  # fmt: skip
    elif src.kind == "file" and network.file_kind(network.resolve_path(src.path, base_dir)) == (
        ".osm.pbf"
    ):
        t = _load_pbf(network.resolve_path(src.path, base_dir), clip, file_cache, progress,
                      largest_component, opts)  # fmt: skip
    else:
        G = network.load_network(
            src, base_dir=base_dir, cache_dir=cache_dir, largest_component=largest_component,
            clip=clip, file_cache=file_cache, progress=progress, **opts,
        )  # fmt: skip
        return from_graph(G)
    if t.number_of_edges() == 0:
        raise InputError(f"network: no drivable roads in {t.source or src}")
    logger.info("road network %s: %d nodes, %d edges (tables)", t.source, len(t),
                t.number_of_edges())  # fmt: skip
    return t


def _load_pbf(
    path: Path, clip: Any, cache: bool, progress: Any, largest_component: bool, opts: dict
) -> RoadTables:
    """A ``.osm.pbf`` file through :mod:`siting.osm_file`, straight to tables."""
    from siting import osm_file

    g = osm_file.read_osm_file(path, clip, cache=cache, progress=progress, geometry=False)
    t = from_frames(g.nodes, g.edges, **opts, largest_component=False, source=f"file: {path}",
                    speed_rule="osm")  # fmt: skip
    n0 = len(t)
    if largest_component:
        t = _largest_strong_component(t)
    t.meta["osm_file"] = {
        **g.stats,
        "cache": str(g.cache_file) if g.cache_file else None,
        "from_cache": g.from_cache,
    }
    if largest_component:
        t.meta["osm_file"]["nodes_outside_largest_component"] = n0 - len(t)
    logger.info("%s: %s", path, network.describe_osm_file(t.meta["osm_file"]))
    return t


# ----------------------------------------------------------------------------- conversions


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def from_graph(G: nx.MultiDiGraph) -> RoadTables:
    """The tables of a road graph (edge attributes ``length``, ``travel_time``, ``highway``).

    Node and edge order follow the graph's iteration order; ``G.graph`` goes to ``meta``.
    """
    ids = np.fromiter(G.nodes, dtype=np.int64, count=len(G))
    nodes = pd.DataFrame(
        {
            "osmid": ids,
            "x": np.fromiter((d["x"] for _, d in G.nodes(data=True)), float, len(G)),
            "y": np.fromiter((d["y"] for _, d in G.nodes(data=True)), float, len(G)),
        }
    )
    rows = [
        (u, v, str(_first(d.get("highway"))), d.get("length", 0.0), d.get("speed_kph", np.nan),
         d.get("travel_time", np.nan), _first(d.get("name")) or "")
        for u, v, d in G.edges(data=True)
    ]  # fmt: skip
    cols = ["u", "v", "highway", "length", "speed_kph", "travel_time", "name"]
    e = pd.DataFrame(rows, columns=cols)
    e = e.astype({"u": np.int64, "v": np.int64, "length": float, "speed_kph": float,
                  "travel_time": float})  # fmt: skip
    e["highway"] = pd.Categorical(e["highway"])
    e["name"] = pd.Categorical(e["name"].astype(str))
    meta = dict(G.graph)
    return RoadTables(nodes, e, str(meta.get("source", "")), meta)


def to_graph(t: RoadTables) -> nx.MultiDiGraph:
    """A ``networkx.MultiDiGraph`` of the tables (osmnx conventions; for small networks only).

    Edge keys are each edge's rank among the edges u→v (as osmnx and :mod:`siting.osm_file`
    number them); an empty ``name`` is left out.
    """
    e = t.edges.copy()
    for col in ("highway", "name"):
        if col in e:
            e[col] = e[col].astype(str)
    e.insert(2, "key", e.groupby(["u", "v"], sort=False).cumcount().to_numpy(np.int64))
    G = network.graph_from_frames(t.nodes, e)
    G.graph.update({k: v for k, v in t.meta.items()})
    G.graph.setdefault("source", t.source)
    G.graph["crs"] = "EPSG:4326"
    return G


def as_tables(G: RoadTables | nx.MultiDiGraph) -> RoadTables:
    """``G`` as :class:`RoadTables` (converted when it is a graph)."""
    return G if isinstance(G, RoadTables) else from_graph(G)


# ----------------------------------------------------------------------------- accessors


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
    on :class:`RoadTables` (in the order a graph of the same tables yields them,
    :meth:`RoadTables.graph_order`).
    """
    wanted = None if classes is None else set(classes)
    if isinstance(G, RoadTables):
        order = G.graph_order()
        if wanted is not None:
            order = order[G.edges["highway"].isin(list(wanted)).to_numpy()[order]]
        e = G.edges
        return pd.DataFrame(
            {
                "u": e["u"].to_numpy(np.int64)[order],
                "v": e["v"].to_numpy(np.int64)[order],
                "highway": e["highway"].astype(object).to_numpy()[order],
                "length": e["length"].to_numpy(float)[order],
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


def _positions(t: RoadTables, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position in the node table of each id, and whether it is there at all."""
    all_ids = t.nodes["osmid"].to_numpy(np.int64)
    order = np.argsort(all_ids, kind="stable")
    at = np.clip(np.searchsorted(all_ids, ids, sorter=order), 0, max(len(all_ids) - 1, 0))
    pos = order[at] if len(all_ids) else np.zeros(len(ids), np.int64)
    found = all_ids[pos] == ids if len(all_ids) else np.zeros(len(ids), bool)
    return pos, found


def neighbourhood_graph(t: RoadTables, nodes: Any, hops: int = 2) -> nx.MultiDiGraph:
    """A small ``networkx`` graph holding every edge at a node within ``hops`` of ``nodes``.

    Edges ignore direction for the hops. Within that neighbourhood the graph is exact: each
    node's edges, neighbours and their order are those of the whole network's graph (edges are
    added in table order, keys as :func:`to_graph`), so functions that look ``hops`` edges around
    a node (:func:`siting.candidates.road_names`) give the whole graph's answer. Edge attributes:
    ``highway`` and ``name`` (left out when empty); nodes carry no coordinates.
    """
    ids = t.nodes["osmid"].to_numpy(np.int64)
    pos, found = _positions(t, np.asarray(nodes, dtype=np.int64))
    pu, pv = t.edge_ends()
    near = np.zeros(len(ids), bool)
    near[pos[found]] = True
    for _ in range(hops):
        touch = near[pu] | near[pv]
        near[pu[touch]] = True
        near[pv[touch]] = True
    keep = near[pu] | near[pv]
    e = t.edges.loc[keep]
    key = e.groupby(["u", "v"], sort=False).cumcount().to_numpy(np.int64)
    hw = e["highway"].astype(str).tolist()
    names = e["name"].astype(str).tolist() if "name" in e else [""] * len(e)
    attrs = [{"highway": h, "name": n} for h, n in zip(hw, names, strict=True)]
    for d in attrs:
        if not d["name"]:
            del d["name"]  # as the graph path leaves an empty name out
    used = near.copy()
    used[pu[keep]] = True
    used[pv[keep]] = True
    G = nx.MultiDiGraph(crs="EPSG:4326")
    G.add_nodes_from(ids[used].tolist())
    G.add_edges_from(zip(e["u"].tolist(), e["v"].tolist(), key.tolist(), attrs, strict=True))
    return G


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
