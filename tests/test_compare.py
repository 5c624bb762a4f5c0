"""Tests of budget sweeps (siting.compare, ``siting compare``) on the small Tiananmen scenario."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest

from siting import compare as cmp
from siting.scenario import load_scenario

SMALL = Path(__file__).parent / "data" / "scenarios" / "small.yaml"
BUDGETS = "0.5M,1M,1.5M,2M,3M"


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(SMALL)


@pytest.fixture(scope="module")
def prepared(scenario):
    from siting.plan import prepare

    return prepare(scenario)


@pytest.fixture(scope="module")
def free_sweep(scenario, prepared, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "out"
    return cmp.compare(scenario, BUDGETS, out, prepared=prepared)


def _ids(plan) -> set[str]:
    return set(plan.sites["site_id"].astype(str))


def test_csv_has_the_issue_columns_in_order(free_sweep):
    out = free_sweep.out_dir
    table = pd.read_csv(out / "comparison.csv")
    assert tuple(table.columns) == cmp.COLUMNS
    assert list(table["budget_cny"]) == [0.5e6, 1e6, 1.5e6, 2e6, 3e6]
    # charger-only scenario: flow_refuelled_share does not apply and is left empty
    assert table["flow_refuelled_share"].isna().all()
    assert (table["spent_cny"] <= table["budget_cny"] + 1e-6).all()
    assert (table["sites_hydrogen"] == 0).all()


def test_every_output_file_is_written(free_sweep):
    out = free_sweep.out_dir
    for name in ("comparison.csv", "budget_curve.png", "comparison.html"):
        assert (out / name).stat().st_size > 0
    assert (out / "budget_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for run in free_sweep.runs:
        summary = json.loads((out / run.folder / "summary.json").read_text())
        assert summary["budget_cny"] == run.budget_cny
        gj = json.loads((out / run.folder / "sites.geojson").read_text())
        assert len(gj["features"]) == len(run.plan.sites)
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]  # no temp folder left


def test_free_sweep_coverage_never_decreases_with_budget(free_sweep):
    t = free_sweep.table
    assert (t["status"] == "optimal").all()
    assert t["objective"].is_monotonic_increasing
    assert t["demand_covered_share"].diff().dropna().ge(-1e-9).all()
    assert free_sweep.warnings == []
    # the sweep really buys something: the largest budget covers more than the smallest
    assert t["objective"].iloc[-1] > t["objective"].iloc[0]


def test_warm_started_sweep_finds_the_same_optima_as_cold_solves(free_sweep, prepared):
    from siting.plan import solve_prepared

    for run in free_sweep.runs:
        cold = solve_prepared(prepared, run.budget_cny)
        assert cold.solution.status == "optimal"
        assert run.plan.solution.objective == pytest.approx(cold.solution.objective, rel=1e-9)


def test_nested_sweep_keeps_every_site_of_the_smaller_budgets(scenario, prepared, tmp_path):
    comp = cmp.compare(scenario, BUDGETS, tmp_path / "nested", nested=True, prepared=prepared)
    plans = [r.plan for r in comp.runs]
    for smaller, larger in itertools.pairwise(plans):
        assert _ids(smaller) <= _ids(larger)
    table = pd.read_csv(tmp_path / "nested" / "comparison.csv")
    assert tuple(table.columns) == cmp.COLUMNS + cmp.NESTING_COLUMNS
    # nesting can only cost coverage: the free optimum is at least as good at each budget
    assert (table["free_objective"] >= table["objective"] - 1e-6).all()
    assert (table["nesting_cost_share"] >= -1e-9).all()


def test_phases_keep_earlier_sites_and_give_one_row_per_phase(scenario, prepared, tmp_path):
    phased = scenario.model_copy(
        update={
            "phases": [
                {"name": "2021", "budget_cny": 1e6},
                {"name": "2022 Games", "budget_cny": 2e6},
                {"name": "2025", "budget_cny": 3e6},
            ]
        }
    )
    phased.phases = phased.phases  # re-validate into Phase objects
    comp = cmp.compare(phased, None, tmp_path / "ph", prepared=prepared)
    assert comp.mode == "phases"
    table = pd.read_csv(tmp_path / "ph" / "comparison.csv")
    assert list(table["phase"].astype(str)) == ["2021", "2022 Games", "2025"]
    assert list(table["budget_cny"]) == [1e6, 2e6, 3e6]
    plans = [r.plan for r in comp.runs]
    for earlier, later in itertools.pairwise(plans):
        assert _ids(earlier) <= _ids(later)
    assert [r.folder for r in comp.runs] == ["phase_1_2021", "phase_2_2022_Games", "phase_3_2025"]
    first = comp.first_label
    for sid in _ids(plans[0]):
        assert first[sid] == "2021"


def test_decreasing_phase_budgets_are_an_error(scenario, prepared, tmp_path):
    bad = scenario.model_copy()
    bad.phases = [{"name": "a", "budget_cny": 2e6}, {"name": "b", "budget_cny": 1e6}]
    with pytest.raises(cmp.SitingError, match=r"phases\[1\]\.budget_cny"):
        cmp.compare(bad, None, tmp_path / "x", prepared=prepared)
    assert not (tmp_path / "x").exists()


def test_map_has_one_layer_per_budget_and_escapes_names(free_sweep):
    run = free_sweep.runs[-1]
    sites = run.plan.sites
    saved = sites["name"].copy()
    sites["name"] = "<script>alert(1)</script>"
    try:
        page = cmp.comparison_map(free_sweep).get_root().render()
    finally:
        sites["name"] = saved
    for r in free_sweep.runs:
        assert f"Budget {r.label} CNY" in page
    assert "<script>alert(1)" not in page
    # escaped once for HTML (the JSON of the layer may encode '&' as \u0026)
    assert "&lt;script&gt;alert(1)" in page.replace("\\u0026", "&")
    assert "Smallest budget (CNY) building it" in page
    html = (free_sweep.out_dir / "comparison.html").read_text()
    assert "data:image/png;base64," in html and "<table" in html and "<iframe srcdoc=" in html


def test_time_limited_solves_are_flagged_not_read_as_dips(free_sweep):
    comp = cmp.Comparison(
        mode="free",
        runs=free_sweep.runs,
        table=free_sweep.table.copy(),
        first_label=free_sweep.first_label,
    )
    comp.table.loc[2, ["status", "mip_gap"]] = ["time_limit", 0.05]
    comp.table.loc[2, "objective"] = comp.table.loc[1, "objective"] * 0.5
    notes = cmp._check(comp)
    assert any("time_limit" in n and "5.00%" in n for n in notes)
    assert not any("below the smaller budget" in n for n in notes)  # not optimal: no dip claim
    assert cmp.budget_curve_png(comp)[:4] == b"\x89PNG"


def test_a_failed_write_leaves_the_old_output_untouched(free_sweep, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".siting-output").write_text("")
    (out / "comparison.csv").write_text("old")

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(cmp, "comparison_html", boom)
    with pytest.raises(RuntimeError):
        cmp.write_comparison(free_sweep, out)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert sorted(p.name for p in out.iterdir()) == [".siting-output", "comparison.csv"]
    assert (out / "comparison.csv").read_text() == "old"


def test_a_folder_with_other_files_is_not_replaced(scenario, prepared, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.docx").write_text("precious")
    with pytest.raises(cmp.InputError, match=r"thesis\.docx"):
        cmp.compare(scenario, "1M", out, prepared=prepared)
    assert [p.name for p in out.iterdir()] == ["thesis.docx"]


def test_bad_budgets_on_the_command_line_exit_2_with_one_line(tmp_path):
    from typer.testing import CliRunner

    from siting.cli import app

    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["compare", str(SMALL), "--budgets", "20M,2X0M", "--out", out])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1
    assert "--budgets" in lines[0] and "2X0M" in lines[0]
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_command_line_sweep_writes_the_comparison(prepared, tmp_path):
    from typer.testing import CliRunner

    from siting.cli import app

    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["compare", str(SMALL), "--budgets", "1M:2M:2", "--out", out])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(out / "comparison.csv")["budget_cny"].tolist() == [1e6, 2e6]


@pytest.mark.slow
def test_process_pool_sweep_matches_the_sequential_one(scenario, prepared, free_sweep):
    comp = cmp.compare(scenario, BUDGETS, None, workers=2, prepared=prepared)
    assert comp.table["objective"].tolist() == pytest.approx(
        free_sweep.table["objective"].tolist(), rel=1e-9
    )


@pytest.mark.slow
def test_dask_local_cluster_sweep_matches_the_sequential_one(scenario, prepared, free_sweep):
    import distributed

    with distributed.LocalCluster(n_workers=2, processes=False, dashboard_address=None) as cluster:
        comp = cmp.compare(
            scenario, BUDGETS, None, scheduler=cluster.scheduler_address, prepared=prepared
        )
    assert comp.table["objective"].tolist() == pytest.approx(
        free_sweep.table["objective"].tolist(), rel=1e-9
    )
