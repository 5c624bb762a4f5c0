"""The same model through Pyomo (appsi_highs) gives the same optimum; LP/MPS export works."""

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp

from siting.models import (
    build_facility_location,
    build_max_coverage,
    build_p_median,
    build_set_cover,
    solve_milp,
    solve_with_pyomo,
    to_pyomo,
)


def _small():
    rng = np.random.default_rng(11)
    cost = rng.integers(1, 30, (12, 6)).astype(float)
    cov = sp.csr_matrix(cost < 10)
    return cost, cov, rng.integers(1, 9, 12).astype(float), rng.integers(1, 5, 6) * 1e6


@pytest.mark.parametrize(
    "make",
    [
        lambda c, cov, w, f: build_p_median(c, 2, w),
        lambda c, cov, w, f: build_p_median(c, 2, w, formulation="assignment"),
        lambda c, cov, w, f: build_facility_location(c * 1e5, f),
        lambda c, cov, w, f: build_facility_location(c * 1e5, f, w, capacity=30),
        lambda c, cov, w, f: build_max_coverage(cov, w, f, 5e6),
        lambda c, cov, w, f: build_max_coverage(
            cov, w, f, 5e6, module_capacity=6, module_cost=2e5, existing_modules=1
        ),
        lambda c, cov, w, f: build_set_cover(cov, f),
    ],
)
def test_pyomo_route_gives_the_same_objective(make):
    milp = make(*_small())
    direct = solve_milp(milp)
    via = solve_with_pyomo(milp, "appsi_highs")
    assert direct.status == via.status == "optimal"
    assert via.objective == pytest.approx(direct.objective, rel=1e-6)


def test_model_writes_lp_and_mps(tmp_path):
    cost, *_ = _small()
    m = to_pyomo(build_p_median(cost, 2))
    m.write(str(tmp_path / "m.lp"), io_options={"symbolic_solver_labels": True})
    m.write(str(tmp_path / "m.mps"))
    assert "chain" in (tmp_path / "m.lp").read_text()
    assert (tmp_path / "m.mps").stat().st_size > 0


@pytest.mark.parametrize("sense", ["min", "max"])
def test_pyomo_route_reports_the_solvers_own_bound_and_gap(sense):
    # a p-median that HiGHS, allowed a 20 % gap, stops on well before proving optimality: the
    # Pyomo route must report the bound and gap the solver reached, not gap 0 because it says
    # "optimal" (the maximising case negates the costs)
    rng = np.random.default_rng(0)
    cost = rng.random((60, 40)) * 100
    milp = build_p_median(cost, 5)
    if sense == "max":
        milp = replace(milp, sense="max", c=-milp.c, offset=-milp.offset)
    exact = solve_milp(milp, mip_gap=0.0)
    loose = solve_with_pyomo(milp, "appsi_highs", mip_gap=0.2)
    assert exact.status == loose.status == "optimal"
    lo, hi = sorted([loose.bound, loose.objective])
    assert lo - 1e-6 <= exact.objective <= hi + 1e-6  # the bound is a true bound
    assert loose.gap == pytest.approx(abs(loose.objective - loose.bound) / abs(loose.objective))
    assert 0 < loose.gap <= 0.2 + 1e-9
    tight = solve_with_pyomo(milp, "appsi_highs", mip_gap=0.0)
    assert tight.objective == pytest.approx(exact.objective, rel=1e-9)
    assert tight.gap == pytest.approx(0.0, abs=1e-9)
