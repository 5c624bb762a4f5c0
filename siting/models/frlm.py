"""Flow-refuelling location (FRLM): exact arc-cover MILP, uncapacitated and capacitated.

Vehicles refuel *on their trips*. A trip is a round trip along one path (origin -> destination
-> origin, the return along the same nodes reversed) made by ``flow`` vehicles a day. Stations
are chosen so that the most flow can complete its round trip without running dry.

Refuelling convention (Kuby & Lim 2005; the convention of issue 5)
------------------------------------------------------------------
* A vehicle starts at its origin with a full tank (range ``R``) if a station is there, otherwise
  with half a tank (``R/2``).
* It refuels to full at every open station it passes, the destination included.
* It must get back to its origin with at least half a tank (``R/2``) unless a station is there
  (then with a tank >= 0). A tank that reaches exactly 0 at a station is fine.
* Stations off the path do not help (no detours).

The arc-cover sets K (Capar, Kuby, Leon & Tsai 2013, EJOR 227)
--------------------------------------------------------------
Write the round trip of a path ``v_0 .. v_m`` (lengths ``l_1 .. l_m``, one-way length ``L``) as
a cycle of ``2m`` positions: ``v_0 .. v_m`` at distances ``s_i`` from the origin, then
``v_{m-1} .. v_1`` at ``2L - s_i``; directional arc ``a_j`` runs from position ``j`` to
``j + 1`` and its head lies at ``H_j = s_{j+1}`` (``2L`` for the last arc, back at the origin).

Under the convention above, the round trip is feasible iff the open stations on the path are
non-empty and every gap between consecutive open stations *around the cycle* is at most ``R``:

* between stations the tank only falls, and refuelling to full makes every gap independent;
* with no station at the origin, the first station outbound and the last station on the
  return are the same node at distance ``x`` from the origin; starting with ``R/2`` needs
  ``x <= R/2`` and returning with ``>= R/2`` needs ``R - x >= R/2``, i.e. the same ``x <= R/2``,
  which is exactly the cyclic gap ``2x <= R`` that wraps around the origin;
* with a station at the origin, the gap ending and the gap starting at the origin are ordinary.

Hence ``K_{q,a_j}`` = the nodes at a position ``i`` of the cycle whose forward cyclic distance to
the head, ``(H_j - s_i) mod 2L`` taken in ``(0, 2L]``, is at most ``R``: a station there can
reach the end of the arc on one tank. (A station at the head itself only counts through its
other position, a full lap back.) Trip ``q`` is refuelled iff every one of its ``2m`` arcs has an
open station in ``K_{q,a}``; the model is

    max sum_q f_q u_q   s.t.   u_q <= sum_{k in K_{q,a}} y_k  for all (q, a),
                               y binary, 0 <= u_q <= 1, budget / p rows,

where ``u_q`` takes the value 0 or 1 at any optimum because the right-hand sides are integers.
If the round trip ``2L <= R`` every station on the path covers every arc. K sets are built for
all trips at once with array operations (a vectorised bisection within each trip's cycle).

Capacitated variant (per-arc fuel allocation, split allowed)
------------------------------------------------------------
Each site has size options (kg/day, each with its own cost); an open site takes exactly one.
A refuelled trip burns ``fuel_kg_per_km * flow * l_a`` kg/day on each directional arc ``a``; that
fuel must be dispensed by open stations in ``K_{q,a}`` (which can carry it to the end of the
arc), split freely among them, and a station's load (kg/day) may not exceed its size. Any such
allocation is realisable by vehicles that take partial fills (fuel bought at ``k`` for an arc
within ``R`` ahead never overfills the tank), so the allocation is a faithful, exact MILP in the
spirit of the capacitated FRLM of Upchurch, Kuby & Lim (2009, Geographical Analysis 41). The
served share ``u_q`` of a trip's flow is continuous in ``[0, 1]`` (partial service, as in CFRLM)
unless ``whole_trips=True`` makes it binary. Arcs of one trip with identical K sets are merged
before allocation variables are made (an exact aggregation).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from siting._errors import ModelInputError
from siting.models._milp import MilpBuilder, solve_milp
from siting.models._solution import Solution
from siting.models._validate import check_p, required_forbidden, time_and_gap, vector

log = logging.getLogger(__name__)

__all__ = [
    "FlowRefuellingHandle",
    "Trips",
    "add_flow_refuelling",
    "cover_sets",
    "flow_refuelling",
    "refuelled_by",
]


@dataclass(frozen=True)
class Trips:
    """Round trips along paths, held as flat arrays (CSR-like).

    Attributes
    ----------
    node_ptr : ndarray of int, shape (n_trips + 1,)
        Trip ``q`` visits ``nodes[node_ptr[q]:node_ptr[q + 1]]`` (origin first, destination last).
    nodes : ndarray of int
        Network node indices of all paths, concatenated.
    arc_km : ndarray of float
        Length (km, or any unit shared with the range) of each arc of each path, concatenated;
        trip ``q`` owns ``arc_km[node_ptr[q] - q : node_ptr[q + 1] - q - 1]``.
    flow : ndarray of float, shape (n_trips,)
        Round trips a day (vehicles/day).
    """

    node_ptr: np.ndarray
    nodes: np.ndarray
    arc_km: np.ndarray
    flow: np.ndarray

    @property
    def n_trips(self) -> int:
        """Number of trips."""
        return int(self.flow.shape[0])

    @property
    def arc_ptr(self) -> np.ndarray:
        """Offsets of each trip's arcs in :attr:`arc_km`."""
        return self.node_ptr - np.arange(self.node_ptr.shape[0])

    @property
    def length_km(self) -> np.ndarray:
        """One-way path length of each trip."""
        g = np.concatenate([[0.0], np.cumsum(self.arc_km)])
        ap = self.arc_ptr
        return g[ap[1:]] - g[ap[:-1]]

    def path(self, q: int) -> np.ndarray:
        """Node indices of trip ``q``."""
        return self.nodes[self.node_ptr[q] : self.node_ptr[q + 1]]

    def arcs(self, q: int) -> np.ndarray:
        """Arc lengths of trip ``q``."""
        ap = self.arc_ptr
        return self.arc_km[ap[q] : ap[q + 1]]

    @classmethod
    def from_paths(
        cls,
        paths: Sequence[Sequence[int] | np.ndarray],
        arc_lengths: Sequence[Sequence[float] | np.ndarray],
        flows: Sequence[float] | np.ndarray,
    ) -> Trips:
        """Build trips from one node sequence and one arc-length sequence per trip.

        Parameters
        ----------
        paths : sequence of int sequences
            Node indices of each path, origin first; at least 2 nodes.
        arc_lengths : sequence of float sequences
            ``len(path) - 1`` positive arc lengths (km) per path.
        flows : sequence of float
            Round trips a day per path (vehicles/day), >= 0.

        Raises
        ------
        ModelInputError
            On mismatched lengths, paths of fewer than 2 nodes, non-positive arc lengths.
        """
        n = len(paths)
        if len(arc_lengths) != n:
            raise ModelInputError(
                f"arc_lengths has {len(arc_lengths)} entries but paths has {n}; one per trip"
            )
        flow = vector(flows, n, "flows")
        lens = np.fromiter((len(p) for p in paths), dtype=np.int64, count=n)
        node_ptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        nodes = (
            np.concatenate([np.asarray(p, dtype=np.int64).ravel() for p in paths])
            if n
            else np.zeros(0, np.int64)
        )
        arcs = [np.asarray(a, dtype=float).ravel() for a in arc_lengths]
        arc_n = np.fromiter((a.shape[0] for a in arcs), dtype=np.int64, count=n)
        bad = np.flatnonzero(arc_n != lens - 1)
        if bad.size:
            q = int(bad[0])
            raise ModelInputError(
                f"trip {q}: path has {lens[q]} nodes but {arc_n[q]} arc lengths (need nodes - 1)"
            )
        arc_km = np.concatenate(arcs) if n else np.zeros(0)
        trips = cls(node_ptr=node_ptr, nodes=nodes, arc_km=arc_km, flow=flow)
        trips.validate()
        return trips

    def validate(self, n_nodes: int | None = None) -> None:
        """Raise :class:`ModelInputError` if the arrays are inconsistent."""
        lens = np.diff(self.node_ptr)
        if self.node_ptr.shape[0] != self.flow.shape[0] + 1:
            raise ModelInputError("node_ptr must have one entry more than flow")
        if (lens < 2).any():
            q = int(np.argmax(lens < 2))
            raise ModelInputError(f"trip {q} has {lens[q]} node(s); a path needs at least 2")
        if self.arc_km.shape[0] != self.nodes.shape[0] - self.n_trips:
            raise ModelInputError("arc_km must hold len(path) - 1 lengths per trip")
        if not np.isfinite(self.arc_km).all() or (self.arc_km <= 0).any():
            k = int(np.argmax(~np.isfinite(self.arc_km) | (self.arc_km <= 0)))
            raise ModelInputError(f"arc length {self.arc_km[k]} at arc {k} must be finite and > 0")
        if (self.nodes < 0).any() or (n_nodes is not None and (self.nodes >= n_nodes).any()):
            raise ModelInputError("trip paths hold a node index outside the network")
        if not np.isfinite(self.flow).all() or (self.flow < 0).any():
            raise ModelInputError("trip flows must be finite and >= 0 (vehicles/day)")


@dataclass
class CoverSets:
    """The arc-cover incidence of a set of trips (see the module docstring).

    Attributes
    ----------
    cover : scipy.sparse.csr_matrix, bool, shape (n_arcs, n_sites)
        Row ``r`` = directional arc ``r`` of some round trip; True where the site is in ``K``.
    arc_trip : ndarray of int, shape (n_arcs,)
        Trip of each row.
    arc_km : ndarray of float, shape (n_arcs,)
        Length of each directional arc.
    """

    cover: sp.csr_matrix
    arc_trip: np.ndarray
    arc_km: np.ndarray


def _node_to_sites(site_nodes: np.ndarray, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR (ptr, sites) listing the candidate sites at each node."""
    order = np.argsort(site_nodes, kind="stable")
    counts = np.bincount(site_nodes, minlength=n_nodes)
    ptr = np.concatenate([[0], np.cumsum(counts)])
    return ptr, order


def _expand(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For runs (start, count) return (run index, start + offset) of every element, in bulk."""
    total = int(counts.sum())
    run = np.repeat(np.arange(counts.shape[0]), counts)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    offset = np.arange(total) - np.repeat(first, counts)
    return run, np.repeat(starts, counts) + offset


def cover_sets(
    trips: Trips, range_km: float, site_nodes: np.ndarray, n_nodes: int | None = None
) -> CoverSets:
    """Derive the arc-cover sets ``K_{q,a}`` of every directional arc of every round trip.

    Parameters
    ----------
    trips : Trips
        The trips.
    range_km : float
        Driving range on a full tank, in the unit of the arc lengths (km).
    site_nodes : ndarray of int, shape (n_sites,)
        Network node of each candidate site (several sites may share a node).
    n_nodes : int, optional
        Number of network nodes (default: 1 + the largest node index seen).

    Returns
    -------
    CoverSets
        Incidence arcs × sites, built with array operations only.
    """
    R = float(range_km)
    if not np.isfinite(R) or R <= 0:
        raise ModelInputError(f"range_km must be a positive number, got {range_km}")
    site_nodes = np.asarray(site_nodes, dtype=np.int64)
    if n_nodes is None:
        n_nodes = int(max(trips.nodes.max(initial=-1), site_nodes.max(initial=-1))) + 1
    n_sites = site_nodes.shape[0]
    nq = trips.n_trips
    m = np.diff(trips.node_ptr) - 1  # arcs per path
    P = 2 * m  # positions (= directional arcs) per round trip
    pos_ptr = np.concatenate([[0], np.cumsum(P)])
    total = int(pos_ptr[-1])
    arc_ptr = trips.arc_ptr
    g = np.concatenate([[0.0], np.cumsum(trips.arc_km)])
    L = g[arc_ptr[1:]] - g[arc_ptr[:-1]]

    # cycle position c of trip q -> path index pp, node and distance s from the origin
    q_of = np.repeat(np.arange(nq), P)
    c = np.arange(total) - pos_ptr[q_of]
    m_of = m[q_of]
    pp = np.where(c <= m_of, c, 2 * m_of - c)
    node = trips.nodes[trips.node_ptr[q_of] + pp]
    s_path = g[arc_ptr[q_of] + pp] - g[arc_ptr[q_of]]
    s = np.where(c <= m_of, s_path, 2 * L[q_of] - s_path)
    # arc length of directional arc c (from position c to c + 1)
    nxt = np.where(c + 1 < P[q_of], np.arange(total) + 1, pos_ptr[q_of])
    head = np.where(c + 1 < P[q_of], s[nxt], 2 * L[q_of])
    arc_len = head - s

    # extended cycle: positions s - 2L then s, 2P entries per trip; ext index e of trip q
    # corresponds to cycle index e mod P. Arc c's head is ext index P + c + 1; stations strictly
    # before it within R: first ext index with value >= head - R (bisection within the trip).
    ext_ptr = 2 * pos_ptr
    ext = np.empty(2 * total)
    e_q = np.repeat(np.arange(nq), 2 * P)
    e_i = np.arange(2 * total) - ext_ptr[e_q]
    e_c = np.where(e_i < P[e_q], e_i, e_i - P[e_q])
    ext[:] = s[pos_ptr[e_q] + e_c] - np.where(e_i < P[e_q], 2 * L[e_q], 0.0)
    hi = P[q_of] + c + 1
    lo = hi - P[q_of]
    tol = 1e-9 * max(R, 1.0)
    thr = head - R - tol
    base = ext_ptr[q_of]
    a, b = lo.copy(), hi.copy()
    while True:
        active = a < b
        if not active.any():
            break
        mid = (a + b) // 2
        ge = np.zeros(total, dtype=bool)
        ge[active] = ext[base[active] + mid[active]] >= thr[active]
        b = np.where(active & ge, mid, b)
        a = np.where(active & ~ge, mid + 1, a)
    counts = hi - a
    arc_row, e_idx = _expand(a, counts)
    ent_node = node[pos_ptr[q_of[arc_row]] + (e_idx % P[q_of[arc_row]])]

    # node -> sites, then unique (row, site)
    ptr, order = _node_to_sites(site_nodes, max(n_nodes, int(ent_node.max(initial=-1)) + 1))
    k_counts = ptr[ent_node + 1] - ptr[ent_node] if ent_node.size else np.zeros(0, np.int64)
    which, sidx = _expand(ptr[ent_node] if ent_node.size else ent_node, k_counts)
    rows = arc_row[which]
    sites = order[sidx] if sidx.size else sidx
    key = np.unique(rows.astype(np.int64) * max(n_sites, 1) + sites)
    rows, sites = key // max(n_sites, 1), key % max(n_sites, 1)
    cover = sp.csr_matrix(
        (np.ones(rows.shape[0], dtype=bool), (rows, sites)), shape=(total, n_sites)
    )
    return CoverSets(cover=cover, arc_trip=q_of, arc_km=arc_len)


def refuelled_by(cs: CoverSets, open_mask: np.ndarray, n_trips: int) -> np.ndarray:
    """Bool per trip: every arc of its round trip has an open station in its K set."""
    covered_arc = (cs.cover.astype(np.int32) @ open_mask.astype(np.int32)) > 0
    bad = np.bincount(cs.arc_trip[~covered_arc], minlength=n_trips)
    return bad == 0


def _merge_identical_arcs(
    cs: CoverSets, demand: np.ndarray
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Merge arcs of one trip whose K sets are identical; return (cover, trip, demand)."""
    cov = cs.cover.tocsr()
    n_rows = cov.shape[0]
    rng = np.random.default_rng(20130501)
    w1 = rng.integers(1, 2**62, size=cov.shape[1], dtype=np.int64).astype(np.uint64)
    w2 = rng.integers(1, 2**62, size=cov.shape[1], dtype=np.uint64)
    nnz = np.diff(cov.indptr)
    row_of = np.repeat(np.arange(n_rows), nnz)
    h1 = np.zeros(n_rows, np.uint64)
    h2 = np.zeros(n_rows, np.uint64)
    np.add.at(h1, row_of, w1[cov.indices])
    np.add.at(h2, row_of, w2[cov.indices])
    keys = np.stack([cs.arc_trip.astype(np.uint64), nnz.astype(np.uint64), h1, h2], axis=1)
    _, first, inv = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inv = inv.ravel()
    merged_demand = np.bincount(inv, weights=demand, minlength=first.shape[0])
    return cov[first], cs.arc_trip[first], merged_demand


@dataclass
class FlowRefuellingHandle:
    """Columns that :func:`add_flow_refuelling` added to a :class:`MilpBuilder`.

    Attributes
    ----------
    site_cols : ndarray of int, shape (n_sites,)
        Binary "station open" variable of each site.
    cost_cols, cost_vals : ndarray
        Columns carrying money and their cost (CNY): put ``cost_vals @ x[cost_cols]`` in a budget
        row (site columns for the fixed cost, size columns for the size cost).
    objective_cols, objective_vals : ndarray
        Trip-served columns and their objective coefficients (weight × vehicles/day).
    trip_cols : ndarray of int, shape (n_trips,)
        Served share ``u_q`` of each trip.
    size_cols : ndarray of int, shape (n_sites, n_sizes), or None
        Binary size-choice columns (-1 where an option is unavailable); None if uncapacitated.
    size_kg_per_day : ndarray, shape (n_sites, n_sizes), or None
    alloc_cols, alloc_site : ndarray or None
        Allocation columns (kg/day) and the site each one loads.
    cover : CoverSets
        The K sets used.
    """

    site_cols: np.ndarray
    cost_cols: np.ndarray
    cost_vals: np.ndarray
    objective_cols: np.ndarray
    objective_vals: np.ndarray
    trip_cols: np.ndarray
    cover: CoverSets
    size_cols: np.ndarray | None = None
    size_kg_per_day: np.ndarray | None = None
    size_cost_cny: np.ndarray | None = None
    alloc_cols: np.ndarray | None = None
    alloc_site: np.ndarray | None = None
    fixed_cost_cny: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _size_arrays(
    size_kg_per_day: object, size_cost_cny: object, n_sites: int
) -> tuple[np.ndarray, np.ndarray]:
    """Broadcast size options to (n_sites, n_sizes); NaN/inf cost = option not available."""
    try:
        cap = np.asarray(size_kg_per_day, dtype=float)
        cost = np.asarray(size_cost_cny, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ModelInputError(f"size_kg_per_day / size_cost_cny must be numeric: {exc}") from None
    if cap.ndim == 1:
        cap = np.broadcast_to(cap, (n_sites, cap.shape[0]))
    if cost.ndim == 1:
        cost = np.broadcast_to(cost, (n_sites, cost.shape[0]))
    if cap.ndim != 2 or cap.shape[0] != n_sites or cap.shape[1] == 0:
        raise ModelInputError(
            f"size_kg_per_day must be (n_sizes,) or (n_sites={n_sites}, n_sizes), got {cap.shape}"
        )
    if cost.shape != cap.shape:
        raise ModelInputError(
            f"size_cost_cny has shape {cost.shape} but size_kg_per_day has {cap.shape}"
        )
    if not np.isfinite(cap).all() or (cap < 0).any():
        raise ModelInputError("size_kg_per_day must be finite and >= 0 (kg/day)")
    if (cost < 0).any():
        raise ModelInputError("size_cost_cny must be >= 0 (CNY; NaN or inf = not available)")
    return cap.astype(float), cost.astype(float)


def add_flow_refuelling(
    builder: MilpBuilder,
    trips: Trips,
    range_km: float,
    *,
    site_nodes: np.ndarray | None = None,
    n_sites: int | None = None,
    cost_cny: np.ndarray | float = 0.0,
    required: object | None = None,
    forbidden: object | None = None,
    size_kg_per_day: object | None = None,
    size_cost_cny: object | None = None,
    fuel_kg_per_km: np.ndarray | float | None = None,
    whole_trips: bool = False,
    objective_weight: float = 1.0,
    site_cols: np.ndarray | None = None,
    prefix: str = "frlm",
) -> FlowRefuellingHandle:
    """Add the flow-refuelling component (arc-cover MILP) to ``builder``; no budget or p row.

    The builder should maximise (objective coefficients ``objective_weight * flow`` go on the
    trip-served columns). A joint model adds one budget row over the ``cost_cols`` of several
    components, and may pass existing binary ``site_cols`` to share "site open" variables.

    Parameters
    ----------
    builder : MilpBuilder
        The model being assembled.
    trips : Trips
        Round trips (paths, arc lengths in km, flows in vehicles/day).
    range_km : float
        Range on a full tank (km, the unit of ``trips.arc_km``).
    site_nodes : ndarray of int, optional
        Network node of each candidate site; default: site ``j`` is node ``j``.
    n_sites : int, optional
        Number of sites when ``site_nodes`` is None (default: number of network nodes).
    cost_cny : float or ndarray
        Fixed cost of opening each site (CNY).
    required, forbidden : site indices or bool masks, optional
        Sites that must / must not open.
    size_kg_per_day, size_cost_cny : array, optional
        Capacitated variant: size options (kg/day) and their cost (CNY), shape (n_sizes,) or
        (n_sites, n_sizes); NaN/inf cost marks an option not available at a site.
    fuel_kg_per_km : float or ndarray (n_trips,), optional
        Fuel per vehicle-km (kg/km); required with sizes. Arc demand = this × flow × length.
    whole_trips : bool
        Capacitated variant: serve a trip wholly or not at all (binary ``u``).
    objective_weight : float
        Multiplier of the flows in the objective.
    site_cols : ndarray of int, optional
        Existing binary columns to use as "site open" variables.
    prefix : str
        Name prefix of the variable / constraint blocks.

    Returns
    -------
    FlowRefuellingHandle
    """
    n_nodes = None
    if site_nodes is None:
        n_nodes = int(trips.nodes.max(initial=-1)) + 1
        n = n_nodes if n_sites is None else int(n_sites)
        site_nodes = np.arange(n)
        n_nodes = max(n_nodes, n)
    site_nodes = np.asarray(site_nodes, dtype=np.int64)
    if site_nodes.ndim != 1 or (site_nodes < 0).any():
        raise ModelInputError("site_nodes must be a 1-D array of non-negative node indices")
    n = site_nodes.shape[0]
    trips.validate()
    fixed = vector(cost_cny, n, "cost_cny")
    req, forb = required_forbidden(required, forbidden, n)
    nq = trips.n_trips
    cs = cover_sets(trips, range_km, site_nodes, n_nodes)
    capacitated = size_kg_per_day is not None or size_cost_cny is not None

    lower = req.astype(float)
    upper = np.where(forb, 0.0, 1.0)
    if site_cols is None:
        y = builder.add_vars(
            f"{prefix}_open",
            n,
            lower=lower,
            upper=upper,
            integer=True,
            doc="1 if a station opens at the site",
        )
    else:
        y = np.asarray(site_cols, dtype=np.int64)
        if y.shape != (n,):
            raise ModelInputError(f"site_cols must have {n} entries, got {y.shape}")
        if req.any() or forb.any():
            idx = np.flatnonzero(req | forb)
            builder.add_rows(
                f"{prefix}_fixed_sites",
                idx.size,
                np.arange(idx.size),
                y[idx],
                1.0,
                lower=lower[idx],
                upper=upper[idx],
                doc="required / forbidden sites",
            )
    u = builder.add_vars(
        f"{prefix}_served",
        nq,
        cost=objective_weight * trips.flow,
        lower=0.0,
        upper=1.0,
        integer=bool(capacitated and whole_trips),
        doc="share of the trip's flow refuelled",
    )
    # arc cover: u_q - sum_{k in K_qa} y_k <= 0, one row per distinct K set of a trip
    fuel = None
    if capacitated and fuel_kg_per_km is not None:
        fuel = vector(fuel_kg_per_km, nq, "fuel_kg_per_km")
    demand = (
        fuel[cs.arc_trip] * trips.flow[cs.arc_trip] * cs.arc_km
        if fuel is not None
        else np.zeros(cs.arc_trip.shape[0])
    )
    mcov, mtrip, mdem = _merge_identical_arcs(cs, demand)
    mc = mcov.tocoo()
    n_m = mcov.shape[0]
    builder.add_rows(
        f"{prefix}_arc_cover",
        n_m,
        np.concatenate([np.arange(n_m), mc.row]),
        np.concatenate([u[mtrip], y[mc.col]]),
        np.concatenate([np.ones(n_m), -np.ones(mc.nnz)]),
        upper=0.0,
        doc="a trip is refuelled only if every arc has an open station in K",
    )
    handle = FlowRefuellingHandle(
        site_cols=y,
        cost_cols=y[fixed > 0],
        cost_vals=fixed[fixed > 0],
        objective_cols=u,
        objective_vals=objective_weight * trips.flow,
        trip_cols=u,
        cover=cs,
        fixed_cost_cny=fixed,
    )
    if not capacitated:
        return handle

    if size_kg_per_day is None or size_cost_cny is None:
        raise ModelInputError(
            "the capacitated variant needs both size_kg_per_day and size_cost_cny"
        )
    cap, scost = _size_arrays(size_kg_per_day, size_cost_cny, n)
    ok = np.isfinite(scost)
    if fuel is None:
        raise ModelInputError("fuel_kg_per_km (kg per vehicle-km) is required with station sizes")
    si, so = np.nonzero(ok)
    z = builder.add_vars(
        f"{prefix}_size",
        si.size,
        cost=0.0,
        lower=0.0,
        upper=1.0,
        integer=True,
        doc="1 if the site is built with this size option",
    )
    size_cols = np.full(cap.shape, -1, dtype=np.int64)
    size_cols[si, so] = z
    # sum_s z_ks - y_k = 0  (an open site takes exactly one size)
    builder.add_rows(
        f"{prefix}_one_size",
        n,
        np.concatenate([si, np.arange(n)]),
        np.concatenate([z, y]),
        np.concatenate([np.ones(si.size), -np.ones(n)]),
        lower=0.0,
        upper=0.0,
        doc="an open station has exactly one size",
    )
    x = builder.add_vars(
        f"{prefix}_alloc",
        mc.nnz,
        lower=0.0,
        upper=np.inf,
        doc="kg/day of a merged arc's fuel dispensed by a station that covers it",
    )
    # sum_k x_rk - d_r u_q = 0
    builder.add_rows(
        f"{prefix}_arc_fuel",
        n_m,
        np.concatenate([mc.row, np.arange(n_m)]),
        np.concatenate([x, u[mtrip]]),
        np.concatenate([np.ones(mc.nnz), -mdem]),
        lower=0.0,
        upper=0.0,
        doc="fuel burned on the arcs of a served trip is dispensed",
    )
    # sum x_k - sum_s cap_s z_ks <= 0
    builder.add_rows(
        f"{prefix}_capacity",
        n,
        np.concatenate([mc.col, si]),
        np.concatenate([x, z]),
        np.concatenate([np.ones(mc.nnz), -cap[si, so]]),
        upper=0.0,
        doc="station load (kg/day) within its size",
    )
    handle.size_cols = size_cols
    handle.size_kg_per_day = cap
    handle.size_cost_cny = scost
    handle.alloc_cols = x
    handle.alloc_site = mc.col.astype(np.int64)
    pos = scost[si, so] > 0
    handle.cost_cols = np.concatenate([handle.cost_cols, z[pos]])
    handle.cost_vals = np.concatenate([handle.cost_vals, scost[si, so][pos]])
    return handle


def flow_refuelling(
    trips: Trips,
    range_km: float,
    *,
    site_nodes: np.ndarray | None = None,
    n_sites: int | None = None,
    cost_cny: np.ndarray | float = 0.0,
    budget_cny: float | None = None,
    p: int | None = None,
    required: object | None = None,
    forbidden: object | None = None,
    size_kg_per_day: object | None = None,
    size_cost_cny: object | None = None,
    fuel_kg_per_km: np.ndarray | float | None = None,
    whole_trips: bool = False,
    time_limit: float | None = None,
    mip_gap: float = 1e-9,
    threads: int | None = None,
) -> Solution:
    """Choose stations so that the most flow completes its round trip (exact MILP, HiGHS).

    See the module docstring for the refuelling convention and the formulation.

    Parameters
    ----------
    trips : Trips
        Round trips: paths (node indices), arc lengths (km), flows (vehicles/day).
    range_km : float
        Driving range on a full tank (km; same unit as the arc lengths).
    site_nodes : ndarray of int, optional
        Network node of each candidate site; default: every node is a candidate (site j = node j).
    n_sites : int, optional
        Number of sites/nodes when ``site_nodes`` is None.
    cost_cny : float or ndarray
        Fixed cost per site (CNY).
    budget_cny : float, optional
        Money budget (CNY) over fixed and size costs.
    p : int, optional
        Number of stations to open (exactly p). At least one of ``budget_cny``, ``p`` is needed.
    required, forbidden : site indices or bool masks, optional
        Sites that must / must not open.
    size_kg_per_day, size_cost_cny : array, optional
        Capacitated variant: size options (kg/day) and their costs (CNY), (n_sizes,) or
        (n_sites, n_sizes); NaN/inf cost = not available at that site.
    fuel_kg_per_km : float or ndarray, optional
        Fuel per vehicle-km (kg/km) for the capacitated variant.
    whole_trips : bool
        Capacitated variant: a trip is served wholly or not at all.
    time_limit : float, optional
        Solver seconds.
    mip_gap : float
        Relative MIP gap (default proves optimality).
    threads : int, optional
        HiGHS threads.

    Returns
    -------
    Solution
        ``objective`` = flow refuelled (vehicles/day); ``open`` = station sites;
        ``assignment`` = bool per trip "refuelled"; ``details`` holds ``refuelled`` (bool per
        trip: coverable by the open stations), ``served_share`` (u per trip), ``flow_refuelled``,
        ``flow_refuelled_share``, ``total_cost_cny``, ``cost_cny`` per open station and, when
        capacitated, ``size_kg_per_day`` and ``load_kg_per_day`` per open station.
    """
    t0 = time.perf_counter()
    time_and_gap(time_limit, mip_gap)
    if budget_cny is None and p is None:
        raise ModelInputError("flow_refuelling needs budget_cny or p (number of stations)")
    if budget_cny is not None and (not np.isfinite(float(budget_cny)) or float(budget_cny) < 0):
        raise ModelInputError(f"budget_cny must be a finite number >= 0, got {budget_cny}")
    b = MilpBuilder("flow_refuelling", sense="max")
    h = add_flow_refuelling(
        b,
        trips,
        range_km,
        site_nodes=site_nodes,
        n_sites=n_sites,
        cost_cny=cost_cny,
        required=required,
        forbidden=forbidden,
        size_kg_per_day=size_kg_per_day,
        size_cost_cny=size_cost_cny,
        fuel_kg_per_km=fuel_kg_per_km,
        whole_trips=whole_trips,
    )
    n = h.site_cols.shape[0]
    req, _ = required_forbidden(required, forbidden, n)
    if p is not None:
        p = check_p(p, n)
        if req.sum() > p:
            return Solution.infeasible(
                f"{int(req.sum())} required stations but p = {p}",
                build_seconds=time.perf_counter() - t0,
            )
        b.add_rows(
            "p_stations",
            1,
            np.zeros(n),
            h.site_cols,
            1.0,
            lower=p,
            upper=p,
            doc="exactly p stations",
        )
    if budget_cny is not None:
        min_cost = h.fixed_cost_cny.copy()
        if h.size_cost_cny is not None:
            sc = np.where(np.isfinite(h.size_cost_cny), h.size_cost_cny, np.inf)
            min_cost = min_cost + sc.min(axis=1)
        need = float(min_cost[req].sum())
        if need > float(budget_cny) * (1 + 1e-12):
            return Solution.infeasible(
                f"required stations cost at least {need:,.0f} CNY, more than the budget "
                f"{float(budget_cny):,.0f} CNY",
                build_seconds=time.perf_counter() - t0,
            )
        b.add_rows(
            "budget",
            1,
            np.zeros(h.cost_cols.size),
            h.cost_cols,
            h.cost_vals,
            upper=float(budget_cny),
            doc="money budget (CNY)",
        )
    milp = b.build()
    build_s = time.perf_counter() - t0
    log.debug(
        "flow_refuelling: %d cols, %d rows, %d nnz built in %.3f s",
        milp.num_cols,
        milp.num_rows,
        milp.A.nnz,
        build_s,
    )
    res = solve_milp(milp, time_limit=time_limit, mip_gap=mip_gap, threads=threads)
    if res.status == "infeasible" or res.x is None:
        msg = "no plan satisfies the budget, p and required/forbidden sites"
        if res.status != "infeasible":
            msg = f"no plan found within the time limit ({res.message})"
        return Solution.infeasible(msg, seconds=res.seconds, build_seconds=build_s)
    x = res.x
    open_mask = x[h.site_cols] > 0.5
    open_idx = np.flatnonzero(open_mask)
    refuelled = refuelled_by(h.cover, open_mask, trips.n_trips)
    served = np.clip(x[h.trip_cols], 0.0, 1.0)
    if h.size_cols is None:
        served = refuelled.astype(float)  # u is 0/1 at an optimum; report the exact 0/1
    total_flow = float(trips.flow.sum())
    flow_ref = float(trips.flow @ served)
    cost = h.fixed_cost_cny.copy()
    details: dict = {
        "refuelled": refuelled,
        "served_share": served,
        "flow_refuelled": flow_ref,
        "flow_refuelled_share": flow_ref / total_flow if total_flow > 0 else 0.0,
        "range_km": float(range_km),
    }
    if h.size_cols is not None:
        zc = h.size_cols
        zval = np.where(zc >= 0, x[np.where(zc >= 0, zc, 0)], 0.0) > 0.5
        size_idx = np.where(zval.any(axis=1), zval.argmax(axis=1), -1)
        size = np.where(
            size_idx >= 0, h.size_kg_per_day[np.arange(n), np.maximum(size_idx, 0)], 0.0
        )
        scost = np.where(size_idx >= 0, h.size_cost_cny[np.arange(n), np.maximum(size_idx, 0)], 0.0)
        cost = cost + scost
        load = np.bincount(h.alloc_site, weights=x[h.alloc_cols], minlength=n)
        details["size_index"] = size_idx[open_idx]
        details["size_kg_per_day"] = size[open_idx]
        details["load_kg_per_day"] = load[open_idx]
    details["cost_cny"] = np.where(open_mask, cost, 0.0)[open_idx]
    details["total_cost_cny"] = float(details["cost_cny"].sum())
    return Solution(
        status=res.status,
        objective=float(res.objective),
        bound=float(res.bound),
        gap=float(res.gap),
        open=open_idx,
        assignment=refuelled,
        seconds=res.seconds,
        build_seconds=build_s,
        message=res.message,
        details=details,
    )
