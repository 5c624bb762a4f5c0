"""Facility location: OR-Library cap optima (capacitated, split demand) and UFLP optima."""

from pathlib import Path

import numpy as np
import pytest

from siting import ModelInputError
from siting.models import facility_location
from siting.orlib import read_cap, read_optima

DATA = Path(__file__).parent / "data" / "orlib"
OPT = read_optima(DATA / "capopt.txt")
# uncapacitated optima of cap71-74 (../shared/benchmarks/README.md)
UFLP = {"cap71": 932615.750, "cap72": 977799.400, "cap73": 1010641.450, "cap74": 1034976.975}


@pytest.mark.parametrize("name", sorted(OPT))
def test_capacitated_matches_published_optimum(name):
    inst = read_cap(DATA / f"{name}.txt")
    sol = facility_location(inst.cost, inst.fixed_cost, inst.demand, inst.capacity)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(OPT[name], rel=1e-6)
    frac = sol.assignment.toarray()
    assert np.allclose(frac.sum(axis=1), 1.0)
    assert (sol.details["load"] <= inst.capacity[sol.open] + 1e-6).all()


@pytest.mark.parametrize("name", sorted(UFLP))
def test_uncapacitated_matches_published_optimum(name):
    inst = read_cap(DATA / f"{name}.txt")
    sol = facility_location(inst.cost, inst.fixed_cost)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(UFLP[name], rel=1e-6)
    assert sol.assignment.shape == (50,) and set(sol.assignment) <= set(sol.open)


def test_uncapacitated_matches_enumeration():
    rng = np.random.default_rng(3)
    for _ in range(20):
        n, m = rng.integers(2, 8), rng.integers(2, 6)
        c = rng.integers(0, 20, (n, m)).astype(float)
        f = rng.integers(0, 15, m).astype(float)
        best = min(
            f[list(s)].sum() + c[:, list(s)].min(axis=1).sum()
            for k in range(1, m + 1)
            for s in __import__("itertools").combinations(range(m), k)
        )
        assert facility_location(c, f).objective == pytest.approx(best)


def test_required_and_forbidden_sites_are_respected():
    inst = read_cap(DATA / "cap41.txt")
    free = facility_location(inst.cost, inst.fixed_cost, inst.demand, inst.capacity)
    forb = free.open[:1]
    req = np.setdiff1d(np.arange(16), free.open)[:1]
    sol = facility_location(
        inst.cost, inst.fixed_cost, inst.demand, inst.capacity, required=req, forbidden=forb
    )
    assert sol.status == "optimal" and req[0] in sol.open and forb[0] not in sol.open
    assert sol.objective >= free.objective - 1e-6


def test_not_enough_capacity_is_infeasible_with_reason():
    sol = facility_location(np.ones((2, 2)), [1, 1], demand=[5, 5], capacity=[4, 4])
    assert sol.status == "infeasible" and "capacity" in sol.message


def test_bad_input_raises_clear_error():
    with pytest.raises(ModelInputError, match="fixed_cost must have length 2"):
        facility_location(np.ones((3, 2)), [1, 2, 3])
    with pytest.raises(ModelInputError, match="negative"):
        facility_location(np.ones((3, 2)), [1, -2])
