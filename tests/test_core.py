"""Core solves (siting.models.core): plans feasible for the full instance, bounds valid for it."""

import numpy as np
import pytest
import scipy.sparse as sp

from siting.models import core, max_coverage
from siting.models.plug_levels import max_coverage_levels


def _instance(seed: int, n: int = 240, m: int = 30, reach: float = 0.35):
    rng = np.random.default_rng(seed)
    pts, sites = rng.random((n, 2)), rng.random((m, 2))
    d = np.linalg.norm(pts[:, None] - sites[None], axis=2)
    times = sp.csr_matrix(np.where(d <= reach, d * 30 + 1e-6, 0.0))
    w = rng.integers(1, 40, n).astype(float)
    return times, w


def test_nearest_core_keeps_the_k_nearest_allowed_sites_of_each_row():
    times, _ = _instance(0)
    allowed = np.ones(times.shape[1], bool)
    allowed[[2, 5]] = False
    got = core.nearest_core(times, 4, allowed).toarray()
    dense = times.toarray()
    for i in range(dense.shape[0]):
        cols = [j for j in np.argsort(dense[i], kind="stable") if dense[i, j] > 0 and allowed[j]]
        assert set(np.flatnonzero(got[i])) == set(cols[:4])
        assert np.allclose(got[i, cols[:4]], dense[i, cols[:4]])


def test_site_reach_matches_dense_sums():
    times, w = _instance(1)
    allowed = np.ones(times.shape[1], bool)
    allowed[0] = False
    load = np.column_stack([w, 2 * w])
    reach, reachable = core.site_reach(times, load, allowed)
    cov = times.toarray() > 0
    assert np.allclose(reach, cov.T @ load)
    assert np.array_equal(reachable, cov[:, allowed].any(axis=1))
    r1, _ = core.site_reach(times, w, allowed)
    assert r1.shape == (times.shape[1],) and np.allclose(r1, cov.T @ w)


def test_core_size_is_the_largest_k_under_the_pair_cap():
    times, _ = _instance(2)
    deg = np.diff(times.indptr)
    assert core.core_size(times, max_pairs=10**9) == deg.max()
    for k in (3, 6, 9):
        cap = int(np.minimum(deg, k).sum())
        assert core.core_size(times, max_pairs=cap, min_k=1) == k
        assert core.core_size(times, max_pairs=cap - 1, min_k=1) == k - 1
    assert core.core_size(times, max_pairs=0, min_k=2) == 2


_MOD = dict(module_capacity=60.0, module_cost=2.0, max_modules=np.full(30, 6))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("budget", [25.0, 60.0, 400.0])
def test_module_core_certificate_is_valid_for_the_full_model(seed, budget):
    times, w = _instance(seed)
    cost = np.full(30, 5.0)
    full = max_coverage(times > 0, w, cost, budget, **_MOD)
    sol = core.max_coverage_core(times, w, cost, budget, max_pairs=3 * 240, **_MOD)
    assert full.status == "optimal" and sol.is_feasible
    assert sol.objective <= full.objective + 1e-6  # a plan of the full model
    assert sol.bound >= full.objective - 1e-6  # a bound of the full model
    if sol.status == "optimal":
        assert sol.objective == pytest.approx(full.objective, rel=1e-6)
    plan_cost = cost[sol.open].sum() + 2.0 * sol.details["modules"].sum()
    assert plan_cost <= budget + 1e-6
    covered = np.asarray((times > 0)[:, sol.open].sum(axis=1)).ravel() > 0
    assert (sol.assignment[~covered] == 0).all()


def _levels(n_lv: int = 8) -> np.ndarray:
    c = np.arange(n_lv + 1, dtype=float)
    return 40.0 * c * (1 + 0.1 * c)  # capacity per plug grows with the plugs (pooling)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("budget", [20.0, 45.0, 300.0])
def test_level_core_certificate_is_valid_for_the_full_model(seed, budget):
    times, w = _instance(seed)
    kw = dict(level_capacity=_levels(), module_cost=2.0, load=np.column_stack([w, 0.7 * w]))
    cost = np.full(30, 5.0)
    full = max_coverage_levels(times > 0, w, cost, budget, **kw)
    sol = core.max_coverage_levels_core(times, w, cost, budget, max_pairs=3 * 240, **kw)
    assert full.status == "optimal" and sol.is_feasible
    assert sol.objective <= full.objective + 1e-6
    assert sol.bound >= full.objective - 1e-6
    if sol.status == "optimal":
        assert sol.objective == pytest.approx(full.objective, rel=1e-6)
    assert sol.details["core_k"] == 3 and sol.details["core_pairs"] < times.nnz


def test_a_capacity_bound_city_is_proven_on_a_small_core():
    times, w = _instance(7, n=600, m=40, reach=0.5)
    cost = np.full(40, 5.0)
    mod = dict(module_capacity=60.0, module_cost=2.0, max_modules=np.full(40, 6))
    sol = core.max_coverage_core(times, w, cost, 30.0, max_pairs=4 * 600, **mod)
    assert sol.status == "optimal" and sol.details["core_pairs"] < times.nnz
    full = max_coverage(times > 0, w, cost, 30.0, **mod)
    assert sol.objective == pytest.approx(full.objective, rel=1e-6)
