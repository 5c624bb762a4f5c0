"""Road graph loading (embedded, local files, osmnx with recorded responses), arrays, POIs."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from siting import network as N
from siting._errors import InputError

DATA = Path(__file__).parent / "data"
EXTRACT = DATA / "beijing_extract"
SYNTH = DATA / "synthetic"
BBOX = (116.385, 39.898, 116.410, 39.918)  # tests/data/make_extract.py


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test on any attempt to open a network connection."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _record_overpass(monkeypatch, cache: Path, call, response: Path) -> None:
    """Put ``response`` in osmnx's cache under the URL osmnx builds for ``call()``.

    The query is captured from osmnx's own request code (first run, stopped before any I/O), so
    the cache key is exactly the one osmnx looks up in the second, real run.
    """
    import osmnx as ox
    import requests
    from osmnx import _http, _overpass

    captured = []

    class Stop(Exception):
        pass

    def capture(data):
        captured.append(data)
        raise Stop

    with monkeypatch.context() as m:
        m.setattr(_overpass, "_overpass_request", capture)
        with pytest.raises(Stop):
            call()
    url = ox.settings.overpass_url.rstrip("/") + "/interpreter"
    prepared = str(requests.Request("GET", url, params=captured[0]).prepare().url)
    with N._osmnx_cache(cache / "osmnx"):
        target = _http._resolve_cache_filepath(prepared)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(response, target)


def _check_contract(G: nx.MultiDiGraph) -> None:
    assert isinstance(G, nx.MultiDiGraph)
    assert G.graph["crs"] == "EPSG:4326"
    assert "OpenStreetMap" in G.graph["attribution"]
    for _, d in G.nodes(data=True):
        assert 116.0 < d["x"] < 117.0 and 39.0 < d["y"] < 41.0
    for _, _, d in G.edges(data=True):
        assert d["length"] >= 0
        assert d["highway"] in N.DRIVABLE_HIGHWAYS
        assert d["travel_time"] == pytest.approx(d["length"] / (d["speed_kph"] / 3.6))
        assert "osmid" in d
    assert nx.is_strongly_connected(G)


# ----------------------------------------------------------------------------- embedded


def test_embedded_graph_follows_the_contract():
    # load time is measured by benchmarks/end_to_end.py, not asserted here (a shared CI machine)
    G = N.load_network()
    assert len(G) > 20_000 and G.number_of_edges() > 40_000
    _check_contract(G)


def test_embedded_speeds_are_the_class_defaults_and_scale_with_factor():
    G = N.load_network({"kind": "embedded"}, speed_factor=0.5)
    for _, _, d in list(G.edges(data=True))[:2000]:
        assert d["speed_kph"] == pytest.approx(0.5 * N.DEFAULT_SPEEDS_KPH[d["highway"]])


def test_speed_overrides_apply_per_class():
    G = N.load_network(speeds_kph={"residential": 7.0})
    res = [d["speed_kph"] for _, _, d in G.edges(data=True) if d["highway"] == "residential"]
    assert res and set(res) == {7.0}


def test_default_speeds_cover_every_drivable_class_and_are_positive():
    assert set(N.DEFAULT_SPEEDS_KPH) == N.DRIVABLE_HIGHWAYS
    assert all(0 < v <= 120 for v in N.DEFAULT_SPEEDS_KPH.values())
    assert N.DEFAULT_SPEEDS_KPH["motorway"] > N.DEFAULT_SPEEDS_KPH["residential"]


# ----------------------------------------------------------------------------- oneway


def _ways(oneway: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    nodes = pd.DataFrame({"osmid": [1, 2, 3], "x": [116.0, 116.001, 116.002], "y": [40.0] * 3})
    ways = pd.DataFrame(
        {
            "way": [7],
            "highway": ["primary"],
            "oneway": [oneway],
            "name": ["x"],
            "node_ids": ["1 2 3"],
        }
    )
    return ways, nodes


@pytest.mark.parametrize(
    ("oneway", "expected"),
    [(1, {(1, 2), (2, 3)}), (-1, {(2, 1), (3, 2)}), (0, {(1, 2), (2, 3), (2, 1), (3, 2)})],
)
def test_oneway_codes_give_forward_reverse_or_both_directions(oneway, expected):
    ways, nodes = _ways(oneway)
    edges = N.edges_from_ways(ways, nodes)
    assert set(zip(edges.u, edges.v, strict=True)) == expected
    assert edges["oneway"].all() == (oneway != 0)
    # 0.001 degree of longitude at 40 N is about 85.2 m
    assert edges["length"].to_numpy() == pytest.approx(85.2, abs=0.5)


def test_parallel_edges_get_distinct_keys_and_arrays_keep_the_fastest():
    nodes = pd.DataFrame({"osmid": [1, 2], "x": [116.0, 116.01], "y": [40.0, 40.0]})
    ways = pd.DataFrame(
        {
            "way": [1, 2],
            "highway": ["residential", "primary"],
            "oneway": [1, 1],
            "name": ["", ""],
            "node_ids": ["1 2", "1 2"],
        }
    )
    edges = N.edges_from_ways(ways, nodes)
    assert sorted(edges["key"]) == [0, 1]
    G = N.graph_from_frames(nodes, edges)
    N._set_class_speeds(G, N.DEFAULT_SPEEDS_KPH)
    arr = N.graph_arrays(G)
    fastest = min(d["travel_time"] for _, _, d in G.edges(data=True))
    i, j = (int(np.flatnonzero(arr.node_ids == k)[0]) for k in (1, 2))
    assert arr.matrix[i, j] == pytest.approx(fastest)
    assert arr.matrix.nnz == 1


# ----------------------------------------------------------------------------- files


@pytest.mark.parametrize("name", ["extract.osm", "extract.osm.pbf", "extract.graphml"])
def test_each_local_file_kind_loads_the_same_real_extract(name, no_network):
    G = N.load_network({"kind": "file", "path": name}, base_dir=EXTRACT)
    _check_contract(G)
    # same roads whatever the format: total length of the drivable extract, in km
    km = sum(d["length"] for _, _, d in G.edges(data=True)) / 1000
    G0 = N.load_network({"kind": "file", "path": EXTRACT / "extract.osm"})
    km0 = sum(d["length"] for _, _, d in G0.edges(data=True)) / 1000
    assert km == pytest.approx(km0, rel=1e-4)


def test_osm_file_keeps_only_drivable_classes():
    ways = pd.read_csv(EXTRACT / "ways.csv")
    assert not ways["highway"].isin(N.DRIVABLE_HIGHWAYS).all()  # footways etc. in the file
    G = N.load_network({"kind": "file", "path": EXTRACT / "extract.osm"})
    assert {d["highway"] for _, _, d in G.edges(data=True)} <= N.DRIVABLE_HIGHWAYS


def test_graph_from_shared_tables_matches_osm_file_length():
    nodes = pd.read_csv(EXTRACT / "nodes.csv").rename(
        columns={"osm_node_id": "osmid", "lon": "x", "lat": "y"}
    )
    ways = pd.read_csv(EXTRACT / "ways.csv", dtype={"name": str})
    edges = N.edges_from_ways(ways[ways.highway.isin(N.DRIVABLE_HIGHWAYS)], nodes)
    G_file = N.load_network(
        {"kind": "file", "path": EXTRACT / "extract.osm"}, largest_component=False
    )
    km_file = sum(d["length"] for _, _, d in G_file.edges(data=True))
    assert edges["length"].sum() == pytest.approx(km_file, rel=1e-6)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(InputError, match=r"nowhere\.osm"):
        N.load_network({"kind": "file", "path": tmp_path / "nowhere.osm"})


def test_unknown_extension_is_an_input_error(tmp_path):
    p = tmp_path / "roads.shp"
    p.write_text("x")
    with pytest.raises(InputError, match=r"roads\.shp.*unknown extension"):
        N.load_network({"kind": "file", "path": p})


@pytest.mark.parametrize("name", ["bad.osm", "bad.osm.pbf", "bad.graphml"])
def test_corrupt_file_is_an_input_error_naming_it(tmp_path, name):
    p = tmp_path / name
    p.write_bytes(b"<osm><node id='1' lat= this is not xml \x00\x01")
    with pytest.raises(InputError, match=name.replace(".", r"\.")):
        N.load_network({"kind": "file", "path": p})


def test_osm_file_without_roads_is_an_input_error():
    with pytest.raises(InputError, match=r"pois\.osm"):
        N.load_network({"kind": "file", "path": SYNTH / "pois.osm"})


@pytest.mark.parametrize(
    "source",
    [
        {"kind": "cloud"},
        {"kind": "file"},
        {"kind": "osmnx"},
        {"kind": "osmnx", "bbox": [116.4, 39.9, 116.3, 40.0]},
        {"kind": "osmnx", "place": "Beijing", "bbox": [116.3, 39.9, 116.4, 40.0]},
        {"kind": "embedded", "colour": "red"},
    ],
)
def test_bad_source_descriptions_are_input_errors(source):
    with pytest.raises(InputError, match="network source"):
        N.load_network(source)


def test_source_accepts_objects_with_attributes():
    class Section:  # e.g. a pydantic model of the scenario
        kind = "file"
        path = "extract.osm"
        place = None
        bbox = None
        network_type = "drive"

    G = N.load_network(Section(), base_dir=EXTRACT)
    assert G.graph["source"].startswith("file:")


# ----------------------------------------------------------------------------- osmnx


def test_osmnx_bbox_source_reads_a_recorded_overpass_response_offline(
    tmp_path, monkeypatch, no_network
):
    import osmnx as ox

    _record_overpass(
        monkeypatch,
        tmp_path,
        lambda: ox.graph_from_bbox(BBOX, network_type="drive"),
        EXTRACT / "overpass_drive.json",
    )
    G = N.load_network({"kind": "osmnx", "bbox": list(BBOX)}, cache_dir=tmp_path)
    _check_contract(G)
    assert G.graph["source"].startswith("osmnx: bbox=")
    # the GraphML cache now answers the same query without osmnx's HTTP cache
    graphs = list((tmp_path / "graphs").glob("*.graphml"))
    assert len(graphs) == 1
    shutil.rmtree(tmp_path / "osmnx")
    G2 = N.load_network({"kind": "osmnx", "bbox": BBOX}, cache_dir=tmp_path)
    assert G2.number_of_edges() == G.number_of_edges()


def test_osmnx_place_source_passes_place_and_network_type(tmp_path, monkeypatch):
    import osmnx as ox

    seen = {}
    real = N.load_network({"kind": "file", "path": EXTRACT / "extract.graphml"})

    def fake_graph_from_place(place, network_type):
        seen.update(place=place, network_type=network_type)
        return real.copy()

    monkeypatch.setattr(ox, "graph_from_place", fake_graph_from_place)
    G = N.load_network(
        {"kind": "osmnx", "place": "Dongcheng, Beijing", "network_type": "drive_service"},
        cache_dir=tmp_path,
    )
    assert seen == {"place": "Dongcheng, Beijing", "network_type": "drive_service"}
    assert G.graph["source"] == "osmnx: place='Dongcheng, Beijing'"


def test_osmnx_features_read_a_recorded_response_offline(tmp_path, monkeypatch, no_network):
    import osmnx as ox

    _record_overpass(
        monkeypatch,
        tmp_path,
        lambda: ox.features_from_bbox(BBOX, {"amenity": sorted(N.SITE_AMENITIES)}),
        SYNTH / "overpass_amenities.json",
    )
    sites = N.osm_sites({"kind": "osmnx", "bbox": BBOX}, cache_dir=tmp_path)
    assert sorted(sites["amenity"]) == ["charging_station", "fuel", "parking"]
    assert list(sites.columns[:6]) == ["osmid", "element", "amenity", "name", "lon", "lat"]


# ----------------------------------------------------------------------------- POIs


def test_osm_xml_sites_parse_amenity_nodes_and_area_centroids():
    sites = N.osm_sites({"kind": "file", "path": SYNTH / "pois.osm"})
    assert sorted(sites["amenity"]) == ["charging_station", "fuel", "parking"]
    parking = sites[sites["element"] == "way"].iloc[0]
    assert parking["lon"] == pytest.approx(116.3955) and parking["lat"] == pytest.approx(39.9005)
    assert "<script>alert(1)</script>" in set(sites["name"])  # unescaped text, escape on output
    assert sites.crs.to_epsg() == 4326


def test_embedded_and_graphml_sources_have_no_pois():
    assert N.osm_sites(None).empty
    assert N.osm_sites({"kind": "file", "path": EXTRACT / "extract.graphml"}).empty


def test_real_extract_has_no_amenities():
    assert N.osm_sites({"kind": "file", "path": EXTRACT / "extract.osm"}).empty


# ----------------------------------------------------------------------------- arrays


def test_graph_arrays_match_networkx_shortest_paths():
    from scipy.sparse.csgraph import dijkstra

    G = N.load_network({"kind": "file", "path": EXTRACT / "extract.osm"})
    arr = N.graph_arrays(G)
    assert arr.matrix.shape == (len(G), len(G))
    src = int(arr.node_ids[0])
    dist = dijkstra(arr.matrix, indices=0)
    ref = nx.single_source_dijkstra_path_length(G, src, weight="travel_time")
    got = dict(zip(arr.node_ids.tolist(), dist.tolist(), strict=True))
    for node, seconds in ref.items():
        assert got[node] == pytest.approx(seconds)


def test_nearest_nodes_agrees_with_brute_force_and_returns_metres():
    G = N.load_network({"kind": "file", "path": EXTRACT / "extract.osm"})
    arr = N.graph_arrays(G)
    rng = np.random.default_rng(0)
    lon = rng.uniform(BBOX[0], BBOX[2], 300)
    lat = rng.uniform(BBOX[1], BBOX[3], 300)
    nodes, dist = N.nearest_nodes(arr, lon, lat, return_dist=True)
    d_all = N.great_circle_m(lat[:, None], lon[:, None], arr.lat[None, :], arr.lon[None, :])
    assert np.array_equal(nodes, arr.node_ids[d_all.argmin(axis=1)])
    assert dist == pytest.approx(d_all.min(axis=1), rel=1e-6)
    assert np.array_equal(N.nearest_nodes(G, lon, lat), nodes)


def test_nearest_node_of_a_node_is_itself():
    G = N.load_network({"kind": "file", "path": EXTRACT / "extract.osm"})
    arr = N.graph_arrays(G)
    assert np.array_equal(N.nearest_nodes(arr, arr.lon, arr.lat), arr.node_ids)
