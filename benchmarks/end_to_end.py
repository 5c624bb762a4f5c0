"""Time every stage of the default scenario, and how the stages scale with problem size.

Run from the repository root::

    python benchmarks/end_to_end.py                 # default scenario + scaling table
    python benchmarks/end_to_end.py --no-scaling    # default scenario only
    python benchmarks/end_to_end.py --markdown      # tables as Markdown (for the README)

Part 1 runs ``scenarios/beijing_fast_charging.yaml`` exactly as ``siting run`` does (load,
network, demand, candidates, travel, model, plan, outputs into a temporary folder) and prints the
seconds per stage, the peak resident memory of the process (``resource.getrusage`` maxrss) and the
solver status.

Part 2 varies the size on the same embedded network: demand cells through the H3 resolution
(7 → 10) and candidates through the spacing (2000 m on major roads → 50 m on all drivable roads;
candidates are graph nodes, so the embedded graph caps them at about 20 000). Sizes beyond that are
reached by replicating the candidate set (each site copied with a different fixed cost), which
grows the travel matrix and the model but not the network. Every model solve has the time limit
given by ``--time-limit``; a ``time_limit`` status means the best plan found by then.
"""

from __future__ import annotations

import argparse
import gc
import logging
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "beijing_fast_charging.yaml"
ALL_DRIVABLE = [
    "motorway", "trunk", "primary", "secondary", "tertiary", "unclassified", "residential",
    "motorway_link", "trunk_link", "primary_link", "secondary_link", "tertiary_link",
    "living_street", "road",
]  # fmt: skip


def peak_mb() -> float:
    """Peak resident memory of this process so far (MB; Linux reports maxrss in KB)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != "darwin" else rss / 2**20


def default_run(time_limit: float | None) -> dict[str, Any]:
    """Run the default scenario stage by stage; return seconds per stage and facts."""
    from siting import plan as plan_mod
    from siting.scenario import load_scenario

    t = {}
    t0 = time.perf_counter()
    scn = load_scenario(SCENARIO)
    t["load scenario"] = time.perf_counter() - t0
    if time_limit is not None:
        scn.solver.time_limit_s = time_limit
    prepared = plan_mod.prepare(scn)
    t.update(prepared.timings)
    plan = plan_mod.solve_prepared(prepared)
    t["model"] = plan.timings["model"]
    t["plan"] = plan.timings["plan"]
    t1 = time.perf_counter()
    try:
        from siting import report
    except ImportError:
        report = None
    if report is not None:
        with tempfile.TemporaryDirectory() as tmp:
            report.write_outputs(plan, Path(tmp) / "out")
        t["outputs"] = time.perf_counter() - t1
    t["total"] = time.perf_counter() - t0
    return {
        "times": t,
        "plan": plan,
        "prepared": prepared,
        "status": plan.solution.status,
        "gap": plan.solution.gap,
        "cells": len(prepared.demand),
        "candidates": len(prepared.candidates),
        "pairs": prepared.travel.nnz,
        "sites": len(plan.sites),
        "served": plan.summary["demand_covered_share"],
        "peak_mb": peak_mb(),
    }


def model_size(prepared: Any, budget: float) -> dict[str, Any]:
    """Rows, columns, nonzeros and binaries of the service-level model the default run solves."""
    from siting.demand_kinds import area_demand
    from siting.models.plug_levels import build_max_coverage_levels

    c = prepared.candidates
    st = c["status"].to_numpy()
    milp = build_max_coverage_levels(
        prepared.travel, prepared.demand["kwh_per_day"].to_numpy(float),
        c["fixed_cost_cny"].to_numpy(float), budget, required=(st == "required") | (st == "built"),
        forbidden=st == "forbidden", **area_demand._level_arrays(prepared),
    )  # fmt: skip
    return {
        "rows": milp.num_rows, "cols": milp.num_cols, "nonzeros": int(milp.A.nnz),
        "binaries": int(milp.integer.sum()),
        "blocks": {b.name: b.stop - b.start for b in milp.var_blocks},
        "kept_hours": [int(h) for h in prepared.sizing.hours],
    }  # fmt: skip


def flat_rule_reference(prepared: Any) -> tuple[float, Any]:
    """The same prepared scenario solved with the flat ``daily_energy`` rule (the old model)."""
    from dataclasses import replace

    from siting import plan as plan_mod

    scn = prepared.scenario.model_copy(deep=True)
    scn.sizing.rule = "daily_energy"
    t0 = time.perf_counter()
    plan = plan_mod.solve_prepared(replace(prepared, scenario=scn))
    return time.perf_counter() - t0, plan


def _replicate(prepared: Any, factor: int) -> Any:
    """Candidate set copied ``factor`` times (fixed cost +1 % per copy), travel columns tiled."""
    import scipy.sparse as sp

    if factor == 1:
        return prepared
    c = prepared.candidates
    parts = []
    for k in range(factor):
        cc = c.copy()
        cc["site_id"] = cc["site_id"] + f"#{k}"
        cc["fixed_cost_cny"] = cc["fixed_cost_cny"] * (1 + 0.01 * k)
        parts.append(cc)
    rep = type(prepared)(**{**prepared.__dict__})
    rep.candidates = pd.concat(parts, ignore_index=True)
    rep.travel = sp.hstack([prepared.travel] * factor).tocsr()
    return rep


def scaling(time_limit: float, light: bool = False) -> pd.DataFrame:
    """Stage seconds for growing numbers of demand cells and candidates."""
    from siting import plan as plan_mod
    from siting.scenario import load_scenario

    rows = []
    cases = [
        # (label, h3 resolution, spacing m, road classes, replication)
        ("cells res 7", 7, 1000, None, 1),
        ("cells res 8 (default)", 8, 1000, None, 1),
        ("cells res 9", 9, 1000, None, 1),
        ("cells res 10", 10, 1000, None, 1),
        ("cands 2000 m major", 8, 2000, None, 1),
        ("cands 500 m major", 8, 500, None, 1),
        ("cands 250 m all roads", 8, 250, ALL_DRIVABLE, 1),
        ("cands 100 m all roads", 8, 100, ALL_DRIVABLE, 1),
        ("cands 50 m all roads", 8, 50, ALL_DRIVABLE, 1),
        ("cands 50 m all × 5", 8, 50, ALL_DRIVABLE, 5),
        ("res 10 + 100 m all", 10, 100, ALL_DRIVABLE, 1),
    ]
    if light:  # the two cases that need more than 3 GB
        cases = cases[:-2]
    for label, res, spacing, classes, factor in cases:
        scn = load_scenario(SCENARIO)
        scn.demand.h3_resolution = res
        scn.candidates.spacing_m = spacing
        if classes:
            scn.candidates.road_classes = classes
        scn.solver.time_limit_s = time_limit
        gc.collect()
        prepared = _replicate(plan_mod.prepare(scn), factor)
        t0 = time.perf_counter()
        if factor > 1:
            from siting import travel

            travel.travel_times(
                prepared.arrays,
                prepared.demand["node"].to_numpy(),
                prepared.candidates["node"].to_numpy(),
                scn.coverage.max_travel_min,
            )
            prepared.timings["travel"] = time.perf_counter() - t0
        plan = plan_mod.solve_prepared(prepared)
        rows.append(
            {
                "case": label,
                "demand cells": len(prepared.demand),
                "candidates": len(prepared.candidates),
                "pairs ≤ limit": prepared.travel.nnz,
                "demand s": round(prepared.timings["demand"], 2),
                "candidates s": round(prepared.timings["candidates"], 2),
                "travel s": round(prepared.timings["travel"], 2),
                "model s": round(plan.timings["model"], 2),
                "status": plan.solution.status,
                "gap": f"{plan.solution.gap:.1e}" if np.isfinite(plan.solution.gap) else "-",
                "peak MB": round(peak_mb()),
            }
        )
        logging.getLogger("bench").warning("%s", rows[-1])
    return pd.DataFrame(rows)


def _markdown(t) -> str:
    """A pandas table as a Markdown table (no optional ``tabulate`` dependency)."""
    cols = [str(t.index.name or "")] + [str(c) for c in t.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for idx, row in t.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in row]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line (see module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-scaling", action="store_true", help="default scenario only")
    ap.add_argument("--time-limit", type=float, default=60.0, help="solver limit, scaling (s)")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables")
    ap.add_argument("--light", action="store_true", help="skip the two scaling cases > 3 GB")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    cmd = "python benchmarks/end_to_end.py" + (" --no-scaling" if args.no_scaling else "")
    print(f"# reproduce: {cmd}")
    print(f"# machine: {platform.platform()}, python {platform.python_version()}")
    res = default_run(None)
    t = pd.Series(res["times"]).round(2).rename("seconds").to_frame()
    print(f"\nDefault scenario {SCENARIO.relative_to(ROOT)}:")
    print(_markdown(t) if args.markdown else t.to_string())
    print(
        f"demand cells {res['cells']}, candidates {res['candidates']}, pairs within the limit "
        f"{res['pairs']}, status {res['status']} (gap {res['gap']:.1e}), {res['sites']} sites, "
        f"{res['served']:.1%} of demand served; peak memory {res['peak_mb']:.0f} MB"
    )
    plan, prepared = res["plan"], res["prepared"]
    s = plan.summary
    print(f"sizing {prepared.scenario.sizing.rule}: {s.get('service_level')}")
    print(f"proof: {plan.solution.message}; binding limit {s.get('binding_limit')}: "
          f"{s.get('binding_limit_detail')}")  # fmt: skip
    print(f"plugs per site (plugs: sites): {s.get('plugs_per_site')}")
    if prepared.scenario.sizing.rule == "service_level":
        print(f"model size: {model_size(prepared, plan.budget_cny)}")
        t_flat, flat = flat_rule_reference(prepared)
        t_lv = res["times"]["model"] + res["times"]["plan"]
        print(
            f"reference, same run: flat daily_energy rule model+plan {t_flat:.2f} s "
            f"({flat.solution.status}, {flat.summary['demand_covered_share']:.1%} served, "
            f"{len(flat.sites)} sites); service level / flat = {t_lv / max(t_flat, 1e-9):.2f}x"
        )
    if not args.no_scaling:
        df = scaling(args.time_limit, args.light)
        print(f"\nScaling (solver time limit {args.time_limit:.0f} s):")
        table = (
            _markdown(df.set_index(df.columns[0])) if args.markdown else df.to_string(index=False)
        )
        print(table)
        print(f"peak memory over all runs: {peak_mb():.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
