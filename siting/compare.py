"""Budget sweeps (``siting compare``): what each build-out budget buys, side by side.

One scenario is prepared once (network, demand, candidates, travel times) and solved at several
budgets. Three modes:

* **free** (default): each budget is optimised on its own. Budgets are solved in increasing
  order and each solve is warm-started from the previous budget's plan, which is feasible at the
  larger budget; so coverage never decreases with the budget when every solve is optimal.
* **nested** (``nested=True``): every site built at a smaller budget stays open at the larger ones
  (``keep_open``), so the sweep reads as a phased build-out. The free sweep is solved too and the
  table says what nesting costs at each budget (``free_objective``, ``nesting_cost_share``).
* **phases** (``phases=True`` or a scenario with ``phases:`` and no budgets): the scenario's
  phases are solved in order; a phase's ``budget_cny`` is the cumulative total spent by the end
  of that phase (so budgets must not decrease; money a phase leaves unspent carries over), and
  phase *k* keeps every site of phase *k-1*. The table has one row per phase and the map
  colours each site by the phase that builds it.

Outputs (written to a temporary sibling folder renamed into place at the end, so a failed sweep
leaves nothing half-written): ``comparison.csv``, ``budget_curve.png``, ``comparison.html`` and,
per budget, ``budget_<label>/`` (or ``phase_<k>_<name>/``) with ``sites.geojson`` and
``summary.json``.

Parallel sweeps: ``workers=N`` splits the budgets into N interleaved chains solved in a
``ProcessPoolExecutor`` (each chain still warm-starts from its own previous budget);
``scheduler=ADDRESS`` sends the same chains to a Dask distributed cluster (and the preparation's
travel-time tiles, :func:`siting.travel.travel_times`). Free sweeps only: nested and phased
sweeps are sequential by nature (their free reference sweep runs in parallel).
"""

from __future__ import annotations

import base64
import html
import io
import logging
import math
import multiprocessing
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
import pandas as pd
import typer

from siting import _progress
from siting._budgets import HELP as BUDGETS_HELP
from siting._budgets import BudgetError, budget_label, budget_labels, parse_budgets
from siting._cli_common import Reporter, err, exit_interrupted
from siting._errors import InputError, SitingError

if TYPE_CHECKING:
    import folium

    from siting.results import Plan

log = logging.getLogger(__name__)

_OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)

#: Columns of ``comparison.csv`` in every mode, in this order.
COLUMNS = (
    "budget_cny",
    "spent_cny",
    "objective",
    "demand_covered_share",
    "flow_refuelled_share",
    "sites_fast_charger",
    "sites_hydrogen",
    "plugs",
    "status",
    "mip_gap",
    "solve_seconds",
)
#: Extra columns of nested and phased sweeps: the free optimum at the same budget and the share
#: of it that nesting gives up, ``(free_objective - objective) / free_objective``.
NESTING_COLUMNS = ("free_objective", "free_demand_covered_share", "nesting_cost_share")

Mode = Literal["free", "nested", "phases"]
Progress = Callable[[int, int, str, "Plan"], None]


# ----------------------------------------------------------------------------- results


@dataclass
class BudgetRun:
    """One row of a sweep: a budget (or phase) and its plan.

    Attributes
    ----------
    label : str
        Short label (``20M``) or the phase name.
    budget_cny : float
        Total budget the plan was solved for (CNY).
    plan : Plan
        The solved plan.
    folder : str
        Name of its output subfolder.
    phase : str or None
        Phase name (phased sweeps only).
    free : Plan or None
        The freely optimised plan at the same budget (nested and phased sweeps only).
    """

    label: str
    budget_cny: float
    plan: Plan
    folder: str
    phase: str | None = None
    free: Plan | None = None


@dataclass
class Comparison:
    """Result of :func:`compare`.

    Attributes
    ----------
    mode : {"free", "nested", "phases"}
    runs : list of BudgetRun
        One per budget (ascending) or phase (in order).
    table : DataFrame
        What ``comparison.csv`` holds.
    first_label : dict
        ``site_id`` -> label of the smallest budget (first phase) whose plan builds it.
    out_dir : Path or None
        Where the outputs were written.
    seconds : dict
        Wall-clock seconds: ``prepare``, ``solve`` (all budgets), ``write``, ``total``.
    warnings : list of str
        Monotonicity or time-limit notes (also logged).
    """

    mode: Mode
    runs: list[BudgetRun]
    table: pd.DataFrame
    first_label: dict[str, str]
    out_dir: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- solving


def _site_ids(plan: Plan) -> list[str]:
    return [str(s) for s in plan.sites["site_id"]] if len(plan.sites) else []


def _solve(prepared: Any, budget: float, keep: list[str] | None, warm: list[str] | None) -> Plan:
    from siting.plan import solve_prepared

    return solve_prepared(prepared, budget, keep_open=keep, warm_start=warm)


def _solve_chain(
    prepared: Any, budgets: Sequence[float], *, nested: bool = False, warm_first=None
) -> list[Plan]:
    """Solve ``budgets`` in the given order, each warm-started from the previous plan."""
    plans: list[Plan] = []
    prev: list[str] | None = list(warm_first) if warm_first else None
    for b in budgets:
        plan = _solve(prepared, float(b), prev if nested else None, prev)
        plans.append(plan)
        if plan.solution.is_feasible:
            prev = _site_ids(plan)
    return plans


_WORKER_PREPARED: Any = None


def _init_worker(prepared: Any = None, scenario: Any = None) -> None:
    """Process-pool initializer: receive the prepared scenario once (or prepare it here)."""
    global _WORKER_PREPARED
    if prepared is None:
        from siting.plan import prepare

        prepared = prepare(scenario)
    _WORKER_PREPARED = prepared


def _worker_chain(budgets: list[float]) -> list[Plan]:
    return _solve_chain(_WORKER_PREPARED, budgets)


def _dask_chain(prepared: Any, budgets: list[float]) -> list[Plan]:
    """Task run on a Dask worker: one free chain of budgets."""
    return _solve_chain(prepared, budgets)


def _shippable(prepared: Any) -> Any:
    """The prepared scenario without the city road graph, which solving does not read.

    Pickling a ``networkx`` graph to every worker costs more than the solves of a sweep.
    """
    import dataclasses

    if dataclasses.is_dataclass(prepared) and hasattr(prepared, "graph"):
        return dataclasses.replace(prepared, graph=None, arrays=None)
    return prepared


def _chains(budgets: Sequence[float], n: int) -> list[list[float]]:
    """Split ascending budgets into ``n`` interleaved ascending chains (balanced sizes)."""
    n = max(1, min(n, len(budgets)))
    return [list(budgets[i::n]) for i in range(n)]


def _free_sweep(
    prepared: Any,
    scenario: Any,
    budgets: Sequence[float],
    *,
    workers: int,
    scheduler: Any,
    ship_prepared: bool,
    on_plan: Callable[[Plan], None] | None,
) -> list[Plan]:
    """Free sweep over ascending ``budgets``: sequential, process pool or Dask."""
    budgets = list(budgets)
    if scheduler is None and workers <= 1:
        plans: list[Plan] = []
        prev = None
        for b in budgets:
            plan = _solve(prepared, b, None, prev)
            if plan.solution.is_feasible:
                prev = _site_ids(plan)
            plans.append(plan)
            if on_plan:
                on_plan(plan)
        return plans

    by_budget: dict[float, Plan] = {}
    chains = _chains(budgets, workers if scheduler is None else max(workers, len(budgets)))
    if scheduler is not None:
        from distributed import Client

        client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
        try:
            remote = client.scatter(_shippable(prepared), broadcast=True, hash=False)
            futures = [client.submit(_dask_chain, remote, c, pure=False) for c in chains]
            from distributed import as_completed as dask_as_completed

            for fut in dask_as_completed(futures):
                for plan in fut.result():
                    by_budget[plan.budget_cny] = plan
                    if on_plan:
                        on_plan(plan)
        finally:
            if client is not scheduler:
                client.close()
    else:
        initargs = (_shippable(prepared), None) if ship_prepared else (None, scenario)
        # "spawn", not fork: a forked child inherits HiGHS's thread pool without its threads
        # and spins forever in its first solve
        with ProcessPoolExecutor(
            max_workers=len(chains),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=initargs,
        ) as pool:
            futures = [pool.submit(_worker_chain, c) for c in chains]
            for fut in as_completed(futures):
                for plan in fut.result():
                    by_budget[plan.budget_cny] = plan
                    if on_plan:
                        on_plan(plan)
    plans = [by_budget[float(b)] for b in budgets]
    # Chains solved in parallel do not see each other's plans: where a larger budget came out
    # worse than a smaller one, re-solve it from the smaller budget's plan (feasible there).
    for i in range(1, len(plans)):
        a, b = plans[i - 1], plans[i]
        if (
            a.solution.is_feasible
            and b.solution.is_feasible
            and b.solution.objective < a.solution.objective - _tol(a.solution.objective)
        ):
            log.info(
                "re-solving budget %.0f warm-started from budget %.0f", b.budget_cny, a.budget_cny
            )
            again = _solve(prepared, b.budget_cny, None, _site_ids(a))
            if again.solution.objective >= b.solution.objective:
                plans[i] = again
    return plans


def _tol(objective: float) -> float:
    return 1e-9 * max(1.0, abs(objective))


# ----------------------------------------------------------------------------- the sweep


def compare(
    scenario: Any,
    budgets: str | Sequence[float] | None,
    out_dir: str | Path | None,
    *,
    nested: bool = False,
    phases: bool = False,
    workers: int = 1,
    scheduler: Any = None,
    progress: Progress | None = None,
    ship_prepared: bool = True,
    prepared: Any = None,
) -> Comparison:
    """Solve one scenario at several budgets and write the comparison.

    Parameters
    ----------
    scenario : Scenario or path
        The scenario (a path is read with :func:`siting.scenario.load_scenario`). Its own
        ``budget_cny`` is ignored.
    budgets : str, sequence of float, or None
        Budgets in CNY (``"20M,50M"``, ``"10M:200M:10"``, see :mod:`siting._budgets`, or
        numbers). None with ``phases`` (or a scenario that has phases) sweeps the phases.
    out_dir : path or None
        Output folder (replaced if it exists); None writes nothing.
    nested : bool
        Keep every site of the previous (smaller) budget open at the next one.
    phases : bool
        Sweep the scenario's ``phases`` (each phase's ``budget_cny`` is the cumulative total by
        the end of the phase; phase k keeps phase k-1's sites).
    workers : int
        Processes for the free sweep (1 = in this process).
    scheduler : str or distributed.Client, optional
        Dask scheduler address (``tcp://host:8786``) or client: the travel-time tiles of the
        preparation and the free-sweep chains run there.
    progress : callable, optional
        ``progress(done, total, label, plan)`` after each budget of the main sweep.
    ship_prepared : bool
        With ``workers > 1``: send the prepared scenario to each worker (True) or let each
        worker prepare it again (False).
    prepared : Prepared, optional
        An already prepared scenario (skips :func:`siting.plan.prepare`).

    Returns
    -------
    Comparison

    Raises
    ------
    SitingError
        Bad budgets, no phases to sweep, or an invalid scenario; nothing is written.
    """
    t0 = time.perf_counter()
    if isinstance(scenario, str | Path):
        from siting.scenario import load_scenario

        scenario = load_scenario(scenario)
    mode, values, labels, phase_names = _plan_sweep(scenario, budgets, nested, phases)
    if workers < 1:
        raise SitingError(f"--workers: must be at least 1 (got {workers})")
    if out_dir is not None:
        from siting._outpath import check_output_dir

        check_output_dir(out_dir, "out_dir")
        check_out_dir(out_dir)

    if prepared is None:
        from siting.plan import prepare

        prepared = prepare(scenario, scheduler=scheduler)
    t_prep = time.perf_counter()

    done = 0
    total = len(values)

    def tick(plan: Plan) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, labels[values.index(plan.budget_cny)], plan)

    free_kw = dict(workers=workers, scheduler=scheduler, ship_prepared=ship_prepared)
    plans, free = _sweep(prepared, scenario, mode, values, tick, free_kw)
    t_solve = time.perf_counter()
    runs = _runs(mode, values, labels, phase_names, plans, free)
    table = comparison_table(runs, mode)
    comp = Comparison(mode=mode, runs=runs, table=table, first_label=_first_label(runs))
    comp.warnings = _check(comp)
    if _progress.interrupted():  # Ctrl-C stopped a solve: a partial sweep is not written
        raise KeyboardInterrupt("compare: a solve was interrupted")
    if out_dir is not None:
        write_comparison(comp, out_dir)
    t_end = time.perf_counter()
    comp.seconds = {
        "prepare": t_prep - t0,
        "solve": t_solve - t_prep,
        "write": t_end - t_solve,
        "total": t_end - t0,
    }
    return comp


def _sweep(
    prepared: Any,
    scenario: Any,
    mode: Mode,
    values: list[float],
    tick: Callable[[Plan], None],
    free_kw: dict[str, Any],
) -> tuple[list[Plan], list[Plan | None]]:
    """The main sweep (free, or nested / phases from each previous plan) and, for nested and
    phases, the free plans at the same budgets."""
    if mode == "free":
        plans = _free_sweep(prepared, scenario, values, on_plan=tick, **free_kw)
        return plans, [None] * len(plans)
    plans = []
    prev: list[str] | None = None
    for b in values:
        plan = _solve(prepared, b, prev, prev)
        if plan.solution.is_feasible:
            prev = _site_ids(plan)
        plans.append(plan)
        tick(plan)
    return plans, list(_free_sweep(prepared, scenario, values, on_plan=None, **free_kw))


def _runs(
    mode: Mode,
    values: list[float],
    labels: list[str],
    phase_names: list[str],
    plans: list[Plan],
    free: list[Plan | None],
) -> list[BudgetRun]:
    runs = []
    for i, (b, lab, plan, fp) in enumerate(zip(values, labels, plans, free, strict=True)):
        phase = phase_names[i] if mode == "phases" else None
        folder = f"phase_{i + 1}_{_slug(phase)}" if phase is not None else f"budget_{lab}"
        runs.append(BudgetRun(label=lab, budget_cny=b, plan=plan, folder=folder, phase=phase,
                              free=fp))  # fmt: skip
    return runs


def _plan_sweep(
    scenario: Any, budgets: str | Sequence[float] | None, nested: bool, phases: bool
) -> tuple[Mode, list[float], list[str], list[str]]:
    scn_phases = list(getattr(scenario, "phases", None) or [])
    if phases or (budgets is None and scn_phases):
        if budgets is not None:
            raise BudgetError("--budgets: give either --budgets or --phases, not both")
        if not scn_phases:
            raise SitingError(
                f"{getattr(scenario, 'path', None) or 'scenario'}: phases: the scenario has no "
                "phases to sweep (add phases: [{name, budget_cny}, ...] or give --budgets)"
            )
        names = [str(p.name) for p in scn_phases]
        values = [float(p.budget_cny) for p in scn_phases]
        where = getattr(scenario, "path", None) or "scenario"
        for i in range(1, len(values)):
            if values[i] < values[i - 1]:
                raise SitingError(
                    f"{where}: phases[{i}].budget_cny: {values[i]:.0f} is below the previous "
                    f"phase's {values[i - 1]:.0f} (a phase's budget is the cumulative total "
                    "spent by the end of that phase)"
                )
        if len(set(names)) != len(names):
            raise SitingError(f"{where}: phases: phase names must be distinct")
        return "phases", values, names, names
    if budgets is None:
        raise BudgetError("--budgets: no budgets given (e.g. --budgets 20M,50M,100M)")
    values = parse_budgets(budgets)
    return ("nested" if nested else "free"), values, budget_labels(values), []


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "phase"


# ----------------------------------------------------------------------------- table


def _metrics(plan: Plan) -> dict[str, Any]:
    s = plan.summary or {}
    sol = plan.solution
    sites = plan.sites
    kinds = sites["kind"].astype(str) if len(sites) else pd.Series([], dtype=str)
    plugs = pd.to_numeric(sites["plugs"], errors="coerce") if "plugs" in sites else None
    return {
        "budget_cny": float(plan.budget_cny),
        "spent_cny": _num(s.get("spent_cny"), _sum(sites, "cost_cny")),
        "objective": _num(s.get("objective"), sol.objective),
        "demand_covered_share": _num(s.get("demand_covered_share")),
        "flow_refuelled_share": _num(s.get("flow_refuelled_share")),
        "sites_fast_charger": int((kinds == "fast_charger").sum()),
        "sites_hydrogen": int((kinds == "hydrogen").sum()),
        "plugs": int(plugs.fillna(0).sum()) if plugs is not None else 0,
        "status": str(s.get("status", sol.status)),
        "mip_gap": _num(s.get("mip_gap"), sol.gap),
        "solve_seconds": _num(s.get("solve_seconds"), sol.seconds),
    }


def _num(value: Any, default: Any = math.nan) -> float:
    if value is None:
        value = default
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _sum(df: pd.DataFrame, col: str) -> float:
    return float(pd.to_numeric(df[col], errors="coerce").sum()) if col in df else math.nan


def comparison_table(runs: Sequence[BudgetRun], mode: Mode) -> pd.DataFrame:
    """The ``comparison.csv`` table: one row per budget (or phase).

    Parameters
    ----------
    runs : sequence of BudgetRun
    mode : {"free", "nested", "phases"}

    Returns
    -------
    DataFrame
        Columns :data:`COLUMNS` (money in CNY, shares 0..1, seconds), preceded by ``phase`` in
        phased sweeps and followed by :data:`NESTING_COLUMNS` in nested and phased sweeps.
        ``flow_refuelled_share`` is NaN (an empty CSV cell) where the scenario has no trips.
    """
    rows = []
    for r in runs:
        row = _metrics(r.plan)
        if mode == "phases":
            row = {"phase": r.phase, **row}
        if mode != "free":
            fm = _metrics(r.free) if r.free is not None else {}
            fo = fm.get("objective", math.nan)
            row["free_objective"] = fo
            row["free_demand_covered_share"] = fm.get("demand_covered_share", math.nan)
            row["nesting_cost_share"] = (
                (fo - row["objective"]) / fo if fo and math.isfinite(fo) and fo > 0 else math.nan
            )
        rows.append(row)
    cols = (["phase"] if mode == "phases" else []) + list(COLUMNS)
    cols += list(NESTING_COLUMNS) if mode != "free" else []
    return pd.DataFrame(rows, columns=cols)


def _first_label(runs: Sequence[BudgetRun]) -> dict[str, str]:
    first: dict[str, str] = {}
    for r in runs:
        for sid in _site_ids(r.plan):
            first.setdefault(sid, r.label)
    return first


def _check(comp: Comparison) -> list[str]:
    """Notes on time-limited solves and on coverage falling as the budget grows."""
    notes = []
    t = comp.table
    for r, (_, row) in zip(comp.runs, t.iterrows(), strict=True):
        if row["status"] != "optimal":
            notes.append(
                f"{r.label}: solve stopped with status {row['status']} "
                f"(gap {row['mip_gap']:.2%}); its coverage may be below the optimum"
            )
    if comp.mode == "free":
        obj = t["objective"].to_numpy(float)
        opt = (t["status"] == "optimal").to_numpy()
        for i in range(1, len(t)):
            if opt[i - 1] and opt[i] and obj[i] < obj[i - 1] - _tol(obj[i - 1]):
                notes.append(
                    f"{comp.runs[i].label}: objective {obj[i]:.6g} is below the smaller budget "
                    f"{comp.runs[i - 1].label}'s {obj[i - 1]:.6g} although both are optimal "
                    "within the MIP gap"
                )
    for n in notes:
        log.info(n)
    return notes


# ----------------------------------------------------------------------------- writing


def write_comparison(comp: Comparison, out_dir: str | Path) -> Path:
    """Write every output of a sweep into ``out_dir`` (replaced), via a temporary folder.

    Parameters
    ----------
    comp : Comparison
    out_dir : path

    Returns
    -------
    Path
        The output folder.
    """
    from siting.report import write_outputs

    out = Path(out_dir).resolve()
    check_out_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
    try:
        for r in comp.runs:
            write_outputs(r.plan, tmp / r.folder, files=("sites.geojson", "summary.json"))
        comp.table.to_csv(tmp / "comparison.csv", index=False, float_format="%.10g")
        png = budget_curve_png(comp)
        (tmp / "budget_curve.png").write_bytes(png)
        (tmp / "comparison.html").write_text(comparison_html(comp, png), encoding="utf-8")
        (tmp / _MARKER).write_text("written by siting compare\n", encoding="utf-8")
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    comp.out_dir = out
    log.info("wrote %s", out)
    return out


_OWN_FILES = ("comparison.csv", "budget_curve.png", "comparison.html")
_MARKER = ".siting-output"


def check_out_dir(out_dir: str | Path) -> None:
    """Refuse an output folder that holds files a sweep did not write (it would be replaced).

    Parameters
    ----------
    out_dir : path

    Raises
    ------
    InputError
        ``out_dir`` is a file, or a folder with other files and no siting marker.
    """
    out = Path(out_dir)
    if not out.exists():
        return
    if not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; choose another output folder")
    names = [p.name for p in out.iterdir()]
    if _MARKER in names:
        return
    foreign = [
        n for n in names if n not in _OWN_FILES and not re.fullmatch(r"(budget|phase)_[^/]+", n)
    ]
    if foreign:
        raise InputError(
            f"{out}: folder holds files siting did not write ({', '.join(sorted(foreign)[:3])}); "
            "choose a new or empty output folder"
        )


def _replace_dir(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; an existing ``out`` is moved aside first, then removed."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rmdir(old)
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# ----------------------------------------------------------------------------- the curve


def _knee(x: np.ndarray, y: np.ndarray) -> int | None:
    """Index of the point farthest above the chord from first to last point (None if flat)."""
    if len(x) < 3 or not np.all(np.isfinite(y)) or x[-1] <= x[0] or y[-1] <= y[0]:
        return None
    xn = (x - x[0]) / (x[-1] - x[0])
    yn = (y - y[0]) / (y[-1] - y[0])
    d = yn - xn
    i = int(np.argmax(d))
    return i if d[i] > 0.05 else None


def budget_curve_png(comp: Comparison, dpi: int = 120) -> bytes:
    """Coverage against budget, with the marginal coverage per extra million CNY below.

    Top panel: share of demand covered (and of trip flow refuelled, when the scenario has trips)
    in percent against the budget in million CNY; in nested/phased sweeps the free optimum is
    drawn dashed. Points whose solve stopped on the time limit are hollow red markers annotated
    with their gap; the knee (the point farthest above the straight line from the first to the
    last budget) is marked. Bottom panel: percentage points gained per extra million CNY between
    consecutive budgets (hatched when either end is not proven optimal).

    Parameters
    ----------
    comp : Comparison
    dpi : int

    Returns
    -------
    bytes
        PNG image.
    """
    from matplotlib.figure import Figure

    t = comp.table
    x = t["budget_cny"].to_numpy(float) / 1e6
    optimal = (t["status"] == "optimal").to_numpy()
    series, unit = _curve_series(t)
    fig = Figure(figsize=(8.5, 7.5))
    ax, ax2 = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    title = {"free": "free sweep", "nested": "nested sweep", "phases": "phased build-out"}
    name = getattr(comp.runs[0].plan.scenario, "name", "") if comp.runs else ""
    import textwrap

    fig.suptitle("\n".join(textwrap.wrap(str(name), 80)), fontsize=11)
    ax.set_title(f"What each budget buys ({title[comp.mode]})", fontsize=10)
    _plot_coverage(ax, comp, x, series, optimal, unit)
    _plot_marginal(ax2, x, series[0][1], optimal, unit)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _curve_series(t: pd.DataFrame) -> tuple[list[tuple[str, np.ndarray, str]], str]:
    """(label, values, colour) per curve and the unit of the first: percent or model units."""
    series = []
    flow = t["flow_refuelled_share"]
    dem = t["demand_covered_share"]
    if dem.notna().any() and not (flow.notna().any() and dem.fillna(0).eq(0).all()):
        series.append(("demand covered", t["demand_covered_share"].to_numpy(float) * 100, "C0"))
    if t["flow_refuelled_share"].notna().any():
        series.append(
            ("trip flow refuelled", t["flow_refuelled_share"].to_numpy(float) * 100, "C2")
        )
    if not series:
        series.append(("objective", t["objective"].to_numpy(float), "C0"))
    unit = "%" if series[0][0] != "objective" else "model units"
    return series, unit


def _plot_coverage(
    ax: Any, comp: Comparison, x: np.ndarray, series: list, optimal: np.ndarray, unit: str
) -> None:
    """Top panel: coverage per budget, unproven points, the free optimum, the knee."""
    t = comp.table
    for lab, y, color in series:
        ax.plot(x, y, "-", color=color, lw=1.8, label=lab, zorder=2)
        ax.plot(x[optimal], y[optimal], "o", color=color, ms=6, zorder=3)
        if (~optimal).any():
            ax.plot(
                x[~optimal],
                y[~optimal],
                "o",
                mfc="white",
                mec="red",
                mew=2,
                ms=9,
                zorder=4,
                label="not proven optimal (time limit)" if lab == series[0][0] else None,
            )
    for i in np.flatnonzero(~optimal):
        y0 = series[0][1][i]
        gap = t["mip_gap"].iloc[i]
        txt = f"{t['status'].iloc[i]}\ngap {gap:.1%}" if math.isfinite(gap) else t["status"].iloc[i]
        ax.annotate(
            txt, (x[i], y0), xytext=(8, -22), textcoords="offset points", color="red", fontsize=8
        )
    if comp.mode != "free" and "free_demand_covered_share" in t and series[0][0] != "objective":
        fy = t["free_demand_covered_share"].to_numpy(float) * 100
        if np.isfinite(fy).any():
            ax.plot(x, fy, "--", color="0.45", lw=1.2, label="free optimum at the same budget")
    k = _knee(x, series[0][1]) if comp.mode != "phases" else None
    if k is not None:
        ax.axvline(x[k], color="0.6", ls=":", lw=1)
        ax.annotate(
            f"knee ≈ {budget_label(x[k] * 1e6)} CNY",
            (x[k], series[0][1][k]),
            xytext=(10, -35),
            textcoords="offset points",
            arrowprops={"arrowstyle": "->", "color": "0.4"},
            fontsize=9,
        )
    elif comp.mode != "phases" and len(x) >= 3 and x[-1] > x[0]:
        slope = (series[0][1][-1] - series[0][1][0]) / (x[-1] - x[0])
        ax.text(
            0.02,
            0.97,
            f"no knee in this range: about {slope:.3g} {'pp' if unit == '%' else 'units'} "
            "per extra million CNY throughout",
            transform=ax.transAxes,
            va="top",
            fontsize=9,
            color="0.3",
        )
    if comp.mode == "phases":
        for xi, y, r in zip(x, series[0][1], comp.runs, strict=True):
            ax.annotate(r.label, (xi, y), xytext=(4, -14), textcoords="offset points", fontsize=8)
    ax.set_ylabel(f"coverage ({unit})" if unit == "%" else "objective (model units)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    if unit == "%":
        ax.set_ylim(bottom=0)


def _plot_marginal(ax2: Any, x: np.ndarray, y: np.ndarray, optimal: np.ndarray, unit: str) -> None:
    """Bottom panel: points gained per extra million CNY between consecutive budgets."""
    if len(x) >= 2:
        dx = np.diff(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            marg = np.where(dx > 0, np.diff(y) / dx, np.nan)
        ok = optimal[1:] & optimal[:-1]
        bars = ax2.bar(x[:-1], marg, width=dx, align="edge", color="C1", edgecolor="C1", alpha=0.75)
        for bar, good in zip(bars, ok, strict=True):
            if not good:
                bar.set_hatch("//")
                bar.set_facecolor("white")
                bar.set_edgecolor("red")
    per = "pp" if unit == "%" else "units"
    ax2.set_ylabel(f"marginal coverage\n({per} per extra million CNY)")
    ax2.set_xlabel("budget (million CNY)")
    ax2.axhline(0, color="0.3", lw=0.8)
    ax2.grid(alpha=0.3)


# ----------------------------------------------------------------------------- the page


def _colors(n: int) -> list[str]:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["plasma"]
    return [to_hex(cmap(0.05 + 0.8 * i / max(1, n - 1))) for i in range(n)]


def _site_feature(
    row: Any, first: str, colour: str, in_runs: dict[str, list[str]], what: str
) -> dict[str, Any]:
    """GeoJSON point of one site for the comparison map (hydrogen stations ringed in black)."""
    h2 = str(getattr(row, "kind", "")) == "hydrogen"
    return {
        "type": "Feature",
        "geometry": {
            "type": "Point",
            "coordinates": [round(float(row.lon), 6), round(float(row.lat), 6)],
        },
        "properties": {
            "popup": _popup(row, first, in_runs.get(str(row.site_id), []), what),
            "tip": html.escape(f"{_name(row)} — first {what} {first}"),
            "_style": {
                "radius": 7 if h2 else 5,
                "color": "black" if h2 else colour,
                "weight": 2 if h2 else 1,
                "fillColor": colour,
                "fillOpacity": 0.9,
            },
        },
    }


def _site_bounds(runs: Sequence[BudgetRun]) -> list[list[float]] | None:
    pts = [(float(la), float(lo)) for r in runs
           for la, lo in zip(r.plan.sites["lat"], r.plan.sites["lon"], strict=True)]  # fmt: skip
    if not pts:
        return None
    la, lo = np.array(pts).T
    return [[float(la.min()), float(lo.min())], [float(la.max()), float(lo.max())]]


def _base_map(runs: Sequence[BudgetRun]) -> tuple[folium.Map, Any]:
    """An empty map centred on the candidates, with the base layers of the plan maps (online
    tiles, Amap, and the offline base drawn from the embedded data); returns it and the
    offline base layer."""
    import folium

    from siting import maps

    lons, lats = [], []
    for r in runs:
        c = r.plan.candidates
        if len(c):
            lons.append(float(np.nanmean(c["lon"])))
            lats.append(float(np.nanmean(c["lat"])))
    center = [float(np.mean(lats)), float(np.mean(lons))] if lats else [39.9, 116.4]
    m = folium.Map(location=center, zoom_start=11, tiles=None)
    # Only Leaflet is needed (inlined for offline use by comparison_html)
    m.default_js = [js for js in m.default_js if js[0] == "leaflet"]
    m.default_css = [css for css in m.default_css if css[0] == "leaflet_css"]
    offline = maps.add_base_layers(m, _site_bounds(runs))
    return m, offline


def comparison_map(comp: Comparison) -> folium.Map:
    """One Folium map, one toggleable layer per budget (phase), sites coloured by first budget.

    Parameters
    ----------
    comp : Comparison

    Returns
    -------
    folium.Map
        Every layer holds the sites of that budget's plan; a site's colour is the smallest
        budget (earliest phase) whose plan builds it; only the largest budget's layer is shown
        at first. The base layers are those of the plan maps (:func:`siting.maps.build_map`):
        with no network the offline base (roads, districts) is shown. Site names are
        HTML-escaped.
    """
    import folium

    from siting import maps

    runs = comp.runs
    colors = dict(zip([r.label for r in runs], _colors(len(runs)), strict=True))
    m, offline = _base_map(runs)
    what = "phase" if comp.mode == "phases" else "budget"
    in_runs: dict[str, list[str]] = {}
    for r in runs:
        for sid in _site_ids(r.plan):
            in_runs.setdefault(sid, []).append(r.label)
    for i, r in enumerate(runs):
        s = r.plan.sites
        n = len(s)
        layer_name = (
            f"Phase {html.escape(r.label)} ({r.budget_cny / 1e6:g}M CNY in total, {n} sites)"
            if comp.mode == "phases"
            else f"Budget {r.label} CNY ({n} sites)"
        )
        features = []
        for row in s.itertuples(index=False):
            first = comp.first_label.get(str(row.site_id), r.label)
            features.append(_site_feature(row, first, colors[first], in_runs, what))
        if not features:
            folium.FeatureGroup(name=layer_name, show=(i == len(runs) - 1)).add_to(m)
            continue
        folium.GeoJson(
            {"type": "FeatureCollection", "features": features},
            name=layer_name,
            show=(i == len(runs) - 1),
            marker=folium.CircleMarker(radius=5, fill=True),
            style_function=lambda f: f["properties"]["_style"],
            popup=folium.GeoJsonPopup(fields=["popup"], labels=False, max_width=340),
            tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False),
        ).add_to(m)
    maps.finish_map(m, offline)
    m.get_root().html.add_child(folium.Element(_legend(comp, colors, what)))
    bounds = _site_bounds(runs)
    if bounds:
        m.fit_bounds(bounds, padding=(20, 20))
    return m


def _name(row: Any) -> str:
    name = getattr(row, "name", None)
    if name is None or (isinstance(name, float) and math.isnan(name)) or str(name) == "":
        return str(row.site_id)
    return str(name)


def _popup(row: Any, first: str, labels: list[str], what: str) -> str:
    """A site's popup: name and district, when it is first built, and its figures at this
    budget in its kind's units (plugs, kg/day, trips)."""
    from siting.maps import esc, fmt_cny, fmt_num

    kind = str(getattr(row, "kind", ""))
    where = esc(getattr(row, "district", None))
    rows = [("Kind", "Hydrogen station" if kind == "hydrogen" else "Fast charger"),
            (f"First built at {what}", f"<b>{esc(first)}</b>"),
            ("In the plans of", esc(", ".join(labels)))]  # fmt: skip
    plugs = _num(getattr(row, "plugs", None))
    if math.isfinite(plugs) and (kind != "hydrogen" or plugs > 0):
        rows.append((f"Plugs at this {what}", f"{plugs:.0f}"))
    size = _num(getattr(row, "size_kg_per_day", None))
    if math.isfinite(size):
        rows.append(("Size", f"{fmt_num(size)} kg/day"))
    trips = _num(getattr(row, "trips_served", None))
    if math.isfinite(trips):
        rows.append(("Trips refuelled here", f"{fmt_num(trips)} O-D trips"))
    rows.append(("Cost", fmt_cny(getattr(row, "cost_cny", None))))
    body = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return (
        f'<div class="siting-pop"><b class="siting-pop-name">{esc(_name(row))}</b>'
        f'<div class="siting-pop-where">{where}</div><table>{body}</table>'
        f'<div class="siting-pop-ids">site id {esc(row.site_id)}</div></div>'
    )


def _legend(comp: Comparison, colors: dict[str, str], what: str) -> str:
    used = set(comp.first_label.values())  # only the colours some site has
    items = "".join(
        f"<div><span style='display:inline-block;width:12px;height:12px;border-radius:6px;"
        f"background:{c};margin-right:6px'></span>{html.escape(lab)}</div>"
        for lab, c in colors.items()
        if lab in used or not used
    )
    head = "Phase that builds the site" if what == "phase" else "Smallest budget (CNY) building it"
    h2 = any((r.plan.sites["kind"] == "hydrogen").any() for r in comp.runs if len(r.plan.sites))
    return (
        "<div class='siting-legend-mini' style='position:fixed;bottom:30px;left:10px;"
        "z-index:9999;background:white;padding:8px 10px;border:1px solid #999;border-radius:4px;"
        f"font:12px sans-serif;max-height:60%;overflow:auto'><b>{head}</b>{items}"
        "<div style='margin-top:4px;color:#555'>Toggle layers (top right): one per "
        f"{what}.{'<br>Black ring = hydrogen station.' if h2 else ''}</div></div>"
    )


#: comparison.html table headings: what each comparison.csv column holds, in words, with units.
COLUMN_LABELS = {
    "phase": "Phase",
    "budget_cny": "Budget (M CNY)",
    "spent_cny": "Spent (M CNY)",
    "demand_covered_share": "Charging demand covered (%)",
    "flow_refuelled_share": "Trip flow refuelled (%)",
    "sites_fast_charger": "Fast-charging sites",
    "sites_hydrogen": "Hydrogen stations",
    "plugs": "Plugs",
    "status": "Solver status",
    "mip_gap": "Gap to the proven optimum (%)",
    "solve_seconds": "Solver time (s)",
    "free_demand_covered_share": "Charging demand covered without nesting (%)",
    "nesting_cost_share": "Objective given up by nesting (%)",
}


def _objective_label(comp: Comparison, free: bool = False) -> str:
    """The objective's meaning in the scenario's own terms."""
    from siting.maps import plan_kinds

    kinds = plan_kinds(comp.runs[0].plan) if comp.runs else {}
    on = [k for k, v in kinds.items() if v]
    if on == ["area"]:
        text = "Charging demand served (kWh/day)"
    elif on == ["trips"]:
        text = "Objective: share of trip flow refuelled"
    else:
        text = "Objective: sum of the demand kinds' served shares"
    return text + (" without nesting" if free else "")


def _table_for_people(comp: Comparison) -> pd.DataFrame:
    """The comparison table as people read it: empty columns hidden, headings in words with
    units (:data:`COLUMN_LABELS`), numbers formatted."""
    t = comp.table
    empty = [c for c in t.columns
             if t[c].isna().all() or (t[c].astype(str).str.strip() == "").all()]  # fmt: skip
    if "sites_hydrogen" in t and (t["sites_hydrogen"] == 0).all():
        empty.append("sites_hydrogen")
    if "sites_fast_charger" in t and (t["sites_fast_charger"] == 0).all():
        empty += ["sites_fast_charger", "plugs"]
    out = _fmt_table(t.drop(columns=empty))
    labels = {**COLUMN_LABELS, "objective": _objective_label(comp),
              "free_objective": _objective_label(comp, free=True)}  # fmt: skip
    return out.rename(columns=labels)


def _fmt_table(t: pd.DataFrame) -> pd.DataFrame:
    out = t.copy()
    for c in out.columns:
        if c.endswith("_cny"):
            out[c] = out[c].map(lambda v: f"{v / 1e6:,.2f}" if pd.notna(v) else "")
        elif c.endswith("_share"):
            out[c] = out[c].map(lambda v: f"{100 * v:.2f}" if pd.notna(v) else "")
        elif c == "mip_gap":
            out[c] = out[c].map(
                lambda v: f"{100 * v:.3f}" if pd.notna(v) and math.isfinite(v) else ""
            )
        elif c == "solve_seconds":
            out[c] = out[c].map(lambda v: f"{v:.1f}" if pd.notna(v) else "")
        elif c.endswith("objective"):
            out[c] = out[c].map(lambda v: f"{v:,.6g}" if pd.notna(v) else "")
    return out


def comparison_html(comp: Comparison, png: bytes | None = None) -> str:
    """The single page a reviewer opens: the curve, the table and the layered map.

    Parameters
    ----------
    comp : Comparison
    png : bytes, optional
        The budget curve (made with :func:`budget_curve_png` when not given).

    Returns
    -------
    str
        A self-contained HTML page: the PNG is embedded as base64 and the map, in an iframe's
        ``srcdoc``, carries the vendored Leaflet (:func:`siting.maps.inline_leaflet`), so
        everything but the basemap tiles works offline.
    """
    png = png if png is not None else budget_curve_png(comp)
    e = html.escape
    name = getattr(comp.runs[0].plan.scenario, "name", "") if comp.runs else ""
    mode_text = {
        "free": "Each budget is optimised on its own.",
        "nested": "Nested: every site built at a smaller budget is kept at the larger ones. "
        "The columns 'without nesting' give the free optimum at the same budget and the share "
        "of it given up by nesting.",
        "phases": "Phases: each phase keeps the sites of the previous one; its budget is the "
        "cumulative total spent by the end of the phase. The columns 'without nesting' compare "
        "with the free optimum at the same budget.",
    }[comp.mode]
    notes = "".join(f"<li>{e(n)}</li>" for n in comp.warnings)
    notes_html = f"<h3>Notes</h3><ul>{notes}</ul>" if notes else ""
    table = _table_for_people(comp).to_html(index=False, escape=True, border=0, classes="tbl")
    map_html = comparison_map(comp).get_root().render()
    try:
        from siting.maps import inline_leaflet

        map_html = inline_leaflet(map_html)
    except (ImportError, FileNotFoundError) as exc:
        log.warning("comparison map loads Leaflet from the CDN (%s)", exc)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{e(name)}: budget comparison</title>
<style>
body{{font-family:sans-serif;margin:20px;max-width:1200px}}
.tbl{{border-collapse:collapse;font-size:13px}}
.tbl td,.tbl th{{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}}
.tbl th{{background:#f2f2f2}}
iframe{{width:100%;height:650px;border:1px solid #aaa}}
</style></head><body>
<h1>{e(name)}: what each budget buys</h1>
<p>{e(mode_text)} Columns the scenario does not use are left out (comparison.csv has them
all). Solver status <i>time_limit</i> means the solver stopped before proving the optimum; its gap
bounds how far below the optimum the plan may be.</p>
<h2>Coverage against budget</h2>
<img alt="coverage against budget" style="max-width:100%"
 src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">
<p>Top: coverage at each budget. Bottom: percentage points gained per extra million CNY between
consecutive budgets; where the bars fall, extra money buys little (the knee of the curve).</p>
<h2>Table (comparison.csv)</h2>
<div style="overflow-x:auto">{table}</div>
{notes_html}
<h2>Map</h2>
<p>One layer per {"phase" if comp.mode == "phases" else "budget"} (switch them in the top-right
control); each site is coloured by the smallest budget (earliest phase) that builds it.</p>
<iframe srcdoc="{e(map_html, quote=True)}"></iframe>
<p style="color:#666;font-size:12px">Map data © OpenStreetMap contributors (ODbL).</p>
</body></html>
"""


# ----------------------------------------------------------------------------- CLI


_SCHEDULER = re.compile(r"^(?:(?:tcp|tls|inproc|ucx|ws|wss)://\S+|[\w.\-]+:\d{1,5})$")


def _checked_inputs(
    scenario: Path,
    out: Path,
    budgets: str | None,
    nested: bool,
    phases: bool,
    scheduler: str | None = None,
) -> Any:
    """Every input of ``siting compare`` checked before any work: flags, --out, scenario."""
    from siting._outpath import check_output_dir
    from siting.inputs import check_scenario
    from siting.scenario import load_scenario

    if budgets is not None:
        parse_budgets(budgets)  # bad budgets fail before anything is read or written
    if scheduler is not None and not _SCHEDULER.match(scheduler):
        raise SitingError(
            f"--scheduler: {scheduler[:40]!r} is not a scheduler address (e.g. tcp://host:8786)"
        )
    check_output_dir(out, "--out")  # an impossible --out fails before any budget is solved
    check_out_dir(out)
    scn = load_scenario(scenario)
    check_scenario(scn)
    _plan_sweep(scn, budgets, nested, phases)
    return scn


def compare_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (replaced if it exists).")
    ],
    budgets: Annotated[str | None, typer.Option("--budgets", "-b", help=BUDGETS_HELP)] = None,
    nested: Annotated[
        bool,
        typer.Option("--nested", help="Keep every site of a smaller budget at the larger ones."),
    ] = False,
    phases: Annotated[
        bool,
        typer.Option(
            "--phases",
            help="Sweep the scenario's phases (the default when it has phases and no --budgets).",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", "-w", min=1, max=256, help="Processes solving budgets in parallel."
        ),
    ] = 1,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler", help="Dask scheduler address (e.g. tcp://host:8786) to solve on."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False,
) -> None:
    """Solve a scenario at several budgets and compare: CSV, curve, HTML page with a layered map.

    Budgets are solved in increasing order, each warm-started from the previous plan. Writes
    comparison.csv, budget_curve.png, comparison.html and one folder per budget (sites.geojson,
    summary.json). Without --budgets, a scenario with phases is swept phase by phase.
    """
    from siting._cli_common import setup_logging

    setup_logging(verbose)  # without --verbose, warnings show only after success
    # SitingError ends the command with one line (siting._flags.OneLineErrorsGroup)
    scn = _checked_inputs(scenario, out, budgets, nested, phases, scheduler)

    def show(done: int, total: int, label: str, plan: Plan) -> None:
        m = _metrics(plan)
        parts = []
        if math.isfinite(m["demand_covered_share"]):
            parts.append(f"demand covered {m['demand_covered_share']:.1%}")
        if math.isfinite(m["flow_refuelled_share"]):
            parts.append(f"flow refuelled {m['flow_refuelled_share']:.1%}")
        cov = ", ".join(parts) or f"objective {m['objective']:.6g}"
        err.print(
            f"[{done}/{total}] {label}: {m['status']}, {cov}, "
            f"{m['sites_fast_charger'] + m['sites_hydrogen']} sites, {m['solve_seconds']:.1f} s",
            markup=False, highlight=False, soft_wrap=True,
        )  # fmt: skip

    t0 = time.perf_counter()
    try:
        with Reporter(f"{scn.name} (compare)") as reporter:
            from siting.plan import prepare

            prepared = prepare(scn, progress=reporter.stage)
            reporter.stage("model")
            comp = compare(
                scn, budgets, out, nested=nested, phases=phases, workers=workers,
                scheduler=scheduler, progress=show, prepared=prepared,
            )  # fmt: skip
    except SitingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        exit_interrupted(f"stopped after {time.perf_counter() - t0:.1f} s; no output written")
    for note in comp.warnings:
        typer.echo(f"note: {note}", err=True)
    typer.echo(
        f"wrote {comp.out_dir} ({len(comp.runs)} {'phases' if comp.mode == 'phases' else 'budgets'}"
        f", {comp.seconds['total']:.1f} s): comparison.csv, budget_curve.png, comparison.html"
    )
