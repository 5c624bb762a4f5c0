"""Scenario schema and loader: valid files load; every bad input is one line naming file+field."""

from __future__ import annotations

from pathlib import Path

import pytest

from siting import ScenarioError
from siting.scenario import Scenario, load_scenario, parse_scenario

DATA = Path(__file__).parent / "data" / "scenarios"
ROOT = Path(__file__).resolve().parents[1]


def test_default_scenario_loads_with_five_segments_and_phases():
    scn = load_scenario(ROOT / "scenarios" / "beijing_fast_charging.yaml")
    assert set(scn.demand.segments) == {"private_nev", "taxi", "bus", "logistics", "sanitation"}
    assert scn.budget_cny > 0
    assert [p.budget_cny for p in scn.phases] == sorted(p.budget_cny for p in scn.phases)
    assert scn.cost_of("fast_charger").plug_kw == 120


def test_relative_paths_resolve_against_the_scenario_folder():
    scn = load_scenario(DATA / "small.yaml")
    assert scn.network.path.is_absolute() and scn.network.path.is_file()
    assert scn.candidates.site_files[0].path.name == "tiananmen_sites.csv"
    assert scn.path == (DATA / "small.yaml").resolve()


@pytest.mark.parametrize(
    ("fixture", "field", "words"),
    [
        ("missing_field.yaml", "coverage", "missing"),
        ("wrong_type.yaml", "budget_cny", "valid number"),
        ("negative_budget.yaml", "budget_cny", "must be >= 0 (got -"),
        ("unknown_district.yaml", "study_area.districts[1]", "Atlantis"),
        ("file_not_found.yaml", "candidates.site_files[0].path", "file not found"),
        ("unknown_key.yaml", "candidates.spacing_km", "unknown key"),
        ("negative_share.yaml", "demand.segments.taxi.public_fast_share", "must be <= 1 (got "),
        ("yaml_syntax.yaml", "line 29, column 7", "YAML syntax error"),
    ],
)
def test_bad_scenario_gives_one_line_naming_file_and_field(fixture, field, words):
    path = DATA / "bad" / fixture
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: {field}: "), msg
    assert words in msg


def test_missing_scenario_file_is_a_scenario_error(tmp_path):
    with pytest.raises(ScenarioError, match="scenario file not found"):
        load_scenario(tmp_path / "nope.yaml")


def test_duplicate_yaml_key_is_an_error(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("name: a\nname: b\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"line 2.*'name' given twice"):
        load_scenario(p)


def test_empty_file_and_non_mapping_are_errors(tmp_path):
    p = tmp_path / "empty.yaml"
    p.write_text("", encoding="utf-8")
    with pytest.raises(ScenarioError, match="empty"):
        load_scenario(p)
    p.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="not a mapping"):
        load_scenario(p)


def _minimal() -> dict:
    return {
        "name": "t",
        "demand": {"segments": {"taxi": {"vehicles": 1, "kwh_per_vehicle_day": 1,
                                         "public_fast_share": 1}}},
        "costs": {"fast_charger": {"fixed_cost_cny": 1, "plug_cost_cny": 1, "plug_kw": 1,
                                   "kwh_per_plug_day": 1}},
        "budget_cny": 10,
        "coverage": {"max_travel_min": 5},
    }  # fmt: skip


def test_minimal_scenario_gets_documented_defaults():
    scn = parse_scenario(_minimal())
    assert scn.network.source == "embedded"
    assert scn.study_area.area == "embedded"
    assert scn.demand.h3_resolution == 8
    assert scn.solver.backend == "highs"
    assert scn.candidates.road_classes == ["motorway", "trunk", "primary"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"solver": {"backend": "gurobi"}}, "solver.backend"),
        ({"network": {"source": "file"}}, "network"),
        ({"network": {"source": "osmnx"}}, "network"),
        ({"costs": {}}, "costs.fast_charger"),
        ({"candidates": {"required": ["a"], "forbidden": ["a"]}}, "candidates"),
        ({"demand": {"segments": {}}}, "demand.segments"),
        ({"study_area": {"bbox": [117, 40, 116, 41]}}, "study_area.bbox"),
    ],
)
def test_invalid_sections_name_their_field(patch, field):
    raw = {**_minimal(), **patch}
    with pytest.raises(ScenarioError) as info:
        parse_scenario(raw, file="x.yaml")
    assert str(info.value).startswith(f"x.yaml: {field}"), str(info.value)


def test_hydrogen_section_is_validated_like_the_rest():
    # the optional hydrogen section is part of the schema: its own fields are checked and named
    with pytest.raises(ScenarioError, match=r"^x\.yaml: hydrogen\.range_km: missing"):
        parse_scenario({**_minimal(), "hydrogen": {}}, file="x.yaml")
    assert parse_scenario(_minimal(), file="x.yaml").hydrogen is None
    assert "phases" in Scenario.model_fields


def test_corridor_section_loads_under_its_name_and_its_former_name_but_not_both():
    sec = {"range_km": 300, "station_cost_cny": 1e6}
    new = parse_scenario({**_minimal(), "corridor": sec}, file="x.yaml")
    old = parse_scenario({**_minimal(), "hydrogen": sec}, file="x.yaml")
    assert new.corridor == old.corridor and old.hydrogen is old.corridor
    assert new.corridor.range_km == 300 and new.corridor.station_kind == "hydrogen"
    with pytest.raises(ScenarioError, match=r"^x\.yaml: corridor\.range_km: missing"):
        parse_scenario({**_minimal(), "corridor": {}}, file="x.yaml")
    with pytest.raises(ScenarioError, match=r"^x\.yaml: hydrogen: give the section once"):
        parse_scenario({**_minimal(), "corridor": sec, "hydrogen": sec}, file="x.yaml")
