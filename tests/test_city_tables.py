"""The run's road tables give exactly the plan of the networkx graph path (issue 12).

``siting.plan.prepare`` loads the city network as :class:`siting.road_tables.RoadTables`; the
graph path (``siting.network.load_network`` → ``networkx.MultiDiGraph``) is kept for API users.
Both must give the same demand grid, candidates (names included), travel times and plan.
"""

from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from siting import network, plan, road_tables
from siting.demand_kinds import area_demand
from siting.scenario import load_scenario
from siting.study_area import buffered, study_area

ROOT = Path(__file__).resolve().parents[1]
SMALL = ROOT / "tests" / "data" / "scenarios" / "small.yaml"
DEFAULT = ROOT / "scenarios" / "beijing_fast_charging.yaml"


def _graph_path(scn) -> plan.Prepared:
    """prepare() as it was before the tables: a networkx graph handed to every stage."""
    net = scn.network
    source = {"kind": net.source, "path": net.path, "place": net.place, "bbox": net.bbox}
    clip = buffered(study_area(scn)[0], net.clip_buffer_m) if net.source == "file" else None
    G = network.load_network(
        source, base_dir=scn.base_dir, speeds_kph=net.speeds_kph or None,
        speed_factor=net.speed_factor, clip=clip, file_cache=False,
    )  # fmt: skip
    arrays = network.graph_arrays(G)
    part = area_demand.prepare(scn, G, arrays)
    return plan.Prepared(
        scn, G, arrays, area=part.area, districts=part.districts, demand=part.demand,
        candidates=part.candidates, travel=part.travel, timings=part.timings,
        data_sources=part.data_sources, notes=part.notes, sizing=part.sizing,
    )  # fmt: skip


def _assert_same(a: plan.Prepared, b: plan.Prepared) -> None:
    assert isinstance(b.graph, road_tables.RoadTables) and isinstance(a.graph, nx.MultiDiGraph)
    assert len(a.graph) == len(b.graph) and a.graph.number_of_edges() == b.graph.number_of_edges()
    assert (a.arrays.node_ids == b.arrays.node_ids).all()
    ma, mb = a.arrays.matrix, b.arrays.matrix
    assert (ma.indptr == mb.indptr).all() and (ma.indices == mb.indices).all()
    assert (ma.data == mb.data).all()  # the same float64 travel times, bit for bit
    pd.testing.assert_frame_equal(pd.DataFrame(a.demand), pd.DataFrame(b.demand))
    pd.testing.assert_frame_equal(pd.DataFrame(a.candidates), pd.DataFrame(b.candidates))
    ta, tb = a.travel, b.travel
    assert (ta.indptr == tb.indptr).all() and (ta.indices == tb.indices).all()
    assert (ta.data == tb.data).all()
    pa, pb = plan.solve_prepared(a), plan.solve_prepared(b)
    assert pa.solution.status == pb.solution.status == "optimal"
    assert pa.summary["objective"] == pytest.approx(pb.summary["objective"], rel=1e-12)
    cols = ["site_id", "name", "district", "plugs", "cost_cny", "demand_served"]
    pd.testing.assert_frame_equal(pd.DataFrame(pa.sites[cols]), pd.DataFrame(pb.sites[cols]))


def test_tables_give_the_graph_paths_plan_on_the_real_pbf_extract():
    scn = load_scenario(SMALL)
    scn.network.path = SMALL.parent.parent / "beijing_extract" / "extract.osm.pbf"
    scn.network.cache = False
    _assert_same(_graph_path(scn), plan.prepare(scn))


def test_tables_give_the_graph_paths_plan_on_the_embedded_default():
    scn = load_scenario(DEFAULT)
    _assert_same(_graph_path(scn), plan.prepare(scn))


def test_tables_give_the_graph_paths_plan_on_a_graphml_file_with_a_speed_factor():
    scn = load_scenario(SMALL)  # extract.graphml: loaded as a graph, converted to tables
    scn.network.speed_factor = 0.7
    _assert_same(_graph_path(scn), plan.prepare(scn))


def test_osm_speed_rule_is_osmnx_add_edge_speeds():
    """maxspeed parsed as osmnx does (mph, lanes, junk), class speeds and class means else."""
    ms = ["60", "50 mph", "40|60", "CN:urban", None, "80", None, "30 km/h", None, "none"]
    hw = ["primary", "primary", "trunk", "secondary", "secondary", "busway", "busway",
          "residential", "track", "track"]  # fmt: skip
    n = len(ms)
    nodes = pd.DataFrame({"osmid": np.arange(n + 1), "x": np.linspace(116.3, 116.4, n + 1),
                          "y": 39.9})  # fmt: skip
    edges = pd.DataFrame({"u": np.arange(n), "v": np.arange(1, n + 1), "key": 0, "highway": hw,
                          "maxspeed": ms, "length": np.linspace(100.0, 900.0, n)})  # fmt: skip
    G = network.graph_from_frames(nodes, edges)
    for _, _, d in G.edges(data=True):
        if not isinstance(d.get("maxspeed"), str):
            del d["maxspeed"]
    speeds = {**network.DEFAULT_SPEEDS_KPH, "secondary": 33.0}
    network._set_osm_speeds(G, speeds)
    t = road_tables.from_frames(nodes, edges, speeds_kph={"secondary": 33.0},
                                largest_component=False, speed_rule="osm")  # fmt: skip
    want_kph = [d["speed_kph"] for _, _, d in G.edges(data=True)]
    want_tt = [d["travel_time"] for _, _, d in G.edges(data=True)]
    assert t.edges["speed_kph"].tolist() == want_kph
    assert t.edges["travel_time"].tolist() == want_tt
    assert want_kph[1] == pytest.approx(50 * 1.60934) and want_kph[5] == 80.0  # busway: mean
    assert want_kph[8] == network.FALLBACK_SPEED_KPH


def test_tables_round_trip_through_a_graph():
    t = road_tables.load_road_tables(None)
    G = road_tables.to_graph(t)
    back = road_tables.from_graph(G)
    pd.testing.assert_frame_equal(t.nodes, back.nodes)
    cols = ["u", "v", "length", "speed_kph", "travel_time"]
    got = back.edges[cols].to_numpy()
    assert (got == t.edges[cols].to_numpy()[t.graph_order()]).all()
    ref = network.load_network(None)
    assert len(G) == len(ref) and G.number_of_edges() == ref.number_of_edges()
    assert list(G.edges(keys=True)) == list(ref.edges(keys=True))


def test_neighbourhood_graph_names_nodes_as_the_whole_graph():
    from siting.candidates import road_names

    t = road_tables.load_road_tables(None)
    G = road_tables.to_graph(t)
    nodes = t.nodes["osmid"].to_numpy()[::97].tolist()
    sub = road_tables.neighbourhood_graph(t, nodes, hops=2)
    assert sub.number_of_edges() < G.number_of_edges() / 2
    assert road_names(sub, nodes) == road_names(G, nodes)


def test_corridor_joined_to_city_tables_as_to_the_city_graph():
    from siting.scenario import load_corridor_section

    sec = load_corridor_section(ROOT / "tests" / "data" / "scenarios" / "hydrogen_small.yaml")
    t = road_tables.load_road_tables(None)
    a = plan.prepare_corridor(sec, city_graph=network.load_network(None)).trip_flows
    b = plan.prepare_corridor(sec, city_graph=t).trip_flows
    assert len(a.trip_table) > 0
    pd.testing.assert_frame_equal(a.trip_table, b.trip_table)
    pd.testing.assert_frame_equal(pd.DataFrame(a.candidates), pd.DataFrame(b.candidates))


def test_pbf_amenities_equal_the_xml_ones(tmp_path):
    """osm_sites on a .osm.pbf (the candidates' OSM POIs of a file network) finds the same
    amenity nodes and ways (way centroids need the node locations) as on the XML file."""
    import osmium

    xml = ROOT / "tests" / "data" / "synthetic" / "pois.osm"
    pos_xml, pbf = tmp_path / "pois.osm", tmp_path / "pois.osm.pbf"
    for out in (pos_xml, pbf):  # ids made positive, as in files from openstreetmap.org
        with osmium.SimpleWriter(str(out)) as w:
            for obj in osmium.FileProcessor(str(xml)):
                if obj.is_node():
                    w.add_node(obj.replace(id=-obj.id))
                elif obj.is_way():
                    w.add_way(obj.replace(id=-obj.id, nodes=[-n.ref for n in obj.nodes]))
    a = network.osm_sites({"kind": "file", "path": pos_xml})
    b = network.osm_sites({"kind": "file", "path": pbf})
    assert len(a) == 3 and (a["element"] == "way").sum() == 1
    cols = ["osmid", "element", "amenity", "name", "lon", "lat"]
    pd.testing.assert_frame_equal(pd.DataFrame(a[cols]), pd.DataFrame(b[cols]))
