"""Maximal covering with plugs sized by a service level: one binary per plug-count level.

The plug-module model of :mod:`siting.models.coverage` gives every plug the same daily capacity.
Sized by a queueing service level, a site's capacity is not linear in its plugs: with ``c`` plugs
it may be offered at most ``cap_j(c)`` of load in any hour (e.g. ``A_max(c)`` Erlangs × plug
power, :func:`siting.queueing.max_load`), and ``cap_j(c) / c`` grows with ``c``. This module
models that exactly.

Model (``max``):

- ``y_j`` binary, site open; ``z_jc`` binary, site j has exactly ``c`` plugs
  (``sum_c z_jc = y_j``, levels ``c`` in ``lo_j .. up_j``);
- ``x_gj in [0, 1]`` share of demand group g served at site j (``sum_j x_gj <= 1``,
  ``x_gj <= y_j``);
- per site and *kept hour* h: ``sum_g load_gh x_gj <= sum_c cap_j(c) z_jc``;
- budget ``sum_j c_j y_j + sum_jc q_j (c - e_j)^+ z_jc <= B`` (``e_j`` existing plugs are free);
- per feeder group k (optional): ``sum_jc d_kj (c - e_j)^+ z_jc <= L_k`` (power drawn by new
  plugs within a substation's headroom);
- maximise ``sum_gj w_g x_gj`` (daily demand served).

Exact reductions and bounds (same optimum):

- demand points covered by the same set of sites form one group (:func:`coverage._demand_groups`);
- hours whose load rows are implied by other hours are dropped before the call
  (:func:`siting.queueing.peak_hours`): with one segment mix only the peak hour remains;
- levels above the smallest ``c`` that takes all the load a site can reach are cut;
- under a budget, ``sum_jc K_j(c) z_jc <= U`` where ``K_j(c) = cap_j(c) / t`` is the most daily
  demand ``c`` plugs can serve (``t`` = the smallest possible peak load per unit of daily demand
  over the demand mixes present) and ``U`` the most such capacity the budget can buy
  (:func:`level_budget_bound`, a knapsack over site classes × levels that ignores coverage).

:func:`max_coverage_levels` builds a greedy plan first (sizes sites with the capacity of the
*largest* peak load per unit demand, so the plan is feasible for every mix); when it serves ``U``
within ``mip_gap`` it is optimal by that bound and HiGHS is not called; otherwise HiGHS solves
the model started from that plan (or from ``warm_start_open`` when better).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

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
    solve_milp,
)
from siting.models._solution import Solution
from siting.models.coverage import _demand_groups, _feasible

log = logging.getLogger(__name__)


@dataclass
class _LevelPrep:
    """Validated inputs of the level model (site arrays have length n_sites)."""

    cov: sp.csr_matrix
    w: np.ndarray  # (n_d,) daily demand
    load: np.ndarray  # (n_d, H) load per hour
    c: np.ndarray  # site cost
    q: np.ndarray  # cost per new plug
    cap: np.ndarray  # (n_s, L+1) capacity of level c (load units)
    mmax: np.ndarray  # most plugs
    ex: np.ndarray  # existing plugs
    req: np.ndarray
    forb: np.ndarray
    budget: float
    draw: sp.csr_matrix  # (n_groups, n_s) per new plug
    limit: np.ndarray  # (n_groups,)
    reason: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def _prepare(
    coverage: object,
    weights: object,
    site_cost: object,
    budget: object,
    load: object | None,
    level_capacity: object,
    module_cost: object | None,
    max_modules: object | None,
    existing_modules: object | None,
    required: object | None,
    forbidden: object | None,
    group_draw: object | None,
    group_limit: object | None,
) -> _LevelPrep:
    cov = V.coverage_matrix(coverage)
    n_d, n_s = cov.shape
    w = V.vector(weights, n_d, "weights")
    c = V.vector(site_cost, n_s, "site_cost")
    b = np.inf if budget is None else float(budget)  # type: ignore[arg-type]
    if np.isnan(b) or b < 0:
        raise ModelInputError(f"budget must be >= 0 CNY, got {budget!r}")
    if load is None:
        ld = w[:, None].copy()
    else:
        ld = np.asarray(load, dtype=float)
        if ld.ndim == 1:
            ld = ld[:, None]
        if ld.ndim != 2 or ld.shape[0] != n_d or ld.shape[1] < 1:
            raise ModelInputError(f"load must be (n_demand={n_d}, n_hours), got {ld.shape}")
        if not np.isfinite(ld).all() or (ld < 0).any():
            raise ModelInputError("load must be finite and >= 0")
    cap = np.asarray(level_capacity, dtype=float)
    if cap.ndim == 1:
        cap = np.broadcast_to(cap, (n_s, cap.size)).copy()
    if cap.ndim != 2 or cap.shape[0] != n_s or cap.shape[1] < 2:
        raise ModelInputError(
            f"level_capacity must be (n_levels+1,) or (n_sites={n_s}, n_levels+1), got {cap.shape}"
        )
    if not np.isfinite(cap).all() or (cap[:, 0] != 0).any() or (np.diff(cap, axis=1) < 0).any():
        raise ModelInputError("level_capacity must start at 0 (no plugs) and never decrease")
    n_lv = cap.shape[1] - 1
    q = V.vector(module_cost, n_s, "module_cost", default=0.0)
    ex = V.int_vector(existing_modules, n_s, "existing_modules", default=0)
    mmax = (
        np.full(n_s, n_lv, dtype=np.int64)
        if max_modules is None
        else V.int_vector(max_modules, n_s, "max_modules")
    )
    if (mmax > n_lv).any():
        j = int(np.argmax(mmax > n_lv))
        raise ModelInputError(f"max_modules {mmax[j]} at site {j} > levels given ({n_lv})")
    if (ex > n_lv).any():
        j = int(np.argmax(ex > n_lv))
        raise ModelInputError(f"existing_modules {ex[j]} at site {j} > levels given ({n_lv})")
    req, forb = V.required_forbidden(required, forbidden, n_s)
    if group_draw is None:
        draw = sp.csr_matrix((0, n_s))
        limit = np.zeros(0)
    else:
        draw = sp.csr_matrix(group_draw, dtype=float)
        limit = np.asarray(group_limit, dtype=float).ravel()
        if draw.shape[1] != n_s or limit.size != draw.shape[0]:
            raise ModelInputError("group_draw must be (n_groups, n_sites), one group_limit each")
        if (draw.data < 0).any() or (limit < 0).any() or not np.isfinite(limit).all():
            raise ModelInputError("group_draw and group_limit must be finite and >= 0")
    prep = _LevelPrep(cov, w, ld, c, q, cap, np.minimum(mmax, n_lv), ex, req, forb, b, draw, limit)
    req_cost = float(c[req].sum())
    if req_cost > b:
        prep.reason = (
            f"required sites alone cost {req_cost / 1e6:.1f} M CNY > budget {b / 1e6:.1f} M CNY"
        )
    return prep


# ----------------------------------------------------------------------------- bounds


def peak_per_unit(ratio: np.ndarray) -> tuple[float, float]:
    """Smallest and largest peak load per unit of daily demand over the demand mixes present.

    ``ratio[g, h]`` is group g's load in kept hour h per unit of its daily demand. A site serving
    a mixture of groups has peak ``max_h sum_g lam_g ratio[g, h]`` per unit served (``lam`` the
    mixture weights); the smallest over all mixtures (an LP) turns plug capacity into the most
    daily demand it can serve (a valid bound), the largest into an amount it can always serve.
    """
    r = np.unique(np.round(ratio, 12), axis=0)
    t_max = float(r.max(axis=1).max()) if r.size else 0.0
    if r.shape[0] <= 1:
        return t_max, t_max
    from scipy.optimize import linprog

    k, h = r.shape
    # variables lam (k), t; min t s.t. r.T lam - t <= 0, sum lam = 1
    res = linprog(
        np.r_[np.zeros(k), 1.0],
        A_ub=np.hstack([r.T, -np.ones((h, 1))]),
        b_ub=np.zeros(h),
        A_eq=np.r_[np.ones(k), 0.0][None, :],
        b_eq=[1.0],
        bounds=[(0, None)] * k + [(None, None)],
        method="highs",
    )
    t_min = float(res.fun) * (1 - 1e-9) if res.status == 0 else float(r.max(axis=1).min())
    return min(t_min, float(r.max(axis=1).min())), t_max


def level_budget_bound(
    budget: float,
    site_cost: np.ndarray,
    module_cost: np.ndarray,
    level_value: np.ndarray,
    level_lo: np.ndarray,
    level_up: np.ndarray,
    existing_modules: np.ndarray,
    required: np.ndarray,
    forbidden: np.ndarray,
    *,
    time_limit: float = 5.0,
) -> float:
    """Most daily capacity a budget can buy with plug levels: an upper bound on demand served.

    Integer knapsack ``max sum_j V_j(c_j)`` over open sites with ``c_j`` plugs
    (``lo_j <= c_j <= up_j``) s.t. ``sum_j c_j^site + q_j (c_j - e_j)^+ <= B``; required sites
    open. Sites with equal data are merged into classes (integer variables: how many sites of a
    class get level c). Coverage and feeder limits are ignored, so the bound is valid for the
    level model.

    Parameters
    ----------
    budget : float
        CNY.
    site_cost, module_cost : ndarray (n_sites,)
        CNY per site and per new plug.
    level_value : ndarray (n_sites, L+1)
        Daily demand a site can serve with c plugs (non-decreasing in c).
    level_lo, level_up : ndarray of int (n_sites,)
        Levels allowed when open.
    existing_modules : ndarray of int (n_sites,)
    required, forbidden : ndarray of bool (n_sites,)
    time_limit : float
        Seconds for the knapsack; when stopped early its valid dual bound is used.

    Returns
    -------
    float
        The bound (``inf`` when it cannot be computed).
    """
    ok = ~forbidden & (level_up >= level_lo)
    if not ok.any():
        return 0.0
    n_lv = level_value.shape[1]
    key = np.column_stack(
        [
            site_cost, module_cost, existing_modules.astype(float), level_lo.astype(float),
            level_up.astype(float), required.astype(float), level_value,
        ]
    )[ok]  # fmt: skip
    cls, count = np.unique(key, axis=0, return_counts=True)
    lo = cls[:, 3].astype(np.int64)
    hi = cls[:, 4].astype(np.int64)
    n_opt = hi - lo + 1
    t = np.repeat(np.arange(cls.shape[0]), n_opt)
    lv = lo[t] + (np.arange(t.size) - np.repeat(np.cumsum(n_opt) - n_opt, n_opt))
    cost = cls[t, 0] + cls[t, 1] * np.maximum(lv - cls[t, 2], 0)
    value = cls[:, 6 : 6 + n_lv][t, lv]
    b = MilpBuilder("level_budget_bound", "max")
    k = b.add_vars("k", t.size, cost=value, upper=count[t].astype(float), integer=True)
    req_cls = cls[:, 5] > 0.5
    b.add_rows(
        "sites", cls.shape[0], t, k, 1.0,
        lower=np.where(req_cls, count, 0).astype(float), upper=count.astype(float),
    )  # fmt: skip
    b.add_rows("budget", 1, np.zeros(t.size), k, cost, upper=float(budget))
    res = solve_milp(b.build(), time_limit=time_limit, mip_gap=0.0)
    if res.status == "infeasible":
        return np.inf
    bound = res.bound if np.isfinite(res.bound) else np.inf
    if res.x is not None:
        bound = max(bound, float(value @ np.round(res.x)))
    return bound * (1 + 1e-9) + 1e-9 if np.isfinite(bound) else np.inf


# ----------------------------------------------------------------------------- model


def _round_sig(a: np.ndarray, digits: int = 12) -> np.ndarray:
    """``a`` rounded to ``digits`` significant digits (so equal mixes compare equal)."""
    a = np.asarray(a, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = np.where(a != 0, np.floor(np.log10(np.abs(a))), 0.0)
    scale = 10.0 ** (digits - 1 - mag)
    return np.round(a * scale) / scale


def _level_ranges(prep: _LevelPrep, reach_load: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Allowed plug levels per site when open: ``lo .. up`` (empty when ``up < lo``).

    ``up`` is the smallest level whose capacity takes all the load the site can reach in every
    kept hour (more plugs serve nothing more: an exact cut), at most ``max_modules``, never below
    the existing plugs; ``lo`` is 1, or the existing plugs at required sites (they stay).
    """
    cap, mmax = prep.cap, prep.mmax
    need = reach_load.max(axis=1) if reach_load.size else np.zeros(cap.shape[0])
    enough = cap >= need[:, None] * (1 - 1e-12)
    first = np.where(enough.any(axis=1), enough.argmax(axis=1), cap.shape[1] - 1)
    up = np.maximum(np.minimum(first, mmax), np.minimum(prep.ex, mmax))
    lo = np.where(prep.req, np.maximum(np.minimum(prep.ex, mmax), np.minimum(1, mmax)), 1)
    # up < lo: the site cannot open (no plug fits, or it reaches no demand and is not required)
    up = np.where(prep.forb, -1, up)
    return lo.astype(np.int64), up.astype(np.int64)


def add_level_coverage(builder: MilpBuilder, prep: _LevelPrep) -> ModelHandle:
    """Add the level model of a validated :class:`_LevelPrep` to a ``max`` builder.

    With ``prep.budget`` infinite no budget row is added (``handle.budget_cols`` /
    ``budget_coefs`` can go into a shared one).
    """
    n_d, n_s = prep.cov.shape
    cov = prep.cov.tocoo()
    allowed = ~prep.forb[cov.col]
    ii, jj = cov.row[allowed].astype(np.int64), cov.col[allowed].astype(np.int64)
    order = np.lexsort((jj, ii))
    ii, jj = ii[order], jj[order]
    # points merge only when they also share the load per unit of demand in every hour (mix)
    with np.errstate(divide="ignore", invalid="ignore"):
        mix = np.where(prep.w[:, None] > 0, prep.load / prep.w[:, None], prep.load)
    grp = _demand_groups(n_d, n_s, ii, jj, prep.w, key=_round_sig(mix))
    gw, gi, gj = grp["weight"], grp["pair_group"], grp["pair_site"]
    pg = grp["point_group"]
    n_g, n_h = gw.size, prep.load.shape[1]
    gload = np.zeros((n_g, n_h))
    kept = pg >= 0
    np.add.at(gload, pg[kept], prep.load[kept])
    reach_load = np.zeros((n_s, n_h))
    np.add.at(reach_load, gj, gload[gi])
    lo, up = _level_ranges(prep, reach_load)

    y = builder.add_vars(
        "y", n_s, lower=prep.req.astype(float), upper=(~prep.forb).astype(float), integer=True,
        doc="1 when site j is open",
    )  # fmt: skip
    n_opt = np.maximum(up - lo + 1, 0)
    zs = np.repeat(np.arange(n_s), n_opt)
    zc = lo[zs] + (np.arange(zs.size) - np.repeat(np.cumsum(n_opt) - n_opt, n_opt))
    new_plugs = np.maximum(zc - prep.ex[zs], 0).astype(float)
    z = builder.add_vars("z", zs.size, upper=1.0, integer=True, doc="1 when site j has c plugs")
    nx = gi.size
    x = builder.add_vars(
        "x", nx, cost=gw[gi], upper=1.0, doc="share of demand group g's demand served at j"
    )
    builder.add_rows("serve_once", n_g, gi, x, 1.0, upper=1.0, doc="a group is served once")
    k = np.arange(nx)
    builder.add_rows(
        "link", nx, np.r_[k, k], np.r_[x, y[gj]], np.r_[np.ones(nx), -np.ones(nx)], upper=0.0,
        doc="x_gj <= y_j",
    )  # fmt: skip
    sites = np.arange(n_s)
    builder.add_rows(
        "one_level", n_s, np.r_[zs, sites], np.r_[z, y], np.r_[np.ones(zs.size), -np.ones(n_s)],
        lower=0.0, upper=0.0, doc="an open site has exactly one plug level",
    )  # fmt: skip
    # capacity rows, one per (kept hour, site): sum_g load_gh x_gj <= sum_c cap_j(c) z_jc
    hh = np.repeat(np.arange(n_h), nx)
    rows_x = hh * n_s + np.tile(gj, n_h)
    hz = np.repeat(np.arange(n_h), zs.size)
    rows_z = hz * n_s + np.tile(zs, n_h)
    builder.add_rows(
        "hour_capacity", n_h * n_s,
        np.r_[rows_x, rows_z], np.r_[np.tile(x, n_h), np.tile(z, n_h)],
        np.r_[gload[gi].T.ravel(), -np.tile(prep.cap[zs, zc], n_h)], upper=0.0,
        doc="load offered to site j in each kept hour <= what its plug level takes",
    )  # fmt: skip
    if prep.draw.shape[0]:
        # feeder k: sum over the z of each site it feeds of draw[k, site] * new plugs(z)
        d = prep.draw.tocoo()
        zptr = np.r_[0, np.cumsum(n_opt)]
        cnt = n_opt[d.col]
        rep = np.repeat(np.arange(d.nnz), cnt)
        off = np.arange(rep.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        zz = np.repeat(zptr[d.col], cnt) + off
        builder.add_rows(
            "feeder_headroom", d.shape[0], d.row[rep], z[zz], d.data[rep] * new_plugs[zz],
            upper=prep.limit, doc="power of new plugs fed by a substation <= its headroom (kW)",
        )  # fmt: skip
    budget_cols = np.r_[y, z]
    budget_coefs = np.r_[prep.c, prep.q[zs] * new_plugs]
    blocks: dict[str, np.ndarray] = {
        "z": z, "z_site": zs, "z_level": zc, "x": x[grp["point_pair"][grp["point_pair"] >= 0]],
        "pair_demand": ii[grp["point_pair"] >= 0], "pair_site": jj[grp["point_pair"] >= 0],
        "weights": prep.w, "group_x": x, "group_weight": gw, "group_pair_group": gi,
        "group_pair_site": gj, "group_load": gload, "level_lo": lo, "level_up": up,
        "uncoverable": np.flatnonzero(np.bincount(ii, minlength=n_d) == 0),
    }  # fmt: skip
    ratio = gload / np.maximum(gw, 1e-300)[:, None]
    t_min, t_max = peak_per_unit(ratio) if n_g else (0.0, 0.0)
    blocks["peak_per_unit"] = np.array([t_min, t_max])
    if np.isfinite(prep.budget):
        if t_min > 0:
            value = prep.cap / t_min
            ub = level_budget_bound(
                prep.budget, prep.c, prep.q, value, lo, up, prep.ex, prep.req, prep.forb
            )
            if np.isfinite(ub):
                builder.add_rows(
                    "budget_capacity", 1, np.zeros(zs.size), z, value[zs, zc], upper=ub,
                    doc="daily capacity the budget can buy (knapsack bound over levels)",
                )  # fmt: skip
                blocks["capacity_bound"] = np.array([ub])
        builder.add_rows(
            "budget", 1, np.zeros(budget_cols.size), budget_cols, budget_coefs,
            upper=prep.budget, doc="money spent <= budget (CNY)",
        )  # fmt: skip
    return ModelHandle(
        name="max_coverage_levels", site_cols=y, site_cost=prep.c.copy(), obj_cols=x,
        obj_coefs=gw[gi], budget_cols=budget_cols, budget_coefs=budget_coefs, blocks=blocks,
    )  # fmt: skip


# ----------------------------------------------------------------------------- greedy


class _Greedy:
    """State of the greedy plan: which groups are left, what each site can still reach."""

    def __init__(self, h: ModelHandle) -> None:
        b = h.blocks
        self.gw, self.gi, self.gj = b["group_weight"], b["group_pair_group"], b["group_pair_site"]
        n_s = h.site_cols.size
        self.n_s = n_s
        self.by_site = np.argsort(self.gj, kind="stable")
        self.site_ptr = np.r_[0, np.cumsum(np.bincount(self.gj, minlength=n_s))]
        self.gdeg = np.bincount(self.gi, minlength=self.gw.size)
        self.gstart = np.r_[0, np.cumsum(self.gdeg)]
        self.rem = self.gw.astype(float).copy()
        self.share = np.zeros(self.gi.size)
        self.avail = np.bincount(self.gj, weights=self.rem[self.gi], minlength=n_s)

    def serve(self, j: int, amount: float) -> float:
        """Serve up to ``amount`` at site j, groups with fewest covering sites first."""
        gi, gj, gw = self.gi, self.gj, self.gw
        idx = self.by_site[self.site_ptr[j] : self.site_ptr[j + 1]]
        idx = idx[np.argsort(self.gdeg[gi[idx]], kind="stable")]
        left = self.rem[gi[idx]]
        take = np.minimum(left, np.maximum(amount - (np.cumsum(left) - left), 0.0))
        g = gi[idx]
        self.rem[g] -= take
        self.share[idx] += np.where(gw[g] > 0, take / np.maximum(gw[g], 1e-300), 0.0)
        hit = take > 0
        g, take = g[hit], take[hit]
        n_p = self.gdeg[g]
        pairs = np.repeat(self.gstart[g], n_p) + (
            np.arange(n_p.sum()) - np.repeat(np.cumsum(n_p) - n_p, n_p)
        )
        self.avail -= np.bincount(gj[pairs], weights=np.repeat(take, n_p), minlength=self.n_s)
        np.maximum(self.avail, 0.0, out=self.avail)
        return float(take.sum())


def _greedy_level_plan(h: ModelHandle, prep: _LevelPrep, n_cols: int) -> tuple[np.ndarray, float]:
    """A feasible plan built greedily: repeatedly the (site, level) step serving most per CNY.

    Capacity per level is counted with the *largest* peak load per unit of daily demand, so the
    served demand fits every kept hour whatever the mix. Returns the column vector and the demand
    served.
    """
    b = h.blocks
    lo, up = b["level_lo"], b["level_up"]
    t_max = float(b["peak_per_unit"][1])
    n_s = h.site_cols.size
    kcap = prep.cap / t_max if t_max > 0 else np.zeros_like(prep.cap)
    n_lv = prep.cap.shape[1]
    levels = np.arange(n_lv)
    st = _Greedy(h)
    is_open = prep.req.copy()
    m_cur = np.where(is_open, lo, 0).astype(np.int64)
    served = np.zeros(n_s)
    ex = prep.ex
    spent = float(prep.c[is_open].sum() + prep.q @ np.maximum(m_cur - ex, 0))
    draw = prep.draw.toarray() if prep.draw.shape[0] else np.zeros((0, n_s))
    head = prep.limit - draw @ np.maximum(m_cur - ex, 0).astype(float)
    for j in np.flatnonzero(is_open & (m_cur > 0)):
        served[j] = st.serve(int(j), float(kcap[j, m_cur[j]]))
    allowed_lv = (levels[None, :] >= lo[:, None]) & (levels[None, :] <= up[:, None])
    for _ in range(2 * n_s + 1):
        left = prep.budget - spent
        fixed = np.where(is_open, 0.0, prep.c)
        d_new = np.maximum(levels[None, :] - ex[:, None], 0) - np.maximum(m_cur - ex, 0)[:, None]
        cost = fixed[:, None] + prep.q[:, None] * np.maximum(d_new, 0)
        value = np.minimum(st.avail[:, None], kcap - served[:, None])
        ok = allowed_lv & (levels[None, :] > m_cur[:, None]) & (cost <= left + 1e-6)
        ok &= value > 1e-9
        if draw.shape[0]:
            # new plugs must fit the headroom of every feeder group the site is in
            for k in range(draw.shape[0]):
                dk = draw[k][:, None] * np.maximum(d_new, 0)
                ok &= dk <= head[k] + 1e-9
        if not ok.any():
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(ok, np.where(cost > 0, value / cost, np.inf), -1.0)
        best = np.flatnonzero(score.ravel() == score.max())
        pick = best[np.argmax(value.ravel()[best])]
        j, c = divmod(int(pick), n_lv)
        is_open[j] = True
        spent += float(cost[j, c])
        if draw.shape[0]:
            head -= draw[:, j] * max(int(d_new[j, c]), 0)
        m_cur[j] = c
        served[j] += st.serve(j, float(value[j, c]))
    x = np.zeros(n_cols)
    x[h.site_cols] = is_open
    zs, zc = b["z_site"], b["z_level"]
    x[b["z"]] = (is_open[zs] & (zc == m_cur[zs])).astype(float)
    x[b["group_x"]] = np.clip(st.share, 0.0, 1.0)
    return x, float(b["group_weight"][b["group_pair_group"]] @ x[b["group_x"]])


# ----------------------------------------------------------------------------- solve


def _solve_levels(
    milp: Milp,
    h: ModelHandle,
    prep: _LevelPrep,
    warm_start_open: object | None,
    time_limit: float | None,
    mip_gap: float,
) -> MilpResult:
    t0 = time.perf_counter()
    start, served = _greedy_level_plan(h, prep, milp.num_cols)
    if not _feasible(milp, start):
        log.warning("max_coverage_levels: greedy plan violates the model (a bug); solving the MILP")
        start, served = None, -np.inf
    else:
        # two upper bounds on the demand served: all demand some allowed site can reach, and
        # the daily capacity the budget can buy (knapsack); a plan meeting either is optimal
        # (the knapsack bound carries a 1e-9 safety margin against round-off: allow for it)
        ub, what = float(h.blocks["group_weight"].sum()), "all reachable demand is served"
        if "capacity_bound" in h.blocks and float(h.blocks["capacity_bound"][0]) < ub:
            ub, what = float(h.blocks["capacity_bound"][0]), "plan meets the budget capacity bound"
        if ub - served <= max(mip_gap, 1e-8) * abs(served) + 1e-6:
            gap = max(ub - served, 0.0) / max(abs(served), 1e-12)
            log.info("max_coverage_levels: greedy plan within %.2g of its bound (%s)", gap, what)
            return MilpResult(
                "optimal", served, max(ub, served), gap, start, time.perf_counter() - t0,
                f"optimal: {what}",
            )  # fmt: skip
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
    res = solve_milp(milp, time_limit=time_limit, mip_gap=mip_gap, warm_start=start)
    if res.x is None and start is not None and res.status == "time_limit":
        res.x, res.objective = start, float(milp.c @ start)
    res.seconds = time.perf_counter() - t0
    return res


def _level_solution(res: MilpResult, h: ModelHandle, prep: _LevelPrep, build_s: float) -> Solution:
    if res.x is None:
        sol = Solution.infeasible(
            "no plan fits the budget, site and feeder limits" if res.status == "infeasible"
            else "no plan found within the time limit",
            seconds=res.seconds, build_seconds=build_s,
        )  # fmt: skip
        if res.status != "infeasible":
            sol.status = "time_limit"
            sol.bound = res.bound
        return sol
    b = h.blocks
    n_d, n_s = prep.cov.shape
    open_mask = res.x[h.site_cols] > 0.5
    zon = res.x[b["z"]] > 0.5
    plugs = np.zeros(n_s, dtype=np.int64)
    plugs[b["z_site"][zon]] = b["z_level"][zon]
    ii, jj = b["pair_demand"], b["pair_site"]
    xv = np.clip(res.x[b["x"]], 0.0, 1.0)
    keep = xv > 1e-9
    flows = sp.csr_matrix((xv[keep], (ii[keep], jj[keep])), shape=(n_d, n_s))
    assignment = np.minimum(np.asarray(flows.sum(axis=1)).ravel(), 1.0)
    objective = float(prep.w @ assignment)
    served = np.asarray(flows.multiply(prep.w[:, None]).sum(axis=0)).ravel()
    new = np.maximum(plugs - prep.ex, 0) * open_mask
    spent = float(prep.c[open_mask].sum() + prep.q @ new)
    bound = max(res.bound, objective) if res.status == "optimal" else res.bound
    gap = abs(bound - objective) / max(abs(objective), 1e-12) if np.isfinite(bound) else np.inf
    if res.status == "optimal":
        gap = min(gap, res.gap)
    opened = np.flatnonzero(open_mask)
    col = np.full(n_s, -1, dtype=np.int64)
    col[opened] = np.arange(opened.size)
    fk = flows.tocoo()
    on = open_mask[fk.col]
    kwh = sp.csr_matrix(
        (fk.data[on] * prep.w[fk.row[on]], (fk.row[on], col[fk.col[on]])),
        shape=(n_d, opened.size),
    )
    details = {
        "assignment_matrix": kwh,
        "modules": plugs[open_mask],
        "modules_new": new[open_mask],
        "served": served[open_mask],
        "spent": spent,
        "flows": flows,
        "uncoverable": b["uncoverable"],
        "level_up": b["level_up"],
        "capacity_bound": float(b["capacity_bound"][0]) if "capacity_bound" in b else None,
    }
    return Solution(
        status=res.status, objective=objective, bound=float(bound), gap=float(gap),
        open=np.flatnonzero(open_mask), assignment=assignment, seconds=res.seconds,
        build_seconds=build_s, message=res.message, details=details,
    )  # fmt: skip


def build_max_coverage_levels(
    coverage: object,
    weights: object,
    site_cost: object,
    budget: float | None,
    *,
    level_capacity: object,
    load: object | None = None,
    module_cost: object | None = None,
    max_modules: object | None = None,
    existing_modules: object | None = None,
    required: object | None = None,
    forbidden: object | None = None,
    group_draw: object | None = None,
    group_limit: object | None = None,
) -> Milp:
    """The level model as a :class:`Milp` (arguments as :func:`max_coverage_levels`)."""
    prep = _prepare(
        coverage, weights, site_cost, budget, load, level_capacity, module_cost, max_modules,
        existing_modules, required, forbidden, group_draw, group_limit,
    )  # fmt: skip
    if prep.reason:
        raise ModelInputError(f"max coverage is infeasible: {prep.reason}")
    b = MilpBuilder("max_coverage_levels", "max")
    add_level_coverage(b, prep)
    return b.build()


def max_coverage_levels(
    coverage: object,
    weights: object,
    site_cost: object,
    budget: float | None,
    *,
    level_capacity: object,
    load: object | None = None,
    module_cost: object | None = None,
    max_modules: object | None = None,
    existing_modules: object | None = None,
    required: object | None = None,
    forbidden: object | None = None,
    group_draw: object | None = None,
    group_limit: object | None = None,
    time_limit: float | None = None,
    mip_gap: float = 1e-9,
    warm_start_open: object | None = None,
) -> Solution:
    """Choose sites and plug counts within a budget to serve the most demand at a service level.

    Parameters
    ----------
    coverage : scipy.sparse matrix or array_like (n_demand, n_sites), bool
        True where site j can serve demand point i (e.g. within the travel-time limit).
    weights : array_like (n_demand,)
        Daily demand of each point (e.g. kWh/day), >= 0: the objective.
    site_cost : array_like (n_sites,)
        Fixed cost of opening each site (CNY); 0 for sites already built.
    budget : float or None
        CNY; None or inf = unlimited.
    level_capacity : array_like (L+1,) or (n_sites, L+1)
        Load a site may take in any hour with c = 0..L plugs (same unit as ``load``, e.g. kW:
        ``A_max(c)`` Erlangs × mean charging power); starts at 0, never decreases.
    load : array_like (n_demand, n_hours), optional
        Load each point's whole demand offers in each kept hour (e.g. kWh/day × share of the
        day's sessions in that hour); default ``weights`` (one "hour": daily energy).
    module_cost : array_like (n_sites,) or float, optional
        CNY per new plug (plugs above ``existing_modules``).
    max_modules : array_like of int (n_sites,), optional
        Most plugs per site (e.g. from ``max_plugs`` and the grid connection); default L.
    existing_modules : array_like of int (n_sites,), optional
        Plugs already installed (free; they stay at required sites).
    required, forbidden : sequence of int or bool mask, optional
    group_draw : sparse (n_groups, n_sites), optional
        Power each *new* plug at a site draws from a feeder group (kW, e.g. plug kW ×
        coincidence factor); zero where the group does not feed the site.
    group_limit : array_like (n_groups,), optional
        Headroom of each group (kW).
    time_limit : float, optional
        Seconds; when reached the best plan is returned with status ``time_limit``.
    mip_gap : float
        Relative gap at which to stop.
    warm_start_open : sequence of int, optional
        Open sites of an earlier plan, tried as a start.

    Returns
    -------
    Solution
        ``objective`` = demand served; ``assignment`` = served share per demand point;
        ``details``: ``modules`` (plugs per open site), ``modules_new``, ``served`` (per open
        site), ``spent`` (CNY), ``flows`` (sparse demand × site served share),
        ``assignment_matrix`` (sparse demand × open sites, demand served), ``level_up`` (most
        useful plugs per site, all sites), ``capacity_bound`` (the budget's bound or None).
    """
    V.time_and_gap(time_limit, mip_gap)
    t0 = time.perf_counter()
    prep = _prepare(
        coverage, weights, site_cost, budget, load, level_capacity, module_cost, max_modules,
        existing_modules, required, forbidden, group_draw, group_limit,
    )  # fmt: skip
    if prep.reason:
        return Solution.infeasible(prep.reason, build_seconds=time.perf_counter() - t0)
    b = MilpBuilder("max_coverage_levels", "max")
    h = add_level_coverage(b, prep)
    milp = b.build()
    build_s = time.perf_counter() - t0
    res = _solve_levels(milp, h, prep, warm_start_open, time_limit, mip_gap)
    return _level_solution(res, h, prep, build_s)


def add_level_component(
    builder: MilpBuilder,
    coverage: object,
    weights: object,
    site_cost: object,
    *,
    level_capacity: object,
    load: object | None = None,
    module_cost: object | None = None,
    max_modules: object | None = None,
    existing_modules: object | None = None,
    required: object | None = None,
    forbidden: object | None = None,
    group_draw: object | None = None,
    group_limit: object | None = None,
) -> ModelHandle:
    """Validate as :func:`max_coverage_levels` and add the model without a budget row.

    For joint siting (:mod:`siting.models.joint`): ``handle.budget_cols`` / ``budget_coefs`` (CNY)
    go into the shared budget row; read the results with :func:`level_details`.
    """
    prep = _prepare(
        coverage, weights, site_cost, None, load, level_capacity, module_cost, max_modules,
        existing_modules, required, forbidden, group_draw, group_limit,
    )  # fmt: skip
    h = add_level_coverage(builder, prep)
    h.blocks["existing"] = prep.ex
    return h


def level_details(handle: ModelHandle, x: np.ndarray) -> dict[str, object]:
    """Results of a level component from the column values ``x`` of the model it is part of.

    Returns
    -------
    dict
        ``open`` (site positions), ``modules`` (plugs per open site), ``served`` (per open site),
        ``served_point``, ``assignment`` (served share per point) and ``assignment_matrix``
        (sparse demand × open sites, demand served) — the keys of
        :func:`siting.models.coverage.coverage_details`.
    """
    b = handle.blocks
    w = np.asarray(b["weights"], dtype=float)
    n_d, n_s = w.size, handle.site_cols.size
    open_mask = x[handle.site_cols] > 0.5
    opened = np.flatnonzero(open_mask)
    zon = x[b["z"]] > 0.5
    plugs = np.zeros(n_s, dtype=np.int64)
    plugs[b["z_site"][zon]] = b["z_level"][zon]
    ii, jj = b["pair_demand"], b["pair_site"]
    xv = np.clip(x[b["x"]], 0.0, 1.0)
    keep = (xv > 1e-9) & open_mask[jj]
    col = np.full(n_s, -1, dtype=np.int64)
    col[opened] = np.arange(opened.size)
    frac = sp.csr_matrix((xv[keep], (ii[keep], col[jj[keep]])), shape=(n_d, opened.size))
    assignment = np.minimum(np.asarray(frac.sum(axis=1)).ravel(), 1.0)
    kwh = sp.csr_matrix(frac.multiply(w[:, None]))
    return {
        "open": opened,
        "modules": plugs[open_mask],
        "served": np.asarray(kwh.sum(axis=0)).ravel(),
        "served_point": w * assignment,
        "assignment": assignment,
        "assignment_matrix": kwh,
    }
