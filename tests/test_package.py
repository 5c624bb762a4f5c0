"""The package ships its data: a built wheel runs a scenario from any folder; sdist has the data."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

from siting import data

ROOT = Path(__file__).resolve().parents[1]
DATA_FILES = sorted(
    str(p.relative_to(ROOT / "data")) for p in (ROOT / "data").rglob("*") if p.is_file()
)

SCENARIO = """\
name: from another folder
study_area:
  area: embedded
  bbox: [116.385, 39.898, 116.410, 39.918]
network: {source: embedded}
demand:
  h3_resolution: 9
  segments:
    taxi: {vehicles: 2000, kwh_per_vehicle_day: 37.5, public_fast_share: 0.8, scope: study_area}
candidates: {spacing_m: 400, road_classes: [primary, secondary, tertiary]}
costs:
  fast_charger: {fixed_cost_cny: 500000, plug_cost_cny: 40000, plug_kw: 120,
                 kwh_per_plug_day: 195, max_plugs: 10}
budget_cny: 3000000
coverage: {max_travel_min: 3}
solver: {time_limit_s: 20, mip_gap: 0}
"""


def _copy_checkout(dest: Path) -> Path:
    skip = shutil.ignore_patterns(
        ".git", "maps", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
        ".ruff_cache", ".hypothesis", "*.siting-cache", "tests", "benchmarks", "docs",
    )  # fmt: skip
    shutil.copytree(ROOT, dest, ignore=skip)
    return dest


def _build(kind: str, src: Path, out: Path) -> Path:
    """Build an sdist or wheel of ``src`` with this environment's setuptools (no network)."""
    out.mkdir(parents=True, exist_ok=True)
    code = f"import sys; from setuptools import build_meta as b; print(b.build_{kind}(sys.argv[1]))"
    res = subprocess.run(
        [sys.executable, "-c", code, str(out)], cwd=src, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return out / res.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """sdist built from a copy of the checkout, then the wheel built from that sdist."""
    tmp = tmp_path_factory.mktemp("pkg")
    sdist = _build("sdist", _copy_checkout(tmp / "checkout"), tmp / "dist")
    with tarfile.open(sdist) as tf:
        tf.extractall(tmp / "unpacked", filter="data")
    (src,) = (tmp / "unpacked").iterdir()
    wheel = _build("wheel", src, tmp / "dist")
    return sdist, wheel


@pytest.mark.slow
def test_sdist_and_wheel_carry_the_embedded_data(built):
    sdist, wheel = built
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    assert {f"data/{f}" for f in DATA_FILES} <= names
    with zipfile.ZipFile(wheel) as zf:
        in_wheel = set(zf.namelist())
        manifest = json.loads(zf.read("siting/_data/MANIFEST.json"))
    assert {f"siting/_data/{f}" for f in DATA_FILES} <= in_wheel
    assert {f"siting/_data/{f['path']}" for f in manifest["files"]} <= in_wheel


@pytest.mark.slow
def test_installed_wheel_validates_and_runs_from_another_folder(built, tmp_path):
    _, wheel = built
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # the dependencies come from this environment (a plain path line: its .pth files, e.g. an
    # editable siting, are not processed), so the test needs no network
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(site, "_deps_from_test_env.pth").write_text("\n".join(sorted(paths)) + "\n")
    # --ignore-installed: the test environment's own siting (seen through the .pth) is not it
    install = [py, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed",
               "--quiet", str(wheel)]  # fmt: skip
    res = subprocess.run(install, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]

    work = tmp_path / "elsewhere"
    work.mkdir()
    (work / "my_scenario.yaml").write_text(SCENARIO, encoding="utf-8")
    clean = {k: v for k, v in os.environ.items() if k not in ("SITING_DATA_DIR", "PYTHONPATH")}
    where = subprocess.run(
        [py, "-c", "import siting, siting.data as d; print(siting.__file__); print(d.data_dir())"],
        cwd=work, capture_output=True, text=True, env=clean, check=True,
    ).stdout.split()  # fmt: skip
    assert Path(where[0]).is_relative_to(env_dir), where
    assert Path(where[1]) == Path(where[0]).parent / "_data"

    siting_exe = env_dir / "bin" / "siting"
    res = subprocess.run(
        [siting_exe, "validate", "my_scenario.yaml"], cwd=work, capture_output=True, text=True,
        env=clean,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "ok" in res.stdout and "sha256 ok" in res.stdout
    res = subprocess.run(
        [siting_exe, "run", "my_scenario.yaml"], cwd=work, capture_output=True, text=True,
        env=clean,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    summary = json.loads((work / "maps" / "my_scenario" / "summary.json").read_text())
    assert summary["status"] == "optimal"
    assert summary["n_sites"] > 0 if "n_sites" in summary else summary["sites_by_kind"]
    assert any("_data" in s.get("path", "") for s in summary["data_sources"])


def test_every_package_folder_is_listed_in_pyproject():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"^packages = \[(.*?)\]", text, re.S | re.M)
    listed = set(re.findall(r'"([^"]+)"', block.group(1)))
    folders = {
        p.parent.relative_to(ROOT)
        for p in (ROOT / "siting").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    folders |= {a for f in folders for a in f.parents if a != Path(".")}
    on_disk = {".".join(f.parts) for f in folders}
    # data folders whose names are Python identifiers are packages to setuptools (tiles/3/6 are
    # not: their files are package data of siting._data.basemap.tiles)
    on_disk |= {"siting._data"} | {
        "siting._data." + ".".join(p.relative_to(ROOT / "data").parts)
        for p in (ROOT / "data").rglob("*")
        if p.is_dir() and all(x.isidentifier() for x in p.relative_to(ROOT / "data").parts)
    }
    assert on_disk == listed, (sorted(on_disk - listed), sorted(listed - on_disk))


def test_no_build_metadata_is_committed():
    tracked = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "pyproject.toml" in tracked
    assert not [f for f in tracked if ".egg-info/" in f or f.startswith(("build/", "dist/"))]


def test_data_is_found_from_the_package_not_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SITING_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    # an editable install finds the checkout's data/, an installed wheel its own copy
    home = data.checkout_data_dir() or data.packaged_data_dir()
    assert home in (ROOT / "data", Path(data.__file__).resolve().parent / "_data")
    assert data.data_dir() == home
    assert data.data_dir(tmp_path / "scenario.yaml") == home
    assert data.check_data()["project"] == "siting"


def test_packaged_copy_is_used_when_there_is_no_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv("SITING_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "checkout_data_dir", lambda: None)
    monkeypatch.setattr(data, "packaged_data_dir", lambda: tmp_path / "nowhere")
    with pytest.raises(data.InputError, match=r"embedded data not found.*reinstall siting"):
        data.data_dir(tmp_path)
    shutil.copytree(ROOT / "data", tmp_path / "pkg_data")
    monkeypatch.setattr(data, "packaged_data_dir", lambda: tmp_path / "pkg_data")
    assert data.data_dir(tmp_path) == tmp_path / "pkg_data"


def test_check_data_names_a_damaged_file(tmp_path, monkeypatch):
    copy = tmp_path / "data"
    shutil.copytree(ROOT / "data", copy)
    monkeypatch.setenv("SITING_DATA_DIR", str(copy))
    assert data.check_data()["project"] == "siting"
    (copy / "study_area.geojson").write_text("{}")
    with pytest.raises(data.InputError, match=r"study_area\.geojson: sha256 differs"):
        data.check_data()
    (copy / "study_area.geojson").unlink()
    with pytest.raises(data.InputError, match=r"study_area\.geojson"):
        data.check_data()


def test_data_build_of_an_installed_siting_asks_for_out(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from siting.cli import app

    monkeypatch.setattr(data, "checkout_data_dir", lambda: None)
    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 keeps stderr apart by default
        runner = CliRunner()
    res = runner.invoke(app, ["data", "build", "--shared", str(tmp_path)])
    assert res.exit_code == 2
    assert "give --out FOLDER" in res.stderr
    assert not list(tmp_path.iterdir())
