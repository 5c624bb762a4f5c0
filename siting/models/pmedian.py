"""p-median: open p sites minimising the weighted distance (or time) from demand to its nearest.

Two formulations of the same problem are offered:

``"radius"`` (default for ``formulation="auto"``)
    The compact "sorted distinct distances" formulation (Cornuéjols, Nemhauser & Wolsey 1980;
    Elloumi 2010). For demand point i let ``D_i^1 < D_i^2 < ...`` be its distinct distances to the
    allowed sites; ``z_i^k`` (continuous, >= 0) is 1 when no open site is within ``D_i^k``. With
    ``z_i^0 = 1`` the chained rows ``z_i^k >= z_i^{k-1} - sum_{j: d_ij = D_i^k} y_j`` have one
    nonzero per (demand, site) pair, and the objective is
    ``sum_i w_i (D_i^1 + sum_k (D_i^{k+1} - D_i^k) z_i^k)``. Its LP relaxation equals the classic
    one. Levels beyond the (n - p + 1)-th nearest distance (at most n - p sites are closed) and
    beyond the nearest *required* site are dropped: the nearest open site is never farther.
``"assignment"``
    The classic ``x_ij <= y_j`` formulation (n_demand × n_sites assignment variables), kept for
    comparisons and for readers who know that form.

The radius rows are shared with uncapacitated facility location (:mod:`siting.models.facility`).

Before HiGHS sees the radius model, :func:`p_median` runs a Lagrangean reduction (Beasley 1993):
subgradient optimisation of the relaxation of "each demand is served" gives a lower bound (at the
optimum equal to the LP bound) and, against the greedy + interchange plan's cost ``UB``, proves
that some sites are closed (or open) in every plan cheaper than ``UB``. Those sites are fixed, the
smaller radius model is solved, and the better of the two plans is returned. With integral costs
and weights "cheaper" means "at least 1 cheaper", and the proof tolerance is exact; otherwise a
plan at most ``mip_gap`` (relative) cheaper than ``UB`` may be cut, which the reported gap covers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from siting._errors import ModelInputError
from siting.models import _validate as V
from siting.models._milp import (
    Milp,
    MilpBuilder,
    MilpResult,
    ModelHandle,
    solve_from_open,
    solve_milp,
)
from siting.models._solution import Solution

log = logging.getLogger(__name__)

Formulation = Literal["auto", "radius", "assignment"]


@dataclass
class _Prep:
    """Validated inputs of an assignment-type model (p-median, facility location)."""

    cost: np.ndarray  # demand × site, inf = not allowed (incl. forbidden columns)
    weights: np.ndarray
    required: np.ndarray
    forbidden: np.ndarray
    reason: str = ""  # non-empty: infeasible before solving, with this reason


def _prepare(
    cost: object, weights: object | None, required: object | None, forbidden: object | None
) -> _Prep:
    c = V.cost_matrix(cost, "cost")
    n_d, n_s = c.shape
    w = V.vector(weights, n_d, "weights", default=1.0)
    req, forb = V.required_forbidden(required, forbidden, n_s)
    c = c.copy()
    c[:, forb] = np.inf
    prep = _Prep(c, w, req, forb)
    unreachable = ~np.isfinite(c).any(axis=1)
    if unreachable.any():
        idx = np.flatnonzero(unreachable)
        prep.reason = (
            f"{idx.size} demand point(s) (first: {idx[0]}) have no allowed site at finite cost"
        )
    return prep


def add_radius_assignment(
    builder: MilpBuilder,
    cost: np.ndarray,
    weights: np.ndarray,
    y_cols: np.ndarray,
    *,
    max_rank: int | None = None,
    required: np.ndarray | None = None,
    name: str = "z",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Add radius (sorted distinct distances) rows charging each demand its nearest open site.

    Parameters
    ----------
    builder : MilpBuilder
        Model under construction; ``y_cols`` must already be its site binaries.
    cost : ndarray (n_demand, n_sites)
        Cost of serving demand i from site j (inf = not allowed).
    weights : ndarray (n_demand,)
        Multiplier of each demand's cost.
    y_cols : ndarray (n_sites,)
        Columns of the site binaries.
    max_rank : int, optional
        0-based rank (over allowed sites, with multiplicity) beyond which no level is needed (for
        p-median: n_allowed - p).
    required : ndarray of bool, optional
        Sites that are open anyway: levels beyond the nearest required site are dropped.
    name : str
        Name of the variable block.

    Returns
    -------
    (z_cols, z_cost, z_demand, z_dist) : the new columns, their objective coefficients, the
    demand point of each and its distance level ``D_i^k`` (the last level per point has
    upper bound 0).
    """
    n_d = cost.shape[0]
    order = np.argsort(cost, axis=1, kind="stable")
    ds = np.take_along_axis(cost, order, axis=1)
    finite = np.isfinite(ds)
    nf = finite.sum(axis=1)
    lvl = np.zeros(ds.shape, dtype=np.int64)
    np.cumsum(ds[:, 1:] != ds[:, :-1], axis=1, out=lvl[:, 1:])
    cut = nf - 1
    if max_rank is not None:
        cut = np.minimum(cut, max_rank)
    if required is not None and required.any():
        rmin = cost[:, required].min(axis=1)
        first_at_rmin = (ds < rmin[:, None]).sum(axis=1)
        cut = np.minimum(cut, first_at_rmin)
    cut = np.maximum(cut, 0)
    lcut = lvl[np.arange(n_d), cut]  # last level kept per demand
    keep = finite & (lvl <= lcut[:, None])
    n_rows_i = lcut + 1
    roff = np.zeros(n_d + 1, dtype=np.int64)
    np.cumsum(n_rows_i, out=roff[1:])
    n_rows = int(roff[-1])
    ii, rr = np.nonzero(keep)
    row_of_entry = roff[ii] + lvl[ii, rr]
    z_cols = builder.num_cols + np.arange(n_rows)
    # distinct distance of each row: the value at the first rank of its level
    first = keep.copy()
    first[:, 1:] &= lvl[:, 1:] != lvl[:, :-1]
    fi, fr = np.nonzero(first)
    dval = np.empty(n_rows)
    dval[roff[fi] + lvl[fi, fr]] = ds[fi, fr]
    demand_of_row = np.repeat(np.arange(n_d), n_rows_i)
    is_last = np.zeros(n_rows, dtype=bool)
    is_last[roff[1:] - 1] = True
    step = np.zeros(n_rows)
    step[~is_last] = dval[1:][~is_last[:-1]] - dval[:-1][~is_last[:-1]]
    z_cost = weights[demand_of_row] * step
    upper = np.where(is_last, 0.0, np.inf)
    builder.add_vars(
        name,
        n_rows,
        cost=z_cost,
        lower=0.0,
        upper=upper,
        doc="1 when demand i has no open site within its k-th distinct distance",
    )
    builder.offset += float(weights @ dval[roff[:-1]])
    local_row = np.arange(n_rows)
    is_first = np.zeros(n_rows, dtype=bool)
    is_first[roff[:-1]] = True
    prev = local_row[~is_first]
    rows = np.concatenate([row_of_entry, local_row, prev])
    cols = np.concatenate([y_cols[order[ii, rr]], z_cols, z_cols[prev - 1]])
    vals = np.concatenate([np.ones(ii.size), np.ones(n_rows), -np.ones(prev.size)])
    builder.add_rows(
        name + "_chain",
        n_rows,
        rows,
        cols,
        vals,
        lower=np.where(is_first, 1.0, 0.0),
        doc="z_i^k >= z_i^(k-1) - sum of y_j at distance D_i^k (z_i^0 = 1)",
    )
    return z_cols, z_cost, demand_of_row, dval


def add_assignment(
    builder: MilpBuilder,
    cost: np.ndarray,
    weights: np.ndarray,
    y_cols: np.ndarray,
    name: str = "x",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add classic assignment variables x_ij (finite pairs), sum_j x_ij = 1 and x_ij <= y_j.

    Returns (x_cols, demand index, site index) of the new columns.
    """
    n_d, _ = cost.shape
    ii, jj = np.nonzero(np.isfinite(cost))
    nx = ii.size
    coef = weights[ii] * cost[ii, jj]
    x_cols = builder.add_vars(
        name, nx, cost=coef, lower=0.0, upper=1.0, doc="share of demand i served by site j"
    )
    builder.add_rows(
        "assign", n_d, ii, x_cols, 1.0, lower=1.0, upper=1.0, doc="each demand is served"
    )
    k = np.arange(nx)
    builder.add_rows(
        "link",
        nx,
        np.concatenate([k, k]),
        np.concatenate([x_cols, y_cols[jj]]),
        np.concatenate([np.ones(nx), -np.ones(nx)]),
        upper=0.0,
        doc="x_ij <= y_j",
    )
    return x_cols, ii, jj


def _choose(formulation: str) -> str:
    if formulation not in ("auto", "radius", "assignment"):
        raise ModelInputError(
            f"formulation must be 'auto', 'radius' or 'assignment', got {formulation!r}"
        )
    return "radius" if formulation == "auto" else formulation


def add_p_median(
    builder: MilpBuilder,
    cost: np.ndarray,
    p: int,
    weights: np.ndarray,
    *,
    required: np.ndarray,
    forbidden: np.ndarray,
    formulation: str = "radius",
) -> ModelHandle:
    """Add a p-median component (validated arrays; ``cost`` has inf in forbidden columns).

    Returns a :class:`ModelHandle` whose ``site_cols`` are the p-median site binaries.
    """
    n_s = cost.shape[1]
    y = builder.add_vars(
        "y",
        n_s,
        lower=required.astype(float),
        upper=(~forbidden).astype(float),
        integer=True,
        doc="1 when site j is open",
    )
    builder.add_rows("p_sites", 1, np.zeros(n_s), y, 1.0, lower=p, upper=p, doc="open p sites")
    blocks: dict[str, np.ndarray] = {}
    if formulation == "radius":
        n_allowed = int((~forbidden).sum())
        z, zc, zd, zv = add_radius_assignment(
            builder, cost, weights, y, max_rank=n_allowed - p, required=required
        )
        obj_cols, obj_coefs = z, zc
        blocks.update({"z": z, "z_demand": zd, "z_dist": zv})
    else:
        x, ii, jj = add_assignment(builder, cost, weights, y)
        obj_cols, obj_coefs = x, weights[ii] * cost[ii, jj]
        blocks["x"] = x
    return ModelHandle(
        name="p_median",
        site_cols=y,
        site_cost=np.zeros(n_s),
        obj_cols=obj_cols,
        obj_coefs=obj_coefs,
        budget_cols=np.zeros(0, dtype=np.int64),
        budget_coefs=np.zeros(0),
        blocks=blocks,
    )


def _p_median_model(
    cost: object,
    p: int,
    weights: object | None,
    required: object | None,
    forbidden: object | None,
    formulation: str,
) -> tuple[_Prep, Milp | None, ModelHandle | None]:
    prep = _prepare(cost, weights, required, forbidden)
    n_s = prep.cost.shape[1]
    p = V.check_p(p, n_s)
    form = _choose(formulation)
    n_req, n_allowed = int(prep.required.sum()), int((~prep.forbidden).sum())
    if n_req > p:
        prep.reason = f"{n_req} required sites > p = {p}"
    elif n_allowed < p:
        prep.reason = f"only {n_allowed} sites are not forbidden < p = {p}"
    if prep.reason:
        return prep, None, None
    milp, h = _model_from_prep(prep, p, form, prep.required, prep.forbidden)
    return prep, milp, h


def _model_from_prep(
    prep: _Prep, p: int, form: str, required: np.ndarray, forbidden: np.ndarray
) -> tuple[Milp, ModelHandle]:
    """Build the model over ``prep.cost`` with the given (possibly tightened) site masks."""
    cost = prep.cost
    if (forbidden & ~prep.forbidden).any():
        cost = cost.copy()
        cost[:, forbidden] = np.inf
    b = MilpBuilder("p_median", "min")
    h = add_p_median(
        b, cost, p, prep.weights, required=required, forbidden=forbidden, formulation=form
    )
    return b.build(), h


def build_p_median(
    cost: object,
    p: int,
    weights: object | None = None,
    *,
    required: object | None = None,
    forbidden: object | None = None,
    formulation: Formulation = "auto",
) -> Milp:
    """Return the p-median model as a :class:`Milp` (see :func:`p_median` for the arguments).

    Use :func:`siting.models.to_pyomo` on it to read it or write LP/MPS, or
    :func:`siting.models.solve_with_pyomo` to solve it with another solver.

    Raises
    ------
    ModelInputError
        On bad arrays, or when the model is infeasible before solving (reason in the message).
    """
    prep, milp, _ = _p_median_model(cost, p, weights, required, forbidden, formulation)
    if milp is None:
        raise ModelInputError(f"p-median is infeasible: {prep.reason}")
    return milp


def nearest_open(cost: np.ndarray, open_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (site index, cost) of the cheapest open site per demand point (-1, inf if none)."""
    if not open_mask.any():
        n = cost.shape[0]
        return np.full(n, -1, dtype=np.int64), np.full(n, np.inf)
    idx_open = np.flatnonzero(open_mask)
    sub = cost[:, idx_open]
    k = np.argmin(sub, axis=1)
    best = sub[np.arange(cost.shape[0]), k]
    site = np.where(np.isfinite(best), idx_open[k], -1)
    return site, best


def p_median(
    cost: object,
    p: int,
    weights: object | None = None,
    *,
    required: object | None = None,
    forbidden: object | None = None,
    time_limit: float | None = None,
    mip_gap: float = 1e-9,
    formulation: Formulation = "auto",
    warm_start_open: object | None = None,
    reduce: bool = True,
) -> Solution:
    """Open ``p`` sites minimising the total weighted cost from each demand to its nearest site.

    Parameters
    ----------
    cost : array_like (n_demand, n_sites)
        Distance or travel time (e.g. minutes or metres) from demand i to site j; ``np.inf`` marks
        a pair that is not allowed. Non-negative.
    p : int
        Number of sites to open (1..n_sites).
    weights : array_like (n_demand,), optional
        Demand weight of each point (e.g. kWh/day); default 1.
    required : sequence of int or bool mask, optional
        Sites that must open (existing stations); they count towards ``p``.
    forbidden : sequence of int or bool mask, optional
        Sites that may not open.
    time_limit : float, optional
        Seconds; when reached, the best plan found is returned with status ``time_limit``.
    mip_gap : float
        Relative optimality gap at which to stop (default 1e-9: proven optimal).
    formulation : {"auto", "radius", "assignment"}
        ``auto`` = ``radius`` (compact, see the module docstring); ``assignment`` = classic.
    warm_start_open : sequence of int, optional
        Open sites of an earlier plan, offered to HiGHS as a starting incumbent (ignored when
        infeasible here). When omitted, a greedy + vertex-substitution plan
        (:func:`greedy_interchange`) is used as the start; optimality is still proven by HiGHS.
    reduce : bool
        Radius formulation only: fix sites by the Lagrangean bound against the starting plan
        (:func:`lagrangean_reduction`) before HiGHS solves the smaller model (default True).
        ``details`` then holds ``lagrangean_bound``, ``sites_closed`` and ``sites_opened``.

    Returns
    -------
    Solution
        ``objective`` = sum of weight × cost (units of ``cost`` × units of ``weights``);
        ``open`` = the chosen sites; ``assignment`` = int array, nearest open site per demand
        point; ``details["cost"]`` = that cost per demand point.

    Raises
    ------
    ModelInputError
        Wrong shapes, NaN or negative costs, p out of range, a site both required and forbidden.
    """
    V.time_and_gap(time_limit, mip_gap)
    t0 = time.perf_counter()
    form = _choose(formulation)
    if form == "radius" and reduce:
        prep = _prepare(cost, weights, required, forbidden)
        p = V.check_p(p, prep.cost.shape[1])
        n_req, n_allowed = int(prep.required.sum()), int((~prep.forbidden).sum())
        if n_req > p:
            prep.reason = f"{n_req} required sites > p = {p}"
        elif n_allowed < p:
            prep.reason = f"only {n_allowed} sites are not forbidden < p = {p}"
        if prep.reason:
            return Solution.infeasible(prep.reason, build_seconds=time.perf_counter() - t0)
        return _p_median_reduced(prep, int(p), warm_start_open, time_limit, mip_gap, t0)
    prep, milp, h = _p_median_model(cost, p, weights, required, forbidden, formulation)
    build_s = time.perf_counter() - t0
    if milp is None or h is None:
        return Solution.infeasible(prep.reason, build_seconds=build_s)
    if warm_start_open is None:
        warm_start_open = greedy_interchange(
            prep.cost, int(p), prep.weights, prep.required, prep.forbidden
        )
    res = solve_from_open(
        milp,
        h.site_cols,
        warm_start_open,
        time_limit=time_limit,
        mip_gap=mip_gap,
        complete=radius_start(milp, h, prep.cost, p=int(p)),
    )
    return _assignment_solution(res, h, prep, build_s)


# HiGHS options for the reduced radius model: the plan handed over is usually optimal already,
# so primal heuristics (sub-MIPs) and restarts only cost time; cheap pseudo-cost branching beats
# strong branching here (pmed16 10.9 s -> 7.1 s, random n=500 p=5 44 s -> 17 s; README).
_REDUCED_OPTIONS: dict[str, object] = {
    "mip_heuristic_effort": 0.0,
    "mip_heuristic_run_rins": False,
    "mip_heuristic_run_rens": False,
    "mip_heuristic_run_root_reduced_cost": False,
    "mip_heuristic_run_feasibility_jump": False,
    "mip_allow_restart": False,
    "mip_pscost_minreliable": 0,
}


def _plan_value(cost: np.ndarray, weights: np.ndarray, sites: np.ndarray) -> float:
    if not sites.size:
        return np.inf
    d = cost[:, sites].min(axis=1)
    return float(weights @ d) if np.isfinite(d).all() else np.inf


def _p_median_reduced(
    prep: _Prep,
    p: int,
    warm_start_open: object | None,
    time_limit: float | None,
    mip_gap: float,
    t0: float,
) -> Solution:
    """p-median: starting plan, Lagrangean site fixing, then the smaller radius model."""
    c, w = prep.cost, prep.weights
    n_s = c.shape[1]
    fin = np.isfinite(c)
    integral = bool(np.array_equal(c[fin], np.round(c[fin])) and np.array_equal(w, np.round(w)))
    start = None
    if warm_start_open is not None:
        idx = np.unique(np.asarray(list(warm_start_open), dtype=np.int64).ravel())
        ok = idx.size == p and ((idx >= 0) & (idx < n_s)).all()
        if ok and not prep.forbidden[idx].any():
            mask = np.zeros(n_s, dtype=bool)
            mask[idx] = True
            if not (prep.required & ~mask).any():
                start = idx
        if start is None:
            log.info("warm start ignored: not %d allowed sites incl. the required ones", p)
    if start is None:
        start = greedy_interchange(c, p, w, prep.required, prep.forbidden)
    upper = _plan_value(c, w, start)
    if not np.isfinite(upper):
        start = greedy_interchange(c, p, w, prep.required, prep.forbidden)
        upper = _plan_value(c, w, start)
    if not np.isfinite(upper):  # no feasible plan known: HiGHS on the full model decides
        milp, h = _model_from_prep(prep, p, "radius", prep.required, prep.forbidden)
        build_s = time.perf_counter() - t0
        res = solve_milp(milp, time_limit=time_limit, mip_gap=mip_gap)
        return _assignment_solution(res, h, prep, build_s)
    red = lagrangean_reduction(
        c, p, w, prep.required, prep.forbidden, upper, integral=integral, mip_gap=mip_gap
    )
    if red.best_value < upper:
        start, upper = red.best_open, red.best_value
        red = lagrangean_reduction(
            c,
            p,
            w,
            prep.required,
            prep.forbidden,
            upper,
            integral=integral,
            mip_gap=mip_gap,
            lam=red.multipliers,
        )
    # any plan using a closed site (or leaving out an opened one) costs more than `cut`
    cut = upper if integral else red.threshold
    details = {
        "lagrangean_bound": red.bound,
        "sites_closed": int(red.closed.sum()),
        "sites_opened": int(red.opened.sum()),
    }
    log.info(
        "p-median: start %.6g, Lagrangean bound %.6g, %d sites closed, %d opened",
        upper,
        red.bound,
        red.closed.sum(),
        red.opened.sum(),
    )
    forb = prep.forbidden | red.closed
    req = prep.required | red.opened
    reachable = (np.isfinite(c) & ~forb[None, :]).any(axis=1).all()
    proven = red.bound > red.threshold or not reachable or req.sum() > p or (~forb).sum() < p
    t_build = time.perf_counter()
    pre_s = t_build - t0
    if proven:
        milp, h = _model_from_prep(prep, p, "radius", prep.required, prep.forbidden)
    else:
        milp, h = _model_from_prep(prep, p, "radius", req, forb)
    build_s = time.perf_counter() - t_build
    y_start = np.zeros(n_s)
    y_start[start] = 1.0
    x_start = np.zeros(milp.num_cols)
    x_start[h.site_cols] = y_start
    if proven:
        res = MilpResult("optimal", upper, cut, 0.0, x_start, pre_s, "Lagrangean bound")
        return _finish(res, h, prep, build_s, upper, details)
    t1 = time.perf_counter()
    complete = radius_start(milp, h, prep.cost, p=p)
    warm = complete(y_start) if complete is not None else None
    options = dict(_REDUCED_OPTIONS)
    if integral:
        options["mip_abs_gap"] = 1.0 - 1e-6  # integral objective: bound > UB - 1 proves UB
    remaining = None
    if time_limit is not None:
        remaining = max(time_limit - (time.perf_counter() - t0), 0.01)
    res = solve_milp(milp, time_limit=remaining, mip_gap=mip_gap, warm_start=warm, options=options)
    res.seconds = pre_s + (time.perf_counter() - t1)
    if res.status == "infeasible":  # no plan cheaper than the start: the start is optimal
        res = MilpResult("optimal", upper, cut, 0.0, x_start, res.seconds, "Lagrangean bound")
    elif res.x is None or float(milp.c @ res.x + milp.offset) > upper:
        res.x = x_start
    res.bound = min(res.bound, cut) if np.isfinite(res.bound) else res.bound
    if integral and np.isfinite(res.bound):
        res.bound = float(np.ceil(res.bound - 1e-6))
    return _finish(res, h, prep, build_s, upper, details)


def _finish(
    res: MilpResult, h: ModelHandle, prep: _Prep, build_s: float, upper: float, details: dict
) -> Solution:
    sol = _assignment_solution(res, h, prep, build_s)
    sol.details.update(details)
    if sol.status == "time_limit" and sol.gap <= 1e-9:
        sol.status = "optimal"
    return sol


@dataclass
class LagrangeanReduction:
    """Result of :func:`lagrangean_reduction` (boolean masks are over all sites)."""

    bound: float  # lower bound on every plan (valid for any multipliers)
    threshold: float  # fixings exclude only plans costing more than this
    closed: np.ndarray  # sites open in no plan costing <= threshold
    opened: np.ndarray  # sites open in every plan costing <= threshold
    best_open: np.ndarray  # cheapest plan met on the way (site indices)
    best_value: float
    multipliers: np.ndarray
    iterations: int


def lagrangean_reduction(
    cost: np.ndarray,
    p: int,
    weights: np.ndarray,
    required: np.ndarray,
    forbidden: np.ndarray,
    upper: float,
    *,
    integral: bool = False,
    mip_gap: float = 1e-9,
    lam: np.ndarray | None = None,
    max_iter: int = 1500,
) -> LagrangeanReduction:
    """Lagrangean lower bound and site fixing for the p-median (Beasley 1993, vectorised).

    Relaxing "each demand point i is served" with multiplier ``lam_i`` leaves
    ``L(lam) = sum_i lam_i + min over p sites of sum_j rho_j`` with
    ``rho_j = sum_i min(0, w_i c_ij - lam_i)``, a valid lower bound for every ``lam``; subgradient
    steps raise it towards the LP bound. Opening a site j outside the chosen p raises the bound
    by ``rho_j - rho_(p)``, closing a chosen one by ``rho_(p+1) - rho_j``; when that exceeds
    ``upper - threshold`` no plan cheaper than ``threshold`` does it, and the site is fixed.
    Closed sites are dropped from the arrays as they are found, so later steps are cheaper.

    Parameters
    ----------
    cost : ndarray (n_demand, n_sites)
        Cost per unit of weight (inf = not allowed).
    p : int
        Number of sites to open.
    weights : ndarray (n_demand,)
        Demand weights.
    required, forbidden : ndarray of bool (n_sites,)
        Sites that must / may not open.
    upper : float
        Cost of a known plan (same units as the objective).
    integral : bool
        All costs and weights are integers: a cheaper plan is at least 1 cheaper, so fixing
        excludes only plans costing more than ``upper - 1``.
    mip_gap : float
        Relative tolerance when not ``integral``.
    lam : ndarray, optional
        Starting multipliers.
    max_iter : int
        Subgradient steps.

    Returns
    -------
    LagrangeanReduction
    """
    n_s = cost.shape[1]
    if integral:
        threshold = upper - 1.0 + 1e-6 * max(1.0, abs(upper))
    else:
        threshold = upper - mip_gap * max(1.0, abs(upper))
    fin = np.isfinite(cost)
    wd_all = np.where(fin, weights[:, None] * np.where(fin, cost, 0.0), np.inf)
    cols = np.flatnonzero(~forbidden)  # columns still in play
    req = required[cols]
    wd = wd_all[:, cols]
    k = p - int(req.sum())  # free sites to choose
    closed = np.zeros(n_s, dtype=bool)
    opened = np.zeros(n_s, dtype=bool)
    best_open, best_value = np.zeros(0, dtype=np.int64), np.inf
    if lam is None:
        srt = np.sort(wd, axis=1)[:, : min(2, wd.shape[1])]
        lam = np.where(np.isfinite(srt[:, -1]), srt[:, -1], srt[:, 0])
        lam = np.where(np.isfinite(lam), lam, 0.0)
    lam = lam.astype(float).copy()
    bound, best_lam = -np.inf, lam.copy()
    theta, stall, it = 2.0, 0, 0
    if k <= 0 or cols.size - int(req.sum()) <= k:
        return LagrangeanReduction(
            -np.inf, threshold, closed, opened, best_open, best_value, lam, 0
        )

    def evaluate(lam: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        rho = np.minimum(0.0, wd - lam[:, None]).sum(axis=0)
        free = np.flatnonzero(~req)
        order = free[np.argsort(rho[free], kind="stable")]
        sel = np.concatenate([np.flatnonzero(req), order[:k]])
        return float(lam.sum() + rho[sel].sum()), rho, order, sel

    for it in range(1, max_iter + 2):
        last = it == max_iter + 1 or theta < 1e-4
        if last:  # final fixing pass with the best multipliers
            lam = best_lam
        value, rho, order, sel = evaluate(lam)
        if not np.isfinite(bound) or value > bound + 1e-9 * max(1.0, abs(bound)):
            bound, best_lam, stall = value, lam.copy(), 0
        else:
            stall += 1
        if it % 5 == 1 or last:
            v = float(wd[:, sel].min(axis=1).sum())
            if v < best_value:
                best_value, best_open = v, cols[sel].copy()
        if value > threshold:
            break
        served = (wd[:, sel] < lam[:, None]).sum(axis=1)
        # fixing with the current multipliers (valid for any lam)
        r_k, r_k1 = rho[order[k - 1]], rho[order[k]]
        in_sel = np.zeros(cols.size, dtype=bool)
        in_sel[order[:k]] = True
        newly_closed = ~req & ~in_sel & (value + rho - r_k > threshold)
        newly_opened = in_sel & (value - rho + r_k1 > threshold)
        if newly_opened.any():
            opened[cols[newly_opened]] = True
            req = req | newly_opened
            k = p - int(req.sum())
        if newly_closed.any() and (last or it % 20 == 0 or newly_closed.sum() > 0.2 * cols.size):
            closed[cols[newly_closed]] = True
            keep = ~newly_closed
            cols, req, wd = cols[keep], req[keep], wd[:, keep]
        if last or k <= 0 or cols.size - int(req.sum()) <= k:
            break
        if stall >= 20:
            theta, stall = theta / 2.0, 0
            lam = best_lam.copy()
            continue
        g = 1.0 - served
        gg = float(g @ g)
        if gg == 0.0:
            break
        lam = lam + theta * (upper - value) / gg * g
    return LagrangeanReduction(
        bound, threshold, closed, opened, best_open, best_value, best_lam, it
    )


def radius_start(
    milp: Milp, h: ModelHandle, cost: np.ndarray, p: int | None = None
) -> Callable[[np.ndarray], np.ndarray | None] | None:
    """Closed-form warm-start completion for the radius formulation (None for other forms).

    Given the 0/1 open-site vector, sets ``z_i^k = 1`` exactly when no open site is within
    ``D_i^k``; returns None when the plan breaks a bound (required/forbidden, count ``p``, or a
    demand point beyond its last kept level).
    """
    if "z" not in h.blocks:
        return None
    z, zd, zv = h.blocks["z"], h.blocks["z_demand"], h.blocks["z_dist"]

    def complete(y: np.ndarray) -> np.ndarray | None:
        lo, up = milp.col_lower[h.site_cols], milp.col_upper[h.site_cols]
        if (y < lo).any() or (y > up).any() or (p is not None and int(y.sum()) != p):
            return None
        if not y.any():
            return None
        dmin = cost[:, y > 0.5].min(axis=1)
        zval = (zv < dmin[zd]).astype(float)
        if (zval > milp.col_upper[z]).any():
            return None
        x = np.zeros(milp.num_cols)
        x[h.site_cols] = y
        x[z] = zval
        return x

    return complete


def _assignment_solution(
    res: MilpResult,
    h: ModelHandle,
    prep: _Prep,
    build_s: float,
    fixed_cost: np.ndarray | None = None,
) -> Solution:
    """Interpret a p-median / uncapacitated facility-location result."""
    if res.status == "infeasible":
        return Solution.infeasible(
            "the model has no feasible plan (check required/forbidden sites and costs)",
            seconds=res.seconds,
            build_seconds=build_s,
        )
    if res.x is None:
        sol = Solution.infeasible("no plan found within the time limit", seconds=res.seconds)
        sol.status = "time_limit"
        sol.bound = res.bound
        sol.build_seconds = build_s
        return sol
    open_mask = res.x[h.site_cols] > 0.5
    site, c = nearest_open(prep.cost, open_mask)
    objective = float(prep.weights @ c)
    if fixed_cost is not None:
        objective += float(fixed_cost[open_mask].sum())
    bound = res.bound if res.status != "optimal" else min(res.bound, objective)
    gap = abs(objective - bound) / max(abs(objective), 1e-12) if np.isfinite(bound) else np.inf
    if res.status == "optimal":
        gap = min(gap, res.gap) if np.isfinite(res.gap) else gap
    return Solution(
        status=res.status,
        objective=objective,
        bound=float(bound),
        gap=float(gap),
        open=np.flatnonzero(open_mask),
        assignment=site,
        seconds=res.seconds,
        build_seconds=build_s,
        message=res.message,
        details={"cost": c},
    )


def greedy_interchange(
    cost: np.ndarray,
    p: int,
    weights: np.ndarray,
    required: np.ndarray,
    forbidden: np.ndarray,
    *,
    max_swaps: int = 10_000,
) -> np.ndarray:
    """A p-median starting plan: greedy adding, then best-improvement vertex substitution.

    Each substitution pass evaluates every (site in, site out) swap at once with O(n_demand ×
    n_sites) array work (Whitaker's fast interchange, vectorised). Used only to hand HiGHS a good
    incumbent early, which lets its reduced-cost fixing shrink the tree; optimality is still proven
    by the MILP. Pairs that are not allowed get a large finite penalty here.

    Returns
    -------
    ndarray of int
        ``p`` open site indices.
    """
    n_d = cost.shape[0]
    finite = np.isfinite(cost)
    big = (cost[finite].max() + 1.0) * max(n_d, 1) * 10.0 if finite.any() else 1.0
    D = np.where(finite, cost, big)
    w = weights
    allowed = ~forbidden
    open_mask = required.copy()
    if open_mask.any():
        d1 = D[:, open_mask].min(axis=1)
    else:
        d1 = np.full(n_d, big * 10.0)
    while open_mask.sum() < p:
        tot = w @ np.minimum(D, d1[:, None])
        tot[open_mask | ~allowed] = np.inf
        j = int(np.argmin(tot))
        open_mask[j] = True
        d1 = np.minimum(d1, D[:, j])
    if open_mask.sum() == required.sum() or open_mask.sum() == allowed.sum():
        return np.flatnonzero(open_mask)
    rows = np.arange(n_d)
    for _ in range(max_swaps):
        idx = np.flatnonzero(open_mask)
        sub = D[:, idx]
        order = np.argsort(sub, axis=1)[:, :2]
        near = idx[order[:, 0]]
        d1 = sub[rows, order[:, 0]]
        d2 = sub[rows, order[:, 1]] if idx.size > 1 else np.full(n_d, big * 10.0)
        cur = float(w @ d1)
        base = w @ np.minimum(D, d1[:, None])  # cost after adding j, before removing
        # extra cost when the nearest site r of demand i is removed (given j was added)
        extra = w[:, None] * (np.minimum(D, d2[:, None]) - np.minimum(D, d1[:, None]))
        group = np.searchsorted(idx, near)
        ind = sp.csr_matrix((np.ones(n_d), (group, rows)), shape=(idx.size, n_d))
        loss = np.asarray(ind @ extra)
        total = base[None, :] + loss
        total[:, open_mask | ~allowed] = np.inf
        total[required[idx], :] = np.inf
        r, j = np.unravel_index(int(np.argmin(total)), total.shape)
        if not total[r, j] < cur - 1e-9 * max(abs(cur), 1.0):
            break
        open_mask[idx[r]] = False
        open_mask[j] = True
    return np.flatnonzero(open_mask)
