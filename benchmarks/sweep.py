"""Cost of a budget sweep against one solve of its largest budget (issue 6 target: <= 2.5x).

Usage::

    python benchmarks/sweep.py                       # default scenario, 10M:200M:10
    python benchmarks/sweep.py --scenario scenarios/beijing_fast_charging.yaml \
        --budgets 10M:200M:10 --workers 2

Measures, on one prepared scenario (network, demand, candidates and travel are built once):

* ``single``: one cold solve of the largest budget (model build + HiGHS + plan assembly);
* ``sweep_warm``: the free sweep as ``siting compare`` runs it (increasing budgets, each solve
  warm-started from the previous plan), no output writing;
* ``sweep_cold``: the same budgets solved independently, without warm starts;
* with ``--workers N``: the free sweep in a process pool, once shipping the prepared scenario to
  each worker and once letting each worker prepare it again (pool start-up included).

Prints one line per measurement and the ratios ``sweep / single``. Times are wall-clock seconds
(best of ``--repeat``). Prepare time is printed separately: a sweep and a single ``siting run``
both pay it once.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import time
from pathlib import Path

from siting import compare as cmp
from siting._budgets import parse_budgets
from siting.plan import prepare, solve_prepared
from siting.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def _best(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "beijing_fast_charging.yaml"))
    ap.add_argument("--budgets", default="10M:200M:10")
    ap.add_argument("--workers", type=int, default=0, help="also time a process-pool sweep")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-cold", action="store_true", help="skip the sweep without warm starts")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    scn = load_scenario(args.scenario)
    budgets = parse_budgets(args.budgets)
    print(f"command: python benchmarks/sweep.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"python {platform.python_version()}"
    )
    t_prep, prepared = _best(lambda: prepare(scn), 1)
    print(
        f"scenario: {scn.name}; {len(prepared.demand)} demand cells, "
        f"{len(prepared.candidates)} candidates, {prepared.travel.nnz} reachable pairs; "
        f"time limit {scn.solver.time_limit_s} s, mip_gap {scn.solver.mip_gap}"
    )
    print(f"budgets: {len(budgets)} ({', '.join(cmp.budget_labels(budgets))})")
    print(f"prepare: {t_prep:.2f} s")

    t_single, plan = _best(lambda: solve_prepared(prepared, budgets[-1]), args.repeat)
    print(
        f"single (largest budget, cold): {t_single:.2f} s  [{plan.solution.status}, "
        f"solver {plan.solution.seconds:.2f} s, objective {plan.solution.objective:.6g}]"
    )

    t_warm, comp = _best(lambda: cmp.compare(scn, budgets, None, prepared=prepared), args.repeat)
    t = comp.table
    print(
        f"sweep_warm ({len(budgets)} budgets): {t_warm:.2f} s  [solver total "
        f"{t['solve_seconds'].sum():.2f} s; statuses {dict(t['status'].value_counts())}]"
    )
    print(f"ratio sweep_warm / single = {t_warm / t_single:.2f}  (target <= 2.5)")
    print(
        f"with prepare paid once on each side (siting compare vs siting run): "
        f"{(t_prep + t_warm) / (t_prep + t_single):.2f}"
    )
    for row in t.itertuples():
        print(
            f"  {row.budget_cny / 1e6:8.2f}M  {row.status:10s} gap {row.mip_gap:.1e}  "
            f"covered {row.demand_covered_share:.4f}  objective {row.objective:10.6g}  "
            f"solver {row.solve_seconds:6.2f} s"
        )

    if not args.no_cold:

        def cold():
            return [solve_prepared(prepared, b) for b in budgets]

        t_cold, plans = _best(cold, args.repeat)
        same = all(
            abs(p.solution.objective - r) <= 1e-6 * max(1.0, abs(r))
            for p, r in zip(plans, t["objective"], strict=True)
        )
        print(
            f"sweep_cold (no warm starts): {t_cold:.2f} s; ratio {t_cold / t_single:.2f}; "
            f"same objectives as warm: {same}"
        )

    if args.workers > 1:
        for ship in (True, False):
            tw, _ = _best(
                lambda ship=ship: cmp.compare(
                    scn, budgets, None, workers=args.workers, prepared=prepared, ship_prepared=ship
                ),
                args.repeat,
            )
            how = "prepared shipped to workers" if ship else "each worker prepares"
            print(
                f"sweep_pool (workers={args.workers}, {how}): {tw:.2f} s; ratio {tw / t_single:.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
