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
from siting.models._milp import Milp, MilpBuilder, MilpResult, ModelHandle, solve_from_open
from siting.models._solution import Solution

log = logging.getLogger(__name__)


def _money(x: float) -> str:
    return f"{x / 1e6:.1f} M CNY"


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
        m = builder.add_vars(
            "m",
            n_s,
            lower=m_lo,
            upper=np.where(forbidden, 0.0, max_modules.astype(float)),
            integer=True,
            doc="modules (plugs) at site j",
        )
        new = builder.add_vars("new_modules", n_s, lower=0.0, doc="modules bought at site j")
        nx = ii.size
        x = builder.add_vars(
            "x", nx, cost=weights[ii], lower=0.0, upper=1.0, doc="share of i's demand served at j"
        )
        builder.add_rows(
            "serve_once", n_d, ii, x, 1.0, upper=1.0, doc="a point's demand is served at most once"
        )
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
        sites = np.arange(n_s)
        builder.add_rows(
            "module_capacity",
            n_s,
            np.concatenate([jj, sites]),
            np.concatenate([x, m]),
            np.concatenate([weights[ii], -module_capacity]),
            upper=0.0,
            doc="demand served at j <= capacity per module × modules",
        )
        builder.add_rows(
            "modules_need_site",
            n_s,
            np.concatenate([sites, sites]),
            np.concatenate([m, y]),
            np.concatenate([np.ones(n_s), -max_modules.astype(float)]),
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
        budget_cols = np.concatenate([y, new])
        budget_coefs = np.concatenate([site_cost, module_cost])
        blocks.update({"m": m, "new_modules": new, "x": x})
        blocks["uncoverable"] = np.flatnonzero(np.bincount(ii, minlength=n_d) == 0)
        obj_cols, obj_coefs = x, weights[ii]
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
    milp, h = _build(prep)
    build_s = time.perf_counter() - t0
    res = solve_from_open(
        milp, h.site_cols, warm_start_open, time_limit=time_limit, mip_gap=mip_gap
    )
    return _coverage_solution(res, h, prep, build_s)


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
