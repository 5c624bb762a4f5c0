"""Plug-sized coverage on a city-size instance: solve on a core of pairs, certify on all of them.

At 150,000 demand cells × 30,000 candidates a 10-minute reach holds tens of millions of
demand × site pairs; the plug-sized models (plug modules, :func:`siting.models.max_coverage`;
service-level plug levels, :func:`siting.models.plug_levels.max_coverage_levels`) have a share
variable and several matrix entries per pair, far beyond memory. Their budget bounds, however, do
not depend on which pairs exist beyond each site's reachable demand (the knapsack over sites and
plug counts of :func:`~siting.models.coverage.module_budget_bound` /
:func:`~siting.models.plug_levels.level_budget_bound`). So:

1. the **core** keeps, for every demand point, its ``k`` nearest *allowed* sites (travel time),
   ``k`` as large as :data:`CORE_MAX_PAIRS` allows (:func:`core_size`);
2. the model's greedy plan is built on the core (its arrays, no solver): it serves demand over
   core pairs only, so it is a feasible plan of the full model too;
3. the **full bound** is the smaller of all reachable demand and the knapsack bound with each
   site's useful plugs cut by the demand (load) it reaches over *all* pairs, exactly as the model
   cuts them;
4. if the plan is within ``mip_gap`` of the full bound it is optimal for the full instance;
   otherwise the model is solved by HiGHS on a smaller core (:data:`SOLVER_MAX_PAIRS`),
   warm-started from the greedy plan's sites, and the better plan is returned with status
   ``time_limit`` and its gap to the full bound (when a core is the full instance, the
   solver's own bound counts too).

The result keeps the :class:`~siting.models.Solution` contract; ``bound`` and ``gap`` refer to
the full instance, and ``details`` adds ``core_k``, ``core_pairs``, ``full_pairs``,
``full_bound`` and ``core_bound`` (the solver's bound for the core: valid for the core only).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp

from siting.models import _validate as V
from siting.models._milp import MilpResult
from siting.models._solution import Solution
from siting.models.coverage import max_coverage, module_budget_bound

log = logging.getLogger(__name__)

#: Most pairs in the core the greedy plan is built on (memory cap): 6.0 million measured at
#: 2.4 GB peak for the whole pipeline with the service-level model (benchmarks/README_scale.md).
CORE_MAX_PAIRS = 6_000_000

#: Most pairs in the core handed to HiGHS when the greedy plan is not proven: HiGHS needs far
#: more memory per pair than the model's arrays (a 6-million-pair core went past 9 GB).
SOLVER_MAX_PAIRS = 1_000_000


#: Stored entries handled at once by the row-block loops (bounds their temporary arrays).
BLOCK = 1 << 22


def row_blocks(indptr: np.ndarray, block: int = BLOCK) -> list[tuple[int, int]]:
    """Consecutive row ranges of a CSR matrix holding about ``block`` stored entries each."""
    n = indptr.size - 1
    out, r0 = [], 0
    while r0 < n:
        r1 = int(np.searchsorted(indptr, indptr[r0] + block, side="right")) - 1
        r1 = min(max(r1, r0 + 1), n)
        out.append((r0, r1))
        r0 = r1
    return out


def nearest_core(times: sp.csr_matrix, k: int, allowed: np.ndarray | None = None) -> sp.csr_matrix:
    """Keep, in each row of a demand × site time matrix, the ``k`` smallest allowed entries.

    Entries of sites not ``allowed`` are dropped first. Ties are broken by column; rows are
    handled in blocks, so the temporary memory is bounded.
    """
    t = sp.csr_matrix(times)
    if allowed is not None and not allowed.all():
        t = sp.csr_matrix(t @ sp.diags(allowed.astype(t.dtype)))
        t.eliminate_zeros()
    deg = np.diff(t.indptr)
    if deg.max(initial=0) <= k:
        return t
    kept = np.minimum(deg, k)
    indptr = np.r_[0, np.cumsum(kept)].astype(np.int64)
    indices = np.empty(int(indptr[-1]), t.indices.dtype)
    data = np.empty(int(indptr[-1]), t.data.dtype)
    for r0, r1 in row_blocks(t.indptr):
        a, b = t.indptr[r0], t.indptr[r1]
        rows = np.repeat(np.arange(r1 - r0), deg[r0:r1])
        order = np.lexsort((t.indices[a:b], t.data[a:b], rows))  # by row, time, column
        rank = np.arange(b - a) - np.repeat(t.indptr[r0:r1] - a, deg[r0:r1])
        keep = np.sort(order[rank < k])  # back to column order within each row
        indices[indptr[r0] : indptr[r1]] = t.indices[a:b][keep]
        data[indptr[r0] : indptr[r1]] = t.data[a:b][keep]
    return sp.csr_matrix((data, indices, indptr), shape=t.shape)


def site_reach(times: sp.csr_matrix, weights: np.ndarray, allowed: np.ndarray) -> tuple:
    """Per site the weight it reaches, and per row whether an allowed site reaches it.

    ``weights`` is (n_demand,) or (n_demand, H) (e.g. load per hour): ``reach`` has the same
    trailing shape per site.
    """
    t = sp.csr_matrix(times)
    n_d, n_s = t.shape
    w2 = weights.reshape(n_d, -1)
    reach = np.zeros((n_s, w2.shape[1]))
    reachable = np.zeros(n_d, bool)
    deg = np.diff(t.indptr)
    for r0, r1 in row_blocks(t.indptr):
        cols = t.indices[t.indptr[r0] : t.indptr[r1]]
        for h in range(w2.shape[1]):
            rep = np.repeat(w2[r0:r1, h], deg[r0:r1])
            reach[:, h] += np.bincount(cols, weights=rep, minlength=n_s)
        rows = np.repeat(np.arange(r0, r1), deg[r0:r1])
        reachable[rows[allowed[cols]]] = True
    return (reach[:, 0] if weights.ndim == 1 else reach), reachable


def full_bound(
    times: sp.csr_matrix,
    weights: np.ndarray,
    site_cost: np.ndarray,
    budget: float,
    *,
    module_capacity: np.ndarray,
    module_cost: np.ndarray,
    max_modules: np.ndarray,
    existing_modules: np.ndarray,
    required: np.ndarray,
    forbidden: np.ndarray,
) -> float:
    """Upper bound on the demand served in the full plug-module model (weight units per day).

    The smaller of the demand some allowed site reaches and the budget's capacity bound with
    ``M_j`` cut to ``ceil(reach_j / K_j)`` (never below the existing plugs), as the model does.
    """
    reach, reachable = site_reach(times, weights, ~forbidden)
    e = existing_modules.astype(float)
    m_lo = np.where(required, np.minimum(e, max_modules), 0.0)
    need = np.ceil(reach / module_capacity - 1e-9)
    m_up = np.minimum(max_modules.astype(float), np.maximum(need, np.minimum(e, max_modules)))
    m_up = np.where(forbidden, 0.0, np.maximum(m_up, m_lo))
    cap = module_budget_bound(
        float(budget), site_cost, module_cost, module_capacity, m_up, existing_modules, m_lo,
        required, forbidden,
    )  # fmt: skip
    return float(min(weights[reachable].sum(), cap))


def core_size(tt: sp.csr_matrix, max_pairs: int = CORE_MAX_PAIRS, min_k: int = 1) -> int:
    """The largest ``k`` whose core holds at most ``max_pairs`` pairs (at least ``min_k``).

    A larger core lets a site gather demand from farther cells, which plug sizing rewards (more
    plugs per site serve more per plug), so the core is as large as the memory cap allows.
    """
    deg = np.diff(tt.indptr)
    max_deg = int(deg.max(initial=0))
    lo, hi = min(min_k, max_deg), max_deg
    while lo < hi:  # pairs(k) = sum(min(deg, k)) grows with k
        mid = (lo + hi + 1) // 2
        if int(np.minimum(deg, mid).sum()) <= max_pairs:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _solve_on_core(
    tt: sp.csr_matrix,
    allowed: np.ndarray,
    upper: float,
    greedy: object,
    solve: object,
    *,
    max_pairs: int,
    time_limit: float | None,
    mip_gap: float,
    warm_start_open: object | None,
) -> Solution:
    """Greedy plan on the core of :func:`core_size`, certified with ``upper`` (a bound of the
    full instance); when short of it, ``solve(core, time_left, warm)`` on a smaller core."""
    t0 = time.perf_counter()
    max_deg = int(np.diff(tt.indptr).max(initial=0))
    k = core_size(tt, max_pairs)
    core = nearest_core(tt, k, allowed)
    sol = greedy(core)  # type: ignore[operator]
    sol.details = {**sol.details, "core_k": k, "core_pairs": core.nnz}
    del core
    close = sol.is_feasible and upper - sol.objective <= mip_gap * abs(sol.objective) + 1e-6
    if not close:
        k_s = core_size(tt, min(max_pairs, SOLVER_MAX_PAIRS))
        core = nearest_core(tt, k_s, allowed)
        left = None if time_limit is None else max(time_limit - (time.perf_counter() - t0), 0.01)
        warm = sol.open if sol.is_feasible else warm_start_open
        other = solve(core, left, warm)  # type: ignore[operator]
        other.details = {**other.details, "core_k": k_s, "core_pairs": core.nnz}
        del core
        if other.is_feasible and (not sol.is_feasible or other.objective > sol.objective):
            sol = other
        elif other.is_feasible and k_s >= max_deg:
            sol.bound = min(sol.bound, other.bound) if np.isfinite(sol.bound) else other.bound
    k = int(sol.details["core_k"])
    core_bound = float(sol.bound) if sol.is_feasible else float("nan")
    if sol.is_feasible:
        bound = upper if k < max_deg else min(upper, sol.bound)
        sol.bound = float(max(bound, sol.objective))
        sol.gap = float(max(sol.bound - sol.objective, 0.0) / max(abs(sol.objective), 1e-12))
        sol.status = "optimal" if sol.gap <= mip_gap + 1e-12 else "time_limit"
        if sol.status == "optimal" and "greedy" in sol.message:
            sol.message = "optimal: the greedy plan meets the full instance's bound"
        if k < max_deg:
            sol.message = f"{sol.message}; core of the {k} nearest sites per demand point"
    sol.details = {**sol.details, "full_pairs": tt.nnz, "core_bound": core_bound,
                   "full_bound": upper}  # fmt: skip
    sol.seconds = time.perf_counter() - t0
    return sol


def _greedy_modules(core: sp.csr_matrix, kw: dict, budget: float) -> Solution:
    """The plug-module model's greedy plan on ``core`` (no solver; bound = its own knapsack)."""
    from siting.models import coverage as cv

    t0 = time.perf_counter()
    prep = cv._prepare(
        core, kw["weights"], kw["site_cost"], budget, None, kw["required"], kw["forbidden"],
        kw["module_capacity"], kw["module_cost"], kw["max_modules"], kw["existing_modules"],
    )  # fmt: skip
    if prep.reason:
        return Solution.infeasible(prep.reason)
    b = cv.MilpBuilder("max_coverage", "max")
    h = cv.add_max_coverage(
        b, prep.cov, prep.w, prep.c, required=prep.req, forbidden=prep.forb, budget=prep.budget,
        module_capacity=prep.kcap, module_cost=prep.qcost, max_modules=prep.mmax,
        existing_modules=prep.ex,
    )  # fmt: skip
    m_lo = np.where(prep.req, np.minimum(prep.ex, prep.mmax), 0).astype(float)
    x, served = cv._greedy_module_plan(h, prep, b.num_cols, m_lo)
    res = MilpResult("time_limit", served, np.inf, np.inf, x, time.perf_counter() - t0,
                     "greedy plan on the core")  # fmt: skip
    return cv._coverage_solution(res, h, prep, 0.0)


def _greedy_levels(core: sp.csr_matrix, kw: dict, budget: float | None) -> Solution:
    """The service-level model's greedy plan on ``core`` (no solver)."""
    from siting.models import plug_levels as pl

    t0 = time.perf_counter()
    prep = pl._prepare(
        core, kw["weights"], kw["site_cost"], budget, kw["load"], kw["level_capacity"],
        kw["module_cost"], kw["max_modules"], kw["existing_modules"], kw["required"],
        kw["forbidden"], kw["group_draw"], kw["group_limit"],
    )  # fmt: skip
    if prep.reason:
        return Solution.infeasible(prep.reason)
    b = pl.MilpBuilder("max_coverage_levels", "max")
    h = pl.add_level_coverage(b, prep)
    x, served = pl._greedy_level_plan(h, prep, b.num_cols)
    res = MilpResult("time_limit", served, np.inf, np.inf, x, time.perf_counter() - t0,
                     "greedy plan on the core")  # fmt: skip
    return pl._level_solution(res, h, prep, 0.0)


def max_coverage_core(
    times: object,
    weights: object,
    site_cost: object,
    budget: float,
    *,
    module_capacity: object,
    module_cost: object | None = None,
    max_modules: object | None = None,
    existing_modules: object | None = None,
    required: object | None = None,
    forbidden: object | None = None,
    time_limit: float | None = None,
    mip_gap: float = 1e-9,
    warm_start_open: object | None = None,
    max_pairs: int = CORE_MAX_PAIRS,
) -> Solution:
    """The plug-module :func:`~siting.models.max_coverage` solved on cores (see module doc).

    Parameters
    ----------
    times : scipy.sparse matrix (n_demand, n_sites)
        Travel times (minutes); a stored entry means "covers" (as ``coverage`` in
        :func:`~siting.models.max_coverage`), the time orders the core.
    weights, site_cost, budget, module_capacity, module_cost, max_modules, existing_modules,
    required, forbidden, time_limit, mip_gap, warm_start_open
        As :func:`~siting.models.max_coverage` (``max_modules`` must be given).
    max_pairs : int
        Most pairs in the core (:func:`core_size`).

    Returns
    -------
    Solution
        ``bound`` / ``gap`` for the full instance; ``details["core_k"]``, ``["core_pairs"]``.
    """
    tt = sp.csr_matrix(times)
    n_d, n_s = tt.shape
    w = V.vector(weights, n_d, "weights")
    c = V.vector(site_cost, n_s, "site_cost")
    kcap = V.vector(module_capacity, n_s, "module_capacity")
    q = V.vector(module_cost, n_s, "module_cost", default=0.0)
    mmax = V.int_vector(max_modules, n_s, "max_modules")
    ex = V.int_vector(existing_modules, n_s, "existing_modules", default=0)
    req, forb = V.required_forbidden(required, forbidden, n_s)
    ub = full_bound(
        tt, w, c, budget, module_capacity=kcap, module_cost=q, max_modules=mmax,
        existing_modules=ex, required=req, forbidden=forb,
    )  # fmt: skip

    def solve(core: sp.csr_matrix, left: float | None, warm: object | None) -> Solution:
        return max_coverage(
            core, w, c, budget, required=req, forbidden=forb, module_capacity=kcap,
            module_cost=q, max_modules=mmax, existing_modules=ex, time_limit=left,
            mip_gap=mip_gap, warm_start_open=warm,
        )  # fmt: skip

    args = dict(weights=w, site_cost=c, required=req, forbidden=forb, module_capacity=kcap,
                module_cost=q, max_modules=mmax, existing_modules=ex)  # fmt: skip
    return _solve_on_core(
        tt, ~forb, ub, lambda core: _greedy_modules(core, args, budget), solve,
        max_pairs=max_pairs, time_limit=time_limit, mip_gap=mip_gap,
        warm_start_open=warm_start_open,
    )  # fmt: skip


def levels_full_bound(prep: object, times: sp.csr_matrix) -> float:
    """Upper bound on the demand served in the full level model (weight units per day).

    ``prep`` is the level model's validated input (:func:`siting.models.plug_levels._prepare`,
    on any coverage: only its site and demand arrays are read). The smaller of the demand some
    allowed site reaches and :func:`~siting.models.plug_levels.level_budget_bound` with plug
    levels cut by the load each site reaches over all pairs, capacity turned into daily demand
    with the smallest peak load per unit of demand (as the model does).
    """
    from siting.models import plug_levels as pl

    p = prep  # a plug_levels._LevelPrep
    reach_load, reachable = site_reach(times, p.load, ~p.forb)  # type: ignore[attr-defined]
    served_max = float(p.w[reachable].sum())  # type: ignore[attr-defined]
    if not np.isfinite(p.budget):  # type: ignore[attr-defined]
        return served_max
    lo, up = pl._level_ranges(p, reach_load)  # type: ignore[arg-type]
    keep = reachable & (p.w > 0)  # type: ignore[attr-defined]
    ratio = p.load[keep] / p.w[keep][:, None]  # type: ignore[attr-defined]
    t_min, _ = pl.peak_per_unit(ratio) if keep.any() else (0.0, 0.0)
    if t_min <= 0:
        return served_max
    cap = pl.level_budget_bound(
        p.budget, p.c, p.q, p.cap / t_min, lo, up, p.ex, p.req, p.forb,  # type: ignore[attr-defined]
    )  # fmt: skip
    return float(min(served_max, cap))


def max_coverage_levels_core(
    times: object,
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
    max_pairs: int = CORE_MAX_PAIRS,
) -> Solution:
    """The service-level model (:func:`~siting.models.plug_levels.max_coverage_levels`) on cores.

    Parameters
    ----------
    times : scipy.sparse matrix (n_demand, n_sites)
        Travel times (minutes); a stored entry means "can serve", the time orders the core.
    weights, site_cost, budget, level_capacity, load, module_cost, max_modules,
    existing_modules, required, forbidden, group_draw, group_limit, time_limit, mip_gap,
    warm_start_open
        As :func:`~siting.models.plug_levels.max_coverage_levels`.
    max_pairs : int
        Most pairs in the core (:func:`core_size`).

    Returns
    -------
    Solution
        ``bound`` / ``gap`` for the full instance; ``details["core_k"]``, ``["core_pairs"]``.
    """
    from siting.models import plug_levels as pl

    tt = sp.csr_matrix(times)
    kw = dict(
        level_capacity=level_capacity, load=load, module_cost=module_cost,
        max_modules=max_modules, existing_modules=existing_modules, required=required,
        forbidden=forbidden, group_draw=group_draw, group_limit=group_limit,
    )  # fmt: skip
    prep = pl._prepare(
        sp.csr_matrix(tt.shape, dtype=bool), weights, site_cost, budget, load, level_capacity,
        module_cost, max_modules, existing_modules, required, forbidden, group_draw, group_limit,
    )  # fmt: skip
    if prep.reason:
        return Solution.infeasible(prep.reason)
    upper = levels_full_bound(prep, tt)

    def solve(core: sp.csr_matrix, left: float | None, warm: object | None) -> Solution:
        return pl.max_coverage_levels(
            core, prep.w, prep.c, budget, time_limit=left, mip_gap=mip_gap,
            warm_start_open=warm, **kw,
        )  # fmt: skip

    args = dict(kw, weights=prep.w, site_cost=prep.c)
    return _solve_on_core(
        tt, ~prep.forb, upper, lambda core: _greedy_levels(core, args, budget), solve,
        max_pairs=max_pairs, time_limit=time_limit, mip_gap=mip_gap,
        warm_start_open=warm_start_open,
    )  # fmt: skip
