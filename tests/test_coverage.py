"""max_coverage / set_cover against exhaustive enumeration (hypothesis) and spopt MCLP / LSCP."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from siting import ModelInputError
from siting.models import max_coverage, set_cover


@st.composite
def instances(draw):
    n = draw(st.integers(1, 7))
    m = draw(st.integers(1, 6))
    cov = np.array(draw(st.lists(st.booleans(), min_size=n * m, max_size=n * m))).reshape(n, m)
    w = np.array(draw(st.lists(st.integers(0, 9), min_size=n, max_size=n)), dtype=float)
    cost = np.array(draw(st.lists(st.integers(0, 5), min_size=m, max_size=m)), dtype=float)
    roles = draw(st.lists(st.sampled_from(["", "", "req", "forb"]), min_size=m, max_size=m))
    req = [j for j, r in enumerate(roles) if r == "req"]
    forb = [j for j, r in enumerate(roles) if r == "forb"]
    budget = float(draw(st.integers(0, 12)))
    p = draw(st.one_of(st.none(), st.integers(1, m)))
    return cov, w, cost, req, forb, budget, p


def _subsets(m, req, forb):
    free = [j for j in range(m) if j not in req and j not in forb]
    for k in range(len(free) + 1):
        for s in itertools.combinations(free, k):
            yield sorted([*req, *s])


@settings(max_examples=120, deadline=None)
@given(instances())
def test_max_coverage_matches_enumeration(inst):
    cov, w, cost, req, forb, budget, p = inst
    best = None
    for s in _subsets(cov.shape[1], req, forb):
        if cost[s].sum() > budget or (p is not None and len(s) > p):
            continue
        val = float(w[cov[:, s].any(axis=1)].sum()) if s else 0.0
        best = val if best is None else max(best, val)
    sol = max_coverage(sp.csr_matrix(cov), w, cost, budget, p, required=req, forbidden=forb)
    if best is None:
        assert sol.status == "infeasible" and sol.message
        return
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(best)
    assert cost[sol.open].sum() <= budget + 1e-9 and sol.details["spent"] <= budget + 1e-9
    assert set(req) <= set(sol.open) and not set(forb) & set(sol.open)
    assert p is None or sol.open.size <= p
    covered = cov[:, sol.open].any(axis=1) if sol.open.size else np.zeros(len(w), bool)
    assert np.array_equal(sol.assignment, covered)


@settings(max_examples=120, deadline=None)
@given(instances())
def test_set_cover_matches_enumeration(inst):
    cov, _, cost, req, forb, _, _ = inst
    allowed = [j for j in range(cov.shape[1]) if j not in forb]
    coverable = cov[:, allowed].any(axis=1)
    best = min(
        cost[s].sum()
        for s in _subsets(cov.shape[1], req, forb)
        if (cov[:, s].any(axis=1) if s else np.zeros(len(coverable), bool))[coverable].all()
    )
    sol = set_cover(sp.csr_matrix(cov), cost, required=req, forbidden=forb)
    assert sol.status == "optimal" and sol.objective == pytest.approx(best)
    assert set(sol.details["uncoverable"]) == set(np.flatnonzero(~coverable))
    assert sol.assignment[coverable].all()


def _spopt_case(seed):
    rng = np.random.default_rng(seed)
    pts = rng.random((40, 2))
    sites = rng.random((12, 2))
    d = np.linalg.norm(pts[:, None, :] - sites[None, :, :], axis=2)
    return d, rng.integers(1, 20, 40).astype(float)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_max_coverage_equals_spopt_mclp_with_equal_costs(seed):
    import pulp
    import spopt.locate as locate

    d, w = _spopt_case(seed)
    radius, p = 0.25, 3
    mclp = locate.MCLP.from_cost_matrix(d, w, service_radius=radius, p_facilities=p)
    mclp = mclp.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=60))
    ref = float(pulp.value(mclp.problem.objective))
    sol = max_coverage(sp.csr_matrix(d <= radius), w, np.ones(12), budget=p)
    assert sol.status == "optimal" and sol.objective == pytest.approx(ref)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_set_cover_equals_spopt_lscp_with_equal_costs(seed):
    import pulp
    import spopt.locate as locate

    d, _ = _spopt_case(seed)
    radius = float(np.sort(d, axis=1)[:, 0].max()) + 0.05  # every point coverable
    lscp = locate.LSCP.from_cost_matrix(d, service_radius=radius)
    lscp = lscp.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=60))
    ref = float(pulp.value(lscp.problem.objective))
    sol = set_cover(sp.csr_matrix(d <= radius), np.ones(12))
    assert sol.status == "optimal" and sol.objective == pytest.approx(ref)


def test_modules_size_plugs_to_demand_and_budget():
    # two points of 30 kWh/day, one site covering both; a module serves 25 kWh/day
    cov = sp.csr_matrix(np.array([[1], [1]], dtype=bool))
    w = np.array([30.0, 30.0])
    sol = max_coverage(cov, w, [100.0], budget=300.0, module_capacity=25.0, module_cost=100.0)
    assert sol.status == "optimal"
    assert sol.details["modules"].tolist() == [2] and sol.objective == pytest.approx(50.0)
    assert sol.details["spent"] == pytest.approx(300.0)
    assert sol.details["served"].tolist() == pytest.approx([50.0])
    more = max_coverage(
        cov, w, [100.0], budget=300.0, module_capacity=25.0, module_cost=100.0, existing_modules=[1]
    )
    assert more.details["modules"].tolist() == [3] and more.objective == pytest.approx(60.0)


def test_modules_split_demand_between_sites():
    cov = sp.csr_matrix(np.array([[1, 1]], dtype=bool))
    sol = max_coverage(cov, [40.0], [0.0, 0.0], budget=0.0, module_capacity=20.0, max_modules=1)
    assert sol.objective == pytest.approx(40.0) and sol.open.tolist() == [0, 1]
    assert sol.assignment.tolist() == pytest.approx([1.0])


def test_required_sites_over_budget_say_why():
    cov = sp.csr_matrix(np.eye(3, dtype=bool))
    sol = max_coverage(cov, np.ones(3), [6e6, 6e6, 1e6], 10e6, required=[0, 1])
    assert sol.status == "infeasible"
    assert sol.message == "required sites alone cost 12.0 M CNY > budget 10.0 M CNY"


def test_warm_start_from_a_bigger_budget_is_ignored_when_infeasible():
    rng = np.random.default_rng(5)
    cov = sp.csr_matrix(rng.random((30, 10)) < 0.3)
    w, c = rng.random(30), rng.integers(1, 4, 10).astype(float)
    big = max_coverage(cov, w, c, 12.0)
    small = max_coverage(cov, w, c, 3.0, warm_start_open=big.open)
    ref = max_coverage(cov, w, c, 3.0)
    assert small.status == "optimal" and small.objective == pytest.approx(ref.objective)
    again = max_coverage(cov, w, c, 12.0, warm_start_open=big.open)
    assert again.objective == pytest.approx(big.objective)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"weights": [1.0]}, "weights must have length 2"),
        ({"site_cost": [-1.0, 1.0]}, "negative"),
        ({"budget": -1}, "budget"),
        ({"p": 5}, "larger than the number of sites"),
        ({"module_cost": 3.0}, "module_capacity"),
        ({"module_capacity": 0.0}, "module_capacity must be > 0"),
    ],
)
def test_bad_input_raises_clear_error(kwargs, needle):
    args = {
        "coverage": sp.csr_matrix(np.ones((2, 2), dtype=bool)),
        "weights": [1.0, 2.0],
        "site_cost": [1.0, 1.0],
        "budget": 1.0,
    }
    args.update(kwargs)
    with pytest.raises(ModelInputError, match=needle):
        max_coverage(**args)


# --- plug-sized model: exact reductions, budget capacity bound, greedy proof (issue 6) ---


def _reference_modules(cov, w, c, budget, kcap, q, mmax, ex, req, forb, p=None):
    """The plug-sized model as its docstring states it, per point, no reductions (scipy/HiGHS)."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    n_d, n_s = cov.shape
    ii, jj = np.nonzero(cov)
    ok = ~np.isin(jj, forb)
    ii, jj = ii[ok], jj[ok]
    nx = ii.size
    ny, nm = n_s, n_s  # columns: y, m, new, x
    n = ny + nm + n_s + nx
    Y, M, N, X = 0, ny, ny + nm, ny + nm + n_s
    rows, lo, up = [], [], []

    def row(cols, vals, lb, ub):
        r = np.zeros(n)
        r[cols] = vals
        rows.append(r)
        lo.append(lb)
        up.append(ub)

    for i in range(n_d):
        k = np.flatnonzero(ii == i)
        if k.size:
            row(X + k, 1.0, -np.inf, 1.0)
    for k in range(nx):
        row([X + k, Y + jj[k]], [1.0, -1.0], -np.inf, 0.0)
    for j in range(n_s):
        k = np.flatnonzero(jj == j)
        row(np.r_[X + k, M + j], np.r_[w[ii[k]], -kcap[j]], -np.inf, 0.0)
        row([M + j, Y + j], [1.0, -mmax[j]], -np.inf, 0.0)
        row([M + j, N + j], [1.0, -1.0], -np.inf, ex[j])
    row(np.r_[Y : Y + ny, N : N + n_s], np.r_[c, q], -np.inf, budget)
    if p is not None:
        row(np.arange(Y, Y + ny), 1.0, -np.inf, p)
    lb, ub = np.zeros(n), np.full(n, np.inf)
    isreq = np.isin(np.arange(n_s), req)
    isforb = np.isin(np.arange(n_s), forb)
    lb[Y : Y + ny] = isreq
    ub[Y : Y + ny] = ~isforb
    lb[M : M + nm] = np.where(isreq, np.minimum(ex, mmax), 0)
    ub[M : M + nm] = np.where(isforb, 0, mmax)
    ub[X:] = 1.0
    integ = np.zeros(n)
    integ[: ny + nm] = 1
    cost = np.zeros(n)
    cost[X:] = -w[ii]
    res = milp(
        cost,
        constraints=LinearConstraint(np.array(rows), lo, up),
        bounds=Bounds(lb, ub),
        integrality=integ,
        options={"mip_rel_gap": 1e-9},
    )
    assert res.status == 0
    return -res.fun


@pytest.mark.parametrize("seed", range(12))
def test_plug_model_matches_unreduced_reference(seed):
    # duplicate covering sets, zero weights, required/forbidden sites, existing plugs, tight budgets
    rng = np.random.default_rng(seed)
    n_d, n_s = int(rng.integers(4, 14)), int(rng.integers(2, 6))
    base = rng.random((4, n_s)) < 0.5
    cov = base[rng.integers(0, 4, n_d)] | (rng.random((n_d, n_s)) < 0.15 * (seed % 2))
    w = rng.integers(0, 12, n_d).astype(float)
    c = rng.integers(0, 6, n_s).astype(float)
    q = rng.integers(0, 3, n_s).astype(float)
    kcap = rng.integers(3, 9, n_s).astype(float)
    mmax = rng.integers(1, 5, n_s)
    ex = rng.integers(0, 2, n_s)
    roles = rng.choice(["", "", "", "req", "forb"], n_s)
    req, forb = np.flatnonzero(roles == "req"), np.flatnonzero(roles == "forb")
    budget = float(c[req].sum() + rng.integers(0, 15))
    p = None if seed % 3 else int(rng.integers(max(len(req), 1), n_s + 1))
    sol = max_coverage(
        sp.csr_matrix(cov), w, c, budget, p, required=req, forbidden=forb,
        module_capacity=kcap, module_cost=q, max_modules=mmax, existing_modules=ex,
    )  # fmt: skip
    ref = _reference_modules(cov, w, c, budget, kcap, q, mmax, ex, req, forb, p)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(ref, abs=1e-6)
    assert sol.details["spent"] <= budget + 1e-6
    assert sol.bound >= ref - 1e-6


def test_identical_points_share_one_group_and_get_the_same_share():
    cov = sp.csr_matrix(np.array([[1, 0], [1, 0], [1, 1], [0, 1]], dtype=bool))
    w = np.array([10.0, 30.0, 5.0, 0.0])
    sol = max_coverage(cov, w, [1.0, 1.0], 1.0, module_capacity=20.0, max_modules=1)
    assert sol.objective == pytest.approx(20.0)
    # points 0 and 1 are one group: served the same share (20 of their 40 kWh/day)
    assert sol.assignment[0] == pytest.approx(sol.assignment[1])
    assert sol.assignment[0] * 10 + sol.assignment[1] * 30 + sol.assignment[2] * 5 == 20.0


def test_capacity_bound_is_the_integer_knapsack_of_sites_and_plugs():
    from siting.models.coverage import module_budget_bound

    n = 50  # sites of 0.5 M + 40 k per plug, 20 plugs max, 195 kWh per plug
    one = np.ones(n)
    bound = module_budget_bound(
        31.111111e6, 0.5e6 * one, 40e3 * one, 195.0 * one, np.full(n, 20), np.zeros(n, int),
        np.zeros(n, int), np.zeros(n, bool), np.zeros(n, bool),
    )  # fmt: skip
    # 23 full sites (29.9 M) + one site with 17 plugs (1.18 M) = 477 plugs; the LP would give 478.6
    assert bound == 477 * 195.0


def test_budget_rounding_gap_is_proved_without_branching():
    # plenty of demand: the optimum is the capacity the budget can buy, and it is proved so
    rng = np.random.default_rng(1)
    cov = sp.csr_matrix(rng.random((300, 40)) < 0.3)
    w = rng.uniform(50, 150, 300)
    sol = max_coverage(
        cov, w, np.full(40, 0.5e6), 7.3e6, module_capacity=195.0, module_cost=40e3,
        max_modules=20, mip_gap=1e-9,
    )  # fmt: skip
    plugs = int(sol.details["modules"].sum())
    assert sol.status == "optimal" and sol.gap == 0.0
    assert sol.objective == pytest.approx(plugs * 195.0) and sol.bound == sol.objective
    assert sol.details["spent"] <= 7.3e6


def test_greedy_short_of_the_bound_falls_back_to_the_solver():
    # demand-limited: plugs cannot all be filled, so the bound is not met and HiGHS decides
    cov = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=bool))
    w = np.array([25.0, 25.0, 25.0])
    kw = dict(module_capacity=20.0, module_cost=1.0, max_modules=3)
    sol = max_coverage(cov, w, [2.0, 2.0, 2.0], 10.0, **kw)
    ref = _reference_modules(
        cov.toarray(), w, np.full(3, 2.0), 10.0, np.full(3, 20.0), np.ones(3), np.full(3, 3),
        np.zeros(3), [], [],
    )  # fmt: skip
    assert sol.status == "optimal" and sol.objective == pytest.approx(ref)
    assert "capacity bound" not in sol.message


@pytest.mark.parametrize("seed", range(8))
def test_capacity_bound_equals_brute_force_knapsack(seed):
    from siting.models.coverage import module_budget_bound

    rng = np.random.default_rng(seed)
    n = 4
    uniform = seed % 2 == 0  # even seeds: the closed form; odd: the knapsack MILP
    c = np.full(n, 5.0) if uniform else rng.integers(0, 8, n).astype(float)
    q = np.full(n, 2.0) if uniform else rng.integers(1, 4, n).astype(float)
    kcap = np.full(n, 7.0) if uniform else rng.integers(2, 9, n).astype(float)
    mmax = rng.integers(0, 4, n)
    budget = float(rng.integers(0, 30))
    zero, no = np.zeros(n, int), np.zeros(n, bool)
    best = 0.0
    for m in itertools.product(*(range(k + 1) for k in mmax)):
        m = np.array(m)
        if (c * (m > 0) + q * m).sum() <= budget:
            best = max(best, float(kcap @ m))
    assert module_budget_bound(budget, c, q, kcap, mmax, zero, zero, no, no) == best
