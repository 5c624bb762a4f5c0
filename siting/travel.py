"""Sparse demand × site travel-time matrix within a limit, computed in bulk (scipy csgraph).

Shortest paths run with :func:`scipy.sparse.csgraph.dijkstra` and its ``limit`` argument from
the smaller side: from the sites on the *reversed* graph when there are fewer distinct site nodes
than demand nodes (the usual case), else from the demand nodes on the graph itself. Either way the
stored time is the time to drive *from* the demand cell's node *to* the site's node, which differs
from the opposite direction on one-way streets. Sources are processed in chunks so the dense
intermediate block stays small.
"""

from __future__ import annotations

import logging
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

#: Dijkstra sources per chunk (bounds the dense block to CHUNK × number of graph nodes floats).
CHUNK = 256


def _positions(node_ids: np.ndarray, nodes: np.ndarray, what: str) -> np.ndarray:
    order = np.argsort(node_ids)
    pos = np.searchsorted(node_ids, nodes, sorter=order)
    pos = np.clip(pos, 0, len(node_ids) - 1)
    idx = order[pos]
    bad = node_ids[idx] != nodes
    if bad.any():
        raise InputError(f"travel: {int(bad.sum())} {what} node(s) are not in the road graph")
    return idx


def travel_times(
    G_or_arrays: nx.MultiDiGraph | network.GraphArrays | Any,
    origin_nodes: Any,
    dest_nodes: Any,
    limit_min: float,
    *,
    chunk: int = CHUNK,
) -> sp.csr_matrix:
    """Travel times (minutes) from every origin node to every destination node within a limit.

    Parameters
    ----------
    G_or_arrays
        Road graph (edge ``travel_time`` in seconds) or :func:`siting.network.graph_arrays` of it.
    origin_nodes
        Graph node id per origin (demand cell), length n.
    dest_nodes
        Graph node id per destination (site), length m. Repeated ids are routed once.
    limit_min
        Only pairs with a shortest time ≤ this many minutes are stored.
    chunk
        Dijkstra sources per batch.

    Returns
    -------
    scipy.sparse.csr_matrix
        n × m, float minutes; a pair at the same node holds :data:`SAME_NODE_MIN`.

    Raises
    ------
    InputError
        A node id is not in the graph, or the limit is not positive.
    """
    if not limit_min > 0:
        raise InputError(f"travel: the time limit must be > 0 minutes, got {limit_min}")
    arrays = (
        network.graph_arrays(G_or_arrays)
        if isinstance(G_or_arrays, nx.MultiDiGraph)
        else G_or_arrays
    )
    matrix, node_ids = arrays[0], np.asarray(arrays[1])
    o_nodes = np.asarray(origin_nodes, dtype=np.int64).ravel()
    d_nodes = np.asarray(dest_nodes, dtype=np.int64).ravel()
    n, m = len(o_nodes), len(d_nodes)
    if n == 0 or m == 0:
        return sp.csr_matrix((n, m))
    o_pos = _positions(node_ids, o_nodes, "origin")
    d_pos = _positions(node_ids, d_nodes, "destination")
    limit_s = float(limit_min) * 60.0

    uo, o_inv = np.unique(o_pos, return_inverse=True)
    ud, d_inv = np.unique(d_pos, return_inverse=True)
    from_sites = len(ud) <= len(uo)
    graph = matrix.T.tocsr() if from_sites else matrix.tocsr()
    sources, targets = (ud, uo) if from_sites else (uo, ud)

    rows, cols, vals = [], [], []
    for s in range(0, len(sources), chunk):
        src = sources[s : s + chunk]
        dist = dijkstra(graph, directed=True, indices=src, limit=limit_s)[:, targets]
        r, c = np.nonzero(np.isfinite(dist))
        rows.append(r + s)
        cols.append(c)
        vals.append(dist[r, c])
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    v = np.concatenate(vals) / 60.0
    v = np.where(v > 0, v, SAME_NODE_MIN)
    # unique-source × unique-target block, oriented unique-origin × unique-dest
    if from_sites:
        block = sp.csr_matrix((v, (c, r)), shape=(len(uo), len(ud)))
    else:
        block = sp.csr_matrix((v, (r, c)), shape=(len(uo), len(ud)))
    # expand to all origins × all destinations (repeated node ids share a row / column)
    expand_o = sp.csr_matrix((np.ones(n), (np.arange(n), o_inv)), shape=(n, len(uo)))
    expand_d = sp.csr_matrix((np.ones(m), (d_inv, np.arange(m))), shape=(len(ud), m))
    out = (expand_o @ block @ expand_d).tocsr()
    out.sort_indices()
    logger.info(
        "travel: %d × %d pairs within %.1f min: %d stored (%.2f%%), routed from %s",
        n,
        m,
        limit_min,
        out.nnz,
        100.0 * out.nnz / max(n * m, 1),
        "sites (reversed graph)" if from_sites else "demand",
    )
    return out
