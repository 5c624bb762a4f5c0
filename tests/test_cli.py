"""Command line: end to end on the small scenario; every bad input is one line, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siting.cli import app

DATA = Path(__file__).parent / "data" / "scenarios"
ROOT = Path(__file__).resolve().parents[1]
BAD = sorted((DATA / "bad").glob("*.yaml"))


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 keeps stderr apart by default
        return CliRunner()


def test_validate_accepts_the_default_and_small_scenarios():
    for path in (ROOT / "scenarios" / "beijing_fast_charging.yaml", DATA / "small.yaml"):
        res = _runner().invoke(app, ["validate", str(path)])
        assert res.exit_code == 0, res.stderr
        assert "ok" in res.stdout


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_scenario_ends_with_one_line_exit_2_and_no_output(path, tmp_path):
    out = tmp_path / "out"
    for args in (["validate", str(path)], ["run", str(path), "--out", str(out)]):
        res = _runner().invoke(app, args)
        assert res.exit_code == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, res.stderr
        assert lines[0].startswith(f"error: {path}: ")
        assert "Traceback" not in res.stderr + res.stdout
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_scenario_file_is_one_line_exit_2(tmp_path):
    res = _runner().invoke(app, ["run", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert res.stderr.strip().startswith("error: ") and "not found" in res.stderr
    assert not (tmp_path / "o").exists()


def test_bad_site_file_content_fails_before_any_output(tmp_path):
    bad_sites = tmp_path / "sites.csv"
    bad_sites.write_text("name,lon\nx,116.4\n", encoding="utf-8")
    scn = tmp_path / "s.yaml"
    text = (DATA / "small.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "../beijing_extract/extract.graphml",
        str(DATA.parent / "beijing_extract" / "extract.graphml"),
    )
    text = text.replace("../sites/tiananmen_sites.csv", str(bad_sites))
    scn.write_text(text, encoding="utf-8")
    res = _runner().invoke(app, ["run", str(scn), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert (
        res.stderr.strip()
        == f"error: {bad_sites}: line 1: header lacks column(s) lat (need lon, lat, name; "
        "got 'name', 'lon')"
    )
    assert not (tmp_path / "out").exists()


def test_run_writes_the_three_outputs_end_to_end(tmp_path):
    out = tmp_path / "maps" / "small"
    proc = subprocess.run(
        [sys.executable, "-m", "siting", "run", str(DATA / "small.yaml"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert {"map.html", "sites.geojson", "summary.json"} <= {p.name for p in out.iterdir()}
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["scenario"] == "small test (Tiananmen extract)"
    assert summary["status"] in ("optimal", "time_limit")
    sites = json.loads((out / "sites.geojson").read_text(encoding="utf-8"))
    assert {f["properties"]["site_id"] for f in sites["features"]} >= {"existing_1", "req_1"}
    assert str(out) in proc.stdout.replace("\n", "")
