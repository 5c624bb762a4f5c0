"""The plug-level (service-level) covering model against brute force on small instances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from siting import queueing as Q
from siting.models.plug_levels import (
    level_budget_bound,
    max_coverage_levels,
)


def served_for_levels(cov, w, load, cap, plugs) -> float:
    """Most demand served with these plug counts: an LP over split assignments (independent)."""
    n_d, n_s = cov.shape
    pairs = [(i, j) for i in range(n_d) for j in range(n_s) if cov[i, j] and plugs[j] > 0]
    if not pairs:
        return 0.0
    rows, rhs = [], []
    for i in range(n_d):  # each point served at most once
        rows.append([1.0 if p[0] == i else 0.0 for p in pairs])
        rhs.append(1.0)
    for j in range(n_s):  # hour capacity of each site
        for h in range(load.shape[1]):
            rows.append([load[p[0], h] if p[1] == j else 0.0 for p in pairs])
            rhs.append(cap[j, plugs[j]])
    res = linprog(
        -np.array([w[p[0]] for p in pairs]),
        A_ub=np.array(rows),
        b_ub=np.array(rhs),
        bounds=(0, 1),
        method="highs",
    )
    assert res.status == 0
    return -float(res.fun)


def brute_force(cov, w, load, cap, site_cost, plug_cost, budget, mmax, ex, built, draw, limit):
    n_s = cov.shape[1]
    best = 0.0
    choices = []
    for j in range(n_s):
        if built[j]:
            choices.append(range(ex[j], mmax[j] + 1))  # built sites stay open, plugs stay
        else:
            choices.append([0, *range(1, mmax[j] + 1)])
    for plugs in itertools.product(*choices):
        plugs = np.array(plugs)
        open_ = (plugs > 0) | built
        new = np.maximum(plugs - ex, 0) * open_
        cost = site_cost[open_ & ~built].sum() + plug_cost @ new
        if cost > budget + 1e-6:
            continue
        if draw is not None and (draw @ new > limit + 1e-9).any():
            continue
        best = max(best, served_for_levels(cov, w, load, cap, plugs))
    return best


def instance(seed: int, *, n_d=7, n_s=4, n_h=2, c_max=3, grid=False, built=False):
    rng = np.random.default_rng(seed)
    cov = rng.random((n_d, n_s)) < 0.5
    cov[np.arange(n_d), rng.integers(0, n_s, n_d)] = True
    w = rng.integers(1, 40, n_d).astype(float)
    prof = rng.dirichlet(np.ones(n_h), size=n_d) * rng.uniform(0.3, 1.0, (n_d, 1))
    load = w[:, None] * prof / 10.0  # kW-like load per kept hour
    lv = Q.ServiceLevel("p_wait", alpha=float(rng.choice([0.1, 0.3])))
    cap = np.tile(Q.max_load_table(c_max, lv) * 2.0, (n_s, 1))  # 2 kW per Erlang
    site_cost = rng.integers(2, 6, n_s).astype(float)
    plug_cost = np.full(n_s, 1.0)
    mmax = rng.integers(1, c_max + 1, n_s)
    ex = np.zeros(n_s, dtype=np.int64)
    is_built = np.zeros(n_s, dtype=bool)
    if built:
        is_built[0] = True
        ex[0] = min(1, mmax[0])
        site_cost[0] = 0.0
    draw = limit = None
    if grid:
        draw = np.zeros((1, n_s))
        draw[0, : n_s // 2 + 1] = 1.0
        limit = np.array([float(rng.integers(1, 4))])
    budget = float(rng.integers(5, 16))
    return cov, w, load, cap, site_cost, plug_cost, budget, mmax, ex, is_built, draw, limit


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(
    ("grid", "built"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_level_model_equals_brute_force(seed, grid, built):
    cov, w, load, cap, sc, pc, budget, mmax, ex, is_built, draw, limit = instance(
        seed, grid=grid, built=built
    )
    sol = max_coverage_levels(
        sp.csr_matrix(cov),
        w,
        sc,
        budget,
        level_capacity=cap,
        load=load,
        module_cost=pc,
        max_modules=mmax,
        existing_modules=ex,
        required=is_built,
        group_draw=None if draw is None else sp.csr_matrix(draw),
        group_limit=limit,
    )
    best = brute_force(cov, w, load, cap, sc, pc, budget, mmax, ex, is_built, draw, limit)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(best, rel=1e-6, abs=1e-6)
    # the plan itself respects budget, levels and the feeder headroom
    plugs = np.zeros(cov.shape[1], dtype=int)
    plugs[sol.open] = sol.details["modules"]
    assert sol.details["spent"] <= budget + 1e-6
    assert (plugs <= mmax).all() and (plugs[is_built] >= ex[is_built]).all()
    if draw is not None:
        assert draw @ np.maximum(plugs - ex, 0) <= limit + 1e-9
    # every site meets the service level in every hour with the demand it serves
    flows = sol.details["flows"].toarray()
    for j in sol.open:
        for h in range(load.shape[1]):
            assert flows[:, j] @ load[:, h] <= cap[j, plugs[j]] + 1e-6


def test_one_mix_is_solved_by_the_greedy_plan_and_its_bound():
    """Demand far above what the budget buys, one segment mix: the knapsack bound proves the
    greedy plan optimal without a branch-and-bound search (and the plan meets that bound)."""
    rng = np.random.default_rng(3)
    n_d, n_s = 200, 30
    cov = sp.csr_matrix(np.ones((n_d, n_s), dtype=bool))
    w = rng.uniform(50, 100, n_d)
    load = w[:, None] * 0.1
    cap = Q.max_load_table(10, Q.ServiceLevel("p_wait", alpha=0.2)) * 60.0
    sol = max_coverage_levels(cov, w, np.full(n_s, 10.0), 40.0, level_capacity=cap, load=load,
                              module_cost=1.0)  # fmt: skip
    assert sol.status == "optimal"
    assert "capacity bound" in sol.message
    assert sol.objective == pytest.approx(sol.details["capacity_bound"], rel=1e-6)
    # two sites with 10 plugs each is what 40 CNY buys at best (pooling favours big sites)
    assert sorted(sol.details["modules"].tolist()) == [10, 10]


def test_level_budget_bound_is_a_knapsack_over_levels():
    # two identical sites, levels 1..3 worth 1, 3, 6; site 5 CNY, plug 1 CNY, budget 14
    value = np.array([[0.0, 1.0, 3.0, 6.0]] * 2)
    ub = level_budget_bound(
        14.0, np.array([5.0, 5.0]), np.array([1.0, 1.0]), value, np.array([1, 1]),
        np.array([3, 3]), np.zeros(2, dtype=np.int64), np.zeros(2, bool), np.zeros(2, bool),
    )  # fmt: skip
    # best: one site with 3 plugs (8 CNY, worth 6) + one with 1 plug (6 CNY, worth 1) = 7
    assert ub == pytest.approx(7.0, rel=1e-6)


def test_daily_energy_is_the_one_hour_special_case():
    cov = sp.csr_matrix(np.ones((3, 2), dtype=bool))
    w = np.array([100.0, 100.0, 100.0])
    cap = np.array([0.0, 195.0, 390.0])  # linear: 195 kWh per plug per day
    sol = max_coverage_levels(cov, w, [1.0, 1.0], 2.0, level_capacity=cap, module_cost=1.0)
    # 2 CNY buys one site (1) and one plug (1): 195 of the 300 kWh/day
    assert sol.objective == pytest.approx(195.0)
    sol = max_coverage_levels(cov, w, [1.0, 1.0], 3.0, level_capacity=cap, module_cost=1.0)
    assert sol.objective == pytest.approx(300.0)  # two plugs take all 300 (cap 390)


def test_level_component_in_a_joint_model_reads_back_the_same_plan():
    from siting.models._milp import MilpBuilder, solve_milp
    from siting.models.plug_levels import add_level_component, level_details

    cov, w, load, cap, sc, pc, budget, mmax, *_ = instance(5)
    alone = max_coverage_levels(sp.csr_matrix(cov), w, sc, budget, level_capacity=cap, load=load,
                                module_cost=pc, max_modules=mmax)  # fmt: skip
    b = MilpBuilder("joint", "max")
    h = add_level_component(b, sp.csr_matrix(cov), w, sc, level_capacity=cap, load=load,
                            module_cost=pc, max_modules=mmax)  # fmt: skip
    b.add_rows("budget", 1, np.zeros(h.budget_cols.size), h.budget_cols, h.budget_coefs,
               upper=budget)  # fmt: skip
    res = solve_milp(b.build())
    d = level_details(h, res.x)
    assert d["served"].sum() == pytest.approx(alone.objective, rel=1e-6)
    assert d["assignment_matrix"].shape == (cov.shape[0], d["open"].size)
