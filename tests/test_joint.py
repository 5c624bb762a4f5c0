"""Joint siting: brute force on tiny instances, co-location saving, split budgets, capacities."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from siting._errors import ModelInputError
from siting.frlm_network import round_trips_refuelled
from siting.models import MilpBuilder, Trips, add_flow_refuelling
from siting.models.joint import Colocation, Component, add_node_demand, joint_siting


def _instance(seed: int):
    rng = np.random.default_rng(seed)
    # a path network 0-1-2-3-4 (km) with trips between its nodes
    arcs = rng.uniform(20, 60, size=4)
    pairs = [(0, 4), (0, 2), (1, 3), (2, 4), (0, 3)]
    paths = [list(range(a, b + 1)) for a, b in pairs]
    trips = Trips.from_paths(
        paths, [arcs[a:b] for a, b in pairs], rng.integers(1, 20, size=len(pairs))
    )
    h2_nodes = np.array([0, 2, 3])
    h2_cost = rng.integers(3, 8, size=3) * 1e6
    h2_reach = (rng.random((4, 3)) < 0.5).astype(float)
    h2_demand = rng.integers(100, 600, size=4).astype(float)
    ch_reach = (rng.random((5, 3)) < 0.6).astype(float)
    ch_demand = rng.integers(200, 1500, size=5).astype(float)
    ch_fixed = rng.integers(1, 4, size=3) * 1e6
    ch_size = np.array([500.0, 1200.0])
    ch_size_cost = np.array([1e6, 2.5e6])
    saving = rng.integers(1, 3, size=3) * 5e5
    return dict(
        trips=trips, range_km=100.0, h2_nodes=h2_nodes, h2_cost=h2_cost, h2_reach=h2_reach,
        h2_demand=h2_demand, ch_reach=ch_reach, ch_demand=ch_demand, ch_fixed=ch_fixed,
        ch_size=ch_size, ch_size_cost=ch_size_cost, saving=saving,
    )  # fmt: skip


def _build(inst, weights=(1.0, 1.0, 1.0), with_saving=True):
    b = MilpBuilder("joint_test", sense="max")
    fr = add_flow_refuelling(b, inst["trips"], inst["range_km"], site_nodes=inst["h2_nodes"],
                             cost_cny=inst["h2_cost"], prefix="h2")  # fmt: skip
    nd = add_node_demand(b, sp.csr_matrix(inst["h2_reach"]), inst["h2_demand"],
                         site_cols=fr.site_cols, prefix="h2node")  # fmt: skip
    ch = add_node_demand(b, sp.csr_matrix(inst["ch_reach"]), inst["ch_demand"],
                         cost_cny=inst["ch_fixed"], size_per_day=inst["ch_size"],
                         size_cost_cny=inst["ch_size_cost"], prefix="ch")  # fmt: skip
    comps = [
        Component("hydrogen_flow", "hydrogen", fr, float(inst["trips"].flow.sum()), weights[0]),
        Component("hydrogen_node", "hydrogen", nd, float(inst["h2_demand"].sum()), weights[1]),
        Component("charger", "fast_charger", ch, float(inst["ch_demand"].sum()), weights[2]),
    ]
    co = []
    if with_saving:
        co = [Colocation("charger", "hydrogen_flow", np.arange(3), np.arange(3), inst["saving"])]
    return b, comps, co


def _served_capacitated(reach, demand, cap):
    """Max amount served with split demand and site capacities (an LP, solved separately)."""
    r, c = np.nonzero(reach * (cap[None, :] > 0))
    if r.size == 0:
        return 0.0
    n_d, n_s = reach.shape
    A = np.zeros((n_d + n_s, r.size))
    A[r, np.arange(r.size)] = 1
    A[n_d + c, np.arange(r.size)] = 1
    res = linprog(-np.ones(r.size), A_ub=A, b_ub=np.r_[demand, cap], bounds=(0, None))
    return -res.fun


def _brute(inst, budget=None, budgets=None, weights=(1.0, 1.0, 1.0), with_saving=True):
    best = -1.0
    flow_tot = inst["trips"].flow.sum()
    for h in itertools.product([0, 1], repeat=3):
        h = np.array(h, bool)
        st = np.zeros(5, bool)
        st[inst["h2_nodes"][h]] = True
        fl = inst["trips"].flow @ round_trips_refuelled(inst["trips"], st, inst["range_km"])
        h2_served = inst["h2_demand"][(inst["h2_reach"][:, h] > 0).any(axis=1)].sum()
        h_cost = inst["h2_cost"][h].sum()
        for cfg in itertools.product([-1, 0, 1], repeat=3):
            cfg = np.array(cfg)
            op = cfg >= 0
            cap = np.where(op, inst["ch_size"][np.maximum(cfg, 0)], 0.0)
            c_cost = inst["ch_fixed"][op].sum() + inst["ch_size_cost"][cfg[op]].sum()
            save = inst["saving"][op & h].sum() if with_saving else 0.0
            if budget is not None and h_cost + c_cost - save > budget + 1e-6:
                continue
            if budgets is not None and (
                h_cost - save / 2 > budgets["hydrogen"] + 1e-6
                or c_cost - save / 2 > budgets["fast_charger"] + 1e-6
            ):
                continue
            ch_served = _served_capacitated(inst["ch_reach"], inst["ch_demand"], cap)
            val = (
                weights[0] * fl / flow_tot
                + weights[1] * h2_served / inst["h2_demand"].sum()
                + weights[2] * ch_served / inst["ch_demand"].sum()
            )
            best = max(best, val)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_joint_optimum_equals_brute_force_under_one_budget(seed):
    inst = _instance(seed)
    budget = float(np.random.default_rng(seed + 100).integers(6, 16)) * 1e6
    b, comps, co = _build(inst)
    sol = joint_siting(b, comps, budget_cny=budget, colocation=co)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(_brute(inst, budget=budget), abs=1e-6)
    assert sol.details["total_spent_cny"] <= budget + 1e-6


@pytest.mark.parametrize("seed", range(4))
def test_joint_optimum_equals_brute_force_with_split_budget_and_weights(seed):
    inst = _instance(seed)
    budgets = {"hydrogen": 9e6, "fast_charger": 4e6}
    weights = (2.0, 0.5, 1.0)
    b, comps, co = _build(inst, weights=weights)
    sol = joint_siting(b, comps, budgets_cny=budgets, colocation=co)
    assert sol.objective == pytest.approx(_brute(inst, budgets=budgets, weights=weights), abs=1e-6)
    for kind, limit in budgets.items():
        assert sol.details["spent_cny"][kind] <= limit + 1e-6


def test_colocation_saving_applies_only_when_both_kinds_open():
    inst = _instance(3)
    b, comps, co = _build(inst)
    sol = joint_siting(b, comps, budget_cny=12e6, colocation=co)
    d = sol.details
    h_open = np.zeros(3, bool)
    h_open[d["components"]["hydrogen_flow"]["open"]] = True
    c_open = np.zeros(3, bool)
    c_open[d["components"]["charger"]["open"]] = True
    assert np.array_equal(d["colocated"][0], h_open & c_open)
    assert d["saving_cny"] == pytest.approx(inst["saving"][h_open & c_open].sum())
    gross = sum(c["spent_cny"] for c in d["components"].values())
    assert d["total_spent_cny"] == pytest.approx(gross - d["saving_cny"])


def test_colocation_saving_lets_a_tight_budget_buy_both_sites():
    # one hydrogen and one charger site, each 5 M CNY; budget 8 M; saving 2 M on the shared plot
    trips = Trips.from_paths([[0, 1]], [[10.0]], [5.0])
    for saving, expect in ((2e6, 2.0), (0.0, 1.0)):
        b = MilpBuilder("t", sense="max")
        fr = add_flow_refuelling(b, trips, 100.0, site_nodes=np.array([0]), cost_cny=5e6)
        ch = add_node_demand(b, np.ones((1, 1)), np.array([10.0]), cost_cny=5e6, prefix="ch")
        comps = [Component("h", "hydrogen", fr, 5.0), Component("c", "fast_charger", ch, 10.0)]
        co = [Colocation("c", "h", [0], [0], saving)]
        sol = joint_siting(b, comps, budget_cny=8e6, colocation=co)
        assert sol.objective == pytest.approx(expect)


def test_shared_capacity_rows_hold_node_demand_and_trip_fuel():
    # one station of 100 kg/day; trips need 60 kg/day, the depot 80 kg/day: not both
    trips = Trips.from_paths([[0, 1]], [[50.0]], [1.0])  # 100 km round trip x 0.6 kg/km
    b = MilpBuilder("t", sense="max")
    fr = add_flow_refuelling(b, trips, 200.0, site_nodes=np.array([0]), size_kg_per_day=[100.0],
                             size_cost_cny=[1e6], fuel_kg_per_km=0.6, prefix="h2")  # fmt: skip
    from siting.models.joint import row_block

    nd = add_node_demand(b, np.ones((1, 1)), np.array([80.0]), site_cols=fr.site_cols,
                         capacity_rows=row_block(b, "h2_capacity"), prefix="h2node")  # fmt: skip
    comps = [Component("f", "hydrogen", fr, 1.0), Component("n", "hydrogen", nd, 80.0)]
    sol = joint_siting(b, comps, budget_cny=2e6)
    f = sol.details["components"]["f"]["value"]
    n = sol.details["components"]["n"]["value"]
    assert 60.0 * f + n <= 100.0 + 1e-6
    # best split: trips fully (share 1, 60 kg) + 40 kg of the depot (share 0.5) = 1.5
    assert sol.objective == pytest.approx(1.5)


def test_joint_rejects_a_cost_listed_by_two_components():
    trips = Trips.from_paths([[0, 1]], [[10.0]], [5.0])
    b = MilpBuilder("t", sense="max")
    fr = add_flow_refuelling(b, trips, 100.0, site_nodes=np.array([0]), cost_cny=5e6)
    nd = add_node_demand(b, np.ones((1, 1)), [1.0], site_cols=fr.site_cols, cost_cny=5e6)
    comps = [Component("h", "hydrogen", fr, 5.0), Component("n", "hydrogen", nd, 1.0)]
    with pytest.raises(ModelInputError, match="listed by components"):
        joint_siting(b, comps, budget_cny=1e7)


def test_joint_needs_exactly_one_budget_form():
    trips = Trips.from_paths([[0, 1]], [[10.0]], [5.0])
    b = MilpBuilder("t", sense="max")
    fr = add_flow_refuelling(b, trips, 100.0, site_nodes=np.array([0]), cost_cny=5e6)
    with pytest.raises(ModelInputError, match="exactly one"):
        joint_siting(b, [Component("h", "hydrogen", fr, 5.0)])


# ------------------------------------------------------------- consistency with the charger model
def _charger_instance(seed: int):
    rng = np.random.default_rng(seed)
    n_d, n_s = 12, 6
    reach = sp.csr_matrix(rng.random((n_d, n_s)) < 0.35)
    kwh = rng.integers(50, 900, size=n_d).astype(float)
    fixed = rng.integers(2, 6, size=n_s) * 1e5
    return reach, kwh, fixed


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("how", ["zero_weight", "zero_budget_share"])
def test_joint_without_hydrogen_reproduces_the_charger_only_optimum(seed, how):
    from siting.models import max_coverage
    from siting.models.coverage import add_coverage_component, coverage_details

    reach, kwh, fixed = _charger_instance(seed)
    n_s = reach.shape[1]
    budget = 1.2e6
    plug = dict(module_capacity=np.full(n_s, 195.0), module_cost=np.full(n_s, 4e4),
                max_modules=np.full(n_s, 4), existing_modules=np.zeros(n_s, np.int64))  # fmt: skip
    ref = max_coverage(reach, kwh, fixed, budget, **plug)
    assert ref.status == "optimal"

    b = MilpBuilder("t", sense="max")
    trips = Trips.from_paths([[0, 1, 2]], [[30.0, 30.0]], [10.0])
    fr = add_flow_refuelling(b, trips, 100.0, site_nodes=np.array([0, 1, 2]),
                             cost_cny=np.array([2e5, 3e5, 2e5]), prefix="h2")  # fmt: skip
    ch = add_coverage_component(b, reach, kwh, fixed, **plug)
    comp = Component("charger", "fast_charger", ch, float(kwh.sum()),
                     extract=lambda x: coverage_details(ch, x))  # fmt: skip
    if how == "zero_weight":
        comps = [Component("h2", "hydrogen", fr, 10.0, weight=0.0), comp]
        sol = joint_siting(b, comps, budget_cny=budget)
    else:
        comps = [Component("h2", "hydrogen", fr, 10.0), comp]
        sol = joint_siting(b, comps, budgets_cny={"hydrogen": 0.0, "fast_charger": budget})
    d = sol.details["components"]["charger"]
    assert d["value"] == pytest.approx(ref.objective, rel=1e-8)
    assert d["served"].sum() == pytest.approx(ref.objective, rel=1e-8)
    assert d["assignment_matrix"].sum() == pytest.approx(ref.objective, rel=1e-8)
    # served per site never exceeds its plugs' daily capacity
    assert (d["served"] <= 195.0 * d["modules"] + 1e-6).all()
    assert sol.details["components"]["h2"]["open"].size == 0  # no money on zero-value sites


def test_objective_scale_is_the_largest_weighted_total():
    from siting.models.joint import objective_scale

    comps = [Component("a", "x", None, 10.0), Component("b", "x", None, 5e5),
             Component("c", "x", None, 9e9, weight=0.0)]  # fmt: skip
    assert objective_scale(comps) == 5e5
    assert objective_scale([Component("z", "x", None, 0.0)]) == 1.0
