"""The offline base layer's data: polylines, roads by class and zoom, boundaries, tiles."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import numpy as np
import pytest

from siting import basemap, data

CENTRAL = [[39.788, 116.148], [40.096, 116.613]]  # the embedded network's extent
CORRIDOR = [[39.9, 114.8], [41.0, 116.5]]


@pytest.fixture(scope="module")
def ddir():
    return data.data_dir()


def test_polyline_round_trip_keeps_points_within_a_metre():
    rng = np.random.default_rng(3)
    pts = np.column_stack([rng.uniform(114, 118, 50), rng.uniform(39, 42, 50)])
    back = basemap.decode_polyline(basemap.encode_polyline(pts))
    assert back.shape == pts.shape
    assert np.abs(back - pts).max() <= 0.5e-5 + 1e-12  # 1e-5 degree steps: ≤ 0.6 m


def test_polyline_matches_the_published_example():
    # Google's documentation example: (38.5, -120.2), (40.7, -120.95), (43.252, -126.453)
    pts = np.array([[-120.2, 38.5], [-120.95, 40.7], [-126.453, 43.252]])
    assert basemap.encode_polyline(pts) == "_p~iF~ps|U_ulLnnqC_mqNvxq`@"


def test_roads_are_grouped_by_class_with_a_minimum_zoom_and_named(ddir):
    roads = basemap.road_layer(ddir, basemap.padded_bounds(CENTRAL))
    classes = {c[0]: c for c in roads["classes"]}
    assert classes["motorway"][1] == 0 and classes["primary"][1] == 0
    assert classes["secondary"][1] == 12 and classes["residential"][1] == 14
    assert classes["motorway"][3] > classes["primary"][3] > classes["residential"][3]  # heavier
    assert roads["names"][0] == "" and "东三环中路" in roads["names"]
    # every line decodes inside the network's extent
    for _, _, enc in roads["lines"][:200]:
        for part in enc.split(" "):
            pts = basemap.decode_polyline(part)
            assert len(pts) >= 2
            assert (pts[:, 0] > 116.1).all() and (pts[:, 1] < 40.2).all()


def test_roads_outside_the_extent_are_left_out(ddir):
    box = (116.38, 39.90, 116.42, 39.93)  # about 3 km × 3 km around Tiananmen
    small = basemap.road_layer(ddir, box)
    full = basemap.road_layer(ddir, None)
    assert 0 < len(small["lines"]) < len(full["lines"]) / 5


def test_boundaries_carry_names_and_label_points(ddir):
    areas = basemap.boundary_layer(ddir, basemap.padded_bounds(CORRIDOR))["areas"]
    names = [a[0] for a in areas]
    assert "Dongcheng 东城区" in names and "Yanqing 延庆区" in names and "Chongli" in names
    assert "Zhangjiakou (city)" not in names  # the prefecture as a whole is not drawn
    for name, lat, lon, rings in areas:
        assert rings and 35 < lat < 43 and 112 < lon < 120, name


def test_corridor_draws_expressways_towns_and_venues_not_city_street_links(ddir):
    corr = basemap.corridor_layer(ddir, basemap.padded_bounds(CORRIDOR))
    roads = [r for r, _ in corr["links"]]
    assert any(r.startswith("G6 Jingzang") for r in roads)
    assert not any(r.startswith("local link (city streets") for r in roads)
    kinds = {k for *_, k in corr["places"]}
    assert {"town", "venue"} <= kinds
    assert any(p[0].startswith("Zhangjiakou city") for p in corr["places"])


def test_tiles_in_covers_the_box_at_each_zoom():
    box = (116.148, 39.788, 116.613, 40.096)
    tiles = basemap.tiles_in(box, range(0, 7))
    assert (0, 0, 0) in tiles
    assert {(z, x, y) for z, x, y in tiles if z == 6} == {(6, 52, 24)}
    assert basemap.tile_xy(116.4, 39.9, 6) == (52, 24)


def test_committed_raster_tiles_match_their_index(ddir):
    index = json.loads((ddir / basemap.TILES_INDEX).read_text(encoding="utf-8"))
    assert index["licence"] == "ODbL-1.0" and "OpenStreetMap" in index["attribution"]
    assert len(index["tiles"]) >= 10
    for t in index["tiles"]:
        z, x, y = t["tile"].split("/")
        blob = (ddir / basemap.TILES_DIR / z / x / f"{y}.png").read_bytes()
        assert blob[:8] == b"\x89PNG\r\n\x1a\n"
        assert hashlib.sha256(blob).hexdigest() == t["sha256"]
    inlined = basemap.raster_tiles(ddir, basemap.padded_bounds(CENTRAL, 0.0))
    assert sorted(inlined) == ["3/6/3", "4/13/6", "5/26/12", "6/52/24"]


def _mbtiles(path, tiles):
    con = sqlite3.connect(path)
    con.execute("create table tiles (zoom_level integer, tile_column integer, tile_row integer, "
                "tile_data blob)")  # fmt: skip
    con.executemany("insert into tiles values (?, ?, ?, ?)", tiles)
    con.commit()
    con.close()


def test_build_tiles_flips_tms_rows_and_is_reproducible(tmp_path):
    # MBTiles count rows from the south: XYZ tile (6, 52, 24) is row 63 - 24 = 39
    png = b"\x89PNG\r\n\x1a\nfake-tile"
    _mbtiles(tmp_path / "basemap.db", [(6, 52, 39, png), (6, 52, 24, b"wrong row"),
                                       (0, 0, 0, png + b"0")])  # fmt: skip
    out = tmp_path / "data"
    out.mkdir()
    box = (116.148, 39.788, 116.613, 40.096)
    index = basemap.build_tiles(out, tmp_path / "basemap.db", box)
    assert (out / "basemap/tiles/6/52/24.png").read_bytes() == png
    assert sorted(t["tile"] for t in index["tiles"]) == ["0/0/0", "6/52/24"]
    first = (out / basemap.TILES_INDEX).read_bytes()
    basemap.build_tiles(out, tmp_path / "basemap.db", box)
    assert (out / basemap.TILES_INDEX).read_bytes() == first


def test_build_tiles_command_without_a_source_fails_with_exit_2(tmp_path, capsys):
    assert basemap.main(["build-tiles", "--source", str(tmp_path / "none.db"),
                         "--data", str(tmp_path)]) == 2  # fmt: skip
    assert "error:" in capsys.readouterr().err
