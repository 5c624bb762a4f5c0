"""Sparse demand × site travel-time matrix within a limit, computed in bulk (scipy csgraph).

Shortest paths run with :func:`scipy.sparse.csgraph.dijkstra` and its ``limit`` argument from
the smaller side: from the sites on the *reversed* graph when there are fewer distinct site nodes
than demand nodes (the usual case), else from the demand nodes on the graph itself. Either way the
stored time is the time to drive *from* the demand cell's node *to* the site's node, which differs
from the opposite direction on one-way streets.

**Chunked and windowed.** Sources are routed in chunks, so the dense block Dijkstra fills stays
small. On a large graph (``window_min_nodes`` nodes or more) sources are also grouped into
square tiles of about half the reach, and each tile is routed on the subgraph of the nodes inside
its *window*: the tile grown on every side by ``R = v_max × limit``, where ``v_max`` is the
largest straight-line speed of any edge (great-circle length between its end nodes / its travel
time). No path within the limit can leave that window (every edge covers at most ``v_max`` ×
its time of straight-line distance), so the times are exactly those on the whole graph, while a
Dijkstra call costs the window's nodes instead of the city's. Results are kept as ``int32`` /
``float32`` triples per tile and assembled once into the CSR matrix: no dense demand × site array
exists at any point.

**Distributed.** With ``scheduler`` (a Dask scheduler address ``tcp://host:8786`` or a
:class:`distributed.Client`), the routing graph is scattered to the workers once and each tile is
one task (:func:`route_tile`); the driver only assembles the pairs.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from siting import network
from siting._errors import InputError

logger = logging.getLogger(__name__)

#: Time (minutes) stored for a demand point and a site at the same graph node, so that a stored
#: entry always means "reachable within the limit" (a zero would vanish from a sparse matrix).
SAME_NODE_MIN = 1e-6

#: Most Dijkstra sources per call (bounds the dense block to CHUNK × nodes routed on).
CHUNK = 256

#: Most cells of one dense Dijkstra block (sources × nodes, float64): 8 bytes each.
BLOCK_CELLS = 8_000_000

#: Graphs with at least this many nodes are routed tile by tile on windows (see module doc).
WINDOW_MIN_NODES = 50_000

#: On a cluster, a graph routed whole is still split into this many tasks (by sources).
TASKS_WHOLE_GRAPH = 16


@dataclass
class Tile:
    """One routing task: sources (ranks into the unique sources) routed on a node window.

    ``window`` holds global node positions (sorted); ``sources`` / ``targets`` the *local*
    positions (into ``window``) of the tile's sources and of the targets inside the window, with
    their ranks ``source_rank`` / ``target_rank`` in the unique source / target arrays. A window
    of None means the whole graph (local = global positions).
    """

    window: np.ndarray | None
    sources: np.ndarray
    source_rank: np.ndarray
    targets: np.ndarray
    target_rank: np.ndarray


def _positions(node_ids: np.ndarray, nodes: np.ndarray, what: str) -> np.ndarray:
    order = np.argsort(node_ids)
    pos = np.searchsorted(node_ids, nodes, sorter=order)
    pos = np.clip(pos, 0, len(node_ids) - 1)
    idx = order[pos]
    bad = node_ids[idx] != nodes
    if bad.any():
        raise InputError(f"travel: {int(bad.sum())} {what} node(s) are not in the road graph")
    return idx


def max_speed_mps(graph: sp.csr_matrix, lon: np.ndarray, lat: np.ndarray) -> float:
    """Largest straight-line speed of any edge (m/s): great-circle length / travel time."""
    coo = graph.tocoo()
    if coo.nnz == 0:
        return 0.0
    d = network.great_circle_m(lat[coo.row], lon[coo.row], lat[coo.col], lon[coo.col])
    return float(np.max(d / coo.data))


def plan_tiles(
    graph: sp.csr_matrix,
    lon: np.ndarray | None,
    lat: np.ndarray | None,
    sources: np.ndarray,
    targets: np.ndarray,
    limit_s: float,
    *,
    window_min_nodes: int = WINDOW_MIN_NODES,
) -> list[Tile]:
    """Split the routing into tiles (see the module docstring); exact for any graph.

    Parameters
    ----------
    graph : csr_matrix
        Graph routed on (travel times in seconds).
    lon, lat : ndarray or None
        Node coordinates (degrees); None routes on the whole graph.
    sources, targets : ndarray of int
        Unique global node positions.
    limit_s : float
        Time limit (seconds).
    window_min_nodes : int
        Graphs smaller than this are routed whole.
    """
    n = graph.shape[0]
    whole = [Tile(None, sources, np.arange(sources.size), targets, np.arange(targets.size))]
    if n < window_min_nodes or lon is None or lat is None or sources.size == 0:
        return whole
    reach_m = max_speed_mps(graph, lon, lat) * limit_s * 1.0001 + 1.0
    deg_lat = math.degrees(reach_m / network.EARTH_RADIUS_M)
    side = max(deg_lat / 2.0, 1e-4)  # tile side in degrees of latitude (about half the reach)
    cos_min = math.cos(math.radians(min(float(np.abs(lat).max()) + deg_lat, 89.0)))
    side_lon = side / max(math.cos(math.radians(float(np.mean(lat)))), 1e-6)
    tx = np.floor((lon[sources] - lon.min()) / side_lon).astype(np.int64)
    ty = np.floor((lat[sources] - lat.min()) / side).astype(np.int64)
    key = tx * (int(ty.max()) + 1) + ty
    order = np.argsort(key, kind="stable")
    cuts = np.flatnonzero(np.diff(key[order])) + 1
    tiles: list[Tile] = []
    for group in np.split(order, cuts):
        s_lon, s_lat = lon[sources[group]], lat[sources[group]]
        d_lon = deg_lat / cos_min  # conservative: the smallest cos(lat) in reach
        inside = (
            (lat >= s_lat.min() - deg_lat) & (lat <= s_lat.max() + deg_lat)
            & (lon >= s_lon.min() - d_lon) & (lon <= s_lon.max() + d_lon)
        )  # fmt: skip
        window = np.flatnonzero(inside)
        if window.size >= 0.5 * n:
            return whole  # windows as big as the graph: no point in cutting it
        t_pos = np.searchsorted(window, targets)
        t_pos = np.clip(t_pos, 0, window.size - 1)
        t_in = window[t_pos] == targets
        tiles.append(
            Tile(
                window,
                np.searchsorted(window, sources[group]),
                group,
                t_pos[t_in],
                np.flatnonzero(t_in),
            )
        )
    return tiles


def route_tile(
    graph: sp.csr_matrix, tile: Tile, limit_s: float, chunk: int = CHUNK, dtype: Any = np.float32
) -> tuple:
    """Route one tile; return its pairs within the limit grouped by source (8 bytes a pair).

    Returns ``(source_rank, count, target_rank, seconds)``: the tile's source ranks (int32), the
    number of pairs of each, then per pair the target rank (int32) and the time (``dtype``),
    source by source. Runs on the driver or on a Dask worker (``graph`` is the whole graph).
    """
    sub = graph if tile.window is None else graph[tile.window][:, tile.window]
    n_sub = sub.shape[0]
    step = max(1, min(chunk, BLOCK_CELLS // max(n_sub, 1)))
    counts, cols, vals = [], [], []
    if tile.targets.size == 0:
        return (tile.source_rank.astype(np.int32), np.zeros(tile.source_rank.size, np.int32),
                np.zeros(0, np.int32), np.zeros(0, dtype))  # fmt: skip
    for s in range(0, tile.sources.size, step):
        src = tile.sources[s : s + step]
        dist = dijkstra(sub, directed=True, indices=src, limit=limit_s)[:, tile.targets]
        r, c = np.nonzero(np.isfinite(dist))  # row-major: grouped by source
        counts.append(np.bincount(r, minlength=src.size).astype(np.int32))
        cols.append(tile.target_rank[c].astype(np.int32))
        vals.append(dist[r, c].astype(dtype))
        del dist, r, c
    return (tile.source_rank.astype(np.int32), np.concatenate(counts), np.concatenate(cols),
            np.concatenate(vals))  # fmt: skip


def _split_whole(tile: Tile, parts: int) -> list[Tile]:
    """Split a whole-graph tile into ``parts`` tiles of consecutive sources (for a cluster)."""
    cuts = np.array_split(np.arange(tile.sources.size), max(1, min(parts, tile.sources.size)))
    return [
        Tile(None, tile.sources[c], tile.source_rank[c], tile.targets, tile.target_rank)
        for c in cuts
    ]


def _route_all(
    graph: sp.csr_matrix, tiles: list[Tile], limit_s: float, chunk: int, dtype: Any, scheduler: Any
) -> list[tuple]:
    if scheduler is None:
        return [route_tile(graph, t, limit_s, chunk, dtype) for t in tiles]
    from distributed import Client

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        remote = client.scatter(graph, broadcast=True, hash=False)  # no key shared with others
        futures = [
            client.submit(route_tile, remote, t, limit_s, chunk, dtype, pure=False) for t in tiles
        ]
        return client.gather(futures)
    finally:
        if client is not scheduler:
            client.close()


def travel_times(
    G_or_arrays: nx.MultiDiGraph | network.GraphArrays | Any,
    origin_nodes: Any,
    dest_nodes: Any,
    limit_min: float,
    *,
    chunk: int = CHUNK,
    dtype: Any = np.float32,
    window_min_nodes: int = WINDOW_MIN_NODES,
    scheduler: Any = None,
) -> sp.csr_matrix:
    """Travel times (minutes) from every origin node to every destination node within a limit.

    Parameters
    ----------
    G_or_arrays
        Road graph (edge ``travel_time`` in seconds), :func:`siting.network.graph_arrays` of it,
        or :class:`siting.road_tables.RoadTables`.
    origin_nodes
        Graph node id per origin (demand cell), length n.
    dest_nodes
        Graph node id per destination (site), length m. Repeated ids are routed once.
    limit_min
        Only pairs with a shortest time ≤ this many minutes are stored.
    chunk
        Most Dijkstra sources per call.
    dtype
        Value type of the result (``float32`` by default: 4 bytes per pair, ~7 digits).
    window_min_nodes
        Graphs with at least this many nodes are routed tile by tile on windows (exact).
    scheduler
        Dask scheduler address (``tcp://host:8786``) or :class:`distributed.Client`: the tiles
        run as tasks on its workers.

    Returns
    -------
    scipy.sparse.csr_matrix
        n × m minutes (``int32`` indices where they fit); a pair at the same node holds
        :data:`SAME_NODE_MIN`.

    Raises
    ------
    InputError
        A node id is not in the graph, or the limit is not positive.
    """
    if not limit_min > 0:
        raise InputError(f"travel: the time limit must be > 0 minutes, got {limit_min}")
    arrays = _as_arrays(G_or_arrays)
    matrix, node_ids = arrays[0], np.asarray(arrays[1])
    lon, lat = (np.asarray(arrays[2]), np.asarray(arrays[3])) if len(arrays) >= 4 else (None, None)
    o_nodes = np.asarray(origin_nodes, dtype=np.int64).ravel()
    d_nodes = np.asarray(dest_nodes, dtype=np.int64).ravel()
    n, m = len(o_nodes), len(d_nodes)
    if n == 0 or m == 0:
        return sp.csr_matrix((n, m), dtype=dtype)
    o_pos = _positions(node_ids, o_nodes, "origin")
    d_pos = _positions(node_ids, d_nodes, "destination")
    limit_s = float(limit_min) * 60.0

    uo, o_inv = np.unique(o_pos, return_inverse=True)
    ud, d_inv = np.unique(d_pos, return_inverse=True)
    from_sites = len(ud) <= len(uo)
    graph = matrix.T.tocsr() if from_sites else matrix.tocsr()
    sources, targets = (ud, uo) if from_sites else (uo, ud)
    tiles = plan_tiles(
        graph, lon, lat, sources, targets, limit_s, window_min_nodes=window_min_nodes
    )
    if scheduler is not None and len(tiles) == 1 and tiles[0].window is None:
        tiles = _split_whole(tiles[0], TASKS_WHOLE_GRAPH)
    parts = _route_all(graph, tiles, limit_s, chunk, np.dtype(dtype), scheduler)
    # origins × unique destinations (repeated origin nodes filled in place), then expand
    # repeated destinations
    row_map = None if n == len(uo) and np.array_equal(o_inv, np.arange(n)) else o_inv
    out = _assemble(parts, from_sites, len(uo), len(ud), np.dtype(dtype), row_map)
    del parts
    if not (m == len(ud) and np.array_equal(d_inv, np.arange(m))):
        out = sp.csr_matrix(out[:, d_inv])
        out.sort_indices()
    logger.info(
        "travel: %d × %d pairs within %.1f min: %d stored (%.2f%%), routed from %s in %d tile(s)",
        n, m, limit_min, out.nnz, 100.0 * out.nnz / max(n * m, 1),
        "sites (reversed graph)" if from_sites else "demand", len(tiles),
    )  # fmt: skip
    return out


def _assemble(
    parts: list[tuple],
    from_sites: bool,
    n_urows: int,
    n_cols: int,
    dtype: np.dtype,
    row_map: np.ndarray | None,
) -> sp.csr_matrix:
    """CSR of minutes from the tiles' pairs, rows = origins (``row_map``: origin → unique rank).

    Filled in place tile by tile, each tile's pairs released once placed, so the transient memory
    is the tiles' pairs (8 bytes each) plus the result (8 bytes per stored entry); an origin that
    shares its node with others gets its row copied straight into place.
    """
    n_rows = n_urows if row_map is None else row_map.size
    ucount = np.zeros(n_urows, np.int64)
    for p in parts:
        if from_sites:
            ucount += np.bincount(p[2], minlength=n_urows)
        else:
            np.add.at(ucount, p[0], p[1])
    if row_map is not None:
        by_u = np.argsort(row_map, kind="stable")
        per_u = np.bincount(row_map, minlength=n_urows)
        u_start = np.r_[0, np.cumsum(per_u)[:-1]]
    counts = ucount if row_map is None else ucount[row_map]
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    del counts, ucount
    indices = np.empty(int(indptr[-1]), np.int32 if n_cols < 2**31 else np.int64)
    data = np.empty(int(indptr[-1]), dtype)
    cursor = indptr[:-1].copy()
    for k in range(len(parts)):
        src_rank, count, tgt, sec = parts[k]
        parts[k] = ()
        per_source = np.repeat(src_rank, count)
        urow, col = (tgt, per_source) if from_sites else (per_source, tgt)
        order = np.argsort(urow, kind="stable")
        urow, col, sec = urow[order], col[order], sec[order]
        rank = np.arange(urow.size) - np.searchsorted(urow, urow, side="left")
        if row_map is None:
            rows = urow
        else:  # every origin at this unique node gets the entry
            k_e = per_u[urow]
            off = np.arange(int(k_e.sum())) - np.repeat(np.cumsum(k_e) - k_e, k_e)
            rows = by_u[np.repeat(u_start[urow], k_e) + off]
            rank, col, sec = np.repeat(rank, k_e), np.repeat(col, k_e), np.repeat(sec, k_e)
        dest = cursor[rows] + rank
        indices[dest] = col
        minutes = (sec / sec.dtype.type(60.0)).astype(dtype, copy=False)
        minutes[minutes <= 0] = SAME_NODE_MIN
        data[dest] = minutes
        cursor += np.bincount(rows, minlength=n_rows)
        del per_source, urow, col, sec, order, rank, rows, dest, minutes
    out = sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_cols))
    out.sort_indices()
    _release_freed_memory()
    return out


def _release_freed_memory() -> None:
    """Hand freed heap memory back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    The tiles' many mid-sized arrays come from the C heap; once freed they stay in the process
    (counted in its resident memory) unless trimmed.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _as_arrays(G_or_arrays: Any) -> Any:
    if isinstance(G_or_arrays, nx.MultiDiGraph):
        return network.graph_arrays(G_or_arrays)
    if hasattr(G_or_arrays, "edges") and hasattr(G_or_arrays, "nodes"):  # RoadTables
        from siting import road_tables

        return road_tables.graph_arrays(G_or_arrays)
    return G_or_arrays
