"""A mixed-integer linear program held as arrays, solved by HiGHS or exported to Pyomo.

Every model in :mod:`siting.models` builds one :class:`Milp` from NumPy / SciPy arrays in bulk
(never term by term), then :func:`solve_milp` hands the arrays to HiGHS in one call. The same
arrays become a readable Pyomo ``ConcreteModel`` with :func:`to_pyomo` (named variable blocks and
constraint groups), which any Pyomo solver can solve or write as LP / MPS.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp

log = logging.getLogger(__name__)

_banner_shown = False


def new_highs():
    """Return a ``highspy.Highs`` with logging off; HiGHS's start-up banner never reaches stdout.

    HiGHS prints a banner on the process's stdout the first time it is constructed, which would
    corrupt CSV written to stdout by benchmarks; the first construction runs with fd 1 muted.
    """
    import highspy

    global _banner_shown
    if _banner_shown:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        try:
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            os.close(devnull)
        _banner_shown = True
    h.setOptionValue("output_flag", False)
    return h


Status = Literal["optimal", "time_limit", "infeasible"]


@dataclass(frozen=True)
class VarBlock:
    """A named group of variables occupying columns ``start:stop`` of the model."""

    name: str
    start: int
    stop: int
    integer: bool
    doc: str = ""


@dataclass(frozen=True)
class RowBlock:
    """A named group of constraints occupying rows ``start:stop`` of the model."""

    name: str
    start: int
    stop: int
    doc: str = ""


@dataclass
class Milp:
    """min/max ``c @ x + offset`` s.t. ``row_lower <= A @ x <= row_upper``, bounds, integrality."""

    name: str
    sense: Literal["min", "max"]
    c: np.ndarray
    A: sp.csr_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    integer: np.ndarray
    offset: float = 0.0
    var_blocks: list[VarBlock] = field(default_factory=list)
    row_blocks: list[RowBlock] = field(default_factory=list)

    @property
    def num_cols(self) -> int:
        """Number of variables."""
        return int(self.c.shape[0])

    @property
    def num_rows(self) -> int:
        """Number of constraints."""
        return int(self.A.shape[0])

    def block(self, name: str) -> slice:
        """Column slice of the variable block called ``name``."""
        for b in self.var_blocks:
            if b.name == name:
                return slice(b.start, b.stop)
        raise KeyError(name)


class MilpBuilder:
    """Assemble a :class:`Milp` from whole blocks of variables and constraints.

    Variables are added as blocks (``add_vars``) and constraints as COO triplets over global
    column indices (``add_rows``); nothing is done per term in Python.
    """

    def __init__(self, name: str, sense: Literal["min", "max"] = "min") -> None:
        self.name = name
        self.sense = sense
        self._c: list[np.ndarray] = []
        self._lb: list[np.ndarray] = []
        self._ub: list[np.ndarray] = []
        self._int: list[np.ndarray] = []
        self._var_blocks: list[VarBlock] = []
        self._rows: list[np.ndarray] = []
        self._cols: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []
        self._rlo: list[np.ndarray] = []
        self._rup: list[np.ndarray] = []
        self._row_blocks: list[RowBlock] = []
        self.num_cols = 0
        self.num_rows = 0
        self.offset = 0.0

    def add_vars(
        self,
        name: str,
        n: int,
        *,
        cost: np.ndarray | float = 0.0,
        lower: np.ndarray | float = 0.0,
        upper: np.ndarray | float = np.inf,
        integer: bool = False,
        doc: str = "",
    ) -> np.ndarray:
        """Add ``n`` variables; return their global column indices."""
        start = self.num_cols
        self._c.append(np.broadcast_to(np.asarray(cost, dtype=float), (n,)).copy())
        self._lb.append(np.broadcast_to(np.asarray(lower, dtype=float), (n,)).copy())
        self._ub.append(np.broadcast_to(np.asarray(upper, dtype=float), (n,)).copy())
        self._int.append(np.full(n, integer, dtype=bool))
        self.num_cols += n
        self._var_blocks.append(VarBlock(name, start, self.num_cols, integer, doc))
        return np.arange(start, self.num_cols)

    def add_rows(
        self,
        name: str,
        n: int,
        rows: np.ndarray,
        cols: np.ndarray,
        vals: np.ndarray | float,
        *,
        lower: np.ndarray | float = -np.inf,
        upper: np.ndarray | float = np.inf,
        doc: str = "",
    ) -> np.ndarray:
        """Add ``n`` constraints given as COO triplets; ``rows`` are local (0..n-1)."""
        start = self.num_rows
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        self._rows.append(rows + start)
        self._cols.append(cols)
        self._vals.append(np.broadcast_to(np.asarray(vals, dtype=float), rows.shape).copy())
        self._rlo.append(np.broadcast_to(np.asarray(lower, dtype=float), (n,)).copy())
        self._rup.append(np.broadcast_to(np.asarray(upper, dtype=float), (n,)).copy())
        self.num_rows += n
        self._row_blocks.append(RowBlock(name, start, self.num_rows, doc))
        return np.arange(start, self.num_rows)

    def add_terms(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray | float) -> None:
        """Add coefficients to rows that already exist (``rows`` are global row indices).

        Used to let one component put terms into another's rows (e.g. node demand drawing on a
        station's capacity row). Coefficients on the same (row, column) are summed by
        :meth:`build`; the rows' bounds are unchanged.
        """
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.num_rows):
            raise IndexError(f"add_terms: row index outside 0..{self.num_rows - 1}")
        if cols.size and (cols.min() < 0 or cols.max() >= self.num_cols):
            raise IndexError(f"add_terms: column index outside 0..{self.num_cols - 1}")
        self._rows.append(rows)
        self._cols.append(cols)
        self._vals.append(np.broadcast_to(np.asarray(vals, dtype=float), rows.shape).copy())

    def row_block(self, name: str) -> np.ndarray:
        """Global row indices of the row block called ``name`` (KeyError when absent)."""
        for b in self._row_blocks:
            if b.name == name:
                return np.arange(b.start, b.stop)
        raise KeyError(name)

    def build(self) -> Milp:
        """Return the assembled model."""

        def cat(parts: list[np.ndarray], dtype: type = float) -> np.ndarray:
            return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

        A = sp.csr_matrix(
            (cat(self._vals), (cat(self._rows, np.int64), cat(self._cols, np.int64))),
            shape=(self.num_rows, self.num_cols),
        )
        A.sum_duplicates()
        return Milp(
            name=self.name,
            sense=self.sense,
            c=cat(self._c),
            A=A,
            row_lower=cat(self._rlo),
            row_upper=cat(self._rup),
            col_lower=cat(self._lb),
            col_upper=cat(self._ub),
            integer=cat(self._int, bool).astype(bool),
            offset=self.offset,
            var_blocks=list(self._var_blocks),
            row_blocks=list(self._row_blocks),
        )


@dataclass
class MilpResult:
    """What a solver returned for a :class:`Milp` (before a model interprets the columns)."""

    status: Status
    objective: float
    bound: float
    gap: float
    x: np.ndarray | None
    seconds: float
    message: str = ""


def _highs_inf(a: np.ndarray, inf: float) -> np.ndarray:
    return np.clip(np.asarray(a, dtype=np.float64), -inf, inf)


def pass_to_highs(milp: Milp, h=None):  # -> highspy.Highs
    """Hand ``milp`` to a ``highspy.Highs`` in one ``passModel`` call and return it (not solved).

    Parameters
    ----------
    milp : Milp
        The model.
    h : highspy.Highs, optional
        The instance to load into; a new, silent one when omitted.
    """
    import highspy

    if h is None:
        h = new_highs()
    inf = h.getInfinity()
    A = milp.A.tocsc()
    A.sort_indices()
    sense = highspy.ObjSense.kMaximize if milp.sense == "max" else highspy.ObjSense.kMinimize
    args = [
        milp.num_cols,
        milp.num_rows,
        int(A.nnz),
        int(highspy.MatrixFormat.kColwise),
        int(sense),
        float(milp.offset),
        milp.c.astype(np.float64),
        _highs_inf(milp.col_lower, inf),
        _highs_inf(milp.col_upper, inf),
        _highs_inf(milp.row_lower, inf),
        _highs_inf(milp.row_upper, inf),
        A.indptr.astype(np.int32),
        A.indices.astype(np.int32),
        A.data.astype(np.float64),
    ]
    # this highspy's array passModel always takes the integrality array (all 0 for an LP)
    args.append(milp.integer.astype(np.int32))
    h.passModel(*args)
    return h


def complete_start(
    milp: Milp,
    cols: np.ndarray,
    values: np.ndarray,
    *,
    time_limit: float = 10.0,
) -> np.ndarray | None:
    """Turn values for some columns (e.g. the site binaries) into a full feasible incumbent.

    The given columns are fixed and the rest of the model is solved (usually an LP, or a small
    MILP); the full column vector is returned, or None when the fixed values admit no feasible
    completion within ``time_limit`` seconds. Used to turn "open these sites" into a warm start.
    """
    cols = np.asarray(cols, dtype=np.int64)
    values = np.asarray(values, dtype=float)
    lo = milp.col_lower.copy()
    up = milp.col_upper.copy()
    if ((values < lo[cols] - 1e-9) | (values > up[cols] + 1e-9)).any():
        return None
    lo[cols] = values
    up[cols] = values
    fixed = Milp(
        name=milp.name + "_start",
        sense=milp.sense,
        c=milp.c,
        A=milp.A,
        row_lower=milp.row_lower,
        row_upper=milp.row_upper,
        col_lower=lo,
        col_upper=up,
        integer=milp.integer,
        offset=milp.offset,
    )
    try:
        res = solve_milp(fixed, time_limit=time_limit, mip_gap=1e-4)
    except RuntimeError:
        return None
    if res.x is None:
        return None
    x = res.x.copy()
    x[milp.integer] = np.round(x[milp.integer])
    return x


def solve_milp(
    milp: Milp,
    *,
    time_limit: float | None = None,
    mip_gap: float = 1e-9,
    threads: int | None = None,
    warm_start: np.ndarray | None = None,
    verbose: bool = False,
    options: dict[str, object] | None = None,
) -> MilpResult:
    """Solve ``milp`` with HiGHS (highspy), passing the arrays in one call.

    Parameters
    ----------
    milp : Milp
        The model.
    time_limit : float, optional
        Seconds; when reached, the best incumbent is returned with status ``time_limit``.
    mip_gap : float
        Relative MIP gap at which HiGHS stops (default 1e-9: prove optimality).
    threads : int, optional
        HiGHS threads.
    warm_start : ndarray, optional
        A (possibly partial, NaN = unknown) column vector offered to HiGHS as a starting incumbent.
    verbose : bool
        Show the HiGHS log.
    options : dict, optional
        Extra HiGHS options (name -> value), set after the ones above.

    Returns
    -------
    MilpResult
    """
    import highspy

    t0 = time.perf_counter()
    h = new_highs()
    h.setOptionValue("output_flag", bool(verbose))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    if threads is not None:
        h.setOptionValue("threads", int(threads))
    for key, value in (options or {}).items():
        h.setOptionValue(key, value)
    pass_to_highs(milp, h)
    has_int = bool(milp.integer.any())
    if warm_start is not None:
        known = ~np.isnan(warm_start)
        idx = np.flatnonzero(known).astype(np.int32)
        h.setSolution(len(idx), idx, warm_start[known].astype(np.float64))
    h.run()
    seconds = time.perf_counter() - t0
    ms = h.getModelStatus()
    info = h.getInfo()
    M = highspy.HighsModelStatus
    if ms in (M.kInfeasible, M.kUnboundedOrInfeasible):
        return MilpResult("infeasible", np.nan, np.nan, np.nan, None, seconds, str(ms))
    has_sol = info.primal_solution_status == 2  # feasible
    x = np.asarray(h.getSolution().col_value, dtype=float) if has_sol else None
    obj = float(info.objective_function_value) if has_sol else np.nan
    if has_int:
        bound = float(info.mip_dual_bound)
        gap = float(info.mip_gap) if has_sol else np.inf
    else:
        bound, gap = obj, 0.0
    if ms == M.kOptimal:
        status: Status = "optimal"
        gap = max(0.0, gap) if np.isfinite(gap) else 0.0
    elif ms in (M.kTimeLimit, M.kIterationLimit, M.kSolutionLimit, M.kInterrupt):
        status = "time_limit"
    elif ms == M.kUnbounded:
        raise RuntimeError(f"model {milp.name} is unbounded: a formulation bug")
    else:
        raise RuntimeError(f"HiGHS stopped with status {h.modelStatusToString(ms)} on {milp.name}")
    return MilpResult(status, obj, bound, gap, x, seconds, h.modelStatusToString(ms))


def to_pyomo(milp: Milp):  # -> pyomo.environ.ConcreteModel
    """Return ``milp`` as a Pyomo ``ConcreteModel`` with one indexed Var / Constraint per block.

    The model is built from the same arrays HiGHS receives, so it is the same formulation. It is
    meant for reading, for writing LP/MPS files (``model.write("m.lp")``) and for solving with
    another Pyomo solver (:func:`solve_with_pyomo`); building it is term by term and therefore
    much slower than :func:`solve_milp` on large models.
    """
    import pyomo.environ as pyo
    from pyomo.core.expr.numeric_expr import LinearExpression

    m = pyo.ConcreteModel(name=milp.name)
    col_var: list = [None] * milp.num_cols
    for b in milp.var_blocks:
        n = b.stop - b.start
        lo = milp.col_lower[b.start : b.stop]
        up = milp.col_upper[b.start : b.stop]

        def bounds(_m, k, lo=lo, up=up):
            return (
                None if np.isinf(lo[k]) else float(lo[k]),
                None if np.isinf(up[k]) else float(up[k]),
            )

        dom = pyo.Integers if b.integer else pyo.Reals
        var = pyo.Var(pyo.RangeSet(0, n - 1), domain=dom, bounds=bounds, doc=b.doc)
        m.add_component(b.name, var)
        for k in range(n):
            col_var[b.start + k] = var[k]
    nz = np.flatnonzero(milp.c)
    obj_expr = LinearExpression(
        constant=float(milp.offset),
        linear_coefs=[float(milp.c[j]) for j in nz],
        linear_vars=[col_var[j] for j in nz],
    )
    m.objective = pyo.Objective(
        expr=obj_expr, sense=pyo.maximize if milp.sense == "max" else pyo.minimize
    )
    A = milp.A.tocsr()
    for rb in milp.row_blocks:
        n = rb.stop - rb.start

        def rule(_m, k, start=rb.start):
            r = start + k
            s, e = A.indptr[r], A.indptr[r + 1]
            expr = LinearExpression(
                constant=0.0,
                linear_coefs=[float(v) for v in A.data[s:e]],
                linear_vars=[col_var[j] for j in A.indices[s:e]],
            )
            lo, up = milp.row_lower[r], milp.row_upper[r]
            return (None if np.isinf(lo) else float(lo), expr, None if np.isinf(up) else float(up))

        m.add_component(rb.name, pyo.Constraint(pyo.RangeSet(0, n - 1), rule=rule, doc=rb.doc))
    m._siting_columns = col_var
    return m


#: Option names of the relative MIP gap and the time limit for the Pyomo solvers we know.
_PYOMO_OPTIONS = {
    "appsi_highs": ("mip_rel_gap", "time_limit"),
    "glpk": ("mipgap", "tmlim"),
    "cbc": ("ratioGap", "seconds"),
}


def _pyomo_bound(res: object, sense: str) -> float:
    """The solver's own bound on the optimum from a Pyomo results object (nan when not given)."""
    problem = getattr(res, "problem", None)
    name = "upper_bound" if sense == "max" else "lower_bound"
    try:
        value = float(getattr(problem, name))
    except (TypeError, ValueError):
        return np.nan
    return value if np.isfinite(value) else np.nan


def solve_with_pyomo(
    milp: Milp,
    solver: str = "appsi_highs",
    *,
    time_limit: float | None = None,
    mip_gap: float | None = None,
) -> MilpResult:
    """Solve ``milp`` through Pyomo with any installed solver (``appsi_highs``, ``glpk``, ...).

    Used to check the formulation independently of the direct HiGHS path.

    Parameters
    ----------
    milp : Milp
    solver : str
        Pyomo solver name.
    time_limit : float, optional
        Seconds (passed for the solvers in :data:`_PYOMO_OPTIONS`).
    mip_gap : float, optional
        Relative MIP gap at which the solver may stop (default: the solver's own default).

    Returns
    -------
    MilpResult
        ``bound`` is the solver's own bound on the optimum (Pyomo's ``problem.lower_bound`` when
        minimising, ``upper_bound`` when maximising) and ``gap`` the relative gap
        ``|objective - bound| / |objective|``; both nan when the solver reports no bound. A solver
        that says "optimal" may have stopped at its gap tolerance, so the gap is not assumed 0.
    """
    import pyomo.environ as pyo

    t0 = time.perf_counter()
    m = to_pyomo(milp)
    opt = pyo.SolverFactory(solver)
    if opt is None or not opt.available(exception_flag=False):
        from siting._errors import ModelInputError

        raise ModelInputError(f"Pyomo solver {solver!r} is not available on this machine")
    gap_key, time_key = _PYOMO_OPTIONS.get(solver, (None, None))
    if time_limit is not None and time_key:
        opt.options[time_key] = time_limit
    if mip_gap is not None and gap_key:
        opt.options[gap_key] = mip_gap
    res = opt.solve(m, load_solutions=False)
    tc = str(res.solver.termination_condition)
    seconds = time.perf_counter() - t0
    if "infeasible" in tc.lower():
        return MilpResult("infeasible", np.nan, np.nan, np.nan, None, seconds, tc)
    m.solutions.load_from(res)
    x = np.array([pyo.value(v, exception=False) or 0.0 for v in m._siting_columns], dtype=float)
    obj = float(pyo.value(m.objective))
    status: Status = "optimal" if tc == "optimal" else "time_limit"
    bound = _pyomo_bound(res, milp.sense)
    gap = abs(obj - bound) / max(abs(obj), 1e-12) if np.isfinite(bound) else np.nan
    return MilpResult(status, obj, bound, gap, x, seconds, tc)


def solve_from_open(
    milp: Milp,
    site_cols: np.ndarray,
    warm_start_open: object | None = None,
    *,
    time_limit: float | None = None,
    mip_gap: float = 1e-9,
    complete: Callable[[np.ndarray], np.ndarray | None] | None = None,
) -> MilpResult:
    """Solve ``milp``, first turning a list of open sites into a full warm start when given.

    ``complete`` (optional) maps the 0/1 open-site vector straight to a full column vector (or
    None when infeasible); models that can do this in closed form skip the LP completion.

    ``warm_start_open`` holds positions into ``site_cols`` (site indices of the model) from an
    earlier solve. The start is completed with :func:`complete_start`; a start that is infeasible
    for this model (e.g. over a smaller budget) is ignored with a log message, never an error.
    """
    start = None
    t0 = time.perf_counter()
    if warm_start_open is not None:
        site_cols = np.asarray(site_cols, dtype=np.int64)
        idx = np.asarray(list(warm_start_open), dtype=np.int64).ravel()
        if idx.size and ((idx < 0) | (idx >= site_cols.size)).any():
            log.info("warm start ignored: site index out of range")
        else:
            y = np.zeros(site_cols.size)
            y[idx] = 1.0
            limit = 10.0 if time_limit is None else max(0.1 * time_limit, 0.05)
            if complete is not None:
                start = complete(y)
            else:
                start = complete_start(milp, site_cols, y, time_limit=limit)
            if start is None:
                log.info(
                    "warm start ignored: the given open sites are infeasible for %s", milp.name
                )
    spent = time.perf_counter() - t0
    if time_limit is not None:
        time_limit = max(time_limit - spent, 0.01)
    res = solve_milp(milp, time_limit=time_limit, mip_gap=mip_gap, warm_start=start)
    res.seconds += spent
    if res.x is None and start is not None and res.status == "time_limit":
        # the limit struck before HiGHS adopted the start: the start is the best plan known
        res.x = start
        res.objective = float(milp.c @ start + milp.offset)
        if np.isfinite(res.bound):
            res.gap = abs(res.objective - res.bound) / max(abs(res.objective), 1e-12)
    return res


@dataclass
class ModelHandle:
    """Where one model component sits inside a :class:`MilpBuilder` (returned by ``add_*``).

    Lets a caller compose components, e.g. put several under one money-budget row:
    ``budget_cols`` / ``budget_coefs`` are all the terms the component adds to a budget (site fixed
    costs and, where modelled, module costs, in CNY); ``obj_cols`` / ``obj_coefs`` are the
    component's objective terms (already set as objective coefficients in the builder).
    """

    name: str
    site_cols: np.ndarray
    site_cost: np.ndarray
    obj_cols: np.ndarray
    obj_coefs: np.ndarray
    budget_cols: np.ndarray
    budget_coefs: np.ndarray
    blocks: dict[str, np.ndarray] = field(default_factory=dict)
    obj_offset: float = 0.0
