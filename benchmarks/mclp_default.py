"""Classic maximal covering (MCLP) on the default Beijing instance: siting vs spopt on HiGHS.

Run from the repository root::

    python benchmarks/mclp_default.py                      # p = 10, 15, 20, 25, 30
    python benchmarks/mclp_default.py --p 10 20 --milp     # also the compact MILP in HiGHS
    python benchmarks/mclp_default.py --benders            # also the Benders root-LP cut loop

The instance is the one ``siting run scenarios/beijing_fast_charging.yaml`` builds (network,
H3 demand cells, candidates, travel times): a cell is covered by a candidate within the
scenario's ``max_travel_min`` (10 minutes), weights are the cells' kWh/day, and at most ``p``
sites open (no budget, no plug modules: the textbook MCLP of Church & ReVelle).

For each ``p`` the script solves it with

* **siting**: ``siting.models.max_coverage`` (the default method: exact reduction, greedy + swap,
  LP/Lagrangean bounds with reduced-cost fixing, branch-and-bound; ``siting/models/mclp.py``);
* **spopt**: ``spopt.locate.MCLP.from_cost_matrix`` solved with PuLP's HiGHS interface (the
  same HiGHS as siting uses), from the dense demand × candidate minutes matrix;
* optionally (``--milp``) siting's compact MILP handed to HiGHS (``method="milp"``), the path
  before this change;

and prints CSV ``p,siting_s,spopt_s,ratio,siting_objective,spopt_objective,same,siting_status,
spopt_status[,milp_s,milp_objective]`` (ratio = spopt_s / siting_s, same = objectives equal to
1e-9 relative), then ``# key: value`` lines on stderr: totals, the machine load (``uptime``) and
the command. Both times include building the model from the matrix. ``--benders`` also times the
root LP bound of the reduced instance two ways: the compact LP (what siting uses) and a Benders
cut loop (Cordeau, Furini & Ljubić 2019: master over the sites and one variable for the covered
weight, closed-form cuts from the LP subproblem, in-out stabilisation).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "beijing_fast_charging.yaml"


def note(key: str, value: object) -> None:
    print(f"# {key}: {value}", file=sys.stderr, flush=True)


def load_instance(scenario: Path) -> tuple[sp.csr_matrix, np.ndarray, float]:
    """Travel minutes (demand × candidate, sparse), kWh/day per cell, and the reach (minutes)."""
    from siting import plan
    from siting.scenario import load_scenario

    scn = load_scenario(scenario)
    prepared = plan.prepare(scn)
    w = prepared.demand["kwh_per_day"].to_numpy(float)
    return prepared.travel.tocsr(), w, float(scn.coverage.max_travel_min)


def ours(tt: sp.csr_matrix, w: np.ndarray, p: int, method: str) -> tuple[float, float, str]:
    from siting.models import max_coverage

    t = time.perf_counter()
    cov = tt > 0
    n_s = tt.shape[1]
    sol = max_coverage(cov, w, np.ones(n_s), None, p, method=method)
    return sol.objective, time.perf_counter() - t, sol.status


def spopt_mclp(dense: np.ndarray, w: np.ndarray, reach: float, p: int) -> tuple[float, float, str]:
    import pulp
    from spopt.locate import MCLP

    t = time.perf_counter()
    model = MCLP.from_cost_matrix(dense, w, reach, p_facilities=p)
    model = model.solve(pulp.HiGHS(msg=False))
    seconds = time.perf_counter() - t
    status = pulp.LpStatus[model.problem.status]
    return float(pulp.value(model.problem.objective)), seconds, status


def benders_root(tt: sp.csr_matrix, w: np.ndarray, p: int) -> tuple[float, int, float, float]:
    """Root LP bound of the reduced instance by a stabilised Benders cut loop.

    Master: ``max theta`` s.t. ``sum y <= p``, ``0 <= y <= 1`` and the cuts; for a point ``y*``
    the LP subproblem ``max sum_g w_g u_g, u_g <= min(1, sum_{j in N(g)} y_j)`` has the
    closed-form optimal dual giving the cut ``theta <= sum_{g: cover(y*) >= 1} w_g +
    sum_j y_j sum_{g in N(j): cover(y*) < 1} w_g``. Separation points follow the in-out rule
    (half-way between the master's point and a core point that moves to the best point seen).
    Returns (bound, iterations, seconds, compact LP seconds).
    """
    import highspy

    from siting.models._milp import new_highs
    from siting.models.mclp import _LpBound, reduce_instance

    n_s = tt.shape[1]
    none = np.zeros(n_s, bool)
    r = reduce_instance(tt > 0, w, np.ones(n_s), np.inf, p, none, none)
    t = time.perf_counter()
    lp = _LpBound(r)
    lp.solve(np.zeros(r.cost.size), np.ones(r.cost.size))
    compact_s = time.perf_counter() - t

    t = time.perf_counter()
    S, ST, wg = r.S, r.S.T.tocsr(), r.weight
    n = r.cost.size

    def cut(y: np.ndarray) -> tuple[float, np.ndarray, float]:
        level = ST @ y
        full = level >= 1 - 1e-9
        return float(wg[full].sum()), S @ (wg * ~full), float(wg @ np.minimum(level, 1.0))

    h = new_highs()
    inf = h.getInfinity()
    h.addVars(n, np.zeros(n), np.ones(n))
    h.addVar(0.0, float(wg.sum()))
    h.changeColCost(n, 1.0)
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    h.addRow(-inf, float(r.p), n, np.arange(n, dtype=np.int32), np.ones(n))
    core = np.full(n, r.p / n)
    y = core.copy()
    best_in, upper, it = 0.0, np.inf, 0
    while it < 5000 and not upper - best_in <= 1e-7 * max(best_in, 1.0):
        it += 1
        sep = 0.5 * y + 0.5 * core
        const, coef, val = cut(sep)
        best_in = max(best_in, val)
        idx = np.flatnonzero(coef > 0)
        h.addRow(-inf, const, idx.size + 1, np.append(idx, n).astype(np.int32),
                 np.append(-coef[idx], 1.0))  # fmt: skip
        h.run()
        sol = np.asarray(h.getSolution().col_value)
        y, upper = sol[:n], float(sol[n])
        real = cut(y)[2]
        if real > best_in:
            best_in, core = real, y.copy()
        else:
            core = 0.5 * core + 0.5 * sep
    return r.base + upper, it, time.perf_counter() - t, compact_s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", type=Path, default=SCENARIO)
    ap.add_argument("--p", type=int, nargs="+", default=[10, 15, 20, 25, 30])
    ap.add_argument("--milp", action="store_true", help="also time siting's compact MILP")
    ap.add_argument("--benders", action="store_true", help="also time the Benders root LP")
    ap.add_argument("--no-spopt", action="store_true", help="skip spopt")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    t = time.perf_counter()
    tt, w, reach = load_instance(a.scenario)
    note("instance", f"{tt.shape[0]} cells × {tt.shape[1]} candidates, {tt.nnz} pairs within "
         f"{reach:g} min, prepared in {time.perf_counter() - t:.2f} s")  # fmt: skip
    dense = np.where(tt.toarray() > 0, tt.toarray(), 1e9)  # beyond the reach: never covered

    cols = "p,siting_s,spopt_s,ratio,siting_objective,spopt_objective,same,siting_status,"
    cols += "spopt_status" + (",milp_s,milp_objective" if a.milp else "")
    print(cols, flush=True)
    tot_ours = tot_spopt = 0.0
    all_same = True
    for p in a.p:
        o_obj, o_s, o_st = ours(tt, w, p, "auto")
        if a.no_spopt:
            s_obj, s_s, s_st = float("nan"), float("nan"), "skipped"
        else:
            s_obj, s_s, s_st = spopt_mclp(dense, w, reach, p)
        same = abs(o_obj - s_obj) <= 1e-9 * max(abs(s_obj), 1.0)
        all_same &= bool(same)
        tot_ours += o_s
        tot_spopt += s_s
        row = f"{p},{o_s:.3f},{s_s:.3f},{s_s / o_s:.1f},{o_obj:.6f},{s_obj:.6f},{same},"
        row += f"{o_st},{s_st}"
        if a.milp:
            m_obj, m_s, _ = ours(tt, w, p, "milp")
            row += f",{m_s:.3f},{m_obj:.6f}"
        print(row, flush=True)
    note("siting total s", f"{tot_ours:.2f}")
    note("spopt (HiGHS) total s", f"{tot_spopt:.2f}")
    note("total time ratio spopt/siting", f"{tot_spopt / tot_ours:.1f}")
    note("objectives equal on every p", all_same)
    if a.benders:
        for p in a.p:
            bound, it, b_s, c_s = benders_root(tt, w, p)
            note(f"root LP bound p={p}", f"{bound:.6f}: compact LP {c_s:.3f} s, Benders cut loop "
                 f"{b_s:.3f} s ({it} cuts)")  # fmt: skip
    note("load (uptime)", os.popen("uptime").read().strip())
    note("command", "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
