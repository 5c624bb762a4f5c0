"""Joint siting: several model components under one money budget (or a per-kind split budget).

A *component* is whatever an ``add_*`` function put into a :class:`MilpBuilder` — fast-charger
coverage, flow refuelling (:func:`siting.models.frlm.add_flow_refuelling`), hydrogen node demand
(:func:`add_node_demand`) — described by a handle with five arrays:

* ``site_cols`` — binary "site open" columns;
* ``cost_cols`` / ``cost_vals`` — every money term (CNY) of the component (fixed, size, plug);
* ``objective_cols`` / ``objective_vals`` — the component's objective terms in its own units
  (kWh/day served, vehicles/day refuelled, kg/day served).

(The ``budget_cols``/``budget_coefs``/``obj_cols``/``obj_coefs`` names of
:class:`siting.models._milp.ModelHandle` are accepted as well.)

Objective
---------
Components measure different things, so each is normalised by its total before weighting::

    max  sum_c  weight_c * (objective_vals_c @ x[objective_cols_c]) / total_c

i.e. a weighted sum of *shares* ("share of charging demand served", "share of hydrogen node
demand served", "share of corridor flow refuelled"), each in [0, 1]. The default weight is 1 for
every component (equal weights): one percentage point of any share counts the same. The
objective coefficients set by the ``add_*`` functions are replaced by these normalised ones.

Budget
------
One row ``sum_c cost_vals_c @ x[cost_cols_c] - sum_j saving_j w_j <= budget`` or, with a split
budget, one such row per kind (``budgets_cny={"fast_charger": ..., "hydrogen": ...}``), each over
the components of that kind. A money column must belong to exactly one component.

Co-location saving
------------------
For pairs (charger site a, hydrogen site b) on the same plot a saving ``s_j`` (CNY: shared land,
grid connection, civil works) applies when both are built. A continuous ``w_j`` with
``w_j <= y_a``, ``w_j <= y_b`` enters the budget row(s) with ``-s_j``; since a larger ``w``
only loosens the budget, an optimum may set ``w_j = min(y_a, y_b)`` and the saving is reported
from the open sites themselves. With a split budget half the saving is credited to each kind's
row (documented convention).

Among plans with equal shares the cheaper one is preferred (``min_cost=True``, default): when the
first solve is proven optimal within :data:`EXACT_GAP`, a second solve minimises the money spent
subject to the shares staying within :data:`TIE_BREAK` of the optimum (bound and gap are those of
the first solve), within what is left of the time limit. After a solve that stops at a looser gap
or at the time limit no second solve runs: "the same shares" is not known then, and a second
solve would not finish. (A tiny money penalty in the objective was tried instead: it slowed the
Olympic root LP from ~3 s to ~18 s, so it is not used.)

Scaling
-------
HiGHS receives ``objective_scale(components) * (shares - penalty)``: the shares times the largest
component total, i.e. the largest component in its own units (kWh/day for chargers, as in the
charger-only model). Tiny share coefficients (~1e-6 per demand cell) slowed the root LP of the
Olympic model five-fold; the optimum does not change.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from siting._errors import ModelInputError
from siting.models._milp import Milp, MilpBuilder, solve_milp
from siting.models._solution import Solution
from siting.models._validate import time_and_gap, vector

log = logging.getLogger(__name__)

#: Second phase: the objective may fall at most this much (absolute, in shares) while the cost of
#: the plan is minimised, so that no money is spent on sites that add nothing.
TIE_BREAK = 1e-9

#: The exact second solve (cheapest plan with the same shares) runs only after a first solve
#: proven optimal within this relative gap; with a looser gap "the same shares" means nothing.
EXACT_GAP = 1e-6

__all__ = [
    "Colocation",
    "Component",
    "NodeDemandHandle",
    "add_node_demand",
    "joint_siting",
]


def _arr(handle: Any, *names: str) -> np.ndarray:
    for n in names:
        v = getattr(handle, n, None)
        if v is not None:
            return np.asarray(v)
    raise ModelInputError(f"component handle has none of the attributes {names}")


@dataclass
class Component:
    """One model component of a joint model.

    Attributes
    ----------
    name : str
        Unique name, used as the key of ``Solution.details["components"]``.
    kind : str
        Budget kind (``"fast_charger"`` or ``"hydrogen"``; any label) for split budgets.
    handle : object
        What the ``add_*`` function returned (see the module docstring).
    total : float
        Normaliser of the objective: the component's largest possible value in its units
        (total kWh/day, total vehicles/day, total kg/day). A total <= 0 contributes nothing.
    weight : float
        Weight of the component's share in the objective (default 1: equal weights).
    extract : callable, optional
        ``extract(x) -> dict`` adding component-specific results (plugs, sizes, loads) to the
        component's details, given the solution vector.
    """

    name: str
    kind: str
    handle: Any
    total: float
    weight: float = 1.0
    extract: Callable[[np.ndarray], dict[str, Any]] | None = None

    @property
    def site_cols(self) -> np.ndarray:
        """Binary site columns."""
        return _arr(self.handle, "site_cols").astype(np.int64)

    @property
    def cost_cols(self) -> np.ndarray:
        """Money columns."""
        return _arr(self.handle, "cost_cols", "budget_cols").astype(np.int64)

    @property
    def cost_vals(self) -> np.ndarray:
        """Money coefficients (CNY)."""
        return _arr(self.handle, "cost_vals", "budget_coefs").astype(float)

    @property
    def objective_cols(self) -> np.ndarray:
        """Objective columns."""
        return _arr(self.handle, "objective_cols", "obj_cols").astype(np.int64)

    @property
    def objective_vals(self) -> np.ndarray:
        """Objective coefficients in the component's own units."""
        return _arr(self.handle, "objective_vals", "obj_coefs").astype(float)


@dataclass
class Colocation:
    """Pairs of sites of two components that may share a plot, with the saving when both open.

    Attributes
    ----------
    a, b : str
        Component names (e.g. the charger and the hydrogen component).
    site_a, site_b : ndarray of int
        Positions into ``site_cols`` of ``a`` and ``b`` (one pair per entry).
    saving_cny : float or ndarray
        Saving (CNY) per pair when both sites are built.
    """

    a: str
    b: str
    site_a: np.ndarray
    site_b: np.ndarray
    saving_cny: np.ndarray | float


# ---------------------------------------------------------------------------------- node demand
@dataclass
class NodeDemandHandle:
    """Columns that :func:`add_node_demand` added.

    Attributes
    ----------
    site_cols : ndarray of int
        "Site open" columns (shared with another component when passed in).
    cost_cols, cost_vals : ndarray
        Money terms (empty when the site costs are carried by another component).
    objective_cols, objective_vals : ndarray
        Served-amount columns (one per reachable demand-site pair) and coefficient 1
        (objective in kg/day or kWh/day served).
    pair_demand, pair_site : ndarray of int
        Demand point and site of each served-amount column.
    size_cols, size_cap : ndarray or None
        Own size columns (n_sites, n_sizes; -1 = unavailable) and capacities, when the component
        carries its own sizes.
    """

    site_cols: np.ndarray
    cost_cols: np.ndarray
    cost_vals: np.ndarray
    objective_cols: np.ndarray
    objective_vals: np.ndarray
    pair_demand: np.ndarray
    pair_site: np.ndarray
    size_cols: np.ndarray | None = None
    size_cap: np.ndarray | None = None


def row_block(builder: MilpBuilder, name: str) -> np.ndarray:
    """Global indices of the rows of the builder's row block called ``name``."""
    try:
        return builder.row_block(name)
    except KeyError:
        raise ModelInputError(f"no row block {name!r} in the model") from None


def add_node_demand(
    builder: MilpBuilder,
    reach: sp.spmatrix | np.ndarray,
    demand: np.ndarray,
    *,
    site_cols: np.ndarray | None = None,
    cost_cny: np.ndarray | float = 0.0,
    capacity_rows: np.ndarray | None = None,
    size_per_day: np.ndarray | None = None,
    size_cost_cny: np.ndarray | None = None,
    prefix: str = "node",
) -> NodeDemandHandle:
    """Add node demand served by open sites within reach (split demand, capacities optional).

    ``v_ij >= 0`` is the amount (kg/day, or kWh/day) of demand point i served by site j, for
    pairs stored in ``reach``; ``sum_j v_ij <= d_i``; ``v_ij <= d_i y_j``. Capacity either joins
    existing per-site capacity rows (``capacity_rows``, e.g. those of a capacitated flow-refuelling
    component, so trips and depots share a station's size) or comes from own size options.

    Parameters
    ----------
    builder : MilpBuilder
        The model (maximising).
    reach : sparse or dense array, shape (n_demand, n_sites)
        Non-zero where site j can serve point i (e.g. the travel-time matrix within the limit).
    demand : ndarray, shape (n_demand,)
        Demand per point (kg/day or kWh/day), >= 0.
    site_cols : ndarray of int, optional
        Existing binary site columns to use (costs then usually carried by their owner).
    cost_cny : float or ndarray
        Fixed cost per site (CNY) when the component owns its site columns.
    capacity_rows : ndarray of int, optional
        Global row index of each site's capacity row ``load - capacity <= 0``.
    size_per_day, size_cost_cny : ndarray (n_sizes,) or (n_sites, n_sizes), optional
        Own size options (capacity per day, cost CNY; inf cost = unavailable).
    prefix : str
        Block name prefix.

    Returns
    -------
    NodeDemandHandle
    """
    R = sp.csr_matrix(reach)
    n_d, n = R.shape
    d = vector(demand, n_d, "demand")
    fixed = vector(cost_cny, n, "cost_cny")
    if site_cols is None:
        y = builder.add_vars(f"{prefix}_open", n, lower=0.0, upper=1.0, integer=True,
                             doc="1 if the site opens")  # fmt: skip
        cost_cols, cost_vals = y[fixed > 0], fixed[fixed > 0]
    else:
        y = np.asarray(site_cols, dtype=np.int64)
        if y.shape != (n,):
            raise ModelInputError(f"site_cols must have {n} entries, got {y.shape}")
        cost_cols, cost_vals = y[fixed > 0], fixed[fixed > 0]
    coo = R.tocoo()
    keep = d[coo.row] > 0
    pi, pj = coo.row[keep].astype(np.int64), coo.col[keep].astype(np.int64)
    k = pi.size
    v = builder.add_vars(f"{prefix}_served", k, lower=0.0, upper=d[pi],
                         doc="amount per day of a demand point served by a site")  # fmt: skip
    builder.add_rows(f"{prefix}_demand", n_d, pi, v, 1.0, upper=d,
                     doc="a point's demand is served at most once")  # fmt: skip
    builder.add_rows(
        f"{prefix}_link",
        k,
        np.concatenate([np.arange(k), np.arange(k)]),
        np.concatenate([v, y[pj]]),
        np.concatenate([np.ones(k), -d[pi]]),
        upper=0.0,
        doc="served only by an open site",
    )
    h = NodeDemandHandle(
        site_cols=y,
        cost_cols=cost_cols,
        cost_vals=cost_vals,
        objective_cols=v,
        objective_vals=np.ones(k),
        pair_demand=pi,
        pair_site=pj,
    )
    if capacity_rows is not None:
        capacity_rows = np.asarray(capacity_rows, dtype=np.int64)
        if capacity_rows.shape != (n,):
            raise ModelInputError(f"capacity_rows must have {n} entries")
        builder.add_terms(capacity_rows[pj], v, 1.0)
    elif size_per_day is not None:
        if size_cost_cny is None:
            raise ModelInputError("size_cost_cny is required with size_per_day")
        cap = np.broadcast_to(np.asarray(size_per_day, float), (n, np.size(size_per_day)))
        cst = np.broadcast_to(np.asarray(size_cost_cny, float), cap.shape)
        si, so = np.nonzero(np.isfinite(cst))
        z = builder.add_vars(f"{prefix}_size", si.size, lower=0.0, upper=1.0, integer=True,
                             doc="1 if the site takes this size")  # fmt: skip
        builder.add_rows(f"{prefix}_one_size", n, np.concatenate([si, np.arange(n)]),
                         np.concatenate([z, y]), np.concatenate([np.ones(si.size), -np.ones(n)]),
                         lower=0.0, upper=0.0, doc="an open site has exactly one size")  # fmt: skip
        builder.add_rows(f"{prefix}_capacity", n, np.concatenate([pj, si]),
                         np.concatenate([v, z]), np.concatenate([np.ones(k), -cap[si, so]]),
                         upper=0.0, doc="load within the size")  # fmt: skip
        sc = np.full(cap.shape, -1, dtype=np.int64)
        sc[si, so] = z
        h.size_cols, h.size_cap = sc, cap
        pos = cst[si, so] > 0
        h.cost_cols = np.concatenate([h.cost_cols, z[pos]])
        h.cost_vals = np.concatenate([h.cost_vals, cst[si, so][pos]])
    return h


# ---------------------------------------------------------------------------------- joint model
@dataclass
class _Prepared:
    comps: list[Component]
    kinds: list[str]
    w: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    w_pairs: list[tuple[Colocation, np.ndarray]] = field(default_factory=list)


def _check(components: Sequence[Component]) -> None:
    names = [c.name for c in components]
    if len(set(names)) != len(names):
        raise ModelInputError(f"component names must be unique, got {names}")
    if not components:
        raise ModelInputError("joint_siting needs at least one component")
    seen: dict[int, str] = {}
    for c in components:
        cols, vals = c.cost_cols, c.cost_vals
        if cols.shape != vals.shape:
            raise ModelInputError(f"component {c.name}: cost_cols and cost_vals differ in length")
        if c.objective_cols.shape != c.objective_vals.shape:
            raise ModelInputError(f"component {c.name}: objective cols and vals differ in length")
        if not (np.isfinite(c.weight) and c.weight >= 0):
            raise ModelInputError(f"component {c.name}: weight must be >= 0, got {c.weight}")
        if not np.isfinite(c.total):
            raise ModelInputError(f"component {c.name}: total must be finite, got {c.total}")
        for j in np.unique(cols).tolist():
            if j in seen:
                raise ModelInputError(
                    f"money column {j} is listed by components {seen[j]} and {c.name}; "
                    "list each cost once"
                )
            seen[j] = c.name


def joint_siting(
    builder: MilpBuilder,
    components: Sequence[Component],
    *,
    budget_cny: float | None = None,
    budgets_cny: Mapping[str, float] | None = None,
    colocation: Sequence[Colocation] = (),
    time_limit: float | None = None,
    mip_gap: float = 1e-9,
    threads: int | None = None,
    warm_start_open: Mapping[str, Sequence[int]] | None = None,
    min_cost: bool = True,
) -> Solution:
    """Solve components already added to ``builder`` jointly, under one or per-kind budgets.

    Parameters
    ----------
    builder : MilpBuilder
        A maximising builder holding the components' variables and rows.
    components : sequence of Component
        The components (see the module docstring for the normalised, weighted objective).
    budget_cny : float, optional
        One money budget (CNY) over all components' costs minus co-location savings.
    budgets_cny : mapping kind -> float, optional
        Split budget: one row per kind (CNY); every component's kind must be a key.
        Exactly one of ``budget_cny``, ``budgets_cny`` is needed.
    colocation : sequence of Colocation
        Site pairs that save money when both open.
    time_limit : float, optional
        Solver seconds.
    mip_gap : float
        Relative MIP gap (default proves optimality).
    threads : int, optional
        HiGHS threads.
    warm_start_open : mapping component name -> site positions, optional
        Open sites of an earlier plan, offered as a starting point (ignored when infeasible).
    min_cost : bool
        Second solve for the cheapest plan with the same objective (see the module docstring).

    Returns
    -------
    Solution
        ``objective`` = weighted sum of shares; ``open`` = positions into the concatenation of
        the components' ``site_cols`` in order (components whose site columns repeat an earlier
        component's are skipped); ``details``: ``components`` (per name: ``open``, ``value`` in
        the component's units, ``share``, ``weight``, ``spent_cny``, plus what ``extract``
        gives), ``spent_cny`` per kind, ``saving_cny``, ``total_spent_cny``, ``colocated``
        (per Colocation: bool per pair "both open"), ``x`` (the solution vector).
    """
    t0 = time.perf_counter()
    time_and_gap(time_limit, mip_gap)
    comps = list(components)
    _check(comps)
    if builder.sense != "max":
        raise ModelInputError("joint_siting needs a maximising builder (MilpBuilder(..., 'max'))")
    budgets = _budgets(comps, budget_cny, budgets_cny)
    w_pairs = _add_colocation(builder, comps, colocation)
    _add_budget_rows(builder, comps, budgets, w_pairs)
    milp, shares, scale, cost = _share_objective(builder.build(), comps)
    build_s = time.perf_counter() - t0
    start = _warm_start(milp, comps, warm_start_open, time_limit)
    log.debug("joint_siting: %d cols, %d rows, %d nnz, objective scale %.4g",
              milp.num_cols, milp.num_rows, milp.A.nnz, scale)  # fmt: skip
    res = solve_milp(milp, time_limit=time_limit, mip_gap=mip_gap, threads=threads,
                     warm_start=start)  # fmt: skip
    if res.status == "infeasible" or res.x is None:
        msg = "no plan satisfies the budget(s) and required/forbidden sites"
        if res.status != "infeasible":
            msg = f"no plan found within the time limit ({res.message})"
        return Solution.infeasible(msg, seconds=res.seconds, build_seconds=build_s)
    phases = {"solve_seconds": res.seconds, "cheapest_seconds": 0.0}
    bound = res.bound / scale if np.isfinite(res.bound) else np.inf
    if min_cost and res.status == "optimal" and res.gap <= EXACT_GAP and cost.any():
        left = None if time_limit is None else time_limit - (time.perf_counter() - t0)
        if left is None or left > 1.0:
            res, phases["cheapest_seconds"] = _cheapest(milp, shares, scale, cost, res, left,
                                                        threads)  # fmt: skip
    sol = _solution(res, comps, w_pairs, budgets, build_s)
    sol.bound = float(max(bound, sol.objective)) if res.status == "optimal" else float(bound)
    if np.isfinite(sol.bound):
        sol.gap = float(max(sol.bound - sol.objective, 0.0) / max(abs(sol.objective), 1e-12))
        if res.status == "optimal":
            sol.gap = min(sol.gap, float(res.gap))
    sol.details.update(phases)
    sol.details["objective_scale"] = scale
    sol.details["mip_gap_target"] = float(mip_gap)
    return sol


def _budgets(
    comps: list[Component],
    budget_cny: float | None,
    budgets_cny: Mapping[str, float] | None,
) -> dict[str, float]:
    """``{"*": budget}`` for one budget, else one budget per component kind."""
    if (budget_cny is None) == (budgets_cny is None):
        raise ModelInputError("give exactly one of budget_cny (one budget) or budgets_cny (split)")
    kinds = sorted({c.kind for c in comps})
    if budgets_cny is not None:
        missing = [k for k in kinds if k not in budgets_cny]
        if missing:
            raise ModelInputError(f"budgets_cny has no budget for kind(s) {missing}")
        budgets = {k: float(budgets_cny[k]) for k in kinds}
    else:
        budgets = {"*": float(budget_cny)}  # type: ignore[arg-type]
    for k, b in budgets.items():
        if not (np.isfinite(b) and b >= 0):
            raise ModelInputError(f"budget for {k} must be a finite number >= 0, got {b}")
    return budgets


def _add_colocation(
    builder: MilpBuilder, comps: list[Component], colocation: Sequence[Colocation]
) -> list[tuple[Colocation, np.ndarray]]:
    """Co-location variables ``w <= y_a, w <= y_b``; per pair: (w column, saving, a, b)."""
    by_name = {c.name: c for c in comps}
    w_pairs: list[tuple[Colocation, np.ndarray]] = []
    for co in colocation:
        if co.a not in by_name or co.b not in by_name:
            raise ModelInputError(f"colocation names unknown component(s) {co.a!r}, {co.b!r}")
        ya, yb = by_name[co.a].site_cols, by_name[co.b].site_cols
        ia = np.asarray(co.site_a, dtype=np.int64).ravel()
        ib = np.asarray(co.site_b, dtype=np.int64).ravel()
        if ia.shape != ib.shape:
            raise ModelInputError("colocation site_a and site_b must have the same length")
        if ((ia < 0) | (ia >= ya.size)).any() or ((ib < 0) | (ib >= yb.size)).any():
            raise ModelInputError("colocation site index outside the components' sites")
        s = vector(co.saving_cny, ia.size, "saving_cny")
        w = builder.add_vars(f"coloc_{co.a}_{co.b}", ia.size, lower=0.0, upper=1.0,
                             doc="1 if both sites of a co-location pair are built")  # fmt: skip
        m = ia.size
        builder.add_rows(f"coloc_{co.a}_{co.b}_le", 2 * m,
                         np.concatenate([np.arange(2 * m), np.arange(m), m + np.arange(m)]),
                         np.concatenate([w, w, ya[ia], yb[ib]]),
                         np.concatenate([np.ones(2 * m), -np.ones(2 * m)]),
                         upper=0.0, doc="w <= y_a, w <= y_b")  # fmt: skip
        w_pairs.append((co, np.stack([w, s, ia, ib])))
    return w_pairs


def _add_budget_rows(
    builder: MilpBuilder,
    comps: list[Component],
    budgets: dict[str, float],
    w_pairs: list[tuple[Colocation, np.ndarray]],
) -> None:
    """One money row per budget: component costs minus co-location savings."""
    by_name = {c.name: c for c in comps}
    for key, b in budgets.items():
        cols, vals = [], []
        for c in comps:
            if key in ("*", c.kind):
                cols.append(c.cost_cols)
                vals.append(c.cost_vals)
        for co, arr in w_pairs:
            w, s = arr[0].astype(np.int64), arr[1]
            if key == "*":
                share = 1.0
            else:
                share = 0.5 * ((by_name[co.a].kind == key) + (by_name[co.b].kind == key))
            if share > 0:
                cols.append(w)
                vals.append(-share * s)
        cc = np.concatenate(cols) if cols else np.zeros(0, np.int64)
        vv = np.concatenate(vals) if vals else np.zeros(0)
        builder.add_rows(f"budget_{'all' if key == '*' else key}", 1, np.zeros(cc.size), cc, vv,
                         upper=b, doc="money budget (CNY)")  # fmt: skip


def _share_objective(
    milp: Milp, comps: list[Component]
) -> tuple[Milp, np.ndarray, float, np.ndarray]:
    """The normalised, weighted objective (shares) replacing the components' own coefficients;
    HiGHS gets it times ``scale`` (see :func:`objective_scale`). Also the money per column."""
    shares = np.zeros(milp.num_cols)
    for comp in comps:
        if comp.total > 0 and comp.weight > 0:
            np.add.at(shares, comp.objective_cols, comp.weight * comp.objective_vals / comp.total)
    scale = objective_scale(comps)
    cost = np.zeros(milp.num_cols)
    for comp in comps:
        np.add.at(cost, comp.cost_cols, comp.cost_vals)
    milp = Milp(
        name="joint_siting", sense="max", c=scale * shares, A=milp.A, row_lower=milp.row_lower,
        row_upper=milp.row_upper, col_lower=milp.col_lower, col_upper=milp.col_upper,
        integer=milp.integer, offset=0.0, var_blocks=milp.var_blocks, row_blocks=milp.row_blocks,
    )  # fmt: skip
    return milp, shares, scale, cost


def objective_scale(components: Sequence[Component]) -> float:
    """Factor applied to the weighted sum of shares before it goes to HiGHS.

    Shares make per-column objective coefficients tiny (one H3 cell's kWh over the city's total
    is ~1e-6), which slows the simplex and trips HiGHS's "excessively small costs" check. Scaling
    by the largest component total gives that component its natural units (e.g. kWh/day) — the
    coefficients of the charger-only model — and leaves the optimum unchanged.
    """
    tot = [c.total for c in components if c.total > 0 and c.weight > 0]
    return float(max(tot)) if tot else 1.0


def _cheapest(
    milp: Milp,
    shares: np.ndarray,
    scale: float,
    cost: np.ndarray,
    res: Any,
    time_limit: float | None,
    threads: int | None,
) -> tuple[Any, float]:
    """Re-solve for the cheapest plan whose shares are within TIE_BREAK of ``res``."""
    nz = np.flatnonzero(shares)
    row = sp.csr_matrix((scale * shares[nz], (np.zeros(nz.size), nz)), shape=(1, milp.num_cols))
    A = sp.vstack([milp.A, row]).tocsr()
    floor = scale * (float(shares @ res.x) - TIE_BREAK)
    second = Milp(
        name="joint_siting_cheapest", sense="min", c=cost / max(float(cost.max()), 1.0), A=A,
        row_lower=np.r_[milp.row_lower, floor], row_upper=np.r_[milp.row_upper, np.inf],
        col_lower=milp.col_lower, col_upper=milp.col_upper, integer=milp.integer,
    )  # fmt: skip
    r2 = solve_milp(second, time_limit=time_limit, mip_gap=1e-9, threads=threads,
                    warm_start=res.x)  # fmt: skip
    res.seconds += r2.seconds
    if r2.x is not None and float(cost @ r2.x) <= float(cost @ res.x):
        res.x = r2.x
    return res, r2.seconds


def _warm_start(
    milp: Milp,
    comps: list[Component],
    warm: Mapping[str, Sequence[int]] | None,
    time_limit: float | None,
) -> np.ndarray | None:
    if not warm:
        return None
    try:
        from siting.models._milp import complete_start
    except ImportError:  # older model core: offer the site values only
        complete_start = None
    cols, vals = [], []
    for comp in comps:
        sc = comp.site_cols
        y = np.zeros(sc.size)
        idx = np.asarray(list(warm.get(comp.name, ())), dtype=np.int64)
        if idx.size and ((idx < 0) | (idx >= sc.size)).any():
            log.info("warm start ignored: site index out of range for %s", comp.name)
            return None
        y[idx] = 1.0
        cols.append(sc)
        vals.append(y)
    cc, vv = np.concatenate(cols), np.concatenate(vals)
    cc, first = np.unique(cc, return_index=True)
    vv = vv[first]
    if complete_start is None:
        x = np.full(milp.num_cols, np.nan)
        x[cc] = vv
        return x
    limit = 10.0 if time_limit is None else max(0.1 * time_limit, 0.05)
    x = complete_start(milp, cc, vv, time_limit=limit)
    if x is None:
        log.info("warm start ignored: the given open sites are infeasible")
    return x


def _solution(res: Any, comps: list[Component], w_pairs: list, budgets: dict, build_s: float):
    x = res.x
    details: dict[str, Any] = {"components": {}}
    spent: dict[str, float] = {}
    seen_sites: set[int] = set()
    open_all: list[np.ndarray] = []
    offset = 0
    for comp in comps:
        sc = comp.site_cols
        is_open = x[sc] > 0.5
        value = float(comp.objective_vals @ x[comp.objective_cols])
        xc = x[comp.cost_cols]
        xc = np.where(np.abs(xc - np.round(xc)) < 1e-6, np.round(xc), xc)  # solver tolerance
        cost = float(comp.cost_vals @ xc)
        spent[comp.kind] = spent.get(comp.kind, 0.0) + cost
        d: dict[str, Any] = {
            "kind": comp.kind,
            "open": np.flatnonzero(is_open),
            "value": value,
            "total": float(comp.total),
            "share": value / comp.total if comp.total > 0 else 0.0,
            "weight": float(comp.weight),
            "spent_cny": cost,
        }
        if comp.extract is not None:
            d.update(comp.extract(x))
        details["components"][comp.name] = d
        key = int(sc[0]) if sc.size else -1
        if sc.size and key not in seen_sites:
            seen_sites.add(key)
            open_all.append(offset + np.flatnonzero(is_open))
            offset += sc.size
    saving = 0.0
    saving_by_kind = dict.fromkeys(spent, 0.0)
    coloc = []
    by_name = {c.name: c for c in comps}
    for co, arr in w_pairs:
        s, ia, ib = arr[1], arr[2].astype(np.int64), arr[3].astype(np.int64)
        both = (x[by_name[co.a].site_cols[ia]] > 0.5) & (x[by_name[co.b].site_cols[ib]] > 0.5)
        sv = float(s[both].sum())
        saving += sv
        for nm in (co.a, co.b):
            saving_by_kind[by_name[nm].kind] = saving_by_kind.get(by_name[nm].kind, 0.0) + sv / 2
        coloc.append(both)
    details["spent_cny"] = {k: v - saving_by_kind.get(k, 0.0) for k, v in spent.items()}
    details["saving_cny"] = saving
    details["total_spent_cny"] = float(sum(spent.values()) - saving)
    details["colocated"] = coloc
    details["budgets_cny"] = dict(budgets)
    details["x"] = x
    objective = float(sum(d["weight"] * d["share"] for d in details["components"].values()))
    return Solution(
        status=res.status,
        objective=objective,
        bound=float(res.bound),
        gap=float(res.gap),
        open=np.concatenate(open_all) if open_all else np.zeros(0, np.int64),
        seconds=res.seconds,
        build_seconds=build_s,
        message=res.message,
        details=details,
    )
