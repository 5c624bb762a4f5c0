"""p-median: published OR-Library optima, both formulations, enumeration, bad input."""

import itertools
from pathlib import Path

import numpy as np
import pytest

from siting import ModelInputError
from siting.models import build_p_median, p_median, solve_milp
from siting.orlib import read_optima, read_pmed

DATA = Path(__file__).parent / "data" / "orlib"
OPT = read_optima(DATA / "pmedopt.txt")


def _check(k: int) -> None:
    inst = read_pmed(DATA / f"pmed{k}.txt")
    sol = p_median(inst.distance, inst.p)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(OPT[inst.name], rel=1e-6)
    assert sol.open.size == inst.p
    assert sol.objective == pytest.approx(inst.distance[:, sol.open].min(axis=1).sum())


@pytest.mark.parametrize("k", [1, 2, 4, 5])
def test_pmed_small_instances_match_published_optimum(k):
    _check(k)


@pytest.mark.slow
@pytest.mark.parametrize("k", [3, *range(6, 21)])
def test_pmed_all_instances_match_published_optimum(k):
    _check(k)


def test_assignment_formulation_matches_radius_on_pmed1():
    inst = read_pmed(DATA / "pmed1.txt")
    sol = p_median(inst.distance, inst.p, formulation="assignment")
    assert sol.status == "optimal" and sol.objective == pytest.approx(OPT["pmed1"])


def _brute(cost, p, w, req, forb):
    best = np.inf
    sites = [j for j in range(cost.shape[1]) if j not in forb]
    for s in itertools.combinations(sites, p):
        if not set(req) <= set(s):
            continue
        d = cost[:, list(s)].min(axis=1)
        if np.isfinite(d).all():
            best = min(best, float(w @ d))
    return best


@pytest.mark.parametrize("formulation", ["radius", "assignment"])
def test_random_small_instances_match_enumeration(formulation):
    rng = np.random.default_rng(7)
    for _ in range(25):
        n, m = rng.integers(3, 9), rng.integers(3, 8)
        p = int(rng.integers(1, m))
        cost = rng.integers(0, 6, (n, m)).astype(float)
        cost[rng.random((n, m)) < 0.15] = np.inf
        w = rng.integers(0, 4, n).astype(float)
        req = [0] if rng.random() < 0.3 else []
        forb = [m - 1] if rng.random() < 0.3 else []
        best = _brute(cost, p, w, req, forb)
        sol = p_median(cost, p, w, required=req, forbidden=forb, formulation=formulation)
        if np.isinf(best):
            assert sol.status == "infeasible"
        else:
            assert sol.status == "optimal" and sol.objective == pytest.approx(best)
            assert set(req) <= set(sol.open) and not set(forb) & set(sol.open)


def test_assignment_is_nearest_open_site():
    cost = np.array([[1.0, 5.0], [4.0, 2.0], [3.0, 3.5]])
    sol = p_median(cost, 2)
    assert sol.assignment.tolist() == [0, 1, 0]


def test_warm_start_infeasible_is_ignored():
    cost = np.array([[1.0, 5.0, 2.0], [4.0, 2.0, 1.0]])
    sol = p_median(cost, 1, forbidden=[2], warm_start_open=[2])
    assert sol.status == "optimal" and sol.open.tolist() in ([0], [1])


def test_time_limit_returns_incumbent_with_gap():
    inst = read_pmed(DATA / "pmed16.txt")
    sol = p_median(inst.distance, inst.p, time_limit=1.0)
    assert sol.status == "time_limit" and sol.open.size == inst.p
    assert sol.gap > 0 and sol.bound <= OPT["pmed16"] <= sol.objective


def test_too_many_required_sites_is_infeasible_with_reason():
    sol = p_median(np.ones((3, 3)), 1, required=[0, 1])
    assert sol.status == "infeasible" and "required" in sol.message


def test_unreachable_demand_is_infeasible_with_reason():
    cost = np.array([[1.0, np.inf], [np.inf, np.inf]])
    sol = p_median(cost, 1)
    assert sol.status == "infeasible" and "demand point" in sol.message


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"cost": np.ones(3), "p": 1}, "2-D"),
        ({"cost": -np.ones((2, 2)), "p": 1}, "negative"),
        ({"cost": np.full((2, 2), np.nan), "p": 1}, "NaN"),
        ({"cost": np.ones((2, 2)), "p": 3}, "larger than the number of sites"),
        ({"cost": np.ones((2, 2)), "p": 0}, "at least 1"),
        ({"cost": np.ones((2, 2)), "p": 1, "weights": [1.0]}, "length 2"),
        ({"cost": np.ones((2, 2)), "p": 1, "required": [0], "forbidden": [0]}, "both"),
        ({"cost": np.ones((2, 2)), "p": 1, "required": [5]}, "outside"),
        ({"cost": np.ones((2, 2)), "p": 1, "formulation": "x"}, "formulation"),
    ],
)
def test_bad_input_raises_clear_error(kwargs, needle):
    with pytest.raises(ModelInputError, match=needle):
        p_median(**kwargs)


def test_build_gives_the_model_highs_solves():
    inst = read_pmed(DATA / "pmed1.txt")
    milp = build_p_median(inst.distance, inst.p)
    res = solve_milp(milp)
    assert res.objective == pytest.approx(OPT["pmed1"])


def test_lagrangean_bound_is_below_optimum_and_keeps_optimal_sites():
    from siting.models.pmedian import lagrangean_reduction

    inst = read_pmed(DATA / "pmed6.txt")
    n = inst.n
    none = np.zeros(n, dtype=bool)
    opt = OPT["pmed6"]
    # with a plan "one above the optimum", no plan costing <= optimum may be cut away
    red = lagrangean_reduction(
        inst.distance, inst.p, np.ones(n), none, none, opt + 1, integral=True
    )
    assert red.bound <= opt
    assert red.closed.sum() > 0.5 * n  # the reduction does its job on this instance
    best = p_median(inst.distance, inst.p)
    assert not red.closed[best.open].any()
    assert red.best_value >= opt


def test_reduction_reports_what_it_fixed():
    inst = read_pmed(DATA / "pmed6.txt")
    sol = p_median(inst.distance, inst.p)
    assert sol.details["sites_closed"] > 0
    assert sol.details["lagrangean_bound"] <= sol.objective


@pytest.mark.parametrize("reduce", [True, False])
def test_fractional_costs_match_enumeration(reduce):
    rng = np.random.default_rng(11)
    for _ in range(15):
        n, m = rng.integers(4, 10), rng.integers(4, 9)
        p = int(rng.integers(1, m))
        cost = rng.random((n, m)) * 10
        w = rng.random(n) * 3
        req = [1] if rng.random() < 0.3 else []
        best = _brute(cost, p, w, req, [])
        sol = p_median(cost, p, w, required=req, reduce=reduce)
        assert sol.status == "optimal" and sol.objective == pytest.approx(best, rel=1e-9)


def test_warm_start_of_wrong_size_is_ignored():
    inst = read_pmed(DATA / "pmed1.txt")
    sol = p_median(inst.distance, inst.p, warm_start_open=[0, 1])
    assert sol.status == "optimal" and sol.objective == pytest.approx(OPT["pmed1"])
