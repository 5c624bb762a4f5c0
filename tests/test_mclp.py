"""The exact maximal-covering solver (siting.models.mclp) against brute force and the MILP."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from siting.models import max_coverage
from siting.models.mclp import greedy_plan, improve_plan, plan_value, reduce_instance


@st.composite
def instances(draw):
    """Small instances with repeated rows and columns (to exercise merging and dominance)."""
    n = draw(st.integers(1, 9))
    m = draw(st.integers(1, 8))
    cov = np.array(draw(st.lists(st.booleans(), min_size=n * m, max_size=n * m))).reshape(n, m)
    if draw(st.booleans()) and m > 1:
        cov[:, -1] = cov[:, 0]  # a duplicate site
    if draw(st.booleans()) and n > 1:
        cov[-1] = cov[0]  # a duplicate demand point
    w = np.array(draw(st.lists(st.integers(0, 9), min_size=n, max_size=n)), dtype=float)
    w *= draw(st.sampled_from([1.0, 0.37, 1234.5]))
    cost = np.array(draw(st.lists(st.integers(0, 5), min_size=m, max_size=m)), dtype=float)
    roles = draw(st.lists(st.sampled_from(["", "", "", "req", "forb"]), min_size=m, max_size=m))
    req = [j for j, r in enumerate(roles) if r == "req"]
    forb = [j for j, r in enumerate(roles) if r == "forb"]
    budget = draw(st.one_of(st.none(), st.integers(0, 14).map(float)))
    p = draw(st.one_of(st.none(), st.integers(1, m)))
    return cov, w, cost, req, forb, budget, p


def _brute_force(cov, w, cost, req, forb, budget, p):
    m = cov.shape[1]
    free = [j for j in range(m) if j not in req and j not in forb]
    best = None
    for k in range(len(free) + 1):
        for extra in itertools.combinations(free, k):
            sites = list(req) + list(extra)
            if budget is not None and cost[sites].sum() > budget + 1e-9:
                continue
            if p is not None and len(sites) > p:
                continue
            value = float(w[cov[:, sites].any(axis=1)].sum()) if sites else 0.0
            best = value if best is None else max(best, value)
    return best


@settings(max_examples=300, deadline=None)
@given(instances())
def test_branch_and_bound_matches_brute_force(inst):
    cov, w, cost, req, forb, budget, p = inst
    ref = _brute_force(cov, w, cost, req, forb, budget, p)
    sol = max_coverage(sp.csr_matrix(cov), w, cost, budget, p, required=req, forbidden=forb)
    if ref is None:
        assert sol.status == "infeasible"
        return
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(ref, abs=1e-9)
    o = sol.open
    assert set(req) <= set(o) and not set(forb) & set(o)
    assert budget is None or cost[o].sum() <= budget + 1e-9
    assert p is None or o.size <= p
    assert sol.bound >= sol.objective - 1e-9 and sol.gap <= 1e-9


def _random_instance(seed, n=200, m=40):
    rng = np.random.default_rng(seed)
    pts, sites = rng.random((n, 2)), rng.random((m, 2))
    sites[m // 2 :] = sites[: m - m // 2] + rng.normal(0, 0.01, (m - m // 2, 2))
    d = np.linalg.norm(pts[:, None] - sites[None], axis=2)
    cov = sp.csr_matrix(d <= 0.2)
    w = rng.integers(0, 100, n) * 1.5
    cost = rng.integers(1, 9, m).astype(float)
    return cov, w.astype(float), cost


@pytest.mark.parametrize("seed", range(6))
def test_branch_and_bound_equals_the_milp_on_random_instances(seed):
    cov, w, cost = _random_instance(seed)
    kw = [dict(budget=12.0), dict(budget=None, p=4), dict(budget=20.0, p=5)][seed % 3]
    req = [3] if seed % 2 else None
    a = max_coverage(cov, w, cost, required=req, **kw)
    b = max_coverage(cov, w, cost, required=req, method="milp", **kw)
    assert a.status == b.status == "optimal"
    assert a.objective == pytest.approx(b.objective, rel=1e-9)
    covered = np.asarray(cov[:, a.open].sum(axis=1)).ravel() > 0
    assert a.objective == pytest.approx(float(w[covered].sum()))
    assert np.array_equal(a.assignment, covered)


def test_reduction_is_exact_and_merges_points_and_sites():
    cov, w, cost = _random_instance(7, n=300, m=30)
    cov = sp.vstack([cov, cov[:50]]).tocsr()  # 50 repeated points
    w = np.concatenate([w, w[:50]])
    req = np.zeros(30, bool)
    req[0] = True
    forb = np.zeros(30, bool)
    r = reduce_instance(cov, w, cost, 20.0, 6, req, forb)
    assert r.stats["groups"] < r.stats["points"] <= 350
    assert r.p == 5 and r.budget == pytest.approx(20.0 - cost[0])
    covered0 = np.asarray(cov[:, [0]].sum(axis=1)).ravel() > 0
    assert r.base == pytest.approx(float(w[covered0].sum()))
    # the weight left in the reduced instance is what the required site does not cover
    reachable = np.asarray(cov[:, r.sites].sum(axis=1)).ravel() > 0
    assert r.weight.sum() == pytest.approx(float(w[~covered0 & reachable].sum()))
    # greedy + swap plans are feasible and valued the same in both indexings
    plan = improve_plan(r, greedy_plan(r))
    assert plan.sum() <= r.p and r.cost[plan].sum() <= r.budget + 1e-9
    sites = np.concatenate([[0], r.sites[plan]])
    full = float(w[np.asarray(cov[:, sites].sum(axis=1)).ravel() > 0].sum())
    assert r.base + plan_value(r, plan) == pytest.approx(full)


def test_a_dominated_site_is_never_needed():
    # site 1 covers a subset of site 0's points and costs more: it is closed by the reduction
    cov = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=bool))
    r = reduce_instance(
        cov, np.array([5.0, 1.0, 2.0]), np.array([1.0, 2.0, 1.0]), 5.0, None,
        np.zeros(3, bool), np.zeros(3, bool),
    )  # fmt: skip
    assert r.stats["dominated"] == 1 and 1 not in r.sites


def test_time_limit_gives_a_plan_and_an_honest_bound():
    cov, w, _ = _random_instance(11, n=1500, m=150)
    sol = max_coverage(cov, w, np.ones(150), None, 12, time_limit=1e-3)
    assert sol.status in ("time_limit", "optimal")
    assert sol.bound >= sol.objective - 1e-9
    ref = max_coverage(cov, w, np.ones(150), None, 12)
    assert ref.status == "optimal"
    assert sol.objective <= ref.objective + 1e-9 <= sol.bound + 2e-9 * ref.objective


def test_method_must_be_known():
    from siting import ModelInputError

    with pytest.raises(ModelInputError, match="method"):
        max_coverage(sp.csr_matrix(np.ones((2, 2), bool)), [1, 1], [1, 1], 1.0, method="x")


def test_warm_start_is_used_and_an_infeasible_one_ignored():
    cov, w, cost = _random_instance(3)
    big = max_coverage(cov, w, cost, 30.0)
    small = max_coverage(cov, w, cost, 8.0, warm_start_open=big.open)  # too dear: ignored
    ref = max_coverage(cov, w, cost, 8.0, method="milp")
    assert small.status == "optimal" and small.objective == pytest.approx(ref.objective)
    again = max_coverage(cov, w, cost, 30.0, warm_start_open=big.open)
    assert again.objective == pytest.approx(big.objective)
