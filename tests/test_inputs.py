"""The validation layer, piece by piece: strict YAML, strict schema, site files, output paths,
command-line flags, OR-Library optima. (The property-based suite is tests/test_inputs_fuzz.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siting._errors import InputError, ScenarioError, SitingError
from siting._outpath import check_output_dir
from siting._sitefile import read_area_file, read_site_table
from siting._strict import plain
from siting._yaml import MAX_DEPTH, load_yaml, load_yaml_text
from siting.cli import app
from siting.orlib import optimum_key, read_optima, read_optima_table
from siting.scenario import load_scenario

DATA = Path(__file__).parent / "data"
SMALL = DATA / "scenarios" / "small.yaml"


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2
        return CliRunner()


def _yaml(text: str) -> object:
    return plain(load_yaml_text(text, "f.yaml"), "f.yaml")


def _small(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of small.yaml (absolute paths) with one text replaced."""
    text = SMALL.read_text(encoding="utf-8")
    text = text.replace("../beijing_extract/", f"{DATA / 'beijing_extract'}/")
    text = text.replace("../sites/", f"{DATA / 'sites'}/")
    assert old in text, old
    p = tmp_path / "s.yaml"
    p.write_text(text.replace(old, new), encoding="utf-8")
    return p


# ----------------------------------------------------------------------------- YAML


@pytest.mark.parametrize(
    "text, value",
    [
        ("a: 1e7", 1e7),  # YAML 1.1 would read text
        ("a: 1_000_000", 1_000_000),
        ("a: 0x1F", 31),
        ("a: 1:30", "1:30"),  # no sexagesimal numbers
        ("a: 2022-02-04", "2022-02-04"),  # no dates
        ("a: yes", True),
        ("a: =", "="),
    ],
)
def test_yaml_scalars_follow_the_documented_rules(text, value):
    assert _yaml(text) == {"a": value}


@pytest.mark.parametrize(
    "text, words",
    [
        ("a: .inf", "a: must be a finite number"),
        ("a: 1e400", "a: must be a finite number"),
        ("a: .nan", "a: must be a finite number"),
        ("a: 1e30", "a: 1e+30 is out of range"),
        ("? [a, b]\n: 1", "line 1, column 3: a key is a list"),
        ("? {a: 1}\n: 1", "a key is a mapping"),
        ("a: 1\na: 2", "line 2, column 1: key 'a' given twice"),
        ("1: x", "key 1 is a number; keys must be text"),
        ("yes: x", "key True is true/false"),
        ("a: !!python/object:os.system x", "unknown tag !!python/object:os.system"),
        ("a: !foo x", "unknown tag !foo"),
        ("a: !!binary aGVsbG8=", "a: binary data is not allowed"),
        ("a: !!set {x, y}", "a: a set is not allowed"),
        ("a: &x [*x]", "a[0]: refers to itself"),
        ("a: *nope", "undefined alias"),
        ("a: !!int x", "'x' is not a whole number"),
        ("x: 1\n---\ny: 2", "expected a single document"),
        ("a: \x07", "line 1, column 4: control character U+0007"),
        ("a: [1, 2", "YAML syntax error"),
        ("[" * 600, f"nested more than {MAX_DEPTH} levels deep"),
    ],
)
def test_bad_yaml_is_one_line(text, words):
    with pytest.raises(ScenarioError) as e:
        _yaml(text)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("f.yaml: ") and words in msg, msg


def test_alias_bomb_is_refused_by_size():
    text = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]\n"
        for i in range(8)
    )
    with pytest.raises(ScenarioError, match="more than 100000 values"):
        _yaml(text)


def test_yaml_file_encodings(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_bytes("name: 北京\n".encode("utf-16"))
    assert load_yaml(p) == {"name": "北京"}
    p.write_bytes(b"\xef\xbb\xbfname: x\n")
    assert load_yaml(p) == {"name": "x"}
    p.write_bytes("name: 北京\n".encode("gbk"))
    with pytest.raises(ScenarioError, match="not UTF-8 text: byte 0xb1 at offset 6"):
        load_yaml(p)
    p.write_bytes(b"name: a\x00b\n")
    with pytest.raises(ScenarioError, match="NUL"):
        load_yaml(p)
    with pytest.raises(ScenarioError, match="is a folder"):
        load_yaml(tmp_path)


# ----------------------------------------------------------------------------- schema


@pytest.mark.parametrize(
    "old, new, words",
    [
        ("budget_cny: 3000000", "budget_cny: yes", "budget_cny: must be a valid number (got True)"),
        ("budget_cny: 3000000", "budget_cny: '3000000'", "budget_cny: must be a valid number"),
        ("budget_cny: 3000000", "budget_cny: .inf", "budget_cny: must be a finite number"),
        ("budget_cny: 3000000", "budget_cny: 1e400", "budget_cny: must be a finite number"),
        ("public_fast_share: 0.8", "public_fast_share: false", "must be a valid number"),
        ("max_plugs: 10", "max_plugs: 2.5", "max_plugs: must be a whole number, not a fraction"),
        ("max_plugs: 10", "max_plugs: 1e30", "max_plugs: 1e+30 is out of range"),
        ("max_plugs: 10", "max_plugs: 10.0", "max_plugs: must be a whole number"),
        ("h3_resolution: 9", "h3_resolution: true", "h3_resolution: must be a whole number"),
        ("spacing_m: 400", "spacing_m: [400]", "spacing_m: must be a valid number"),
        ("name: small test (Tiananmen extract)", "name: 5", "name: must be text"),
        ("mip_gap: 0", "mip_gap: ~", "mip_gap: must be a valid number"),
    ],
)
def test_strict_types_name_file_and_field(tmp_path, old, new, words):
    p = _small(tmp_path, old, new)
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{p}: ") and words in msg, msg


def test_lists_fill_tuple_fields_and_text_fills_paths():
    scn = load_scenario(SMALL)
    assert scn.study_area.bbox == (116.385, 39.898, 116.410, 39.918)
    assert scn.network.path.is_file()


# ----------------------------------------------------------------------------- site files


def _geojson(tmp_path: Path, obj: object) -> Path:
    p = tmp_path / "sites.geojson"
    p.write_text(json.dumps(obj), encoding="utf-8")
    return p


def _feature(coords: object, geom_type: str = "Point", **props: object) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": geom_type, "coordinates": coords},
        "properties": props,
    }


@pytest.mark.parametrize(
    "obj, words",
    [
        ([], "(top level): must be a GeoJSON FeatureCollection object, not a list"),
        (None, "not null"),
        ({"type": "FeatureCollection", "features": {}}, "features: must be a list"),
        ({"type": "FeatureCollection", "features": [1]}, "features[0]: must be a Feature"),
        (
            {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": []}]},
            "features[0].geometry: must be a Point object, not a list",
        ),
        (
            {"type": "FeatureCollection", "features": [_feature("116.4,39.9")]},
            "features[0].geometry.coordinates: must be [lon, lat] numbers, got '116.4,39.9'",
        ),
        (
            {"type": "FeatureCollection", "features": [_feature([[116.4, 39.9]], "MultiPoint")]},
            "features[0].geometry.type: must be 'Point'",
        ),
        (
            {"type": "FeatureCollection", "features": [_feature([True, 39.9])]},
            "must be [lon, lat] numbers",
        ),
        (
            {"type": "FeatureCollection", "features": [_feature([216.4, 39.9])]},
            "features[0].lon: 216.4 is outside -180..180",
        ),
        (
            {"type": "FeatureCollection", "features": [_feature([39.9, 116.4])]},
            "lat: 116.4 is outside -90..90 degrees (lon and lat swapped?)",
        ),
        (
            {"type": "FeatureCollection", "features": [_feature([116.4, 39.9], plugs=2.5)]},
            "features[0].plugs: must be a whole number of plugs (got 2.5)",
        ),
        (
            {"type": "FeatureCollection", "features": [_feature([116.4, 39.9], plugs=1e30)]},
            "features[0].plugs: 1e+30 is out of range",
        ),
        (
            {"type": "FeatureCollection", "features": [_feature([116.4, 39.9], status="open")]},
            "features[0].status: 'open' is not one of",
        ),
        (
            {
                "type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": "EPSG:3857"}},
                "features": [],
            },
            "crs: 'EPSG:3857': only WGS84",
        ),
    ],
)
def test_bad_geojson_site_file_is_one_line(tmp_path, obj, words):
    p = _geojson(tmp_path, obj)
    with pytest.raises(InputError) as e:
        read_site_table(p)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{p}: ") and words in msg, msg


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "empty file"),
        ("name,lon\nx,116.4\n", "line 1: header lacks column(s) lat"),
        ("lon,lat,lon\n1,2,3\n", "column 'lon' given twice"),
        ("lon,lat\n116.4\n", "line 2: 1 fields, the header has 2"),
        ("lon,lat\nabc,39.9\n", "line 2: lon: 'abc' is not a number"),
        ("lon,lat\ninf,39.9\n", "line 2: lon: must be a finite number"),
        ("lon,lat\n116.4,\n", "line 2: lat: '' is not a number"),
        ("lon,lat,plugs\n116.4,39.9,-1\n", "line 2: plugs: -1 is out of range"),
        (
            "id,lon,lat\na,116.4,39.9\na,116.5,39.9\n",
            "line 3: id: 'a' given twice (first at line 2",
        ),
        ('lon,lat,name\n116.4,39.9,"a\n', "not valid CSV"),
    ],
)
def test_bad_csv_site_file_is_one_line(tmp_path, text, words):
    p = tmp_path / "sites.csv"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_site_table(p)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{p}: ") and words in msg, msg


def test_site_files_read_as_before():
    t = read_site_table(DATA / "sites" / "tiananmen_sites.csv")
    assert list(t["id"]) == ["existing_1", "req_1", "opt_1"]
    assert list(t["plugs"]) == [4, 0, 0] and t["kind"].iloc[2] is None
    g = read_site_table(DATA / "sites" / "tiananmen_sites.geojson")
    assert list(g["id"]) == ["gj_1", "gj_2"] and list(g["plugs"]) == [2, 0]


def test_study_area_of_points_fails_at_validate(tmp_path):
    pts = _geojson(tmp_path, {"type": "FeatureCollection", "features": [_feature([116.4, 39.9])]})
    with pytest.raises(InputError, match="holds Point geometries; a study area must be Polygon"):
        read_area_file(pts, "s.yaml: study_area.area")
    p = _small(tmp_path, "area: embedded", f"area: {pts}")
    res = _runner().invoke(app, ["validate", str(p)])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and "study_area.area" in res.stderr, res.stderr


def test_far_away_area_polygon_names_the_field(tmp_path):
    far = _geojson(
        tmp_path,
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {},
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [
                            [[121.4, 31.2], [121.5, 31.2], [121.5, 31.3], [121.4, 31.2]]
                        ],
                    },
                }
            ],
        },
    )
    p = _small(
        tmp_path, "area: embedded\n  bbox: [116.385, 39.898, 116.410, 39.918]", f"area: {far}"
    )
    res = _runner().invoke(app, ["validate", str(p)])
    assert res.exit_code == 2
    assert f"{p.resolve()}: study_area.area: the study area" in res.stderr
    assert "outside Beijing's 16 districts" in res.stderr


# ----------------------------------------------------------------------------- outputs


@pytest.mark.parametrize(
    "path, words",
    [
        ("/proc/x", "cannot create a folder in /proc"),
        ("/dev/null/x", "/dev/null is not a folder"),
        ("/dev/null/x/y", "/dev/null is not a folder"),
        ("", "empty path"),
        ("a\x00b", "NUL"),
    ],
)
def test_output_dir_that_cannot_be_created(path, words):
    with pytest.raises(InputError) as e:
        check_output_dir(path)
    assert words in str(e.value) and str(e.value).startswith("--out: ")


def test_output_dir_check_leaves_nothing_behind(tmp_path):
    out = tmp_path / "a" / "b"
    assert check_output_dir(out) == out
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is not a folder"):
        check_output_dir(tmp_path / "f" / "x")
    with pytest.raises(InputError, match="too long"):
        check_output_dir(tmp_path / ("x" * 250))


def test_compare_with_impossible_out_fails_before_solving():
    res = _runner().invoke(app, ["compare", str(SMALL), "--out", "/proc/x", "--budgets", "1M,2M"])
    assert res.exit_code == 2
    assert res.stderr.strip().startswith("error: --out: /proc/x: cannot create")
    assert "[1/2]" not in res.stderr  # nothing solved


# ----------------------------------------------------------------------------- flags


@pytest.mark.parametrize(
    "args, line",
    [
        (["run", str(SMALL), "--budget", "banana"], "error: --budget: cannot read 'banana'"),
        (["run", str(SMALL), "--budget", "inf"], "error: --budget: cannot read 'inf'"),
        (["run", str(SMALL), "--budget", "-5"], "error: --budget: cannot read '-5'"),
        (["compare", str(SMALL), "--out", "x", "--workers", "0"], "error: --workers: "),
        (["compare", str(SMALL), "--out", "x", "--workers", "w"], "error: --workers: "),
        (
            ["compare", str(SMALL), "--out", "x", "--budgets", "1M:2M:+1e-320"],
            "error: --budgets: '1M:2M:+1e-320': a step of '1e-320' gives more than 1000",
        ),
        (["run"], "error: SCENARIO: missing argument"),
        (["run", str(SMALL), "--bugdet", "3"], "error: --bugdet: no such option"),
        (["run", str(SMALL), "--out"], "error: --out: needs a value"),
        (["rn"], "error: No such command 'rn'"),
    ],
)
def test_flag_errors_are_one_line(args, line, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = _runner().invoke(app, args)
    assert res.exit_code == 2, res.stderr
    assert res.stderr.count("\n") == 1 and res.stderr.startswith(line), res.stderr
    assert list(tmp_path.iterdir()) == []


def test_run_budget_flag_takes_amounts(tmp_path):
    res = _runner().invoke(
        app, ["run", str(SMALL), "--budget", "1.5M", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["budget_cny"] == 1.5e6


def test_a_bug_is_one_line_with_exit_code_1(monkeypatch):
    import siting.inputs

    def boom(scn):
        raise ZeroDivisionError("x")

    monkeypatch.setattr(siting.inputs, "check_scenario", boom)
    res = _runner().invoke(app, ["validate", str(SMALL)])
    assert res.exit_code == 1
    assert res.stderr.startswith("error: internal error: ZeroDivisionError: x")
    assert res.stderr.count("\n") == 1


# ----------------------------------------------------------------------------- OR-Library


def test_optima_with_several_capacities_and_notes_are_read():
    rows = read_optima_table(DATA / "orlib" / "capopt_capacities.txt")
    opt = {r.key: r.value for r in rows}
    assert opt["cap41"] == 1040444.375
    assert opt["capa-8000"] == 19240822.449 and opt["capa-14000"] == 17160439.012
    assert opt["capb-5000"] == 13656379.578 and opt["capb-8000"] == 13082516.496
    assert opt["capc-5750"] == 11570340.289 and opt["capc-7250"] == 11505767.394
    assert len(rows) == 14
    assert optimum_key("capc", 5750.0) == "capc-5750"


def test_shipped_optima_files_still_read():
    assert read_optima(DATA / "orlib" / "capopt.txt")["cap74"] == 1034976.975
    assert len(read_optima(DATA / "orlib" / "capopt.txt")) == 13


@pytest.mark.parametrize(
    "text, words",
    [
        ("h\ncap41 12x\n", "line 2: expected 'name value'"),
        ("h\ncap41 1 2 3\n", "line 2: expected 'name value' or 'name capacity value"),
        ("h\ncap41 1\ncap41 2\n", "line 3: cap41 listed again with another value"),
        ("h\ncap41 nan\n", "must be finite"),
        ("h\ncapa -5 3\n", "capacity of capa must be > 0"),
        ("h\ncap41 1\n9 9\n", "line 3: numbers without an instance name"),
        ("h\ncap41 1\ncapa\nsome notes here\n", "line 3: 'capa' has no values"),
        ("only words here\n", "no 'name value' lines found"),
    ],
)
def test_bad_optima_files_are_refused(tmp_path, text, words):
    p = tmp_path / "opt.txt"
    p.write_text(text)
    with pytest.raises(InputError, match=None) as e:
        read_optima(p)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_siting_error_is_the_base():
    assert issubclass(InputError, SitingError) and issubclass(ScenarioError, SitingError)
