"""Coverage models: maximal covering under a money budget (optionally sizing plug modules) and
cheapest set cover.

``max_coverage`` (basic): binary ``y_j`` (site open), continuous ``u_i in [0, 1]`` (demand point
i covered), ``u_i <= sum_{j covers i} y_j``, budget ``sum_j c_j y_j <= B`` and optionally
``sum_j y_j <= p``; maximise ``sum_i w_i u_i``. ``u`` needs no integrality: at an optimum it is 1
exactly when an open site covers i.

``max_coverage`` with ``module_capacity`` (plug sizing): integer ``m_j`` modules per site
(``m_j <= M_j y_j``), continuous ``x_ij in [0, 1]`` over covering pairs (share of point i's
demand served at j, split allowed), ``sum_j x_ij <= 1``, ``x_ij <= y_j``,
``sum_i w_i x_ij <= K_j m_j``, new modules ``n_j >= m_j - e_j`` (``e_j`` existing modules are
free) and budget ``sum_j c_j y_j + sum_j q_j n_j <= B``; maximise ``sum_ij w_i x_ij``.
At a required site the existing modules stay (``m_j >= e_j``). Sites that are already built
should be passed as required with ``site_cost`` 0.

What is built for the solver is an exactly equivalent, tighter form of that model (same optimum):

- demand points covered by the same set of allowed sites are merged into one group (weights
  summed; every member gets the group's share), and zero-weight groups are dropped;
- ``M_j`` is lowered to ``ceil(reachable demand_j / K_j)`` (never below the existing modules);
- under a budget, the row ``sum_j K_j m_j <= U`` is added, ``U`` being the most module capacity
  the budget can buy (:func:`module_budget_bound`, an integer knapsack over sites and modules
  that ignores coverage, so the row is valid). The LP relaxation spreads fixed costs over
  fractional sites and cannot see that a budget does not divide into whole sites and plugs; on
  the Beijing scenario that rounding was the whole 0.1–2.6 % gap HiGHS could not close.

:func:`max_coverage` then builds a greedy plan; when it serves ``U`` (within ``mip_gap``) it is
optimal by that bound and HiGHS is not called; otherwise HiGHS solves the tightened model
started from the better of that plan and ``warm_start_open``.

``set_cover``: minimise ``sum_j c_j y_j`` with ``sum_{j covers i} y_j >= 1`` for every coverable
point (one that some non-forbidden site covers).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp

from siting._errors import ModelInputError
from siting.models import _validate as V
from siting.models._milp import (
    Milp,
    MilpBuilder,
    MilpResult,
    ModelHandle,
    complete_start,
    solve_from_open,
    solve_milp,
)
from siting.models._solution import Solution

log = logging.getLogger(__name__)


def _money(x: float) -> str:
    return f"{x / 1e6:.1f} M CNY"


def _demand_groups(
    n_d: int,
    n_s: int,
    ii: np.ndarray,
    jj: np.ndarray,
    weights: np.ndarray,
    key: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Merge demand points that the same set of sites covers (an exact reduction).

    Points with identical covering sets are interchangeable in the plug-module model: one share
    variable per (group, site) with the group's summed weight has the same optimum, and serving
    every member the group's share is a plan of the original model. Groups of zero weight are
    dropped (their shares change neither the objective nor any capacity). ``ii`` / ``jj`` must be
    sorted by point, then site (CSR order). ``key`` (n_d × k, optional) must also be equal within
    a group: e.g. the load per unit of demand in each hour, so that only points with the same
    segment mix are merged when capacity is checked hour by hour.

    Returns ``weight`` (per group), ``pair_group`` / ``pair_site`` (the group × site pairs, by
    group then site), ``point_pair`` (per point pair: its group pair, -1 when dropped) and
    ``point_group`` (per point: its group, -1 when dropped).
    """
    deg = np.bincount(ii, minlength=n_d)
    rng = np.random.default_rng(20240611)
    h1 = np.bincount(ii, weights=rng.random(n_s)[jj], minlength=n_d)
    h2 = np.bincount(ii, weights=rng.random(n_s)[jj], minlength=n_d)
    cols = [deg.astype(float)[:, None], h1[:, None], h2[:, None]]
    if key is not None:
        cols.append(np.asarray(key, dtype=float).reshape(n_d, -1))
    _, first, gid = np.unique(
        np.hstack(cols), axis=0, return_index=True, return_inverse=True,
    )  # fmt: skip
    gid = gid.ravel()
    start = np.concatenate([[0], np.cumsum(deg)])
    pos = np.arange(ii.size) - start[ii]  # rank of the pair within its point's row
    rep = first[gid]  # representative point of each point's group
    # verify the hash: every pair must match its representative's pair at the same rank
    if ii.size and not np.array_equal(jj, jj[start[rep[ii]] + pos]):
        log.debug("demand grouping: hash collision, points kept separate")
        gid = np.arange(n_d)
        first = np.arange(n_d)
        rep = gid
    gw_all = np.bincount(gid, weights=weights, minlength=first.size)
    kept = (gw_all > 0) & (deg[first] > 0)
    new_id = np.full(first.size, -1, dtype=np.int64)
    new_id[kept] = np.arange(int(kept.sum()))
    gdeg = deg[first[kept]]
    gstart = np.concatenate([[0], np.cumsum(gdeg)])
    pair_group = np.repeat(np.arange(gdeg.size), gdeg)
    rep_start = start[first[kept]]
    pair_site = jj[np.repeat(rep_start, gdeg) + (np.arange(pair_group.size) - gstart[pair_group])]
    g_of_pair = new_id[gid[ii]]
    point_pair = np.where(g_of_pair >= 0, gstart[np.maximum(g_of_pair, 0)] + pos, -1)
    return {
        "weight": gw_all[kept],
        "pair_group": pair_group,
        "pair_site": pair_site.astype(np.int64),
        "point_pair": point_pair.astype(np.int64),
        "point_group": new_id[gid].astype(np.int64),
    }


def _module_upper(
    max_modules: np.ndarray,
    capacity: np.ndarray,
    gw: np.ndarray,
    gi: np.ndarray,
    gj: np.ndarray,
    existing: np.ndarray,
    m_lo: np.ndarray,
    forbidden: np.ndarray,
) -> np.ndarray:
    """Most modules worth installing: ``min(M_j, ceil(reachable demand_j / K_j))`` (exact).

    A module beyond the demand a site can reach serves nothing, so removing it keeps the optimum;
    existing modules are never cut (they cost nothing and stay).
    """
    n_s = max_modules.size
    reach = np.bincount(gj, weights=gw[gi], minlength=n_s)
    need = np.ceil(reach / capacity - 1e-9)
    up = np.minimum(max_modules.astype(float), np.maximum(need, np.minimum(existing, max_modules)))
    up = np.maximum(up, m_lo)
    return np.where(forbidden, 0.0, up)


def module_budget_bound(
    budget: float,
    site_cost: np.ndarray,
    module_cost: np.ndarray,
    module_capacity: np.ndarray,
    max_modules: np.ndarray,
    existing_modules: np.ndarray,
    min_modules: np.ndarray,
    required: np.ndarray,
    forbidden: np.ndarray,
    *,
    time_limit: float = 5.0,
) -> float:
    """Most module capacity a budget can buy: an upper bound on the demand served.

    Solves the integer knapsack ``max sum_j K_j m_j`` s.t. ``sum_j c_j y_j + q_j (m_j - e_j)^+
    <= B``, ``m_j <= M_j y_j`` (required sites open, ``m_j >= min_modules_j``) with sites of
    equal data merged into classes (variables: how many sites of a class get exactly m modules).
    Coverage is ignored, so this is a relaxation of the plug-sized covering model and
    ``sum_j K_j m_j <= bound`` is a valid inequality for it; it removes the integrality gap that
    comes from the budget not dividing into whole sites and plugs, which the LP relaxation
    (fixed costs spread over fractional sites) cannot see.

    Parameters
    ----------
    budget : float
        CNY.
    site_cost, module_cost : ndarray (n_sites,)
        Fixed cost per site and cost per new module (CNY).
    module_capacity : ndarray (n_sites,)
        Demand one module serves (weight units per day).
    max_modules, existing_modules, min_modules : ndarray (n_sites,)
        Module limits and modules already installed (free).
    required, forbidden : ndarray of bool (n_sites,)
    time_limit : float
        Seconds for the knapsack solve; if it stops early its (valid) dual bound is used.

    Returns
    -------
    float
        The bound (weight units per day); ``inf`` when it cannot be computed.
    """
    ok = ~forbidden & (max_modules > 0)
    if budget < 0:
        return np.inf
    key = np.stack(
        [
            site_cost, module_cost, module_capacity, max_modules.astype(float),
            existing_modules.astype(float), min_modules.astype(float), required.astype(float),
        ],
        axis=1,
    )[ok]  # fmt: skip
    if key.shape[0] == 0:
        return 0.0
    if (key[:, [0, 1, 2]] == key[0, [0, 1, 2]]).all() and not key[:, 4:].any():
        # one site cost, module cost and capacity, nothing built or required: with n sites open
        # the plugs are limited by the n largest M_j and by the money left, so it is closed form
        c0, q0, k0 = key[0, 0], key[0, 1], key[0, 2]
        n = np.arange(key.shape[0] + 1)
        top = np.concatenate([[0.0], np.cumsum(np.sort(key[:, 3])[::-1])])
        left = budget - c0 * n
        with np.errstate(divide="ignore", invalid="ignore"):
            paid = np.floor(left / q0 + 1e-9) if q0 > 0 else np.full(n.size, np.inf)
        plugs = np.where(left >= 0, np.minimum(top, paid), -np.inf)
        return float(k0 * plugs.max())
    cls, count = np.unique(key, axis=0, return_counts=True)
    # one integer column per (class, module count m = lo..M): sites of the class with m modules
    lo = cls[:, 5].astype(np.int64)
    hi = cls[:, 3].astype(np.int64)
    n_opt = np.maximum(hi - lo + 1, 0)
    t = np.repeat(np.arange(cls.shape[0]), n_opt)
    mm = lo[t] + (np.arange(t.size) - np.repeat(np.cumsum(n_opt) - n_opt, n_opt))
    cost = cls[t, 0] + cls[t, 1] * np.maximum(mm - cls[t, 4], 0)
    value = cls[t, 2] * mm
    b = MilpBuilder("module_budget_bound", "max")
    k = b.add_vars("k", t.size, cost=value, upper=count[t].astype(float), integer=True)
    req_cls = cls[:, 6] > 0.5
    b.add_rows(
        "sites", cls.shape[0], t, k, 1.0,
        lower=np.where(req_cls, count, 0).astype(float), upper=count.astype(float),
    )  # fmt: skip
    b.add_rows("budget", 1, np.zeros(t.size), k, cost, upper=float(budget))
    res = solve_milp(b.build(), time_limit=time_limit, mip_gap=0.0)
    if res.status == "infeasible":
        return np.inf  # required sites over budget: the main model says so itself
    bound = res.bound if np.isfinite(res.bound) else np.inf
    if res.x is not None:
        bound = max(bound, float(value @ np.round(res.x)))
    if not np.isfinite(bound):
        return np.inf
    kk = module_capacity[ok]
    if np.all(kk == np.round(kk)):
        # integer capacities: sum K_j m_j is an integer, so the bound rounds down exactly
        g = float(np.gcd.reduce(kk.astype(np.int64)))
        return g * np.floor(bound / g + 1e-6)
    return bound * (1 + 1e-9) + 1e-9


def add_max_coverage(
    builder: MilpBuilder,
    coverage: sp.csr_matrix,
    weights: np.ndarray,
    site_cost: np.ndarray,
    *,
    required: np.ndarray,
    forbidden: np.ndarray,
    budget: float | None = None,
    p: int | None = None,
    module_capacity: np.ndarray | None = None,
    module_cost: np.ndarray | None = None,
    max_modules: np.ndarray | None = None,
    existing_modules: np.ndarray | None = None,
) -> ModelHandle:
    """Add a maximal-covering component to a ``max`` builder (validated arrays).

    With ``budget=None`` no budget row is added: the caller can put ``handle.budget_cols`` /
    ``handle.budget_coefs`` (CNY) into a shared budget row. ``obj_cols`` / ``obj_coefs`` are the
    served-demand terms (weight units, e.g. kWh/day).
    """
    n_d, n_s = coverage.shape
    cov = coverage.tocoo()
    allowed_pair = ~forbidden[cov.col]
    ii, jj = cov.row[allowed_pair].astype(np.int64), cov.col[allowed_pair].astype(np.int64)
    y = builder.add_vars(
        "y",
        n_s,
        lower=required.astype(float),
        upper=(~forbidden).astype(float),
        integer=True,
        doc="1 when site j is open",
    )
    budget_cols, budget_coefs = y, site_cost.copy()
    blocks: dict[str, np.ndarray] = {"pair_demand": ii, "pair_site": jj, "weights": weights}
    if module_capacity is None:
        u = builder.add_vars(
            "u", n_d, cost=weights, lower=0.0, upper=1.0, doc="1 when demand point i is covered"
        )
        uncoverable = np.bincount(ii, minlength=n_d) == 0
        # an uncoverable point gets u_i <= 0 through its row with no y terms
        builder.add_rows(
            "covered",
            n_d,
            np.concatenate([np.arange(n_d), ii]),
            np.concatenate([u, y[jj]]),
            np.concatenate([np.ones(n_d), -np.ones(ii.size)]),
            upper=0.0,
            doc="u_i <= sum of open sites covering i",
        )
        blocks["u"] = u
        blocks["uncoverable"] = np.flatnonzero(uncoverable)
        obj_cols, obj_coefs = u, weights.copy()
    else:
        assert module_cost is not None and max_modules is not None and existing_modules is not None
        e = existing_modules.astype(float)
        m_lo = np.where(required, np.minimum(e, max_modules), 0.0)
        grp = _demand_groups(n_d, n_s, ii, jj, weights)
        gw, gi, gj = grp["weight"], grp["pair_group"], grp["pair_site"]
        # exact tightening: more modules than the demand a site can reach never serve more
        m_up = _module_upper(max_modules, module_capacity, gw, gi, gj, e, m_lo, forbidden)
        m = builder.add_vars(
            "m", n_s, lower=m_lo, upper=m_up, integer=True, doc="modules (plugs) at site j"
        )
        new = builder.add_vars("new_modules", n_s, lower=0.0, doc="modules bought at site j")
        nx = gi.size
        x = builder.add_vars(
            "x",
            nx,
            cost=gw[gi],
            lower=0.0,
            upper=1.0,
            doc="share of demand group g's demand served at j",
        )
        builder.add_rows(
            "serve_once", gw.size, gi, x, 1.0, upper=1.0, doc="a group's demand is served once"
        )
        k = np.arange(nx)
        builder.add_rows(
            "link",
            nx,
            np.concatenate([k, k]),
            np.concatenate([x, y[gj]]),
            np.concatenate([np.ones(nx), -np.ones(nx)]),
            upper=0.0,
            doc="x_gj <= y_j",
        )
        sites = np.arange(n_s)
        builder.add_rows(
            "module_capacity",
            n_s,
            np.concatenate([gj, sites]),
            np.concatenate([x, m]),
            np.concatenate([gw[gi], -module_capacity]),
            upper=0.0,
            doc="demand served at j <= capacity per module × modules",
        )
        builder.add_rows(
            "modules_need_site",
            n_s,
            np.concatenate([sites, sites]),
            np.concatenate([m, y]),
            np.concatenate([np.ones(n_s), -m_up]),
            upper=0.0,
            doc="m_j <= max_modules_j y_j",
        )
        builder.add_rows(
            "new_modules_def",
            n_s,
            np.concatenate([sites, sites]),
            np.concatenate([m, new]),
            np.concatenate([np.ones(n_s), -np.ones(n_s)]),
            upper=e,
            doc="new_j >= m_j - existing_j",
        )
        if budget is not None and np.isfinite(budget):
            cap_bound = module_budget_bound(
                float(budget),
                site_cost,
                module_cost,
                module_capacity,
                m_up,
                existing_modules,
                m_lo,
                required,
                forbidden,
            )
            if np.isfinite(cap_bound):
                builder.add_rows(
                    "budget_modules",
                    1,
                    np.zeros(n_s),
                    m,
                    module_capacity,
                    upper=cap_bound,
                    doc="capacity the budget can buy (integer knapsack bound, weight units)",
                )
                blocks["capacity_bound"] = np.array([cap_bound])
        budget_cols = np.concatenate([y, new])
        budget_coefs = np.concatenate([site_cost, module_cost])
        # point-level pairs (the handle's contract): each point's share is its group's share
        keep = grp["point_pair"] >= 0
        blocks.update(
            {
                "m": m,
                "new_modules": new,
                "x": x[grp["point_pair"][keep]],
                "pair_demand": ii[keep],
                "pair_site": jj[keep],
                "group_x": x,
                "group_weight": gw,
                "group_pair_group": gi,
                "group_pair_site": gj,
                "module_upper": m_up,
            }
        )
        blocks["uncoverable"] = np.flatnonzero(np.bincount(ii, minlength=n_d) == 0)
        obj_cols, obj_coefs = x, gw[gi]
    if budget is not None and np.isfinite(budget):
        builder.add_rows(
            "budget",
            1,
            np.zeros(budget_cols.size),
            budget_cols,
            budget_coefs,
            upper=float(budget),
            doc="money spent <= budget (CNY)",
        )
    if p is not None:
        builder.add_rows("max_sites", 1, np.zeros(n_s), y, 1.0, upper=p, doc="at most p sites")
    return ModelHandle(
        name="max_coverage",
        site_cols=y,
        site_cost=site_cost.copy(),
        obj_cols=obj_cols,
        obj_coefs=obj_coefs,
        budget_cols=budget_cols,
        budget_coefs=budget_coefs,
        blocks=blocks,
    )


class _CovPrep:
    """Validated max-coverage inputs."""

    def __init__(self, **kw: object) -> None:
        self.__dict__.update(kw)
        self.reason = ""


def _prepare(
    coverage: object,
    weights: object,
    site_cost: object,
    budget: object,
    p: object | None,
    required: object | None,
    forbidden: object | None,
    module_capacity: object | None,
    module_cost: object | None,
    max_modules: object | None,
    existing_modules: object | None,
) -> _CovPrep:
    cov = V.coverage_matrix(coverage)
    n_d, n_s = cov.shape
    w = V.vector(weights, n_d, "weights")
    c = V.vector(site_cost, n_s, "site_cost")
    if budget is None:
        b = np.inf
    else:
        try:
            b = float(budget)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ModelInputError(f"budget must be a number (CNY), got {budget!r}") from None
        if np.isnan(b) or b < 0:
            raise ModelInputError(f"budget must be >= 0 CNY, got {budget!r}")
    pp = None if p is None else V.check_p(p, n_s)
    req, forb = V.required_forbidden(required, forbidden, n_s)
    modules = module_capacity is not None
    if not modules:
        for nm, val in (
            ("module_cost", module_cost),
            ("max_modules", max_modules),
            ("existing_modules", existing_modules),
        ):
            if val is not None and nm != "existing_modules":
                raise ModelInputError(f"{nm} needs module_capacity (demand per module per day)")
    kcap = qcost = mmax = ex = None
    if modules:
        kcap = V.vector(module_capacity, n_s, "module_capacity")
        if (kcap <= 0).any():
            raise ModelInputError(
                f"module_capacity must be > 0, got {kcap[kcap <= 0][0]} at site "
                f"{int(np.argmax(kcap <= 0))}"
            )
        qcost = V.vector(module_cost, n_s, "module_cost", default=0.0)
        ex = V.int_vector(existing_modules, n_s, "existing_modules", default=0)
        if max_modules is None:
            covered_demand = np.asarray(cov.T.astype(float) @ w).ravel()
            mmax = np.maximum(np.ceil(covered_demand / kcap - 1e-9).astype(np.int64), ex)
        else:
            mmax = V.int_vector(max_modules, n_s, "max_modules")
    elif existing_modules is not None:
        ex = V.int_vector(existing_modules, n_s, "existing_modules", default=0)
    prep = _CovPrep(
        cov=cov,
        w=w,
        c=c,
        budget=b,
        p=pp,
        req=req,
        forb=forb,
        kcap=kcap,
        qcost=qcost,
        mmax=mmax,
        ex=ex,
    )
    req_cost = float(c[req].sum())
    if req_cost > b:
        prep.reason = f"required sites alone cost {_money(req_cost)} > budget {_money(b)}"
    elif pp is not None and int(req.sum()) > pp:
        prep.reason = f"{int(req.sum())} required sites > p = {pp}"
    return prep


def _greedy_module_plan(
    h: ModelHandle, prep: _CovPrep, n_cols: int, m_lo: np.ndarray
) -> tuple[np.ndarray, float]:
    """A feasible plan of the plug-sized model, built greedily (a start, never a proof by itself).

    Repeatedly opens (or enlarges) the site whose affordable modules serve the most remaining
    demand per CNY, serving the demand points that fewest sites cover first. Returns the full
    column vector and the demand it serves (weight units per day).
    """
    b = h.blocks
    gw, gi, gj = b["group_weight"], b["group_pair_group"], b["group_pair_site"]
    xcol, m_up = b["group_x"], b["module_upper"]
    kcap, q, c, e = prep.kcap, prep.qcost, prep.c, prep.ex.astype(float)
    n_s = c.size
    by_site = np.argsort(gj, kind="stable")
    site_ptr = np.concatenate([[0], np.cumsum(np.bincount(gj, minlength=n_s))])
    gdeg = np.bincount(gi, minlength=gw.size)
    rem = gw.astype(float).copy()
    share = np.zeros(gi.size)
    m_cur = m_lo.astype(float).copy()
    is_open = prep.req.copy()
    spent = float(c[is_open].sum() + q @ np.maximum(m_cur - e, 0.0))
    p = np.inf if prep.p is None else prep.p

    gstart = np.concatenate([[0], np.cumsum(gdeg)])  # pairs are sorted by group
    avail = np.bincount(gj, weights=rem[gi], minlength=n_s)  # unserved demand each site reaches

    def serve(j: int, amount: float) -> None:
        idx = by_site[site_ptr[j] : site_ptr[j + 1]]
        idx = idx[np.argsort(gdeg[gi[idx]], kind="stable")]
        left = rem[gi[idx]]
        take = np.minimum(left, np.maximum(amount - (np.cumsum(left) - left), 0.0))
        g = gi[idx]
        rem[g] -= take
        share[idx] += np.where(gw[g] > 0, take / np.maximum(gw[g], 1e-300), 0.0)
        hit = take > 0
        g, take = g[hit], take[hit]
        n_p = gdeg[g]
        pairs = np.repeat(gstart[g], n_p) + (
            np.arange(n_p.sum()) - np.repeat(np.cumsum(n_p) - n_p, n_p)
        )
        avail[:] -= np.bincount(gj[pairs], weights=np.repeat(take, n_p), minlength=n_s)

    for j in np.flatnonzero(is_open & (m_cur > 0)):
        serve(int(j), kcap[j] * m_cur[j])
    allowed = ~prep.forb
    for _ in range(2 * n_s + 1):
        np.maximum(avail, 0.0, out=avail)  # rounding
        left = prep.budget - spent
        fixed = np.where(is_open, 0.0, c)
        base = np.maximum(m_cur, e)  # modules up to the existing count are free
        with np.errstate(divide="ignore", invalid="ignore"):
            paid = np.where(q > 0, np.floor((left - fixed) / q + 1e-9), np.inf)
        m_aff = np.minimum(m_up, np.where(left - fixed >= 0, base + paid, -1.0))
        m_t = np.minimum(m_aff, m_cur + np.ceil(avail / kcap - 1e-9))
        delta = m_t - m_cur
        value = np.minimum(avail, kcap * np.maximum(delta, 0.0))
        cost = fixed + q * np.maximum(m_t - base, 0.0)
        ok = allowed & (delta >= 1) & (value > 1e-9) & (is_open | (is_open.sum() < p))
        if not ok.any():
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(ok, np.where(cost > 0, value / cost, np.inf), -1.0)
        best = np.flatnonzero(score == score.max())
        j = int(best[np.argmax(value[best])])
        is_open[j] = True
        spent += float(cost[j])
        serve(j, float(value[j]))
        m_cur[j] = m_t[j]
    x = np.zeros(n_cols)
    x[h.site_cols] = is_open
    x[b["m"]] = np.where(is_open, m_cur, 0.0)
    x[b["new_modules"]] = np.maximum(x[b["m"]] - e, 0.0)
    x[xcol] = np.clip(share, 0.0, 1.0)
    return x, float(gw[gi] @ x[xcol])


def _build(prep: _CovPrep) -> tuple[Milp, ModelHandle]:
    b = MilpBuilder("max_coverage", "max")
    h = add_max_coverage(
        b,
        prep.cov,
        prep.w,
        prep.c,
        required=prep.req,
        forbidden=prep.forb,
        budget=prep.budget,
        p=prep.p,
        module_capacity=prep.kcap,
        module_cost=prep.qcost,
        max_modules=prep.mmax,
        existing_modules=prep.ex,
    )
    return b.build(), h


def build_max_coverage(
    coverage: object,
    weights: object,
    site_cost: object,
    budget: float,
    p: int | None = None,
    *,
    required: object | None = None,
    forbidden: object | None = None,
    module_capacity: object | None = None,
    module_cost: object | None = None,
    max_modules: object | None = None,
    existing_modules: object | None = None,
) -> Milp:
    """Return the max-coverage model as a :class:`Milp` (arguments as :func:`max_coverage`).

    Raises
    ------
    ModelInputError
        On bad arrays, or when the model is infeasible before solving (reason in the message).
    """
    prep = _prepare(
        coverage,
        weights,
        site_cost,
        budget,
        p,
        required,
        forbidden,
        module_capacity,
        module_cost,
        max_modules,
        existing_modules,
    )
    if prep.reason:
        raise ModelInputError(f"max coverage is infeasible: {prep.reason}")
    return _build(prep)[0]


def max_coverage(
    coverage: object,
    weights: object,
    site_cost: object,
    budget: float,
    p: int | None = None,
    *,
    required: object | None = None,
    forbidden: object | None = None,
    module_capacity: object | None = None,
    module_cost: object | None = None,
    max_modules: object | None = None,
    existing_modules: object | None = None,
    time_limit: float | None = None,
    mip_gap: float = 1e-9,
    warm_start_open: object | None = None,
    method: str = "auto",
) -> Solution:
    """Choose sites within a money budget to serve as much weighted demand as possible.

    Parameters
    ----------
    coverage : scipy.sparse matrix or array_like (n_demand, n_sites), bool
        True where site j covers demand point i (e.g. within the travel-time limit).
    weights : array_like (n_demand,)
        Demand of each point (e.g. kWh/day or kg H2/day), >= 0.
    site_cost : array_like (n_sites,)
        Fixed cost of opening each site (CNY); 0 for sites already built.
    budget : float
        Money available (CNY); ``np.inf`` or None = unlimited.
    p : int, optional
        At most this many sites open (required ones included).
    required, forbidden : sequence of int or bool mask, optional
        Sites that must / may not open.
    module_capacity : array_like (n_sites,) or float, optional
        Demand one module (plug, dispenser) serves per day (weight units). When given, the model
        also sizes modules per site and demand may be split between covering sites.
    module_cost : array_like (n_sites,) or float, optional
        Cost of one new module (CNY); default 0.
    max_modules : array_like (n_sites,) of int, optional
        Most modules per site; default: enough for all the demand the site covers.
    existing_modules : array_like (n_sites,) of int, optional
        Modules already installed; they cost nothing (and stay at required sites).
    time_limit : float, optional
        Seconds; when reached, the best plan found is returned with status ``time_limit``.
    mip_gap : float
        Relative optimality gap at which to stop (default 1e-9: proven optimal).
    warm_start_open : sequence of int, optional
        Open sites of an earlier plan (e.g. the previous budget of a sweep); ignored when
        infeasible here.
    method : {"auto", "bnb", "milp"}
        Without plug modules: ``"auto"`` / ``"bnb"`` solve by reduction, bounds and
        branch-and-bound (:mod:`siting.models.mclp`, much faster); ``"milp"`` hands the compact
        MILP to HiGHS (kept for checking). With plug modules the MILP path is always used.

    Returns
    -------
    Solution
        ``objective`` = demand served (weight units per day). ``assignment`` = bool "covered" per
        demand point, or (module variant) the served fraction per point. ``details``:
        ``modules`` (int per open site, aligned with ``open``; existing modules in the basic
        variant), ``served`` (demand served per open site; in the basic variant each covered point
        counts at its lowest-index covering open site), ``spent`` (CNY), ``uncoverable`` (points
        no allowed site covers), ``flows`` (module variant: sparse demand × site served fraction).
    """
    V.time_and_gap(time_limit, mip_gap)
    t0 = time.perf_counter()
    prep = _prepare(
        coverage,
        weights,
        site_cost,
        budget,
        p,
        required,
        forbidden,
        module_capacity,
        module_cost,
        max_modules,
        existing_modules,
    )
    if prep.reason:
        return Solution.infeasible(prep.reason, build_seconds=time.perf_counter() - t0)
    if method not in ("auto", "bnb", "milp"):
        raise ModelInputError(f"method must be 'auto', 'bnb' or 'milp', got {method!r}")
    if prep.kcap is None and method != "milp":
        return _solve_basic(prep, time_limit, mip_gap, warm_start_open)
    milp, h = _build(prep)
    build_s = time.perf_counter() - t0
    if "capacity_bound" in h.blocks:
        res = _solve_modules(milp, h, prep, warm_start_open, time_limit, mip_gap)
    else:
        res = solve_from_open(
            milp, h.site_cols, warm_start_open, time_limit=time_limit, mip_gap=mip_gap
        )
    return _coverage_solution(res, h, prep, build_s)


def _solve_basic(
    prep: _CovPrep, time_limit: float | None, mip_gap: float, warm_start_open: object | None
) -> Solution:
    """The model without plug modules, solved by :func:`siting.models.mclp.solve_mclp`."""
    from siting.models.mclp import solve_mclp

    n_d, n_s = prep.cov.shape
    warm = None
    if warm_start_open is not None:
        warm = np.asarray(list(warm_start_open), dtype=np.int64).ravel()  # type: ignore[call-overload]
        if warm.size and ((warm < 0) | (warm >= n_s)).any():
            log.info("warm start ignored: site index out of range")
            warm = None
    res = solve_mclp(
        prep.cov, prep.w, prep.c, prep.budget, prep.p, prep.req, prep.forb,
        time_limit=time_limit, mip_gap=mip_gap, warm_start_open=warm,
    )  # fmt: skip
    open_mask = np.zeros(n_s, bool)
    open_mask[res.open] = True
    cov = prep.cov.tocoo()
    ok = ~prep.forb[cov.col]
    ii, jj = cov.row[ok].astype(np.int64), cov.col[ok].astype(np.int64)
    on = open_mask[jj]
    covered = np.zeros(n_d, dtype=bool)
    covered[ii[on]] = True
    objective = float(prep.w[covered].sum())
    first = np.full(n_d, n_s, dtype=np.int64)  # each covered point at its lowest-index open site
    np.minimum.at(first, ii[on], jj[on])
    served = np.bincount(first[covered], weights=prep.w[covered], minlength=n_s)
    mods = prep.ex[open_mask] if prep.ex is not None else np.zeros(res.open.size, np.int64)
    bound = max(res.bound, objective)
    gap = max(bound - objective, 0.0) / max(abs(objective), 1e-12)
    return Solution(
        status=res.status,
        objective=objective,
        bound=float(bound),
        gap=float(gap),
        open=res.open,
        assignment=covered,
        seconds=res.seconds,
        build_seconds=0.0,
        message=res.message,
        details={
            "uncoverable": np.flatnonzero(np.bincount(ii, minlength=n_d) == 0),
            "modules": np.asarray(mods),
            "served": served[open_mask],
            "spent": float(prep.c[open_mask].sum()),
            "nodes": int(res.stats.get("nodes", 0)),
        },
    )


def _feasible(milp: Milp, x: np.ndarray, tol: float = 1e-6) -> bool:
    """True when ``x`` meets every row, bound and integrality of ``milp`` (scaled tolerance)."""
    ax = milp.A @ x
    scale = 1.0 + np.abs(ax)
    rows_ok = (ax >= milp.row_lower - tol * scale) & (ax <= milp.row_upper + tol * scale)
    cols_ok = (x >= milp.col_lower - tol) & (x <= milp.col_upper + tol)
    ints = x[milp.integer]
    return bool(rows_ok.all() and cols_ok.all() and np.allclose(ints, np.round(ints), atol=tol))


def _solve_modules(
    milp: Milp,
    h: ModelHandle,
    prep: _CovPrep,
    warm_start_open: object | None,
    time_limit: float | None,
    mip_gap: float,
) -> MilpResult:
    """Solve the plug-sized model under a budget: greedy plan, proof by the knapsack bound.

    The greedy plan is returned as optimal only when it is within ``mip_gap`` of the budget's
    capacity bound (:func:`module_budget_bound`, a proven upper bound on the demand served);
    otherwise HiGHS solves the model, started from the better of the greedy plan and the
    ``warm_start_open`` sites.
    """
    t0 = time.perf_counter()
    m_lo = np.where(prep.req, np.minimum(prep.ex, prep.mmax), 0).astype(float)
    start: np.ndarray | None
    start, served = _greedy_module_plan(h, prep, milp.num_cols, m_lo)
    ub = float(h.blocks["capacity_bound"][0])
    if not _feasible(milp, start):
        log.warning("max_coverage: greedy plan violates the model (a bug); solving the MILP")
        start, served = None, -np.inf
    elif ub - served <= max(mip_gap * abs(served), 1e-6):
        gap = max(ub - served, 0.0) / max(abs(served), 1e-12)
        log.info("max_coverage: greedy plan within %.2g of the budget capacity bound", gap)
        return MilpResult(
            "optimal",
            served,
            max(ub, served),
            gap,
            start,
            time.perf_counter() - t0,
            "optimal: plan meets the budget capacity bound",
        )
    log.info("max_coverage: greedy plan %.6g < capacity bound %.6g, solving the MILP", served, ub)
    if warm_start_open is not None:
        idx = np.asarray(list(warm_start_open), dtype=np.int64).ravel()  # type: ignore[call-overload]
        if idx.size == 0 or ((idx >= 0) & (idx < h.site_cols.size)).all():
            y = np.zeros(h.site_cols.size)
            y[idx] = 1.0
            limit = 10.0 if time_limit is None else max(0.1 * time_limit, 0.05)
            other = complete_start(milp, h.site_cols, y, time_limit=limit)
            if other is not None and float(milp.c @ other) > served:
                start = other
    if time_limit is not None:
        time_limit = max(time_limit - (time.perf_counter() - t0), 0.01)
    res = solve_milp(
        milp,
        time_limit=time_limit,
        mip_gap=mip_gap,
        warm_start=start,
    )
    res.seconds = time.perf_counter() - t0
    return res


def add_coverage_component(
    builder: MilpBuilder,
    coverage: object,
    weights: object,
    site_cost: object,
    *,
    required: object | None = None,
    forbidden: object | None = None,
    module_capacity: object | None = None,
    module_cost: object | None = None,
    max_modules: object | None = None,
    existing_modules: object | None = None,
) -> ModelHandle:
    """Validate inputs exactly as :func:`max_coverage` does and add the model with no budget row.

    For composing the coverage model with others under a shared budget
    (:mod:`siting.models.joint`): the same arrays and defaults as :func:`max_coverage` (e.g.
    ``max_modules`` defaults to enough modules for all the demand a site covers), so the
    component is the charger-only model minus its budget row. Arguments as :func:`max_coverage`;
    read the result with :func:`coverage_details`.

    Returns
    -------
    ModelHandle
        ``budget_cols`` / ``budget_coefs`` (CNY) for the shared budget row; ``obj_cols`` /
        ``obj_coefs`` in weight units (e.g. kWh/day).
    """
    prep = _prepare(
        coverage, weights, site_cost, None, None, required, forbidden,
        module_capacity, module_cost, max_modules, existing_modules,
    )  # fmt: skip
    return add_max_coverage(
        builder, prep.cov, prep.w, prep.c, required=prep.req, forbidden=prep.forb, budget=None,
        module_capacity=prep.kcap, module_cost=prep.qcost, max_modules=prep.mmax,
        existing_modules=prep.ex,
    )  # fmt: skip


def coverage_details(handle: ModelHandle, x: np.ndarray) -> dict[str, object]:
    """Read a coverage component's results from a solution vector ``x`` of the whole model.

    Parameters
    ----------
    handle : ModelHandle
        What :func:`add_max_coverage` / :func:`add_coverage_component` returned.
    x : ndarray
        Column values of the model the component is part of.

    Returns
    -------
    dict
        ``open`` (site positions), ``modules`` (int per open site; 0 in the basic variant),
        ``served`` (weight units per day per open site), ``served_point`` (per demand point),
        ``assignment`` (served fraction per point, 0..1) and ``assignment_matrix``
        (sparse demand × open sites, weight units per day).
    """
    b = handle.blocks
    w = np.asarray(b["weights"], dtype=float)
    ii, jj = b["pair_demand"], b["pair_site"]
    n_d, n_s = w.size, handle.site_cols.size
    open_mask = x[handle.site_cols] > 0.5
    opened = np.flatnonzero(open_mask)
    if "x" in b:
        xv = np.clip(x[b["x"]], 0.0, 1.0)
        mods = np.round(x[b["m"]]).astype(np.int64)[open_mask]
    else:
        first = np.full(n_d, n_s, dtype=np.int64)
        on = open_mask[jj]
        np.minimum.at(first, ii[on], jj[on])
        xv = (first[ii] == jj).astype(float)  # each covered point at its lowest-index open site
        mods = np.zeros(opened.size, np.int64)
    keep = (xv > 1e-9) & open_mask[jj]
    col = np.full(n_s, -1, dtype=np.int64)
    col[opened] = np.arange(opened.size)
    frac = sp.csr_matrix((xv[keep], (ii[keep], col[jj[keep]])), shape=(n_d, opened.size))
    assignment = np.minimum(np.asarray(frac.sum(axis=1)).ravel(), 1.0)
    kwh = sp.csr_matrix(frac.multiply(w[:, None]))
    return {
        "open": opened,
        "modules": mods,
        "served": np.asarray(kwh.sum(axis=0)).ravel(),
        "served_point": w * assignment,
        "assignment": assignment,
        "assignment_matrix": kwh,
    }


def _no_plan(res: MilpResult, build_s: float, reason: str) -> Solution:
    if res.status == "infeasible":
        return Solution.infeasible(reason, seconds=res.seconds, build_seconds=build_s)
    sol = Solution.infeasible("no plan found within the time limit", seconds=res.seconds)
    sol.status = "time_limit"
    sol.bound = res.bound
    sol.build_seconds = build_s
    return sol


def _coverage_solution(res: MilpResult, h: ModelHandle, prep: _CovPrep, build_s: float) -> Solution:
    if res.x is None:
        return _no_plan(res, build_s, "no plan fits the budget and site limits")
    n_d, n_s = prep.cov.shape
    open_mask = res.x[h.site_cols] > 0.5
    opened = np.flatnonzero(open_mask)
    details: dict[str, object] = {"uncoverable": h.blocks["uncoverable"]}
    ii, jj = h.blocks["pair_demand"], h.blocks["pair_site"]
    if prep.kcap is None:
        on = open_mask[jj]
        covered = np.zeros(n_d, dtype=bool)
        covered[ii[on]] = True
        objective = float(prep.w[covered].sum())
        # each covered point counts at its lowest-index covering open site
        first = np.full(n_d, n_s, dtype=np.int64)
        np.minimum.at(first, ii[on], jj[on])
        served = np.bincount(first[covered], weights=prep.w[covered], minlength=n_s)
        spent = float(prep.c[open_mask].sum())
        mods = prep.ex[open_mask] if prep.ex is not None else np.zeros(opened.size, np.int64)
        assignment: np.ndarray = covered
    else:
        xv = np.clip(res.x[h.blocks["x"]], 0.0, 1.0)
        m = np.round(res.x[h.blocks["m"]]).astype(np.int64)
        keep = xv > 1e-9
        flows = sp.csr_matrix((xv[keep], (ii[keep], jj[keep])), shape=(n_d, n_s))
        assignment = np.minimum(np.asarray(flows.sum(axis=1)).ravel(), 1.0)
        objective = float(prep.w @ assignment)
        served = np.asarray(flows.multiply(prep.w[:, None]).sum(axis=0)).ravel()
        spent = float(
            prep.c[open_mask].sum() + prep.qcost @ (np.maximum(m - prep.ex, 0) * open_mask)
        )
        mods = m[open_mask]
        details["flows"] = flows
    details.update({"modules": np.asarray(mods), "served": served[open_mask], "spent": spent})
    bound = max(res.bound, objective) if res.status == "optimal" else res.bound
    gap = abs(bound - objective) / max(abs(objective), 1e-12) if np.isfinite(bound) else np.inf
    if res.status == "optimal":
        gap = min(gap, res.gap)
    return Solution(
        status=res.status,
        objective=objective,
        bound=float(bound),
        gap=float(gap),
        open=opened,
        assignment=assignment,
        seconds=res.seconds,
        build_seconds=build_s,
        message=res.message,
        details=details,
    )


def add_set_cover(
    builder: MilpBuilder,
    coverage: sp.csr_matrix,
    site_cost: np.ndarray,
    *,
    required: np.ndarray,
    forbidden: np.ndarray,
) -> ModelHandle:
    """Add a set-cover component to a ``min`` builder: every coverable point covered once."""
    n_d, n_s = coverage.shape
    cov = coverage.tocoo()
    ok = ~forbidden[cov.col]
    ii, jj = cov.row[ok].astype(np.int64), cov.col[ok].astype(np.int64)
    coverable = np.bincount(ii, minlength=n_d) > 0
    y = builder.add_vars(
        "y",
        n_s,
        cost=site_cost,
        lower=required.astype(float),
        upper=(~forbidden).astype(float),
        integer=True,
        doc="1 when site j is open",
    )
    row_of = np.cumsum(coverable) - 1
    builder.add_rows(
        "cover",
        int(coverable.sum()),
        row_of[ii],
        y[jj],
        1.0,
        lower=1.0,
        doc="every coverable point is covered",
    )
    return ModelHandle(
        name="set_cover",
        site_cols=y,
        site_cost=site_cost.copy(),
        obj_cols=y,
        obj_coefs=site_cost.copy(),
        budget_cols=y,
        budget_coefs=site_cost.copy(),
        blocks={"uncoverable": np.flatnonzero(~coverable)},
    )


def _set_cover_model(
    coverage: object, site_cost: object, required: object | None, forbidden: object | None
) -> tuple[sp.csr_matrix, np.ndarray, Milp, ModelHandle]:
    cov = V.coverage_matrix(coverage)
    n_s = cov.shape[1]
    c = V.vector(site_cost, n_s, "site_cost")
    req, forb = V.required_forbidden(required, forbidden, n_s)
    b = MilpBuilder("set_cover", "min")
    h = add_set_cover(b, cov, c, required=req, forbidden=forb)
    return cov, c, b.build(), h


def build_set_cover(
    coverage: object,
    site_cost: object,
    *,
    required: object | None = None,
    forbidden: object | None = None,
) -> Milp:
    """Return the set-cover model as a :class:`Milp` (arguments as :func:`set_cover`)."""
    return _set_cover_model(coverage, site_cost, required, forbidden)[2]


def set_cover(
    coverage: object,
    site_cost: object,
    *,
    required: object | None = None,
    forbidden: object | None = None,
    time_limit: float | None = None,
    mip_gap: float = 1e-9,
) -> Solution:
    """Cheapest set of sites covering every demand point that some allowed site can cover.

    Parameters
    ----------
    coverage : scipy.sparse matrix or array_like (n_demand, n_sites), bool
        True where site j covers demand point i.
    site_cost : array_like (n_sites,)
        Cost of opening each site (CNY); use ones to minimise the number of sites.
    required, forbidden : sequence of int or bool mask, optional
        Sites that must / may not open.
    time_limit : float, optional
        Seconds; when reached, the best plan found is returned with status ``time_limit``.
    mip_gap : float
        Relative optimality gap at which to stop (default 1e-9: proven optimal).

    Returns
    -------
    Solution
        ``objective`` = total cost of the open sites (CNY); ``assignment`` = bool "covered" per
        demand point; ``details["uncoverable"]`` = points no allowed site covers (they are left
        out of the model and reported here).
    """
    V.time_and_gap(time_limit, mip_gap)
    t0 = time.perf_counter()
    cov, c, milp, h = _set_cover_model(coverage, site_cost, required, forbidden)
    build_s = time.perf_counter() - t0
    unc = h.blocks["uncoverable"]
    if unc.size:
        log.info("set_cover: %d demand points cannot be covered by any allowed site", unc.size)
    res = solve_from_open(milp, h.site_cols, None, time_limit=time_limit, mip_gap=mip_gap)
    if res.x is None:
        return _no_plan(res, build_s, "no set of allowed sites covers the coverable points")
    open_mask = res.x[h.site_cols] > 0.5
    covered = np.asarray(cov[:, open_mask].sum(axis=1)).ravel() > 0
    objective = float(c[open_mask].sum())
    bound = min(res.bound, objective) if res.status == "optimal" else res.bound
    gap = abs(objective - bound) / max(abs(objective), 1e-12) if np.isfinite(bound) else np.inf
    if res.status == "optimal":
        gap = min(gap, res.gap)
    return Solution(
        status=res.status,
        objective=objective,
        bound=float(bound),
        gap=float(gap),
        open=np.flatnonzero(open_mask),
        assignment=covered,
        seconds=res.seconds,
        build_seconds=build_s,
        message=res.message,
        details={"uncoverable": unc, "spent": objective},
    )
