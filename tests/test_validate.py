"""`siting validate` checks everything `run` needs: "ok" means the run can start."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siting.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXTRACT = ROOT / "tests" / "data" / "beijing_extract"

BASE = """\
name: validate test
study_area: {{area: embedded, bbox: [116.385, 39.898, 116.410, 39.918]}}
network: {network}
demand:
  segments:
    taxi: {{vehicles: 2000, kwh_per_vehicle_day: 37.5, public_fast_share: 0.8, scope: study_area}}
costs:
  fast_charger: {{fixed_cost_cny: 500000, plug_cost_cny: 40000, plug_kw: 120,
                 kwh_per_plug_day: 195, max_plugs: 10}}
budget_cny: 3000000
coverage: {{max_travel_min: 3}}
"""


def _invoke(tmp_path: Path, network: str, *, command: str = "validate"):
    scn = tmp_path / "s.yaml"
    scn.write_text(BASE.format(network=network), encoding="utf-8")
    args = [command, str(scn)] + (["--out", str(tmp_path / "out")] if command == "run" else [])
    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 keeps stderr apart by default
        runner = CliRunner()
    return runner.invoke(app, args)


def test_pbf_file_source_is_checked_and_ok(tmp_path):
    shutil.copyfile(EXTRACT / "extract.osm.pbf", tmp_path / "roads.osm.pbf")
    res = _invoke(tmp_path, "{source: file, path: roads.osm.pbf}")
    assert res.exit_code == 0, res.stderr
    assert "OSM file" in res.stdout and "roads.osm.pbf" in res.stdout


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("roads.osm.pbf", None, r"file not found: .*roads\.osm\.pbf"),
        ("roads.osm.pbf", b"garbage\x00\x01" * 50, r"roads\.osm\.pbf is unreadable"),
        ("roads.osm", b"<notosm></notosm>", r"roads\.osm: not a osm file"),
        ("roads.osm", b"<osm><node", r"roads\.osm is unreadable"),
        ("roads.graphml", b"<osm/>", r"roads\.graphml: not a graphml file"),
        ("roads.shp", b"x", r"roads\.shp: unknown extension"),
    ],
)
def test_unusable_network_file_fails_validate_in_one_line(tmp_path, name, content, message):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    for command in ("validate", "run"):
        res = _invoke(tmp_path, f"{{source: file, path: {name}}}", command=command)
        assert res.exit_code == 2, res.stdout
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
        assert re.search(message, lines[0]), lines[0]
        assert not (tmp_path / "out").exists()


def test_osmnx_source_says_it_needs_the_internet(tmp_path, monkeypatch):
    monkeypatch.setenv("SITING_CACHE_DIR", str(tmp_path / "cache"))
    res = _invoke(tmp_path, "{source: osmnx, place: 'Dongcheng District, Beijing'}")
    assert res.exit_code == 0, res.stderr
    assert "needs internet access at run time" in res.stdout


def test_damaged_embedded_data_fails_validate(tmp_path, monkeypatch):
    copy = tmp_path / "data"
    shutil.copytree(ROOT / "data", copy)
    (copy / "network" / "edges.parquet").write_bytes(b"not parquet")
    monkeypatch.setenv("SITING_DATA_DIR", str(copy))
    res = _invoke(tmp_path, "{source: embedded}")
    assert res.exit_code == 2
    assert "edges.parquet: sha256 differs" in res.stderr


def test_quiet_reporter_shows_only_stages_that_run_long(monkeypatch):
    """validate's progress (Reporter quiet_s): nothing for quick stages, a line for long ones."""
    import io
    import time

    from rich.console import Console

    from siting import _cli_common

    buf = io.StringIO()
    monkeypatch.setattr(_cli_common, "err", Console(file=buf, width=200))
    with _cli_common.Reporter("t", live=False, quiet_s=0.4, heartbeat_s=60) as rep:
        rep.stage("network")
        rep.note("reading the roads of x.osm.pbf")
        rep.stage("demand")
        time.sleep(1.0)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert "building the demand grid" in lines[0] and "loading" not in lines[0]
