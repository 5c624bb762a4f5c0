"""The same model through Pyomo (appsi_highs) gives the same optimum; LP/MPS export works."""

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
