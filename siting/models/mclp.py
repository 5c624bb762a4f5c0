"""Maximal covering (MCLP) solved exactly: reduction, greedy + swap, LP bounds, branch-and-bound.

The model is the basic :func:`siting.models.max_coverage` (no plug modules): open sites ``y_j``
within a money budget ``sum_j c_j y_j <= B`` and optionally at most ``p`` sites, to maximise the
weight of the demand points covered by an open site. Generic MILP solvers spend most of their time
on such models in root cut separation and strong branching; this module exploits the structure
instead (measured on the default Beijing instance in ``benchmarks/mclp_default.py``):

1. **Exact reduction** (:func:`reduce_instance`). Points covered by a required site are covered in
   every plan (a constant); points of zero weight or with no allowed covering site cannot change
   the objective; points with the same set of covering sites are merged (weights summed); a site
   whose covering set is contained in another's that costs no more is *dominated* and closed
   (swapping it for the dominating site never loses coverage nor money); sites the remaining
   budget cannot pay for are closed.
2. **Incumbent**: greedy by marginal weight (per CNY under a budget), the best single site, then
   best-improvement 1-swaps and additions (vectorised over all open × closed pairs).
3. **Bounds**: the LP relaxation of the reduced model (HiGHS dual simplex, warm-started from node
   to node). The bound used is not the LP value as reported but the Lagrangean function at the
   LP's row duals (``lambda_g`` on the coverage rows, ``mu`` on the budget and ``p`` rows), which
   is a valid upper bound for *any* non-negative multipliers, so a solver tolerance can never make
   it invalid. The same function gives, per free site, the bound with that site forced open or
   closed (its reduced cost); every site whose forced bound falls below the incumbent is fixed
   (**reduced-cost fixing**, at the root and at every node).
4. **Branch-and-bound**, best bound first; branching on the fractional site with the largest
   ``min(y_j, 1 - y_j) × (weight it covers)``; each node also rounds its LP solution into a plan.

A node is pruned when its bound is within ``mip_gap`` (relative) of the incumbent; the returned
``bound`` is the largest bound of any node pruned or left open, so ``gap`` is honest. Benders
decomposition (Cordeau, Furini & Ljubić 2019) was measured too; see ``benchmarks/README.md``.
"""

from __future__ import annotations

import heapq
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from siting.models._milp import MilpBuilder, Status, pass_to_highs

log = logging.getLogger(__name__)

#: Most ``open × candidate`` pairs one swap pass evaluates at once (bounds its dense block).
SWAP_BLOCK = 4_000_000

#: Most pairs ``sum_g deg_g^2`` for which site dominance is computed (a sparse ``S S^T``).
DOMINANCE_MAX_PAIRS = 50_000_000


@dataclass
class Reduced:
    """A maximal-covering instance after the exact reduction.

    Attributes
    ----------
    S : scipy.sparse.csr_matrix (n_free, n_groups), float
        1 where free site k covers demand group g.
    weight : ndarray (n_groups,)
        Summed weight of each group.
    cost : ndarray (n_free,)
        Site cost (CNY).
    budget : float
        Budget left after the required sites (``inf`` = none).
    p : int or None
        Sites left after the required ones (None = no limit).
    sites : ndarray of int (n_free,)
        Original index of each free site.
    base : float
        Weight covered by the required sites (in every plan).
    required : ndarray of bool (n_sites,)
        Required sites (original indexing).
    """

    S: sp.csr_matrix
    weight: np.ndarray
    cost: np.ndarray
    budget: float
    p: int | None
    sites: np.ndarray
    base: float
    required: np.ndarray
    stats: dict[str, int] = field(default_factory=dict)


def _merge_rows(C: sp.csr_matrix, w: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Merge rows of ``C`` with the same pattern (weights summed); exact, hash then verify."""
    C = C.tocsr()
    C.sort_indices()
    n, m = C.shape
    if n == 0:
        return C, w
    deg = np.diff(C.indptr)
    rows = np.repeat(np.arange(n), deg)
    rng = np.random.default_rng(20240611)
    h1 = np.bincount(rows, weights=rng.random(m)[C.indices], minlength=n)
    h2 = np.bincount(rows, weights=rng.random(m)[C.indices], minlength=n)
    _, first, inv = np.unique(
        np.stack([deg.astype(float), h1, h2], axis=1), axis=0, return_index=True,
        return_inverse=True,
    )  # fmt: skip
    inv = inv.ravel()
    rep = first[inv]
    pos = np.arange(C.nnz) - C.indptr[rows]
    if C.nnz and not np.array_equal(C.indices, C.indices[C.indptr[rep[rows]] + pos]):
        log.debug("mclp: hash collision while merging demand points; points kept separate")
        return C, w
    return C[first], np.bincount(inv, weights=w, minlength=first.size)


def _dominated(S: sp.csr_matrix, cost: np.ndarray) -> np.ndarray:
    """Sites whose covering set is inside another's that costs no more (ties: one is kept)."""
    size = np.diff(S.indptr)
    dom = size == 0
    gdeg = np.diff(S.tocsc().indptr)
    if float(gdeg.astype(float) @ gdeg) > DOMINANCE_MAX_PAIRS:
        log.info("mclp: site dominance skipped (too many overlapping site pairs)")
        return dom
    inter = (S @ S.T).tocoo()
    j, k, shared = inter.row, inter.col, inter.data
    sub = (j != k) & (np.round(shared) == size[j])  # N(j) ⊆ N(k)
    j, k = j[sub], k[sub]
    cj, ck = cost[j], cost[k]
    strict = (ck < cj) | (size[k] > size[j])
    better = (ck <= cj) & (strict | (k < j))  # equal sets and costs: keep the lowest index
    dom[j[better]] = True
    return dom


def reduce_instance(
    cov: sp.csr_matrix,
    weights: np.ndarray,
    cost: np.ndarray,
    budget: float,
    p: int | None,
    required: np.ndarray,
    forbidden: np.ndarray,
) -> Reduced:
    """Exact reduction of a maximal-covering instance (see the module docstring, step 1).

    Parameters
    ----------
    cov : scipy.sparse.csr_matrix (n_demand, n_sites), bool
    weights : ndarray (n_demand,)
    cost : ndarray (n_sites,)
        CNY.
    budget : float
        CNY (``inf`` = no budget).
    p : int or None
    required, forbidden : ndarray of bool (n_sites,)

    Returns
    -------
    Reduced
        Every optimal plan of the reduced instance, with the required sites added, is optimal for
        the original one, and the optimum is ``base`` + the reduced optimum.
    """
    covered_by_req = np.asarray(cov[:, required].sum(axis=1)).ravel() > 0
    base = float(weights[covered_by_req].sum())
    b_left = budget - float(cost[required].sum())
    p_left = None if p is None else int(p) - int(required.sum())
    free = ~required & ~forbidden & (cost <= b_left + 1e-9 * max(1.0, abs(b_left)))
    sites = np.flatnonzero(free)
    C = cov[:, sites].tocsr()
    keep = ~covered_by_req & (weights > 0) & (np.diff(C.indptr) > 0)
    C, w = _merge_rows(C[keep], weights[keep])
    S = C.T.tocsr().astype(float)
    dom = _dominated(S, cost[sites])
    stats = {"points": int(keep.sum()), "groups": int(w.size), "dominated": int(dom.sum())}
    if dom.any():
        sites = sites[~dom]
        C, w = _merge_rows(C[:, ~dom].tocsr(), w)
        S = C.T.tocsr().astype(float)
    stats.update({"free_sites": int(sites.size), "groups_after": int(w.size)})
    return Reduced(S, w, cost[sites].astype(float), b_left, p_left, sites, base, required, stats)


# ----------------------------------------------------------------------------- incumbent


def plan_value(r: Reduced, opened: np.ndarray) -> float:
    """Weight of the groups the free sites ``opened`` (bool mask) cover."""
    if not opened.any():
        return 0.0
    hit = np.asarray(r.S[opened].sum(axis=0)).ravel() > 0
    return float(r.weight[hit].sum())


def _fits(r: Reduced, opened: np.ndarray) -> bool:
    ok_p = r.p is None or int(opened.sum()) <= r.p
    return ok_p and float(r.cost[opened].sum()) <= r.budget + 1e-9 * max(1.0, abs(r.budget))


def greedy_plan(r: Reduced) -> np.ndarray:
    """Greedy plan: open the site of largest marginal weight (per CNY under a budget).

    Under a budget the plan is compared with the best single affordable site (the usual guard of
    budgeted greedy coverage) and the better is returned.
    """
    m = r.cost.size
    opened = np.zeros(m, bool)
    left_w = r.weight.copy()
    gain = r.S @ left_w
    spent = 0.0
    budgeted = np.isfinite(r.budget)
    ST = r.S.T.tocsr()
    while r.p is None or opened.sum() < r.p:
        ok = ~opened & (r.cost <= r.budget - spent + 1e-9 * max(1.0, r.budget)) & (gain > 0)
        if not ok.any():
            break
        if budgeted:
            with np.errstate(divide="ignore", invalid="ignore"):
                score = np.where(ok, gain / r.cost, -1.0)
            top = np.flatnonzero(score == score.max())
            j = int(top[np.argmax(gain[top])])
        else:
            j = int(np.argmax(np.where(ok, gain, -1.0)))
        opened[j] = True
        spent += float(r.cost[j])
        new = r.S.indices[r.S.indptr[j] : r.S.indptr[j + 1]]
        new = new[left_w[new] > 0]
        if new.size:
            gain -= np.asarray(ST[new].T @ left_w[new]).ravel()
            left_w[new] = 0.0
    if budgeted:
        single = (r.cost <= r.budget) & (r.p is None or r.p >= 1)
        if single.any():
            all_gain = r.S @ r.weight
            j = int(np.argmax(np.where(single, all_gain, -1.0)))
            if all_gain[j] > plan_value(r, opened):
                opened = np.zeros(m, bool)
                opened[j] = True
    return opened


def improve_plan(r: Reduced, opened: np.ndarray, *, max_moves: int = 500) -> np.ndarray:
    """Best-improvement local search: add an affordable site, or swap one open for one closed."""
    opened = opened.copy()
    m = r.cost.size
    w = r.weight
    for _ in range(max_moves):
        cnt = np.asarray(r.S[opened].sum(axis=0)).ravel() if opened.any() else np.zeros(w.size)
        add = r.S @ (w * (cnt == 0))  # gain of opening k
        spent = float(r.cost[opened].sum())
        slack = r.budget - spent + 1e-9 * max(1.0, abs(r.budget))
        room = r.p is None or opened.sum() < r.p
        can_add = ~opened & (r.cost <= slack) & (add > 0) & room
        if can_add.any():
            k = int(np.argmax(np.where(can_add, add, -1.0)))
            opened[k] = True
            continue
        oj = np.flatnonzero(opened)
        if oj.size == 0:
            break
        loss = r.S[oj] @ (w * (cnt == 1))  # loss of closing j
        sole = sp.diags(w * (cnt == 1))
        best, move = 1e-9 * max(1.0, float(w.sum())), None
        step = max(1, SWAP_BLOCK // max(m, 1))
        for s in range(0, oj.size, step):
            blk = oj[s : s + step]
            # closing j and opening k: gain_k - loss_j + weight only j covered that k covers too
            back = (r.S[blk] @ sole @ r.S.T).toarray()
            delta = add[None, :] - loss[s : s + step, None] + back
            fits = r.cost[None, :] - r.cost[blk, None] <= slack
            delta[:, opened] = -np.inf
            delta[~fits] = -np.inf
            a, k = np.unravel_index(int(np.argmax(delta)), delta.shape)
            if delta[a, k] > best:
                best, move = float(delta[a, k]), (int(blk[a]), int(k))
        if move is None:
            break
        opened[move[0]] = False
        opened[move[1]] = True
    return opened


# ----------------------------------------------------------------------------- bounds


class _LpBound:
    """The reduced model's LP relaxation in HiGHS, re-solved under changing site bounds."""

    def __init__(self, r: Reduced) -> None:
        self.r = r
        m, g = r.S.shape
        b = MilpBuilder("mclp_lp", "max")
        self.y = b.add_vars("y", m, upper=1.0)
        u = b.add_vars("u", g, cost=r.weight, upper=1.0)
        G = r.S.T.tocoo()
        b.add_rows(
            "covered", g, np.concatenate([np.arange(g), G.row]), np.concatenate([u, self.y[G.col]]),
            np.concatenate([np.ones(g), -np.ones(G.nnz)]), upper=0.0,
        )  # fmt: skip
        self.budget_row = self.p_row = -1
        if np.isfinite(r.budget):
            self.budget_row = int(b.add_rows("budget", 1, np.zeros(m), self.y, r.cost,
                                             upper=r.budget)[0])  # fmt: skip
        if r.p is not None:
            self.p_row = int(b.add_rows("p", 1, np.zeros(m), self.y, 1.0, upper=r.p)[0])
        self.g = g
        self.h = pass_to_highs(b.build())
        self.h.setOptionValue("presolve", "off")
        self.idx = self.y.astype(np.int32)

    def basis(self):  # -> highspy.HighsBasis
        """The current simplex basis (to restart a child node from its parent's)."""
        return self.h.getBasis()

    def solve(
        self, lo: np.ndarray, up: np.ndarray, basis: object | None = None
    ) -> tuple[float, np.ndarray, np.ndarray] | None:
        """Solve with site bounds ``lo``/``up``; return (bound, y, site reduced values) or None.

        The bound is the Lagrangean function at the LP row duals, valid for any duals:
        ``sum_g max(0, w_g - lam_g) + sum_j max(0, r_j) (free) + sum_j r_j (fixed open)
        + mu_B B + mu_p p`` with ``r_j = sum_{g in N(j)} lam_g - mu_B c_j - mu_p``. None when the
        node is infeasible.
        """
        import highspy

        h, r = self.h, self.r
        h.changeColsBounds(self.idx.size, self.idx, lo, up)
        if basis is not None:
            h.setBasis(basis)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        sol = h.getSolution()
        yv = np.asarray(sol.col_value)[: self.idx.size]
        duals = np.abs(np.asarray(sol.row_dual))
        lam = duals[: self.g]
        mu_b = duals[self.budget_row] if self.budget_row >= 0 else 0.0
        mu_p = duals[self.p_row] if self.p_row >= 0 else 0.0
        red = r.S @ lam - mu_b * r.cost - mu_p
        const = float(np.maximum(r.weight - lam, 0.0).sum())
        const += mu_b * r.budget if self.budget_row >= 0 else 0.0
        const += mu_p * r.p if self.p_row >= 0 else 0.0
        free = lo < up
        bound = const + float(np.maximum(red[free], 0.0).sum())
        bound += float(red[~free & (lo > 0.5)].sum())
        return bound, yv, red


@dataclass
class MclpResult:
    """What :func:`solve_mclp` found (sites in the original indexing)."""

    status: Status
    open: np.ndarray
    objective: float
    bound: float
    gap: float
    seconds: float
    message: str
    stats: dict[str, float] = field(default_factory=dict)


def _round(r: Reduced, yv: np.ndarray, lo: np.ndarray, up: np.ndarray) -> np.ndarray:
    """A plan from an LP solution: sites forced open, then the largest ``y`` that still fit."""
    opened = lo > 0.5
    spent = float(r.cost[opened].sum())
    tol = 1e-9 * max(1.0, abs(r.budget))
    for j in np.argsort(-yv, kind="stable"):
        if yv[j] <= 1e-9 or (r.p is not None and opened.sum() >= r.p):
            break
        if not opened[j] and up[j] > 0.5 and spent + r.cost[j] <= r.budget + tol:
            opened[j] = True
            spent += float(r.cost[j])
    return opened


def branch_and_bound(
    r: Reduced,
    incumbent: np.ndarray,
    *,
    time_limit: float | None,
    mip_gap: float,
) -> tuple[Status, np.ndarray, float, float, dict[str, float]]:
    """Best-bound branch-and-bound on the reduced instance from a feasible ``incumbent``.

    Returns (status, open mask, value, bound, stats); value and bound exclude ``r.base``.
    """
    t0 = time.perf_counter()
    m = r.cost.size
    best, best_val = incumbent.copy(), plan_value(r, incumbent)
    if m == 0:
        return "optimal", best, best_val, best_val, {"nodes": 0}
    lp = _LpBound(r)
    cover_w = r.S @ r.weight

    def prune_at() -> float:
        return best_val + max(mip_gap * abs(best_val), 1e-9 * max(1.0, abs(best_val)))

    pruned = best_val  # largest bound of any node pruned so far
    heap: list[tuple[float, int, np.ndarray, np.ndarray, object]] = []
    counter = nodes = 0
    root_bound = np.inf
    lo0, up0 = np.zeros(m), np.ones(m)
    heap.append((-np.inf, 0, lo0, up0, None))
    status: Status = "optimal"
    while heap:
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            status = "time_limit"
            break
        neg, _, lo, up, basis = heapq.heappop(heap)
        if -neg <= prune_at():
            pruned = max(pruned, -neg)
            continue
        out = lp.solve(lo, up, basis)
        nodes += 1
        if out is None:
            continue
        bound, yv, red = out
        bound = min(bound, -neg)
        if nodes == 1:
            root_bound = bound
        plan = _round(r, yv, lo, up)
        val = plan_value(r, plan)
        if val > best_val:
            plan = improve_plan(r, plan, max_moves=50)
            best, best_val = plan, plan_value(r, plan)
        if bound <= prune_at():
            pruned = max(pruned, bound)
            continue
        # reduced-cost fixing: a site whose forced state caps the bound below the incumbent
        free = lo < up
        if_open = bound - np.maximum(-red, 0.0)
        if_closed = bound - np.maximum(red, 0.0)
        shut = free & (if_open <= prune_at())
        stay = free & (if_closed <= prune_at())
        if shut.any() or stay.any():
            pruned = max(pruned, if_open[shut].max(initial=-np.inf),
                         if_closed[stay].max(initial=-np.inf))  # fmt: skip
            if (shut & stay).any():  # both states cap the bound: nothing better below this node
                continue
            lo, up = lo.copy(), up.copy()
            up[shut] = 0.0
            lo[stay] = 1.0
        frac = (lo < up) & (np.abs(yv - np.round(yv)) > 1e-6)
        if not frac.any():
            plan = (lo > 0.5) | ((up > 0.5) & (yv > 0.5))
            if _fits(r, plan) and plan_value(r, plan) > best_val:
                best, best_val = plan, plan_value(r, plan)
            if not (lo < up).any():
                continue  # every site fixed: the plan's value is exact
            if bound <= prune_at():
                pruned = max(pruned, bound)
                continue
            # integral y, free sites left and a bound above the incumbent: split on one
            j = int(np.flatnonzero(lo < up)[np.argmax(cover_w[lo < up])])
        else:
            # fractionality × weight the site covers beyond the sites fixed open here
            opened = lo > 0.5
            left = r.weight
            if opened.any():
                left = np.where(np.asarray(r.S[opened].sum(axis=0)).ravel() > 0, 0.0, r.weight)
            score = np.where(frac, np.minimum(yv, 1.0 - yv) * (r.S @ left), -1.0)
            j = int(np.argmax(score))
        basis = lp.basis()
        for v in (1.0, 0.0):
            l2, u2 = lo.copy(), up.copy()
            l2[j] = u2[j] = v
            counter += 1
            heapq.heappush(heap, (-bound, counter, l2, u2, basis))
    open_bound = max((-h[0] for h in heap), default=-np.inf)
    final_bound = max(best_val, pruned, open_bound)
    stats = {"nodes": nodes, "root_bound": root_bound, "seconds": time.perf_counter() - t0}
    return status, best, best_val, final_bound, stats


def solve_mclp(
    cov: sp.csr_matrix,
    weights: np.ndarray,
    cost: np.ndarray,
    budget: float,
    p: int | None,
    required: np.ndarray,
    forbidden: np.ndarray,
    *,
    time_limit: float | None = None,
    mip_gap: float = 1e-9,
    warm_start_open: np.ndarray | None = None,
) -> MclpResult:
    """Solve the basic maximal-covering model exactly (validated arrays; see the module doc).

    Parameters
    ----------
    cov : scipy.sparse.csr_matrix (n_demand, n_sites), bool
    weights : ndarray (n_demand,)
    cost : ndarray (n_sites,)
        CNY.
    budget : float
        CNY (``inf`` = none).
    p : int or None
    required, forbidden : ndarray of bool (n_sites,)
        The required sites must fit the budget and ``p`` (the caller checks).
    time_limit : float, optional
        Seconds; the best plan so far is returned with status ``time_limit`` and its bound.
    mip_gap : float
        Relative gap at which a node is pruned.
    warm_start_open : ndarray of int, optional
        Sites of an earlier plan, used as a start when it fits.

    Returns
    -------
    MclpResult
    """
    t0 = time.perf_counter()
    r = reduce_instance(cov, weights, cost, budget, p, required, forbidden)
    t_red = time.perf_counter() - t0
    plan = improve_plan(r, greedy_plan(r))
    if warm_start_open is not None and warm_start_open.size:
        pos = np.full(cost.size, -1)
        pos[r.sites] = np.arange(r.sites.size)
        mine = pos[warm_start_open]
        other = np.zeros(r.sites.size, bool)
        other[mine[mine >= 0]] = True
        if _fits(r, other):
            other = improve_plan(r, other)
            if plan_value(r, other) > plan_value(r, plan):
                plan = other
    t_heur = time.perf_counter() - t0
    limit = None if time_limit is None else max(time_limit - t_heur, 0.01)
    status, best, val, bound, stats = branch_and_bound(r, plan, time_limit=limit, mip_gap=mip_gap)
    opened = required.copy()
    opened[r.sites[best]] = True
    objective = r.base + val
    bound = r.base + bound
    gap = max(bound - objective, 0.0) / max(abs(objective), 1e-12)
    stats.update(r.stats)
    stats.update({"reduce_seconds": t_red, "heuristic_seconds": t_heur - t_red})
    log.info(
        "mclp: %s, %d groups × %d free sites (of %d points × %d sites), %d nodes, gap %.2g",
        status, r.weight.size, r.sites.size, cov.shape[0], cov.shape[1], stats["nodes"], gap,
    )  # fmt: skip
    msg = "optimal (mclp branch-and-bound)" if status == "optimal" else "time limit reached"
    return MclpResult(
        status, np.flatnonzero(opened), objective, bound, gap, time.perf_counter() - t0, msg, stats
    )
