"""The corridor's expressways from a local OSM file instead of the skeleton."""

from __future__ import annotations

import shutil
from pathlib import Path

import networkx as nx
import pytest
import shapely

from siting import corridor
from siting import plan as plan_mod
from siting._errors import InputError
from siting.scenario import load_corridor_section

DATA = Path(__file__).parent / "data"
#: the real motorways / trunk roads of the central-Beijing extract (make_extract.py --highways)
PBF = DATA / "corridor" / "central_expressways.osm.pbf"


@pytest.fixture
def pbf(tmp_path) -> Path:
    p = tmp_path / PBF.name
    shutil.copyfile(PBF, p)
    return p


@pytest.fixture
def built(pbf):
    skeleton = corridor.load_corridor()
    return skeleton, corridor.corridor_from_file(pbf, skeleton)


def test_every_skeleton_node_and_attribute_is_kept(built):
    skeleton, G = built
    for s, d in skeleton.nodes(data=True):
        assert s in G
        for key in ("name", "kind", "cluster"):
            assert G.nodes[s][key] == d[key]


def test_g6_gateway_lands_on_the_osm_node_its_source_names(built):
    # data/corridor/nodes.csv: gw_g6 is "OSM node 280038804 on way '八达岭高速'"
    _, G = built
    assert G.nodes["gw_g6"]["osm_node"] == 280038804
    assert G.nodes["gw_g6"]["snap_km"] == pytest.approx(0.0, abs=1e-3)
    assert "osm:280038804" not in G  # the road node became the skeleton node


def test_only_the_corridor_polygon_is_read_and_reported(built):
    skeleton, G = built
    info = G.graph["corridor_file"]
    poly = corridor.corridor_polygon(skeleton, info["buffer_km"])
    osm = [n for n in G.nodes if str(n).startswith("osm:")]
    xs = [G.nodes[n]["x"] for n in osm]
    ys = [G.nodes[n]["y"] for n in osm]
    assert osm and shapely.contains_xy(poly, xs, ys).all()
    assert info["ways_outside_dropped"] > 0  # e.g. the southern 3rd/4th ring roads
    assert {d["highway"] for n in osm for _, _, d in G.out_edges(n, data=True)} <= (
        corridor.CORRIDOR_HIGHWAYS | {"motorway_link"}
    )
    n_dir = skeleton.number_of_edges()
    assert info["skeleton_directed_links_replaced"] + info["skeleton_directed_links_kept"] == n_dir
    assert info["skeleton_nodes_on_file_roads"] + info["skeleton_nodes_off_file_roads"] == len(
        skeleton
    )
    line = corridor.describe_corridor_file(info)
    assert "skeleton links replaced" in line and "km of expressway" in line


def test_replaced_directions_are_drivable_on_the_file_roads_and_the_rest_stays(built):
    skeleton, G = built
    info = G.graph["corridor_file"]

    def skeleton_edge(a, b) -> bool:
        return any(str(d.get("osmid", "")).startswith("corridor:")
                   for d in (G.get_edge_data(a, b) or {}).values())  # fmt: skip

    gone = [(u, v) for u, v in set(skeleton.edges()) if not skeleton_edge(u, v)]
    assert len(gone) == info["skeleton_directed_links_replaced"]
    roads_only = nx.subgraph_view(
        G, filter_edge=lambda a, b, k: not str(G[a][b][k].get("osmid", "")).startswith("corridor:")
    )
    for u, v in gone:  # each dropped direction is drivable on the file's roads alone
        path = nx.shortest_path(roads_only, u, v, weight="length")
        assert len(path) > 2 and any(str(n).startswith("osm:") for n in path)
    # the central extract does not reach Yanqing / Zhangjiakou: those skeleton links all stay
    far = [(u, v) for u, v in skeleton.edges() if skeleton.nodes[u]["cluster"] != "Beijing"]
    assert far and all(skeleton_edge(u, v) for u, v in far)
    assert all("snap_km" not in G.nodes[u] for u, _ in far)
    assert info["skeleton_nodes_on_file_roads"] >= 5  # the gateway and Beijing venues/hubs


def _two_node_skeleton(a_xy, b_xy) -> nx.MultiDiGraph:
    S = nx.MultiDiGraph(crs="EPSG:4326")
    for n, (x, y) in (("a", a_xy), ("b", b_xy)):
        S.add_node(n, x=x, y=y, name=n, kind="town", cluster="Beijing", coord_source="test")
    for u, v in (("a", "b"), ("b", "a")):
        S.add_edge(u, v, length=1.0, speed_kph=80.0, travel_time=45.0, highway="motorway",
                   name="test link", osmid=f"corridor:{u}__{v}")  # fmt: skip
    return S


def test_a_link_joined_by_the_file_roads_is_replaced_by_them(pbf):
    from siting import osm_file

    # two real junctions of the file's largest strongly connected expressway component
    g = osm_file.read_osm_file(pbf, highways=corridor.CORRIDOR_HIGHWAYS, cache=False)
    R = nx.DiGraph(list(zip(g.edges["u"], g.edges["v"], strict=True)))
    big = max(nx.strongly_connected_components(R), key=len)
    xy = g.nodes.set_index("osmid").loc[sorted(big)]
    a, b = xy.iloc[0], xy.iloc[len(xy) // 2]
    S = _two_node_skeleton((a.x, a.y), (b.x, b.y))
    G = corridor.corridor_from_file(pbf, S, buffer_km=60)  # the whole extract
    info = G.graph["corridor_file"]
    assert info["skeleton_nodes_on_file_roads"] == 2
    assert info["skeleton_directed_links_replaced"] == 2
    assert not any(str(d.get("osmid", "")).startswith("corridor:")
                   for _, _, d in G.edges(data=True))  # fmt: skip
    for u, v in (("a", "b"), ("b", "a")):
        path = nx.shortest_path(G, u, v, weight="length")
        assert len(path) > 2 and all(str(n).startswith("osm:") for n in path[1:-1])
        km = nx.path_weight(nx.DiGraph(G), path, "length") / 1000
        assert km >= corridor.haversine_km(a.y, a.x, b.y, b.x)  # roads are never shorter


def test_corridor_section_takes_its_roads_from_the_file(pbf, tmp_path):
    text = (DATA / "scenarios" / "hydrogen_small.yaml").read_text(encoding="utf-8")
    scn = tmp_path / "h.yaml"
    scn.write_text(text + f"  roads: {{source: file, path: {pbf.name}}}\n", encoding="utf-8")
    sec = load_corridor_section(scn)
    assert sec.roads.source == "file" and sec.roads.path == pbf
    part = plan_mod.prepare_corridor(sec).trip_flows
    src = [d for d in part.data_sources if d["name"].startswith("corridor roads")]
    assert src and src[0]["kept"]["skeleton_nodes_on_file_roads"] >= 5
    assert "skeleton links replaced" in src[0]["note"]
    osm_ids = {v for k, v in part.corridor_ids.items() if str(k).startswith("osm:")}
    kept = src[0]["kept"]
    assert kept["nodes"] - kept["skeleton_nodes_on_file_roads"] <= len(osm_ids) < kept["nodes"]
    assert part.trips.n_trips > 0


def test_missing_roads_file_is_a_one_line_error(tmp_path):
    text = (DATA / "scenarios" / "hydrogen_small.yaml").read_text(encoding="utf-8")
    scn = tmp_path / "h.yaml"
    scn.write_text(text + "  roads: {source: file, path: nowhere.osm.pbf}\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"roads\.path: file not found"):
        load_corridor_section(scn)


def test_file_without_corridor_roads_is_an_input_error(tmp_path):
    import osmium

    far = tmp_path / "far.osm.pbf"  # one residential street in central Beijing: no expressway
    with osmium.SimpleWriter(str(far)) as w:
        w.add_node(osmium.osm.mutable.Node(id=1, location=(116.40, 39.90)))
        w.add_node(osmium.osm.mutable.Node(id=2, location=(116.41, 39.90)))
        w.add_way(osmium.osm.mutable.Way(id=1, nodes=[1, 2], tags={"highway": "residential"}))
    with pytest.raises(InputError, match=r"far\.osm\.pbf: no drivable roads"):
        corridor.corridor_from_file(far)
