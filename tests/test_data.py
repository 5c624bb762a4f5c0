"""Embedded data: locating ``data/``, the reproducible build, and the committed files."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from siting import data as D
from siting._errors import InputError
from siting.network import DRIVABLE_HIGHWAYS

ROOT = Path(__file__).resolve().parents[1]
EXTRACT = Path(__file__).parent / "data" / "beijing_extract"


@pytest.fixture(scope="module")
def mini_shared(tmp_path_factory) -> Path:
    """A shared-material tree made of the real test extract and the committed boundaries/facts."""
    root = tmp_path_factory.mktemp("shared")
    osm = root / "osm" / "beijing_central_2013"
    osm.mkdir(parents=True)
    for name in ("nodes.csv", "ways.csv"):
        shutil.copyfile(EXTRACT / name, osm / name)
    (root / "boundaries").mkdir()
    gpd.read_parquet(ROOT / "data/boundaries/beijing_districts.parquet").to_file(
        root / "boundaries/beijing_districts_wgs84.geojson"
    )
    gpd.read_parquet(ROOT / "data/boundaries/zhangjiakou_counties.parquet").to_file(
        root / "boundaries/zhangjiakou_counties_wgs84.geojson"
    )
    (root / "facts").mkdir()
    for p in (ROOT / "data" / "facts").glob("*.csv"):
        shutil.copyfile(p, root / "facts" / p.name)
    census = pd.read_csv(root / "facts" / D.CENSUS_FILE, dtype={"district_code": str})
    census.drop(columns="source").to_csv(root / "facts" / D.CENSUS_FILE, index=False)
    return root


@pytest.fixture(scope="module")
def built(mini_shared, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("data")
    return out, D.build(mini_shared, out)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- build


def test_build_writes_every_listed_file_with_its_hash(built):
    out, meta = built
    assert meta["project"] == "siting"
    for f in meta["files"]:
        assert _sha(out / f["path"]) == f["sha256"], f["path"]
        assert f["source"] and f["licence"] and f["attribution"]
    assert json.loads((out / D.MANIFEST).read_text(encoding="utf-8")) == meta


def test_osm_derived_files_carry_the_odbl_attribution(built):
    _, meta = built
    osm_files = [f for f in meta["files"] if "osm" in f["source"]]
    assert {f["path"] for f in osm_files} >= {
        "network/nodes.parquet",
        "network/edges.parquet",
        "study_area.geojson",
    }
    for f in osm_files:
        assert "© OpenStreetMap contributors" in f["attribution"] and "ODbL" in f["licence"]


def test_build_is_deterministic(mini_shared, built, tmp_path):
    _, meta = built
    meta2 = D.build(mini_shared, tmp_path)
    assert [f["sha256"] for f in meta2["files"]] == [f["sha256"] for f in meta["files"]]
    assert meta2["inputs"] == meta["inputs"]


def test_built_network_is_the_largest_strong_component_of_drivable_roads(built):
    out, meta = built
    edges = pd.read_parquet(out / "network/edges.parquet")
    nodes = pd.read_parquet(out / "network/nodes.parquet", columns=["osmid", "x", "y"])
    assert set(edges["highway"]) <= DRIVABLE_HIGHWAYS
    assert set(edges["u"]) | set(edges["v"]) == set(nodes["osmid"])
    assert meta["network"]["nodes"] == len(nodes) <= meta["network"]["drivable_nodes_all"]
    assert edges[["u", "v", "key"]].duplicated().sum() == 0
    assert (edges["length"] > 0).all()


def test_study_area_covers_the_road_nodes_inside_the_source_bbox(built):
    out, meta = built
    area = gpd.read_file(out / "study_area.geojson")
    nodes = pd.read_parquet(out / "network/nodes.parquet", columns=["x", "y"])
    pts = gpd.points_from_xy(nodes["x"], nodes["y"])
    assert area.geometry.iloc[0].buffer(1e-9).contains(pts).all()
    w, s, e, n = area.total_bounds
    assert w >= D.OSM_BBOX[0] - 1e-6 and e <= D.OSM_BBOX[2] + 1e-6
    assert s >= D.OSM_BBOX[1] - 1e-6 and n <= D.OSM_BBOX[3] + 1e-6
    assert meta["study_area"]["area_km2"] > 0


def test_district_table_estimates_population_by_area_share(built):
    out, _ = built
    t = pd.read_csv(out / "districts_in_study_area.csv", dtype={"district_code": str})
    assert len(t) == 16 and t["district_code"].is_unique
    assert t["area_share_in_study"].between(0, 1).all()
    expected = (t["resident_population_2020"] * t["area_share_in_study"]).round()
    assert (t["population_in_study_est"] == expected).all()
    assert t["estimate_method"].str.contains("uniform density").all()
    # the Tiananmen extract lies in Dongcheng and Xicheng only
    inside = set(t.loc[t["area_in_study_km2"] > 0.01, "district_en"])
    assert inside <= {"Dongcheng", "Xicheng"} and inside


def test_build_leaves_other_files_in_the_data_folder_alone(mini_shared, tmp_path):
    (tmp_path / "corridor").mkdir()
    (tmp_path / "corridor" / "links.csv").write_text("kept\n")
    D.build(mini_shared, tmp_path)
    assert (tmp_path / "corridor" / "links.csv").read_text() == "kept\n"


def test_build_with_a_missing_input_names_it(mini_shared, tmp_path):
    broken = tmp_path / "shared"
    shutil.copytree(mini_shared, broken)
    (broken / "osm/beijing_central_2013/ways.csv").unlink()
    with pytest.raises(InputError, match=r"ways\.csv"):
        D.build(broken, tmp_path / "out")


def test_command_line_build_exits_0_and_2(mini_shared, tmp_path):
    assert D.main(["build", "--shared", str(mini_shared), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / D.MANIFEST).is_file()
    assert D.main(["build", "--shared", str(tmp_path / "nothing"), "--out", str(tmp_path)]) == 2


# ----------------------------------------------------------------------------- data_dir


def test_data_dir_defaults_to_the_repository_data_folder_or_its_packaged_copy(monkeypatch):
    monkeypatch.delenv("SITING_DATA_DIR", raising=False)
    if D.checkout_data_dir() is not None:  # editable install / checkout
        assert D.data_dir() == ROOT / "data"
    else:  # `pip install .`: the wheel's copy, the same files as the checkout's data/
        assert D.data_dir() == D.packaged_data_dir()
        same = (D.data_dir() / D.MANIFEST).read_bytes() == (ROOT / "data" / D.MANIFEST).read_bytes()
        assert same


def test_data_dir_honours_the_environment_variable(built, monkeypatch):
    out, _ = built
    monkeypatch.setenv("SITING_DATA_DIR", str(out))
    assert D.data_dir() == out.resolve()


def test_data_dir_environment_variable_without_manifest_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SITING_DATA_DIR", str(tmp_path))
    with pytest.raises(InputError, match="SITING_DATA_DIR"):
        D.data_dir()


def test_data_dir_for_an_installed_package_uses_its_own_copy(built, tmp_path, monkeypatch):
    out, _ = built
    monkeypatch.delenv("SITING_DATA_DIR", raising=False)
    site = tmp_path / "site-packages" / "siting"
    site.mkdir(parents=True)
    monkeypatch.setattr(D, "__file__", str(site / "data.py"))  # as installed from a wheel
    assert D.checkout_data_dir() is None
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="embedded data not found"):
        D.data_dir()
    shutil.copytree(out, site / "_data")  # what the wheel ships (pyproject package-dir)
    assert D.data_dir() == site / "_data"
    # a data/ folder beside the scenario still wins (a user's own rebuilt data)
    repo = tmp_path / "clone"
    shutil.copytree(out, repo / "data")
    (repo / "scenarios").mkdir()
    scenario = repo / "scenarios" / "x.yaml"
    scenario.write_text("name: x\n")
    assert D.data_dir(near=scenario) == repo / "data"
    # the working folder is not searched: a run from anywhere gets the packaged copy
    monkeypatch.chdir(repo)
    assert D.data_dir() == site / "_data"


# ----------------------------------------------------------------------------- committed data


def test_committed_data_matches_its_manifest():
    meta = json.loads((ROOT / "data" / D.MANIFEST).read_text(encoding="utf-8"))
    for f in meta["files"]:
        assert _sha(ROOT / "data" / f["path"]) == f["sha256"], f["path"]
    assert meta["attribution"] == "© OpenStreetMap contributors, ODbL"


def test_committed_data_is_small_and_covers_central_beijing():
    size = sum(p.stat().st_size for p in (ROOT / "data").rglob("*") if p.is_file())
    assert size < 10_000_000
    t = D.district_table()
    share = t.set_index("district_en")["area_share_in_study"]
    assert share["Dongcheng"] == 1.0 and share["Xicheng"] == 1.0
    assert share["Yanqing"] == 0.0
    assert D.study_area().total_bounds[0] >= D.OSM_BBOX[0] - 1e-6
    assert len(D.districts()) == 16


def test_data_path_of_a_missing_file_is_an_input_error():
    with pytest.raises(InputError, match="no_such_file"):
        D.data_path("no_such_file.csv")
