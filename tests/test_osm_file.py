"""Local .osm.pbf files: two-pass read, polygon clip, GeoParquet cache, kept/dropped stats."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Polygon, box

from siting import network as N
from siting import osm_file
from siting._errors import InputError

EXTRACT = Path(__file__).parent / "data" / "beijing_extract"
PBF = EXTRACT / "extract.osm.pbf"
#: a triangle over part of the Tiananmen extract (degrees): a non-rectangular clip polygon
TRIANGLE = Polygon([(116.386, 39.899), (116.409, 39.901), (116.395, 39.917)])


@pytest.fixture
def pbf(tmp_path) -> Path:
    """A private copy of the real extract (its cache folder then lands in tmp_path)."""
    p = tmp_path / "extract.osm.pbf"
    shutil.copyfile(PBF, p)
    return p


def _shared_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same roads from the CSV tables the extract was cut from (an independent reader)."""
    nodes = pd.read_csv(EXTRACT / "nodes.csv").rename(
        columns={"osm_node_id": "osmid", "lon": "x", "lat": "y"}
    )
    ways = pd.read_csv(EXTRACT / "ways.csv", dtype={"name": str})
    return nodes, ways[ways["highway"].isin(N.DRIVABLE_HIGHWAYS)].reset_index(drop=True)


def _brute_force_clip_km(polygon) -> float:
    """Road km inside ``polygon``: every way cut to its runs of consecutive inside nodes."""
    nodes, ways = _shared_tables()
    xy = nodes.set_index("osmid")[["x", "y"]]
    total = 0.0
    for _, w in ways.iterrows():
        ids = [int(i) for i in w["node_ids"].split()]
        inside = [shapely.contains_xy(polygon, *xy.loc[i]) for i in ids]
        for a, b, ia, ib in zip(ids, ids[1:], inside, inside[1:], strict=False):
            if ia and ib and a != b:
                d = N.great_circle_m(xy.loc[a, "y"], xy.loc[a, "x"], xy.loc[b, "y"], xy.loc[b, "x"])
                total += float(d) * (1 if w["oneway"] != 0 else 2)
    return total / 1000


def test_whole_file_matches_the_tables_it_was_cut_from(pbf):
    g = osm_file.read_osm_file(pbf, cache=False)
    nodes, ways = _shared_tables()
    edges = N.edges_from_ways(ways, nodes)
    assert g.edges["length"].sum() == pytest.approx(edges["length"].sum(), rel=1e-6)
    assert g.stats["drivable_ways_in_file"] == len(ways)
    assert g.stats["ways_outside_dropped"] == 0 and g.stats["ways_cut_at_boundary"] == 0
    # junction nodes only: every kept node ends a way piece or is shared by two way positions
    assert len(g.nodes) + g.stats["nodes_folded_into_edges"] == g.stats["drivable_way_nodes_read"]


def test_polygon_clip_agrees_with_a_brute_force_cut(pbf):
    g = osm_file.read_osm_file(pbf, TRIANGLE, cache=False)
    assert shapely.contains_xy(TRIANGLE, g.nodes["x"], g.nodes["y"]).all()
    km = float(g.edges["length"].sum()) / 1000
    assert km == pytest.approx(_brute_force_clip_km(TRIANGLE), rel=1e-6)
    s = g.stats
    assert s["ways_outside_dropped"] > 0 and s["ways_cut_at_boundary"] > 0
    assert s["ways_kept"] + s["ways_outside_dropped"] <= s["drivable_ways_in_file"]
    assert s["road_km"] < osm_file.read_osm_file(pbf, cache=False).stats["road_km"]
    w, s_, e, n = s["bbox"]
    tw, ts, te, tn = TRIANGLE.bounds
    assert tw <= w < e <= te and ts <= s_ < n <= tn


def test_edge_geometry_follows_the_folded_nodes_and_has_the_edge_length(pbf):
    g = osm_file.read_osm_file(pbf, cache=False)
    e = g.edges
    assert (shapely.get_num_points(e.geometry.values) >= 2).all()
    # the line's great-circle length is the edge length; its ends are u and v
    coords = shapely.get_coordinates(e.geometry.values)
    starts = shapely.get_coordinates(shapely.get_point(e.geometry.values, 0))
    xy = g.nodes.set_index("osmid")[["x", "y"]]
    assert np.allclose(starts, xy.loc[e["u"]].to_numpy())
    assert len(coords) > len(e)
    some = e.iloc[int(np.argmax(shapely.get_num_points(e.geometry.values)))]
    pts = shapely.get_coordinates(some.geometry)
    seg = N.great_circle_m(pts[:-1, 1], pts[:-1, 0], pts[1:, 1], pts[1:, 0]).sum()
    assert some["length"] == pytest.approx(seg, abs=1e-3)


def test_cache_is_written_next_to_the_file_and_reused(pbf):
    g1 = osm_file.read_osm_file(pbf, TRIANGLE)
    assert not g1.from_cache
    assert g1.cache_file.parent == pbf.parent / "extract.osm.pbf.siting-cache"
    g2 = osm_file.read_osm_file(pbf, TRIANGLE)
    assert g2.from_cache and g2.cache_file == g1.cache_file
    pd.testing.assert_frame_equal(g1.nodes, g2.nodes)
    pd.testing.assert_frame_equal(
        pd.DataFrame(g1.edges.drop(columns="geometry")),
        pd.DataFrame(g2.edges.drop(columns="geometry")),
    )
    assert g2.stats["road_km"] == g1.stats["road_km"]
    # another polygon is another entry; both stay
    g3 = osm_file.read_osm_file(pbf, box(116.39, 39.90, 116.40, 39.91))
    assert not g3.from_cache and g3.cache_file != g1.cache_file
    assert osm_file.read_osm_file(pbf, TRIANGLE).from_cache


def test_cache_is_rebuilt_when_the_file_changes(pbf):
    g1 = osm_file.read_osm_file(pbf, TRIANGLE)
    st = pbf.stat()
    os.utime(pbf, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a newer download
    g2 = osm_file.read_osm_file(pbf, TRIANGLE)
    assert not g2.from_cache
    assert g2.cache_file != g1.cache_file
    assert not g1.cache_file.exists()  # the stale entry is removed
    assert osm_file.read_osm_file(pbf, TRIANGLE).from_cache


def test_read_only_folder_falls_back_to_the_user_cache(pbf, tmp_path, monkeypatch):
    beside = pbf.parent / (pbf.name + osm_file.CACHE_SUFFIX)
    real = osm_file._writable
    monkeypatch.setattr(osm_file, "_writable", lambda f: f != beside and real(f))
    monkeypatch.setenv("SITING_CACHE_DIR", str(tmp_path / "user_cache"))
    g = osm_file.read_osm_file(pbf, TRIANGLE)
    assert g.cache_file.is_relative_to(tmp_path / "user_cache" / "osm_file")
    assert osm_file.read_osm_file(pbf, TRIANGLE).from_cache


def test_load_network_clips_and_reports_what_it_kept(pbf):
    G = N.load_network({"kind": "file", "path": pbf}, clip=TRIANGLE)
    info = G.graph["osm_file"]
    assert info["polygon_bbox"] == [round(b, 6) for b in TRIANGLE.bounds]
    xs = np.array([d["x"] for _, d in G.nodes(data=True)])
    ys = np.array([d["y"] for _, d in G.nodes(data=True)])
    assert shapely.contains_xy(TRIANGLE, xs, ys).all()
    assert len(G) == info["nodes"] - info["nodes_outside_largest_component"]
    line = N.describe_osm_file(info)
    assert f"kept {info['nodes']:,} nodes" in line and "cut" in line


def test_clip_applies_to_xml_and_graphml_files_too():
    for name in ("extract.osm", "extract.graphml"):
        G = N.load_network({"kind": "file", "path": EXTRACT / name}, clip=TRIANGLE)
        xs = np.array([d["x"] for _, d in G.nodes(data=True)])
        ys = np.array([d["y"] for _, d in G.nodes(data=True)])
        assert shapely.contains_xy(TRIANGLE, xs, ys).all()


def test_polygon_without_roads_is_an_input_error(pbf):
    with pytest.raises(InputError, match=r"extract\.osm\.pbf: no drivable roads inside"):
        osm_file.read_osm_file(pbf, box(100.0, 30.0, 100.1, 30.1))


@pytest.mark.parametrize("content", [b"", b"not a pbf at all \x00\x01\x02" * 10])
def test_check_osm_file_names_a_bad_file(tmp_path, content):
    p = tmp_path / "bad.osm.pbf"
    p.write_bytes(content)
    with pytest.raises(InputError, match=r"bad\.osm\.pbf"):
        osm_file.check_osm_file(p)
    with pytest.raises(InputError, match=r"bad\.osm\.pbf"):
        osm_file.read_osm_file(p, cache=False)


def test_check_osm_file_accepts_the_real_extract():
    assert osm_file.check_osm_file(PBF)["bytes"] == PBF.stat().st_size
