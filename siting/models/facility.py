"""Fixed-charge facility location: uncapacitated, or capacitated with split demand.

Uncapacitated (``capacity=None``): the radius formulation shared with p-median (see
:mod:`siting.models.pmedian`) plus the fixed costs ``sum_j f_j y_j``; each customer is served
entirely by its cheapest open site.

Capacitated: continuous ``x_ij in [0, 1]`` (share of customer i's demand served by site j) for
every allowed pair, binary ``y_j``, with ``sum_j x_ij = 1``, the strong linking ``x_ij <= y_j``,
``sum_i d_i x_ij <= s_j y_j`` and the aggregate capacity cut ``sum_j s_j y_j >= sum_i d_i``.
``assign_cost[i, j]`` is the cost of serving ALL of customer i's demand from j (OR-Library
semantics), so a split pays pro rata: ``sum_ij c_ij x_ij + sum_j f_j y_j``.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp

from siting._errors import ModelInputError
from siting.models import _validate as V
from siting.models._milp import Milp, MilpBuilder, MilpResult, ModelHandle, solve_from_open
from siting.models._solution import Solution
from siting.models.pmedian import (
    _assignment_solution,
    _Prep,
    _prepare,
    add_radius_assignment,
)

log = logging.getLogger(__name__)


def add_facility_location(
    builder: MilpBuilder,
    assign_cost: np.ndarray,
    fixed_cost: np.ndarray,
    demand: np.ndarray,
    capacity: np.ndarray | None,
    *,
    required: np.ndarray,
    forbidden: np.ndarray,
) -> ModelHandle:
    """Add a facility-location component (validated arrays; inf = pair not allowed).

    Returns a :class:`ModelHandle`; ``site_cost`` / ``budget_coefs`` are the fixed costs.
    """
    n_d, n_s = assign_cost.shape
    y = builder.add_vars(
        "y",
        n_s,
        cost=fixed_cost,
        lower=required.astype(float),
        upper=(~forbidden).astype(float),
        integer=True,
        doc="1 when site j is open",
    )
    blocks: dict[str, np.ndarray] = {}
    if capacity is None:
        z, zc, zd, zv = add_radius_assignment(
            builder, assign_cost, np.ones(n_d), y, required=required, name="z"
        )
        blocks.update({"z": z, "z_demand": zd, "z_dist": zv})
        obj_cols, obj_coefs = z, zc
    else:
        ii, jj = np.nonzero(np.isfinite(assign_cost))
        nx = ii.size
        coef = assign_cost[ii, jj]
        x = builder.add_vars(
            "x", nx, cost=coef, lower=0.0, upper=1.0, doc="share of customer i's demand served by j"
        )
        builder.add_rows("assign", n_d, ii, x, 1.0, lower=1.0, upper=1.0, doc="all demand served")
        k = np.arange(nx)
        builder.add_rows(
            "link",
            nx,
            np.concatenate([k, k]),
            np.concatenate([x, y[jj]]),
            np.concatenate([np.ones(nx), -np.ones(nx)]),
            upper=0.0,
            doc="x_ij <= y_j",
        )
        builder.add_rows(
            "capacity",
            n_s,
            np.concatenate([jj, np.arange(n_s)]),
            np.concatenate([x, y]),
            np.concatenate([demand[ii], -capacity]),
            upper=0.0,
            doc="sum_i d_i x_ij <= s_j y_j",
        )
        builder.add_rows(
            "total_capacity",
            1,
            np.zeros(n_s),
            y,
            capacity,
            lower=float(demand.sum()),
            doc="open capacity covers total demand",
        )
        blocks["x"] = x
        blocks["x_demand"] = ii
        blocks["x_site"] = jj
        obj_cols, obj_coefs = x, coef
    return ModelHandle(
        name="facility_location",
        site_cols=y,
        site_cost=fixed_cost.copy(),
        obj_cols=np.concatenate([y, obj_cols]),
        obj_coefs=np.concatenate([fixed_cost, obj_coefs]),
        budget_cols=y,
        budget_coefs=fixed_cost.copy(),
        blocks=blocks,
    )


def _model(
    assign_cost: object,
    fixed_cost: object,
    demand: object | None,
    capacity: object | None,
    required: object | None,
    forbidden: object | None,
) -> tuple[_Prep, np.ndarray, np.ndarray, np.ndarray | None, Milp | None, ModelHandle | None]:
    prep = _prepare(assign_cost, None, required, forbidden)
    n_d, n_s = prep.cost.shape
    f = V.vector(fixed_cost, n_s, "fixed_cost")
    d = V.vector(demand, n_d, "demand", default=1.0)
    cap = None if capacity is None else V.vector(capacity, n_s, "capacity")
    if cap is not None and not prep.reason:
        avail = float(cap[~prep.forbidden].sum())
        if avail < d.sum() * (1 - 1e-12):
            prep.reason = (
                f"capacity of the sites that are not forbidden ({avail:g}) < total demand "
                f"({d.sum():g})"
            )
    if prep.reason:
        return prep, f, d, cap, None, None
    b = MilpBuilder("facility_location" if cap is None else "capacitated_facility_location")
    h = add_facility_location(
        b, prep.cost, f, d, cap, required=prep.required, forbidden=prep.forbidden
    )
    return prep, f, d, cap, b.build(), h


def build_facility_location(
    assign_cost: object,
    fixed_cost: object,
    demand: object | None = None,
    capacity: object | None = None,
    *,
    required: object | None = None,
    forbidden: object | None = None,
) -> Milp:
    """Return the facility-location model as a :class:`Milp` (arguments as
    :func:`facility_location`); use :func:`siting.models.to_pyomo` for Pyomo / LP / MPS.

    Raises
    ------
    ModelInputError
        On bad arrays, or when the model is infeasible before solving (reason in the message).
    """
    prep, *_, milp, _h = _model(assign_cost, fixed_cost, demand, capacity, required, forbidden)
    if milp is None:
        raise ModelInputError(f"facility location is infeasible: {prep.reason}")
    return milp


def facility_location(
    assign_cost: object,
    fixed_cost: object,
    demand: object | None = None,
    capacity: object | None = None,
    *,
    required: object | None = None,
    forbidden: object | None = None,
    time_limit: float | None = None,
    mip_gap: float = 1e-9,
    warm_start_open: object | None = None,
) -> Solution:
    """Open sites minimising fixed costs plus service costs (fixed-charge facility location).

    Parameters
    ----------
    assign_cost : array_like (n_customers, n_sites)
        Cost (e.g. CNY) of serving ALL of customer i's demand from site j; ``np.inf`` = not
        allowed. A customer split between sites pays each share pro rata.
    fixed_cost : array_like (n_sites,)
        Cost of opening each site (same money unit).
    demand : array_like (n_customers,), optional
        Demand of each customer (e.g. kWh/day); only used with ``capacity``. Default 1.
    capacity : array_like (n_sites,) or float, optional
        Capacity of each site in demand units. None = uncapacitated; otherwise demand may be
        split between sites.
    required, forbidden : sequence of int or bool mask, optional
        Sites that must / may not open.
    time_limit : float, optional
        Seconds; when reached, the best plan found is returned with status ``time_limit``.
    mip_gap : float
        Relative optimality gap at which to stop (default 1e-9: proven optimal).
    warm_start_open : sequence of int, optional
        Open sites of an earlier plan, used as a starting incumbent when feasible here.

    Returns
    -------
    Solution
        ``objective`` = fixed + service cost; ``open`` = the open sites; ``assignment`` = int
        array (cheapest open site per customer) when uncapacitated, else a sparse
        customer × site CSR matrix of served fractions. ``details``: ``fixed_cost`` and
        ``service_cost`` (money), ``load`` (demand served per open site, aligned with ``open``,
        capacitated only).
    """
    V.time_and_gap(time_limit, mip_gap)
    t0 = time.perf_counter()
    prep, f, d, cap, milp, h = _model(
        assign_cost, fixed_cost, demand, capacity, required, forbidden
    )
    build_s = time.perf_counter() - t0
    if milp is None or h is None:
        return Solution.infeasible(prep.reason, build_seconds=build_s)
    res = solve_from_open(
        milp, h.site_cols, warm_start_open, time_limit=time_limit, mip_gap=mip_gap
    )
    if cap is None:
        sol = _assignment_solution(res, h, prep, build_s, fixed_cost=f)
        if sol.status != "infeasible" and sol.open.size:
            sol.details["fixed_cost"] = float(f[sol.open].sum())
            sol.details["service_cost"] = float(sol.objective - sol.details["fixed_cost"])
        return sol
    return _capacitated_solution(res, h, prep, f, d, build_s)


def _capacitated_solution(
    res: MilpResult, h: ModelHandle, prep: _Prep, f: np.ndarray, d: np.ndarray, build_s: float
) -> Solution:
    if res.status == "infeasible":
        return Solution.infeasible(
            "no plan serves all demand within the capacities (check costs = inf, forbidden sites)",
            seconds=res.seconds,
            build_seconds=build_s,
        )
    if res.x is None:
        sol = Solution.infeasible("no plan found within the time limit", seconds=res.seconds)
        sol.status = "time_limit"
        sol.bound = res.bound
        sol.build_seconds = build_s
        return sol
    n_d, n_s = prep.cost.shape
    open_mask = res.x[h.site_cols] > 0.5
    xv = np.clip(res.x[h.blocks["x"]], 0.0, 1.0)
    ii, jj = h.blocks["x_demand"], h.blocks["x_site"]
    keep = xv > 1e-9
    frac = sp.csr_matrix((xv[keep], (ii[keep], jj[keep])), shape=(n_d, n_s))
    service = float(prep.cost[ii[keep], jj[keep]] @ xv[keep])
    fixed = float(f[open_mask].sum())
    objective = service + fixed
    load = np.asarray(frac.multiply(d[:, None]).sum(axis=0)).ravel()
    bound = min(res.bound, objective) if res.status == "optimal" else res.bound
    gap = abs(objective - bound) / max(abs(objective), 1e-12)
    return Solution(
        status=res.status,
        objective=objective,
        bound=float(bound),
        gap=float(min(gap, res.gap) if res.status == "optimal" else gap),
        open=np.flatnonzero(open_mask),
        assignment=frac,
        seconds=res.seconds,
        build_seconds=build_s,
        message=res.message,
        details={"fixed_cost": fixed, "service_cost": service, "load": load[open_mask]},
    )
