"""Trip paths for flow refuelling: lexicographic shortest paths, the Kuby–Lim 25-node network,
and an independent tank simulation of a round trip.

Path convention (issue 5): a trip between origin ``o`` and destination ``d`` is a round trip
along one shortest path; where several shortest paths tie, the path is the lexicographically
smallest node sequence from ``o`` (nodes compared by index; for the 25-node network the indices
are the file's node ids minus 1, in the same order). For an unordered O-D pair ``{i, j}`` the
origin is the smaller index. Which endpoint is the origin does not change whether a round trip is
refuelled (see :mod:`siting.models.frlm`), but it does pick the path among ties.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

from siting._errors import InputError, ModelInputError
from siting.models.frlm import Trips

log = logging.getLogger(__name__)

__all__ = [
    "KubyLimNetwork",
    "kuby_lim_trips",
    "lexicographic_next_hop",
    "read_kuby_lim",
    "round_trips_refuelled",
    "shortest_path_trips",
    "simulate_round_trip",
]

EDGES_FILE = "25-Node_Network_Edges.csv"
NODES_FILE = "25-Node_Network_Nodes.csv"
FLOWS_FILE = "25-Node_Network_Traffic_Flow.csv"


@dataclass(frozen=True)
class KubyLimNetwork:
    """The 25-node FRLM test network (Simchi-Levi & Berman 1988; Kuby & Lim 2005).

    Attributes
    ----------
    node_ids : ndarray of int
        Node ids as in the files, ascending; node index ``i`` is ``node_ids[i]``.
    population : ndarray of float
        Population weight of each node.
    tail, head : ndarray of int
        Undirected edges (node indices, ``tail < head``), each once.
    length : ndarray of float
        Edge length, in the file's (unit-less, integer) distance units; ranges use the same unit.
    od_flow : ndarray of float, shape (n, n)
        Symmetric O-D flows (round trips per day in the FRLM reading).
    """

    node_ids: np.ndarray
    population: np.ndarray
    tail: np.ndarray
    head: np.ndarray
    length: np.ndarray
    od_flow: np.ndarray

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_ids.shape[0])


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        df = pd.read_csv(path, encoding="utf-8-sig", skipinitialspace=True)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable CSV ({exc})") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df


def read_kuby_lim(folder: str | Path) -> KubyLimNetwork:
    """Read the 25-node network from the three CSV files in ``folder``.

    Parameters
    ----------
    folder : str or Path
        Folder holding ``25-Node_Network_Edges.csv`` (Origin, Destination, Edge Length; each
        undirected edge listed in both directions), ``25-Node_Network_Nodes.csv`` (Node,
        Population Weight) and ``25-Node_Network_Traffic_Flow.csv`` (O-D matrix, node ids as
        header and first column).

    Returns
    -------
    KubyLimNetwork

    Raises
    ------
    InputError
        If a file is missing or malformed (the message names the file and what is wrong).
    """
    folder = Path(folder)
    nodes = _read_csv(folder / NODES_FILE)
    edges = _read_csv(folder / EDGES_FILE)
    flows = _read_csv(folder / FLOWS_FILE)
    for df, f, cols in (
        (nodes, NODES_FILE, ["Node", "Population Weight"]),
        (edges, EDGES_FILE, ["Origin", "Destination", "Edge Length"]),
    ):
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise InputError(f"{folder / f}: missing column(s) {missing}; found {list(df.columns)}")
    try:
        ids = nodes["Node"].to_numpy(dtype=np.int64)
        pop = nodes["Population Weight"].to_numpy(dtype=float)
        o = edges["Origin"].to_numpy(dtype=np.int64)
        d = edges["Destination"].to_numpy(dtype=np.int64)
        w = edges["Edge Length"].to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{folder}: non-numeric node id, weight or length ({exc})") from None
    order = np.argsort(ids)
    ids, pop = ids[order], pop[order]
    if np.unique(ids).size != ids.size:
        raise InputError(f"{folder / NODES_FILE}: duplicate node ids")
    pos = {int(v): i for i, v in enumerate(ids)}
    unknown = [int(v) for v in np.concatenate([o, d]) if int(v) not in pos]
    if unknown:
        raise InputError(
            f"{folder / EDGES_FILE}: edge endpoint {unknown[0]} is not in {NODES_FILE}"
        )
    if not np.isfinite(w).all() or (w <= 0).any():
        raise InputError(f"{folder / EDGES_FILE}: edge lengths must be positive numbers")
    oi = np.array([pos[int(v)] for v in o])
    di = np.array([pos[int(v)] for v in d])
    a, b = np.minimum(oi, di), np.maximum(oi, di)
    e = pd.DataFrame({"a": a, "b": b, "w": w})
    spread = e.groupby(["a", "b"])["w"].agg(["min", "max"])
    if (spread["min"] != spread["max"]).any():
        raise InputError(
            f"{folder / EDGES_FILE}: an edge has different lengths in its two directions"
        )
    und = spread.reset_index()
    first_col = flows.columns[0]
    try:
        row_ids = flows[first_col].to_numpy(dtype=np.int64)
        col_ids = np.array([int(float(c)) for c in flows.columns[1:]])
        mat = flows.iloc[:, 1:].to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{folder / FLOWS_FILE}: non-numeric O-D matrix ({exc})") from None
    n = ids.size
    if (
        mat.shape != (n, n)
        or set(row_ids.tolist()) != set(ids.tolist())
        or set(col_ids.tolist()) != set(ids.tolist())
    ):
        raise InputError(f"{folder / FLOWS_FILE}: O-D matrix must be {n}×{n} over the node ids")
    ri = np.array([pos[int(v)] for v in row_ids])
    ci = np.array([pos[int(v)] for v in col_ids])
    od = np.zeros((n, n))
    od[np.ix_(ri, ci)] = mat
    if (od < 0).any() or not np.isfinite(od).all():
        raise InputError(f"{folder / FLOWS_FILE}: flows must be finite and >= 0")
    return KubyLimNetwork(
        node_ids=ids,
        population=pop,
        tail=und["a"].to_numpy(np.int64),
        head=und["b"].to_numpy(np.int64),
        length=und["min"].to_numpy(float),
        od_flow=od,
    )


def _min_edges(
    n_nodes: int, tail: object, head: object, length: object, directed: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed arcs (sorted by tail, head) with the minimum length over parallel edges."""
    tail = np.asarray(tail, np.int64).ravel()
    head = np.asarray(head, np.int64).ravel()
    length = np.asarray(length, float).ravel()
    if not (tail.shape == head.shape == length.shape):
        raise ModelInputError("tail, head and length must have the same length")
    if ((tail < 0) | (tail >= n_nodes) | (head < 0) | (head >= n_nodes)).any():
        raise ModelInputError(f"edge endpoints must be node indices 0..{n_nodes - 1}")
    if not np.isfinite(length).all() or (length <= 0).any():
        raise ModelInputError("edge lengths must be finite and > 0")
    if directed:
        t, h, w = tail, head, length
    else:
        t, h, w = np.r_[tail, head], np.r_[head, tail], np.r_[length, length]
    keep = t != h
    t, h, w = t[keep], h[keep], w[keep]
    key = t * n_nodes + h
    order = np.lexsort((w, key))
    ukey, first = np.unique(key[order], return_index=True)
    return ukey // n_nodes, ukey % n_nodes, w[order][first]


def lexicographic_next_hop(
    n_nodes: int,
    tail: np.ndarray,
    head: np.ndarray,
    length: np.ndarray,
    destinations: np.ndarray,
    *,
    directed: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Next hop towards each destination on the lexicographically smallest shortest path.

    The lexicographically smallest shortest ``o -> d`` path is found greedily: from ``u`` take
    the smallest-index neighbour ``v`` with ``w(u, v) + D[v, d] = D[u, d]``. The choice does not
    depend on ``o``, so one next-hop table per destination serves every origin.

    Parameters
    ----------
    n_nodes : int
        Number of nodes.
    tail, head, length : ndarray
        Edges (node indices) and positive lengths; undirected unless ``directed``.
    destinations : ndarray of int
        Destination nodes (columns of the result).
    directed : bool
        Treat edges as one-way.

    Returns
    -------
    next_hop : ndarray of int, shape (n_nodes, n_dest)
        Next node from ``u`` towards ``destinations[j]`` (-1 if unreachable or ``u`` is it).
    dist : ndarray of float, shape (n_nodes, n_dest)
        Shortest distance from ``u`` to ``destinations[j]``.
    """
    destinations = np.asarray(destinations, np.int64)
    t, h, w = _min_edges(n_nodes, tail, head, length, directed)
    g = sp.csr_matrix((w, (t, h)), shape=(n_nodes, n_nodes))
    # distances *to* each destination = distances from it on the reversed graph
    dist = shortest_path(g.T.tocsr(), directed=True, indices=destinations).T  # (n, n_dest)
    tol = 1e-9 * max(1.0, float(np.nanmax(np.where(np.isfinite(dist), dist, 0.0))))
    nh = np.full(dist.shape, np.iinfo(np.int64).max, dtype=np.int64)
    for j in range(destinations.shape[0]):  # one vectorised pass over all edges per destination
        du, dv = dist[t, j], dist[h, j]
        with np.errstate(invalid="ignore"):  # inf - inf where neither end reaches j: not tight
            tight = np.isfinite(du) & (np.abs(w + dv - du) <= tol) & (du > 0)
        np.minimum.at(nh[:, j], t[tight], h[tight])
    nh[nh == np.iinfo(np.int64).max] = -1
    return nh, dist


def shortest_path_trips(
    n_nodes: int,
    tail: np.ndarray,
    head: np.ndarray,
    length: np.ndarray,
    origins: np.ndarray,
    destinations: np.ndarray,
    flows: np.ndarray,
    *,
    directed: bool = False,
) -> Trips:
    """Trips along the lexicographically smallest shortest path of each O-D pair.

    Parameters
    ----------
    n_nodes : int
        Number of network nodes.
    tail, head, length : ndarray
        Edges and their lengths (km or the network's unit).
    origins, destinations : ndarray of int
        O-D pairs (node indices), ``origin != destination``.
    flows : ndarray of float
        Round trips a day per pair.
    directed : bool
        Treat edges as one-way.

    Returns
    -------
    Trips

    Raises
    ------
    ModelInputError
        If a destination is unreachable or an origin equals its destination.
    """
    origins = np.asarray(origins, np.int64)
    destinations = np.asarray(destinations, np.int64)
    if (origins == destinations).any():
        k = int(np.argmax(origins == destinations))
        raise ModelInputError(f"O-D pair {k} has origin = destination (node {origins[k]})")
    dests, dcol = np.unique(destinations, return_inverse=True)
    nh, dist = lexicographic_next_hop(n_nodes, tail, head, length, dests, directed=directed)
    unreachable = ~np.isfinite(dist[origins, dcol])
    if unreachable.any():
        k = int(np.argmax(unreachable))
        raise ModelInputError(
            f"O-D pair {k}: node {destinations[k]} is unreachable from node {origins[k]}"
        )
    # walk all trips at once, one hop per step
    steps = [origins.copy()]
    cur = origins.copy()
    done = cur == destinations
    while not done.all():
        nxt = np.where(done, cur, nh[cur, dcol])
        steps.append(nxt)
        cur = nxt
        done = cur == destinations
        if len(steps) > n_nodes + 1:
            raise RuntimeError("next-hop walk did not terminate: inconsistent distances")
    walk = np.stack(steps, axis=1)  # (n_trips, max_len); rows padded with the destination
    lens = 1 + (walk[:, 1:] != walk[:, :-1]).sum(axis=1)
    mask = np.arange(walk.shape[1])[None, :] < lens[:, None]
    nodes = walk[mask]
    node_ptr = np.concatenate([[0], np.cumsum(lens)])
    # arc lengths: minimum parallel edge length between consecutive nodes
    t, h, wmin = _min_edges(n_nodes, tail, head, length, directed)
    ukey = t * n_nodes + h
    is_last = np.zeros(nodes.shape[0], bool)
    is_last[node_ptr[1:] - 1] = True
    a, b = nodes[:-1][~is_last[:-1]], nodes[1:][~is_last[:-1]]
    arc_km = wmin[np.searchsorted(ukey, a * n_nodes + b)]
    return Trips(
        node_ptr=node_ptr.astype(np.int64),
        nodes=nodes,
        arc_km=arc_km,
        flow=np.asarray(flows, float),
    )


def kuby_lim_trips(net: KubyLimNetwork, *, min_flow: float = 0.0) -> tuple[Trips, np.ndarray]:
    """The 300 round trips of the 25-node network (pairs ``i < j`` with flow > ``min_flow``).

    Returns
    -------
    trips : Trips
        Origin = the smaller node index; lexicographically smallest shortest path.
    od : ndarray of int, shape (n_trips, 2)
        (origin, destination) node indices of each trip.
    """
    n = net.n_nodes
    i, j = np.triu_indices(n, k=1)
    f = net.od_flow[i, j]
    keep = f > min_flow
    i, j, f = i[keep], j[keep], f[keep]
    trips = shortest_path_trips(n, net.tail, net.head, net.length, i, j, f)
    return trips, np.stack([i, j], axis=1)


def simulate_round_trip(
    path: np.ndarray, arc_km: np.ndarray, station_at_node: np.ndarray, range_km: float
) -> bool:
    """Drive the round trip along ``path`` and back, tank by tank (the issue-5 convention).

    Start with a full tank if a station is at the origin, else half a tank; refuel to full at
    every station passed (the destination included); arrive back at the origin with at least
    half a tank unless a station is there. Written independently of the arc-cover K sets.

    Parameters
    ----------
    path : ndarray of int
        Node indices, origin first.
    arc_km : ndarray of float
        Arc lengths (``len(path) - 1``).
    station_at_node : ndarray of bool
        True at nodes with an open station.
    range_km : float
        Range on a full tank.

    Returns
    -------
    bool
        True if the round trip never runs dry and ends as required.
    """
    eps = 1e-9 * max(1.0, float(range_km))
    seq = list(path) + list(path[-2::-1])
    legs = list(arc_km) + list(arc_km[::-1])
    tank = range_km if station_at_node[seq[0]] else range_km / 2
    for nxt, leg in zip(seq[1:], legs, strict=True):
        tank -= leg
        if tank < -eps:
            return False
        if station_at_node[nxt]:
            tank = range_km
    if station_at_node[seq[0]]:
        return True
    return tank >= range_km / 2 - eps


def round_trips_refuelled(trips: Trips, station_at_node: np.ndarray, range_km: float) -> np.ndarray:
    """Bool per trip: :func:`simulate_round_trip` succeeds with stations at ``station_at_node``."""
    station_at_node = np.asarray(station_at_node, bool)
    return np.array(
        [
            simulate_round_trip(trips.path(q), trips.arcs(q), station_at_node, range_km)
            for q in range(trips.n_trips)
        ],
        dtype=bool,
    )
