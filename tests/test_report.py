"""Output folder writer: sites.geojson, sites.csv, summary.json contents; atomic replacement."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from _plan_fixtures import HOSTILE, charger_plan, hydrogen_plan

from siting import report
from siting._errors import InputError

SITE_PROPS = {"site_id", "kind", "name", "plugs", "capacity_kw", "cost_cny", "demand_served",
              "source", *report.QUEUE_COLUMNS}  # fmt: skip


def _strict_json(path: Path):
    def no_constant(c):
        raise AssertionError(f"non-JSON constant {c} in {path.name}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=no_constant)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name != folder.name)


def test_write_outputs_writes_the_four_files(tmp_path):
    out = report.write_outputs(charger_plan(), tmp_path / "maps" / "beijing")
    assert out == tmp_path / "maps" / "beijing"
    names = {p.name for p in out.iterdir()}
    assert names == {"map.html", "sites.geojson", "sites.csv", "summary.json", report.MARKER}
    assert _siblings(out) == []  # no temporary folder left next to it


def test_sites_geojson_has_one_point_per_site_with_exact_typed_properties(tmp_path):
    plan = charger_plan()
    out = report.write_outputs(plan, tmp_path / "out")
    gj = _strict_json(out / "sites.geojson")
    feats = gj["features"]
    assert gj["type"] == "FeatureCollection" and len(feats) == len(plan.sites)
    for f, (_, site) in zip(feats, plan.sites.iterrows(), strict=True):
        p = f["properties"]
        assert set(p) == SITE_PROPS
        assert p["kind"] == "fast_charger"
        assert isinstance(p["site_id"], str) and isinstance(p["source"], str)
        assert isinstance(p["plugs"], int) and p["plugs"] == site["plugs"]
        for k in ("capacity_kw", "cost_cny", "demand_served"):
            assert isinstance(p[k], float) and p[k] == pytest.approx(site[k])
        assert f["geometry"]["type"] == "Point"
        lon, lat = f["geometry"]["coordinates"]
        assert (lon, lat) == pytest.approx((site.geometry.x, site.geometry.y), abs=1e-6)
    # OSM names are data here: kept verbatim (escaping is the map's job)
    assert HOSTILE in {f["properties"]["name"] for f in feats}


def test_hydrogen_sites_also_carry_size_and_trips_served(tmp_path):
    out = report.write_outputs(hydrogen_plan(), tmp_path / "out")
    feats = _strict_json(out / "sites.geojson")["features"]
    by_kind = {}
    for f in feats:
        by_kind.setdefault(f["properties"]["kind"], []).append(f["properties"])
    assert {p["size_kg_per_day"] for p in by_kind["hydrogen"]} == {1000.0, 500.0}
    assert {p["trips_served"] for p in by_kind["hydrogen"]} == {3, 2}
    assert all(p["capacity_kw"] is None for p in by_kind["hydrogen"])  # NaN → null
    assert all(set(p) == SITE_PROPS for p in by_kind["fast_charger"])


def test_sites_csv_matches_the_geojson_and_opens_in_excel(tmp_path):
    import csv

    out = report.write_outputs(hydrogen_plan(), tmp_path / "out")
    raw = (out / "sites.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for spreadsheet programs
    rows = list(csv.DictReader((out / "sites.csv").open(encoding="utf-8-sig")))
    feats = _strict_json(out / "sites.geojson")["features"]
    assert [r["site_id"] for r in rows] == [f["properties"]["site_id"] for f in feats]
    assert rows[0]["name"] == "八达岭 Badaling"
    assert list(rows[0])[:8] == list(report.SITE_COLUMNS)
    assert float(rows[0]["lon"]) == pytest.approx(feats[0]["geometry"]["coordinates"][0])
    charger = next(r for r in rows if r["kind"] == "fast_charger")
    assert charger["size_kg_per_day"] == "" and charger["trips_served"] == ""


def test_summary_json_is_strict_json_with_nan_as_null_and_plain_numbers(tmp_path):
    plan = charger_plan()
    assert math.isnan(plan.summary["mip_gap"])
    assert isinstance(plan.summary["n_candidates"], np.integer)
    out = report.write_outputs(plan, tmp_path / "out")
    s = _strict_json(out / "summary.json")
    assert list(s) == list(plan.summary)
    assert s["mip_gap"] is None
    assert s["n_candidates"] == 7 and s["solve_seconds"] == pytest.approx(0.42)
    assert s["sites_by_kind"] == {"fast_charger": 3}


def test_hydrogen_summary_keeps_flow_refuelled_share(tmp_path):
    out = report.write_outputs(hydrogen_plan(), tmp_path / "out")
    s = _strict_json(out / "summary.json")
    assert s["flow_refuelled_share"] == pytest.approx(365.0 / 377.5)


def test_write_json_atomic_converts_numpy_paths_sets_and_infinities(tmp_path):
    obj = {
        1: np.float32(0.5),
        "arr": np.array([1, 2]),
        "inf": float("inf"),
        "nan": np.nan,
        "path": Path("/data/x.parquet"),
        "set": {"b", "a"},
        "flag": np.bool_(True),
        "nested": [{"x": (np.int16(3), None)}],
    }
    path = report.write_json_atomic(tmp_path / "sub" / "x.json", obj)
    assert _strict_json(path) == {
        "1": 0.5, "arr": [1, 2], "inf": None, "nan": None, "path": "/data/x.parquet",
        "set": ["a", "b"], "flag": True, "nested": [{"x": [3, None]}],
    }  # fmt: skip
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_failure_mid_write_leaves_no_output_folder(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report, "write_json_atomic", boom)  # after map.html is written
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="disk full"):
        report.write_outputs(charger_plan(), out)
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_write_keeps_the_previous_output_untouched(tmp_path, monkeypatch):
    out = report.write_outputs(charger_plan(), tmp_path / "out")
    before = _snapshot(out)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report, "sites_csv", boom)
    with pytest.raises(RuntimeError):
        report.write_outputs(hydrogen_plan(), out)
    assert _snapshot(out) == before
    assert _siblings(out) == []


def test_failed_final_rename_restores_the_previous_output(tmp_path, monkeypatch):
    out = report.write_outputs(charger_plan(), tmp_path / "out")
    before = _snapshot(out)
    real_rename = report.os.rename

    def flaky_rename(src, dst):
        if ".tmp-" in Path(src).name:
            raise OSError("rename failed")
        return real_rename(src, dst)

    monkeypatch.setattr(report.os, "rename", flaky_rename)
    with pytest.raises(OSError, match="rename failed"):
        report.write_outputs(hydrogen_plan(), out)
    assert _snapshot(out) == before
    assert _siblings(out) == []


def test_a_new_run_replaces_the_previous_output(tmp_path):
    out = report.write_outputs(charger_plan(), tmp_path / "out")
    report.write_outputs(hydrogen_plan(), out)
    s = _strict_json(out / "summary.json")
    assert s["scenario"] == "Olympic corridor hydrogen (test)"
    assert _siblings(out) == []


def test_refuses_to_replace_a_folder_with_foreign_files(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match=r"notes\.txt"):
        report.write_outputs(charger_plan(), out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert _siblings(out) == []


def test_refuses_an_output_path_that_is_a_file(tmp_path):
    (tmp_path / "out").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        report.write_outputs(charger_plan(), tmp_path / "out")


def test_files_selects_outputs_by_key_or_file_name(tmp_path):
    out = report.write_outputs(charger_plan(), tmp_path / "a", files=("summary.json",))
    assert {p.name for p in out.iterdir()} == {"summary.json", report.MARKER}
    out = report.write_outputs(charger_plan(), tmp_path / "b", files=("geojson", "summary"))
    assert {p.name for p in out.iterdir()} == {
        "sites.geojson", "sites.csv", "summary.json", report.MARKER
    }  # fmt: skip
    with pytest.raises(InputError, match="unknown output 'pdf'"):
        report.write_outputs(charger_plan(), tmp_path / "c", files=("pdf",))
    assert not (tmp_path / "c").exists()


def test_default_files_follow_the_scenario_output_switches(tmp_path):
    plan = charger_plan()
    plan.scenario.outputs = SimpleNamespace(map=False, sites_geojson=True, summary_json=True)
    out = report.write_outputs(plan, tmp_path / "out")
    assert "map.html" not in {p.name for p in out.iterdir()}


def test_summary_rows_are_human_readable():
    plan = hydrogen_plan()
    rows = dict(report.summary_rows(plan))
    assert rows["Budget"] == "30 M CNY"
    assert rows["Spent"] == "19.6 M CNY (65 % of budget)"
    assert rows["Sites"] == "2 hydrogen stations, 1 fast charger"
    assert rows["Hydrogen capacity"] == "1,500 kg/day"
    assert rows["Trip flow refuelled"] == "97 %"
    assert rows["Status"] == "optimal"
    assert rows["Demand covered"].startswith("54 %")
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in rows.items())


def test_trip_flow_charger_csv_has_trips_and_plugs_not_empty_demand_columns(tmp_path):
    import csv

    plan = hydrogen_plan()
    plan.sites = plan.sites.assign(kind="fast_charger", plugs=4.0, capacity_kw=480.0,
                                   size_kg_per_day=np.nan, demand_served=np.nan,
                                   trip_flow_per_day=120.0, district="Yanqing 延庆区")  # fmt: skip
    out = report.write_outputs(plan, tmp_path / "out")
    rows = list(csv.DictReader((out / "sites.csv").open(encoding="utf-8-sig")))
    assert "demand_served" not in rows[0] and "size_kg_per_day" not in rows[0]
    assert rows[0]["plugs"] == "4" and rows[0]["trips_served"] in ("3", "2")
    assert rows[0]["trip_flow_per_day"] == "120.0" and rows[0]["district"] == "Yanqing 延庆区"
    props = _strict_json(out / "sites.geojson")["features"][0]["properties"]
    assert props["district"] == "Yanqing 延庆区" and props["trip_flow_per_day"] == 120.0
