"""Plan stage: prepare once / solve many, and the model's answer vs brute force on a real case."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linprog

from siting import plan as plan_mod
from siting.scenario import load_scenario

SMALL = Path(__file__).parent / "data" / "scenarios" / "small.yaml"


@pytest.fixture(scope="module")
def prepared():
    return plan_mod.prepare(load_scenario(SMALL))


def _subset(prep, idx, **set_cols):
    """A Prepared restricted to candidates ``idx`` (optionally overriding candidate columns)."""
    cands = prep.candidates.iloc[idx].reset_index(drop=True)
    for col, val in set_cols.items():
        cands[col] = val
    return replace(prep, candidates=cands, travel=prep.travel[:, idx].tocsr())


def test_prepare_outputs_follow_the_contracts(prepared):
    dem, cands, tt = prepared.demand, prepared.candidates, prepared.travel
    assert tt.shape == (len(dem), len(cands))
    assert {"cell", "population", "kwh_per_day", "node", "kwh_taxi"} <= set(dem.columns)
    assert {"site_id", "kind", "source", "status", "fixed_cost_cny", "node"} <= set(cands.columns)
    assert (tt.data > 0).all() and tt.data.max() <= 3.0
    assert set(prepared.timings) == {"network", "demand", "candidates", "travel", "sizing"}


def test_plan_has_summary_keys_sites_and_required_built_sites(prepared):
    plan = plan_mod.solve_prepared(prepared)
    keys = {"scenario", "status", "objective", "mip_gap", "solve_seconds", "total_seconds",
            "budget_cny", "spent_cny", "demand_covered_share", "sites_by_kind", "n_candidates",
            "n_demand_cells", "data_sources", "district_population"}  # fmt: skip
    assert keys <= set(plan.summary)
    ids = set(plan.sites["site_id"])
    assert {"existing_1", "req_1"} <= ids  # built and required sites are open
    assert plan.summary["spent_cny"] <= plan.budget_cny + 1e-6
    s = plan.sites.set_index("site_id")
    assert s.loc["existing_1", "plugs"] >= 4
    assert np.allclose(s["capacity_kw"], s["plugs"] * 120)
    assert (plan.demand["served_kwh"] <= plan.demand["kwh_per_day"] + 1e-6).all()
    assert plan.demand["served_kwh"].sum() == pytest.approx(plan.sites["demand_served"].sum())
    assert plan.summary["demand_covered_share"] == pytest.approx(
        plan.demand["served_kwh"].sum() / plan.demand["kwh_per_day"].sum(), abs=1e-5
    )
    assert {d["district_code"] for d in plan.summary["district_population"]} == {
        "110101",
        "110102",
    }


def test_budget_override_keep_open_and_warm_start(prepared):
    big = plan_mod.solve_prepared(prepared, budget_cny=6_000_000)
    small = plan_mod.solve_prepared(prepared, budget_cny=2_000_000)
    assert big.summary["objective"] >= small.summary["objective"] - 1e-6
    keep = [s for s in small.sites["site_id"]]
    nested = plan_mod.solve_prepared(prepared, 6_000_000, keep_open=keep, warm_start=keep)
    assert set(keep) <= set(nested.sites["site_id"])


def _covered_weight(tt, w, open_idx):
    if not open_idx:
        return 0.0
    return float(w[np.asarray(tt[:, list(open_idx)].sum(axis=1)).ravel() > 0].sum())


def test_uncapacitated_answer_equals_brute_force(prepared):
    # plugs free and huge: the model is pure maximal coverage under a budget on fixed costs
    rng = np.random.default_rng(3)
    gen = np.flatnonzero(prepared.candidates["source"].to_numpy() == "generated")
    idx = np.sort(rng.choice(gen, 9, replace=False))
    fixed = rng.choice([1.0, 2.0, 3.0], size=9) * 1e6
    sub = _subset(prepared, idx, fixed_cost_cny=fixed, plug_cost_cny=0.0,
                  kwh_per_plug_day=1e9, max_plugs=1, status="optional")  # fmt: skip
    w = sub.demand["kwh_per_day"].to_numpy()
    for budget in (2e6, 4e6, 6e6):
        best = max(
            _covered_weight(sub.travel, w, S)
            for r in range(10)
            for S in itertools.combinations(range(9), r)
            if fixed[list(S)].sum() <= budget
        )
        plan = plan_mod.solve_prepared(sub, budget)
        assert plan.summary["status"] == "optimal"
        assert plan.summary["objective"] == pytest.approx(best, rel=1e-6)
        assert plan.summary["served_kwh_per_day"] == pytest.approx(best, rel=1e-6)


def _best_split(tt, w, cap):
    """Max demand served with capacities ``cap`` (split assignment), by LP."""
    coo = tt.tocoo()
    keep = cap[coo.col] > 0
    r, c = coo.row[keep], coo.col[keep]
    if len(r) == 0:
        return 0.0
    n, m, k = tt.shape[0], tt.shape[1], len(r)
    A = np.zeros((n + m, k))
    A[r, np.arange(k)] = 1
    A[n + c, np.arange(k)] = 1
    res = linprog(-np.ones(k), A_ub=A, b_ub=np.concatenate([w, cap]), bounds=(0, None))
    return -res.fun


@pytest.mark.slow
def test_capacitated_answer_equals_brute_force_over_plug_counts(prepared):
    rng = np.random.default_rng(5)
    gen = np.flatnonzero(prepared.candidates["source"].to_numpy() == "generated")
    idx = np.sort(rng.choice(gen, 6, replace=False))
    per_plug = 2000.0
    sub = _subset(prepared, idx, fixed_cost_cny=1e6, plug_cost_cny=2e5,
                  kwh_per_plug_day=per_plug, max_plugs=2, status="optional")  # fmt: skip
    w = sub.demand["kwh_per_day"].to_numpy()
    for budget in (1.4e6, 2.6e6, 3.8e6):
        best = 0.0
        for plugs in itertools.product(range(3), repeat=6):
            p = np.array(plugs)
            cost = 1e6 * (p > 0).sum() + 2e5 * p.sum()
            if cost <= budget:
                best = max(best, _best_split(sub.travel, w, per_plug * p))
        plan = plan_mod.solve_prepared(sub, budget)
        assert plan.summary["objective"] == pytest.approx(best, rel=1e-6)
