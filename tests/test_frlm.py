"""Flow-refuelling location: optima vs exhaustive search with an independent tank simulation."""

from __future__ import annotations

import itertools
from functools import cache
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from scipy.optimize import linprog

from siting._errors import InputError, ModelInputError
from siting.frlm_network import (
    kuby_lim_trips,
    read_kuby_lim,
    round_trips_refuelled,
    shortest_path_trips,
)
from siting.models.frlm import Trips, cover_sets, flow_refuelling, refuelled_by

DATA = Path(__file__).parent / "data" / "kuby_lim_25node"


# ---------------------------------------------------------------- independent reference code
def tank_ok(path: list[int], arcs: list[float], stations: set[int], R: float) -> bool:
    """Drive out and back literally: full tank at an origin station else half; refuel to full at
    every station; back home with >= R/2 unless a station is there."""
    nodes = path + path[-2::-1]
    legs = arcs + arcs[::-1]
    fuel = R if path[0] in stations else R / 2
    for node, leg in zip(nodes[1:], legs, strict=True):
        fuel -= leg
        if fuel < -1e-9:
            return False
        if node in stations:
            fuel = R
    return path[0] in stations or fuel >= R / 2 - 1e-9


@cache
def network():
    net = read_kuby_lim(DATA)
    trips, od = kuby_lim_trips(net)
    return net, trips, od


@cache
def trip_tables(R: float) -> list[np.ndarray]:
    """Per trip, refuelled-or-not for every subset of its path nodes (bit i = path node i)."""
    _, trips, _ = network()
    tables = []
    for q in range(trips.n_trips):
        path = trips.path(q).tolist()
        arcs = trips.arcs(q).tolist()
        k = len(path)
        tab = np.zeros(2**k, dtype=bool)
        for mask in range(2**k):
            st = {path[i] for i in range(k) if mask >> i & 1}
            tab[mask] = tank_ok(path, arcs, st, R)
        tables.append(tab)
    return tables


def exhaustive(R: float, p: int, allowed: np.ndarray | None = None, must: tuple = ()):
    """Best refuelled flow over all p-subsets (containing ``must``) of the allowed nodes."""
    _, trips, _ = network()
    n = 25
    pool = [v for v in range(n) if (allowed is None or allowed[v]) and v not in must]
    subs = np.array(list(itertools.combinations(pool, p - len(must))), dtype=np.int64)
    if must:
        subs = np.hstack([subs, np.tile(np.array(must), (subs.shape[0], 1))])
    B = np.zeros((subs.shape[0], n), dtype=np.int64)
    np.put_along_axis(B, subs, 1, axis=1)
    total = np.zeros(subs.shape[0])
    for q, tab in enumerate(trip_tables(R)):
        path = trips.path(q)
        idx = (B[:, path] << np.arange(path.size)).sum(axis=1)
        total += trips.flow[q] * tab[idx]
    best = total.max()
    return best, subs[np.flatnonzero(np.isclose(total, best, rtol=1e-12, atol=1e-9))]


def line(lengths: list[float], flow: float = 10.0) -> Trips:
    """One trip from node 0 to the last node of a line network."""
    return Trips.from_paths([list(range(len(lengths) + 1))], [lengths], [flow])


# ---------------------------------------------------------------- data and paths
def test_reader_gives_the_published_network_sizes():
    net, trips, od = network()
    assert net.n_nodes == 25 and net.tail.size == 43
    assert trips.n_trips == 300
    assert trips.flow.sum() == pytest.approx(17690.928, abs=1e-3)
    assert (od[:, 0] < od[:, 1]).all()


def test_missing_file_raises_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_kuby_lim(tmp_path)


def test_paths_are_lexicographically_smallest_shortest_paths():
    net, trips, od = network()
    g = nx.Graph()
    g.add_weighted_edges_from(
        zip(net.tail.tolist(), net.head.tolist(), net.length.tolist(), strict=True)
    )
    ties = 0
    for q, (o, d) in enumerate(od.tolist()):
        alls = sorted(nx.all_shortest_paths(g, o, d, weight="weight"))
        ties += len(alls) > 1
        assert trips.path(q).tolist() == alls[0]
        assert trips.arcs(q).sum() == pytest.approx(nx.shortest_path_length(g, o, d, "weight"))
    assert ties == 67  # as the shared README says: the tie rule matters for 67 pairs


def test_tie_on_a_square_takes_the_smaller_node_sequence():
    # 0-2-3 and 0-1-3 both have length 2; 0-1-3 is lexicographically smaller
    t = shortest_path_trips(4, [0, 0, 2, 1], [2, 1, 3, 3], [1, 1, 1, 1], [0, 3], [3, 0], [1, 1])
    assert t.path(0).tolist() == [0, 1, 3]
    assert t.path(1).tolist() == [3, 1, 0]


# ---------------------------------------------------------------- K sets vs simulation
@pytest.mark.parametrize("R", [3, 5, 8, 12, 16, 20, 40])
def test_cover_sets_agree_with_tank_simulation_on_random_station_sets(R):
    _, trips, _ = network()
    cs = cover_sets(trips, R, np.arange(25))
    rng = np.random.default_rng(R)
    for _ in range(40):
        mask = rng.random(25) < rng.uniform(0.05, 0.6)
        ref = np.array(
            [
                tank_ok(
                    trips.path(q).tolist(), trips.arcs(q).tolist(), set(np.flatnonzero(mask)), R
                )
                for q in range(trips.n_trips)
            ]
        )
        assert (refuelled_by(cs, mask, trips.n_trips) == ref).all()
        assert (round_trips_refuelled(trips, mask, R) == ref).all()


# ---------------------------------------------------------------- hand-made line cases
def test_line_middle_station_serves_when_range_allows():
    # 0 -4- 1 -4- 2, R = 10: only a station at node 1 works alone (5-4=1, full, ..., back with 6)
    s = flow_refuelling(line([4, 4]), 10, n_sites=3, p=1)
    assert s.open.tolist() == [1] and s.objective == pytest.approx(10)


def test_line_half_tank_rule_at_the_origin():
    # R = 8, station at 1 only: 4 - 4 = 0 at node 1, full, 2: 4, 1: 0, full, home with exactly
    # R/2 = 4 -> refuelled. R = 7.9: home with 3.9 < R/2 -> not. R = 7 needs all three stations
    # ({1, 2} gets home with 3 < 3.5; {0, 1}, {0, 2} run dry on the way).
    s = flow_refuelling(line([4, 4]), 8, n_sites=3, p=1)
    assert s.objective == pytest.approx(10) and s.open.tolist() == [1]
    assert flow_refuelling(line([4, 4]), 7.9, n_sites=3, p=1).objective == pytest.approx(0)
    s7 = flow_refuelling(line([4, 4]), 7, n_sites=3, p=2)
    assert s7.objective == pytest.approx(0) and not s7.details["refuelled"][0]
    s7b = flow_refuelling(line([4, 4]), 7, n_sites=3, p=3)
    assert s7b.objective == pytest.approx(10)


def test_line_arc_longer_than_range_is_never_refuelled():
    s = flow_refuelling(line([2, 11, 2]), 10, n_sites=4, p=4)
    assert s.objective == 0 and s.details["flow_refuelled_share"] == 0


def test_short_round_trip_needs_any_station_on_its_path():
    trips = Trips.from_paths([[0, 1], [2, 3]], [[3], [3]], [5, 7])
    s = flow_refuelling(trips, 10, n_sites=4, p=1)
    assert s.objective == pytest.approx(7) and s.open[0] in (2, 3)


# ---------------------------------------------------------------- 25-node optima
@pytest.mark.parametrize("R", [8, 12, 16, 20])
@pytest.mark.parametrize("p", [1, 2, 3])
def test_optimum_equals_exhaustive_search(R, p):
    _, trips, _ = network()
    s = flow_refuelling(trips, R, n_sites=25, p=p)
    best, argbest = exhaustive(R, p)
    assert s.status == "optimal"
    assert s.objective == pytest.approx(best, rel=1e-9)
    assert s.details["flow_refuelled"] == pytest.approx(best, rel=1e-9)
    assert any(set(a.tolist()) == set(s.open.tolist()) for a in argbest)


@pytest.mark.slow
@pytest.mark.parametrize("R", [8, 12, 16, 20])
@pytest.mark.parametrize("p", [4, 5, 6])
def test_optimum_equals_exhaustive_search_larger_p(R, p):
    _, trips, _ = network()
    s = flow_refuelling(trips, R, n_sites=25, p=p)
    best, _ = exhaustive(R, p)
    assert s.objective == pytest.approx(best, rel=1e-9)


def test_budget_with_unit_costs_equals_p():
    _, trips, _ = network()
    sp_ = flow_refuelling(trips, 12, n_sites=25, p=3)
    sb = flow_refuelling(trips, 12, n_sites=25, cost_cny=1.0, budget_cny=3)
    assert sb.objective == pytest.approx(sp_.objective)
    assert sb.details["total_cost_cny"] <= 3


def test_budget_buys_cheaper_sites():
    _, trips, _ = network()
    cost = np.full(25, 10.0)
    cost[[13, 16]] = 25.0  # node ids 14 and 17 (p=2 optimum at R=16) made expensive
    s = flow_refuelling(trips, 16, n_sites=25, cost_cny=cost, budget_cny=20)
    assert s.details["total_cost_cny"] <= 20
    best = exhaustive(16, 2, allowed=cost <= 10)[0]
    assert s.objective == pytest.approx(max(best, exhaustive(16, 1)[0]))


def test_required_and_forbidden_match_restricted_exhaustive_search():
    _, trips, _ = network()
    forb = np.zeros(25, bool)
    forb[[13, 16]] = True
    s = flow_refuelling(trips, 16, n_sites=25, p=3, required=[24], forbidden=forb)
    assert 24 in s.open and not set(s.open) & {13, 16}
    best = exhaustive(16, 3, allowed=~forb, must=(24,))[0]
    assert s.objective == pytest.approx(best)


def test_required_cost_above_budget_is_infeasible_with_a_reason():
    _, trips, _ = network()
    s = flow_refuelling(trips, 12, n_sites=25, cost_cny=5e6, budget_cny=8e6, required=[0, 1])
    assert s.status == "infeasible" and "budget" in s.message and "10,000,000" in s.message


def test_more_required_sites_than_p_is_infeasible():
    _, trips, _ = network()
    s = flow_refuelling(trips, 12, n_sites=25, p=1, required=[0, 1])
    assert s.status == "infeasible" and "p = 1" in s.message


def test_bad_input_raises_model_input_error():
    with pytest.raises(ModelInputError, match="budget_cny or p"):
        flow_refuelling(line([4, 4]), 10, n_sites=3)
    with pytest.raises(ModelInputError, match="arc length"):
        Trips.from_paths([[0, 1]], [[0.0]], [1])
    with pytest.raises(ModelInputError, match="range_km"):
        flow_refuelling(line([4, 4]), -1, n_sites=3, p=1)
    with pytest.raises(ModelInputError, match="fuel_kg_per_km"):
        flow_refuelling(line([4, 4]), 10, n_sites=3, p=1, size_kg_per_day=[5], size_cost_cny=[1])


# ---------------------------------------------------------------- capacitated
def test_capacitated_line_station_loads_by_hand():
    # 0 -4- 1 -4- 2, R = 10, stations at 0 and 2 (1 forbidden). Outbound fuel (8 km) can only
    # come from station 0, return fuel from station 2: 0.1 kg/km × 10 veh × 8 km = 8 kg each.
    t = line([4, 4], flow=10)
    kw = dict(n_sites=3, p=2, forbidden=[1], fuel_kg_per_km=0.1)
    big = flow_refuelling(t, 10, size_kg_per_day=[4, 100], size_cost_cny=[1, 2], **kw)
    assert big.objective == pytest.approx(10)
    assert big.details["load_kg_per_day"] == pytest.approx([8, 8])
    small = flow_refuelling(
        t, 10, size_kg_per_day=[4, 100], size_cost_cny=[1, 2], budget_cny=3, **kw
    )
    assert small.objective == pytest.approx(5)  # one 4 kg/day station caps its half at 50 %
    assert sorted(small.details["size_kg_per_day"].tolist()) == [4, 100]
    whole = flow_refuelling(
        t, 10, size_kg_per_day=[4, 100], size_cost_cny=[1, 2], budget_cny=3, whole_trips=True, **kw
    )
    assert whole.objective == pytest.approx(0)


def _cyclic_suppliers(path, arcs, R):
    """For each directional arc of the round trip, the path nodes whose station can carry fuel to
    the arc's end (forward distance along the cycle <= R), by explicit loops."""
    seq = path + path[-2::-1]
    legs = arcs + arcs[::-1]
    pos = np.concatenate([[0.0], np.cumsum(legs)])
    two_l = pos[-1]
    out = []
    for j in range(len(legs)):
        head = pos[j + 1]
        ks = set()
        for i in range(len(legs)):
            d = (head - pos[i]) % two_l
            d = two_l if d == 0 else d
            if d <= R + 1e-9:
                ks.add(seq[i])
        out.append((legs[j], ks))
    return out


def test_capacitated_matches_brute_force_on_a_tiny_network():
    # 5-node network, 4 trips, two sizes per site; enumerate every (closed/small/big) plan with
    # p <= 2 stations and solve the allocation LP for each with scipy's linprog.
    tail, head, length = [0, 1, 2, 3, 1], [1, 2, 3, 4, 3], [3.0, 4.0, 2.0, 5.0, 5.0]
    o, d, f = [0, 0, 1, 2], [4, 2, 4, 4], [6.0, 4.0, 5.0, 3.0]
    trips = shortest_path_trips(5, tail, head, length, o, d, f)
    R, fuel = 12.0, 0.05
    caps, costs = np.array([2.0, 5.0]), np.array([1.0, 1.8])
    sol = flow_refuelling(
        trips,
        R,
        n_sites=5,
        budget_cny=3.0,
        size_kg_per_day=caps,
        size_cost_cny=costs,
        fuel_kg_per_km=fuel,
    )
    arcs = [
        _cyclic_suppliers(trips.path(q).tolist(), trips.arcs(q).tolist(), R)
        for q in range(trips.n_trips)
    ]
    best = 0.0
    for plan in itertools.product(range(3), repeat=5):  # 0 closed, 1 small, 2 big
        plan = np.array(plan)
        if costs[plan[plan > 0] - 1].sum() > 3.0 + 1e-9:
            continue
        cap = np.where(plan > 0, caps[np.maximum(plan - 1, 0)], 0.0)
        # variables: u_q (4), then x per (q, arc, supplier)
        xs = [(q, a, k) for q in range(4) for a, (_, ks) in enumerate(arcs[q]) for k in ks]
        nv = 4 + len(xs)
        c = np.zeros(nv)
        c[:4] = -np.array(f)
        A_eq, b_eq, A_ub, b_ub = [], [], [], []
        for q in range(4):
            for a, (leg, _) in enumerate(arcs[q]):
                row = np.zeros(nv)
                row[q] = -fuel * f[q] * leg
                for i, (qq, aa, _) in enumerate(xs):
                    if qq == q and aa == a:
                        row[4 + i] = 1
                A_eq.append(row)
                b_eq.append(0.0)
        for k in range(5):
            row = np.zeros(nv)
            for i, (_, _, kk) in enumerate(xs):
                if kk == k:
                    row[4 + i] = 1
            A_ub.append(row)
            b_ub.append(cap[k])
        bounds = [(0, 1)] * 4 + [(0, None)] * len(xs)
        r = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bounds)
        assert r.status == 0
        best = max(best, -r.fun)
    assert sol.status == "optimal"
    assert sol.objective == pytest.approx(best, rel=1e-7)
    assert (sol.details["load_kg_per_day"] <= sol.details["size_kg_per_day"] + 1e-6).all()


# ---------------------------------------------------------------- builder component (for joint)
def test_component_under_an_external_budget_row_matches_the_public_function():
    from siting.models import MilpBuilder, add_flow_refuelling, solve_milp, solve_with_pyomo

    _, trips, _ = network()
    cost = np.linspace(1.0, 3.0, 25)
    b = MilpBuilder("joint_like", sense="max")
    h = add_flow_refuelling(b, trips, 12, n_sites=25, cost_cny=cost)
    b.add_rows("budget", 1, np.zeros(h.cost_cols.size), h.cost_cols, h.cost_vals, upper=6.0)
    milp = b.build()
    res = solve_milp(milp)
    ref = flow_refuelling(trips, 12, n_sites=25, cost_cny=cost, budget_cny=6.0)
    assert res.objective == pytest.approx(ref.objective)
    assert cost[res.x[h.site_cols] > 0.5].sum() <= 6.0 + 1e-9
    pyo = solve_with_pyomo(milp, "appsi_highs")
    assert pyo.objective == pytest.approx(ref.objective)
