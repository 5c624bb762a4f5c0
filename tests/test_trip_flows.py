"""Corridor section: parsing, trip flows on the joined graph, depot demand, sizes, plan output."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from siting import corridor, network
from siting import plan as plan_mod
from siting._errors import ScenarioError
from siting.demand_kinds import trip_flows
from siting.frlm_network import round_trips_refuelled
from siting.scenario import Solver, load_corridor_section, parse_corridor_section

ROOT = Path(__file__).resolve().parent.parent
SCN = Path(__file__).parent / "data" / "scenarios"
EXTRACT = Path(__file__).parent / "data" / "beijing_extract" / "extract.graphml"


@pytest.fixture(scope="module")
def small():
    sec = load_corridor_section(SCN / "hydrogen_small.yaml")
    return plan_mod.prepare_corridor(sec)


def test_olympic_scenario_hydrogen_section_parses():
    sec = load_corridor_section(ROOT / "scenarios" / "olympic_corridor_hydrogen.yaml")
    assert sec.capacitated and sec.joint.fast_chargers
    assert {s.size_kg_per_day for s in sec.station_sizes} == {500, 1000}


def test_intercity_bev_scenario_section_parses_uncapacitated():
    sec = load_corridor_section(ROOT / "scenarios" / "jjj_intercity_fast_charging.yaml")
    assert sec.vehicle == "bev" and not sec.capacitated and sec.station_cost_cny == 660000


def test_negative_range_is_a_one_line_scenario_error():
    with pytest.raises(ScenarioError) as e:
        load_corridor_section(SCN / "hydrogen_bad_range.yaml")
    msg = str(e.value)
    assert "hydrogen.range_km" in msg and "\n" not in msg and "hydrogen_bad_range.yaml" in msg


def test_unknown_node_is_a_one_line_scenario_error():
    sec = load_corridor_section(SCN / "hydrogen_bad_node.yaml")
    with pytest.raises(ScenarioError, match=r"demand_points\[0\]\.node: unknown corridor node"):
        plan_mod.prepare_corridor(sec, file="x.yaml")


def test_unknown_fleet_and_missing_station_cost_are_rejected():
    with pytest.raises(ScenarioError, match="fleet 'car' is not in fleets"):
        parse_corridor_section(
            {
                "range_km": 100,
                "station_cost_cny": 1,
                "demand_points": [
                    {"name": "a", "node": "yanqing", "vehicles": 1, "km_per_day": 1, "fleet": "car"}
                ],
            }
        )
    with pytest.raises(ScenarioError, match="exactly one of station_sizes"):
        parse_corridor_section({"range_km": 100})


def test_node_demand_is_vehicles_times_km_times_kg_per_100km(small):
    row = small.depots.demand.iloc[0]
    assert row["kg_per_day"] == pytest.approx(100 * 200 * 5.2 / 100)  # 1040 kg/day
    assert "100 vehicles x 200 km/day x 5.2 kg/100 km" in row["basis"]


def test_existing_station_is_built_at_no_cost_with_its_size(small):
    c = small.trip_flows.candidates
    i = int(np.flatnonzero(c["corridor_node"] == "chongli")[0])
    assert c["status"].iloc[i] == "built"
    cost = small.trip_flows.size_cost_cny[i]
    assert np.isfinite(cost).sum() == 1
    assert (
        small.trip_flows.size_kg_per_day[i][np.isfinite(cost)][0] == 1000 and np.nanmin(cost) == 0
    )


def test_station_loads_stay_within_their_sizes(small):
    plan = plan_mod.solve_prepared(small, 40e6)
    s = plan.sites
    load = s["trip_fuel_kg_per_day"] + s["node_demand_kg_per_day"]
    assert (load <= s["size_kg_per_day"] + 1e-6).all()
    assert s["size_kg_per_day"].isin([500, 1000]).all()
    assert plan.summary["spent_cny"] <= 40e6
    assert "h2:chongli" in set(s["site_id"])  # built stays open


def test_plan_trips_refuelled_agree_with_a_tank_simulation(small):
    plan = plan_mod.solve_prepared(small, 40e6)
    tf = small.trip_flows
    st = np.zeros(tf.lex_nodes.size, bool)
    chosen = tf.candidates["site_id"].isin(plan.sites["site_id"]).to_numpy()
    st[tf.site_pos[chosen]] = True
    feasible = round_trips_refuelled(tf.trips, st, tf.section.range_km)
    # a trip counted as refuelled must be coverable by the open stations
    assert not (plan.trips["refuelled"].to_numpy() & ~feasible).any()
    share = plan.summary["flow_refuelled_share"]
    flow = plan.trips["flow_per_day"].to_numpy()
    assert share == pytest.approx((flow * plan.trips["served_share"]).sum() / flow.sum(), abs=1e-6)
    assert 0 < share <= 1
    assert all(g.geom_type == "LineString" for g in plan.trips.geometry)


def test_zero_budget_keeps_only_the_existing_station(small):
    plan = plan_mod.solve_prepared(small, 0.0)
    assert list(plan.sites["site_id"]) == ["h2:chongli"]
    assert plan.summary["spent_cny"] == 0


@pytest.fixture(scope="module")
def joined():
    city = network.load_network({"kind": "file", "path": str(EXTRACT)})
    sec = parse_corridor_section(
        {"range_km": 400, "station_cost_cny": 1e6, "max_snap_km": 60,
         "trips": {"olympic": True, "logistics": False, "olympic_total_per_day": 100}}
    )  # fmt: skip
    return city, trip_flows.prepare(sec, city)


def test_trips_on_the_joined_graph_follow_the_lexicographic_tie_rule(joined):
    city, hp = joined
    C = corridor.load_corridor()
    gws = corridor.gateway_nodes(C)
    # the reference: the corridor module's own rule on the same joined graph (string ids)
    C2 = C.copy()
    stand = [(u, v, k) for u, v, k, d in C2.edges(keys=True, data=True)
             if str(d["name"]).startswith(trip_flows.STAND_IN_LINK)]  # fmt: skip
    venues = sorted({u for u, _, _ in stand if u not in gws})
    C2.remove_edges_from(stand)
    G = corridor.join_with_city(C2, city, gateways=gws + venues, max_snap_km=60)
    inv = {v: k for k, v in hp.corridor_ids.items()}
    tab = hp.trip_table
    for q in range(0, hp.trips.n_trips, 7):
        got = [inv.get(int(n), int(n)) for n in hp.lex_nodes[hp.trips.path(q)]]
        ref = corridor.shortest_path_lex(G, tab["origin_node"].iloc[q],
                                         tab["destination_node"].iloc[q])  # fmt: skip
        assert got == ref


def test_lexicographic_rule_picks_the_smaller_of_two_equal_paths():
    # two equally long routes a-b-d and a-c-d: the trip must take b ("b" < "c")
    G = nx.MultiDiGraph(crs="EPSG:4326")
    for n in "abcd":
        G.add_node(n, x=0.0, y=0.0)
    for u, v in ("ab", "bd", "ac", "cd"):
        for s, t in ((u, v), (v, u)):
            G.add_edge(s, t, length=1000.0, travel_time=60.0)
    H, ids, lex = trip_flows._int_graph(G)
    from siting.frlm_network import shortest_path_trips

    pos = {int(v): i for i, v in enumerate(lex)}
    uv = [(pos[u], pos[v]) for u, v in H.edges()]
    t = shortest_path_trips(len(lex), [a for a, _ in uv], [b for _, b in uv], [1.0] * len(uv),
                            [pos[ids["a"]]], [pos[ids["d"]]], [1.0], directed=True)  # fmt: skip
    inv = {v: k for k, v in ids.items()}
    assert [inv[int(lex[i])] for i in t.path(0)] == ["a", "b", "d"]
    assert corridor.shortest_path_lex(G, "a", "d") == ["a", "b", "d"]


def test_beijing_venues_route_over_the_city_graph_when_joined(joined):
    city, hp = joined
    inv = {v: k for k, v in hp.corridor_ids.items()}
    city_nodes = set(city.nodes)
    tab = hp.trip_table
    beijing = tab["origin_node"].str.startswith("bj_") & ~tab["destination_node"].str.startswith(
        "bj_"
    )
    q = int(np.flatnonzero(beijing.to_numpy())[0])
    path = hp.lex_nodes[hp.trips.path(q)]
    assert any(int(n) in city_nodes for n in path)
    assert inv.get(int(path[1])) != "gw_g6"  # not the stand-in link straight to the gateway


# ------------------------------------------------------- joint plan with the real charger pipeline
SMALL_CHARGERS = SCN / "small.yaml"
ISSUE4_KEYS = {"scenario", "status", "objective", "mip_gap", "solve_seconds", "total_seconds",
               "budget_cny", "spent_cny", "demand_covered_share", "sites_by_kind",
               "n_candidates", "n_demand_cells", "data_sources"}  # fmt: skip


@pytest.fixture(scope="module")
def chargers():
    from siting.scenario import load_scenario

    return plan_mod.prepare(load_scenario(SMALL_CHARGERS))


def _joint_section(**joint):
    raw = {
        "range_km": 300,
        "station_sizes": [{"size_kg_per_day": 500, "cost_cny": 1e6}],
        "fleets": {"bus": {"kg_per_100km": 5.2}},
        "demand_points": [{"name": "depot", "node": "zjk_city", "vehicles": 100,
                           "km_per_day": 200, "fleet": "bus"}],
        "trips": {"olympic": True, "logistics": False, "olympic_total_per_day": 200,
                  "olympic_fleet": "bus"},
        "joint": {"fast_chargers": True, **joint},
    }  # fmt: skip
    return plan_mod.prepare_corridor(parse_corridor_section(raw))


#: The solver options the joint tests used before the corridor moved into the plan pipeline.
EXACT = Solver(time_limit_s=60.0, mip_gap=0.0)


def _joint(chargers, **joint):
    """The charger pipeline's stage outputs plus a small corridor section, for joint siting."""
    corr = _joint_section(**joint)
    return replace(chargers, trip_flows=corr.trip_flows, depots=corr.depots)


@pytest.mark.parametrize(
    "joint",
    [{"weights": {"flow": 0.0, "node": 0.0}},
     {"budget_split": {"hydrogen": 0.0, "fast_charger": 1.0}}],
    ids=["zero_hydrogen_weight", "zero_hydrogen_budget"],
)  # fmt: skip
def test_joint_plan_without_hydrogen_serves_what_the_charger_only_plan_serves(chargers, joint):
    budget = 3e6
    ref = plan_mod.solve_prepared(chargers, budget)
    assert ref.solution.status == "optimal"
    plan = plan_mod.solve_prepared(_joint(chargers, **joint), budget, solver=EXACT)
    s = plan.summary
    assert s["status"] == "optimal"
    assert s["served_kwh_per_day"] == pytest.approx(ref.summary["served_kwh_per_day"], rel=1e-7)
    assert s["demand_covered_share"] == pytest.approx(ref.summary["demand_covered_share"], abs=1e-6)
    assert s.get("hydrogen_spent_cny", s["spent_cny_by_kind"].get("hydrogen", 0.0)) == 0.0


def test_joint_plan_reports_plugs_served_kwh_and_trip_flow(chargers):
    plan = plan_mod.solve_prepared(_joint(chargers), 6e6, solver=EXACT)
    s, sites = plan.summary, plan.sites
    assert ISSUE4_KEYS <= set(s)
    assert {"flow_refuelled_share", "hydrogen_node_demand_served_share", "plugs_by_kind"} <= set(s)
    fc = sites[sites["kind"] == "fast_charger"]
    h2 = sites[sites["kind"] == "hydrogen"]
    assert len(fc) and len(h2)
    assert (fc["plugs"] >= 1).all()
    assert np.allclose(fc["capacity_kw"], fc["plugs"] * 120)
    # what a site serves fits its plugs' daily throughput (195 kWh per plug per day)
    assert (fc["demand_served"] <= 195 * fc["plugs"] + 1e-6).all()
    assert fc["demand_served"].sum() == pytest.approx(s["served_kwh_per_day"], rel=1e-6)
    assert plan.demand["served_kwh"].sum() == pytest.approx(s["served_kwh_per_day"], rel=1e-6)
    assert s["plugs_by_kind"] == {"fast_charger": int(fc["plugs"].sum()),
                                  "hydrogen": int(h2["plugs"].sum())}  # fmt: skip
    # hydrogen stations: dispensers are the servers of their queue figures (sizing.hydrogen)
    assert (h2["plugs"] == 2).all() and (h2["size_kg_per_day"] == 500).all()
    assert (h2["p_wait"].between(0, 1)).all() and h2["connection_kw"].isna().all()
    assert s["spent_cny"] <= 6e6 + 1e-6
    assert 0 <= s["flow_refuelled_share"] <= 1


# ------------------------------------------------------------- partly served trips, site costs
def test_trips_carry_their_served_share_and_a_three_way_status(small):
    plan = plan_mod.solve_prepared(small, 40e6)
    t = plan.trips
    share = t["served_share"].to_numpy()
    assert ((share >= 0) & (share <= 1)).all()
    full, none = share >= 1 - 1e-6, share <= 1e-6
    expect = np.where(full, "refuelled", np.where(none, "not", "partly"))
    assert (t["refuel_status"].to_numpy() == expect).all()
    assert (t["refuelled"].to_numpy() == full).all()
    # station capacity (500 / 1000 kg/day) runs short at this budget: some trip is partly served,
    # and it is one the open stations can refuel (only capacity stops the rest of its flow)
    partly = t["refuel_status"].to_numpy() == "partly"
    assert partly.any()
    tf = small.trip_flows
    st = np.zeros(tf.lex_nodes.size, bool)
    st[tf.site_pos[tf.candidates["site_id"].isin(plan.sites["site_id"]).to_numpy()]] = True
    assert round_trips_refuelled(tf.trips, st, tf.section.range_km)[partly].all()
    counts = plan.summary["trips_by_refuel_status"]
    assert counts == {k: int((expect == k).sum()) for k in ("refuelled", "partly", "not")}


def test_map_draws_partly_served_trips_in_their_own_style(small, tmp_path):
    from siting.maps import PARTLY_REFUELLED_COLOUR, write_map

    plan = plan_mod.solve_prepared(small, 40e6)
    n = int((plan.trips["refuel_status"] == "partly").sum())
    html = write_map(plan, tmp_path / "map.html").read_text(encoding="utf-8")
    assert f"Trips partly refuelled ({n})" in html
    assert PARTLY_REFUELLED_COLOUR in html and "partly refuelled (station capacity" in html


def test_joint_site_costs_add_up_to_the_money_spent_with_colocation_savings(chargers):
    from siting import report

    # every corridor station is within 50 km of some charger candidate: savings do apply
    joint = _joint(chargers, colocation_saving_cny=250_000, colocation_max_m=50_000)
    plan = plan_mod.solve_prepared(joint, 6e6, solver=EXACT)
    s, sites = plan.summary, plan.sites
    assert s["colocation_saving_cny"] > 0
    assert sites["colocation_saving_cny"].sum() == pytest.approx(s["colocation_saving_cny"])
    assert (sites["colocation_saving_cny"] >= 0).all()
    assert sites["cost_cny"].sum() == pytest.approx(s["spent_cny"], abs=0.01)
    by_kind = sites.groupby("kind")["cost_cny"].sum()
    for kind, spent in s["spent_cny_by_kind"].items():
        assert by_kind[kind] == pytest.approx(spent, abs=0.01)
    written = sum(r["cost_cny"] for r in report.site_records(plan))
    assert written == pytest.approx(s["spent_cny"], abs=0.01 * len(sites))
