"""Property-based mutation suite: no input crashes siting (issue 10).

The shipped scenarios (``scenarios/*.yaml``, ``tests/data/scenarios/*.yaml``), site files
(``tests/data/sites/*``), study-area polygons and command lines are mutated at random: types,
missing and extra keys, structure, numbers at and beyond their limits, encodings, YAML features
(anchors, aliases, merge keys, tags, duplicate and non-text keys, deep nesting, several
documents). For every case the CLI (in process, through typer's CliRunner) must

* exit with code 0 or 2;
* on 2, print exactly one line on stderr, ``error: <file>: ...`` naming the scenario or data
  file (or ``error: --flag: ...``), and no traceback;
* leave no output folder and no temporary files behind;
* on 0 for a scenario built on ``tests/data/scenarios/small.yaml``, show that the run can
  start: ``siting validate`` (without ``--quick``) prepares the run (network, demand,
  candidates, travel times, corridor trips) on the real Tiananmen extract.

Hypothesis is derandomized (a fixed seed per test, no example database), so CI sees the same
cases every run. ``SITING_FUZZ_EXAMPLES`` scales the number of examples (default 1); the
``slow`` tests run more examples and full ``siting run`` / ``compare`` commands.
``SITING_FUZZ_LOG=<file>`` logs every outcome; ``SITING_FUZZ_COLLECT=<file>`` records rule
violations there instead of failing (a survey of what breaks, e.g. on an older version).
"""

from __future__ import annotations

import codecs
import copy
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from siting.cli import app

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
SMALL = DATA / "scenarios" / "small.yaml"
SCALE = float(os.environ.get("SITING_FUZZ_EXAMPLES", "1"))
#: Seconds a prepare (or a whole run) may take on the small extract before it counts as a hang.
TIME_LIMIT_S = 60


def _settings(n: int) -> settings:
    return settings(
        max_examples=max(1, int(n * SCALE)),
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )


# ----------------------------------------------------------------------------- bases


def _absolute(tree: Any, base: Path) -> Any:
    """Make relative file paths in a scenario absolute (the copy is written elsewhere)."""
    if isinstance(tree, dict):
        return {k: _absolute(v, base) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_absolute(v, base) for v in tree]
    if isinstance(tree, str) and tree not in ("", ".", "embedded") and "/" in tree:
        p = base / tree
        if p.exists():
            return str(p.resolve())
    return tree


def _load(path: Path) -> Any:
    return _absolute(yaml.safe_load(path.read_text(encoding="utf-8")), path.parent)


SCENARIO_FILES = sorted((ROOT / "scenarios").glob("*.yaml")) + sorted(
    (DATA / "scenarios").glob("*.yaml")
)
BASES: dict[str, Any] = {p.stem: _load(p) for p in SCENARIO_FILES}
#: Whole scenarios (the hydrogen_*.yaml test files hold a hydrogen section only).
FULL = sorted(k for k, v in BASES.items() if isinstance(v, dict) and "name" in v)
# small.yaml with a hydrogen section (corridor skeleton joined to the extract)
BASES["small_hydrogen"] = {
    **copy.deepcopy(BASES["small"]),
    **_load(DATA / "scenarios" / "hydrogen_small.yaml"),
}
# the extract lies 21.5 km from the corridor's G6 gateway
next(v for k, v in BASES["small_hydrogen"].items() if k in ("corridor", "hydrogen"))[
    "max_snap_km"
] = 30
SMALL_BASES = ("small", "small_hydrogen", "small_grid")
SITE_FILES = sorted((DATA / "sites").glob("*.csv")) + sorted((DATA / "sites").glob("*.geojson"))
#: Substation / feeder-zone files (``grid.substations``), mutated like site files.
GRID_FILES = sorted((DATA / "grid").glob("*.geojson")) + sorted((DATA / "grid").glob("*.csv"))


# ----------------------------------------------------------------------------- running


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2
        return CliRunner()


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@contextmanager
def _time_limit(seconds: int, what: str) -> Iterator[None]:
    def fire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"{what} took more than {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check_cli(
    args: list[str],
    work: Path,
    names: tuple[str, ...],
    *,
    out: Path | None = None,
) -> Any:
    """Run the CLI in process and assert the rule; returns the CliRunner result."""
    before = _files(work)
    with _time_limit(TIME_LIMIT_S, " ".join(args[:1])):
        res = _runner().invoke(app, args, catch_exceptions=True)
    err = res.stderr
    log = os.environ.get("SITING_FUZZ_LOG")
    if log:  # outcome log, to see what the cases reach
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{res.exit_code} {args[0]} | {' '.join(err.split())[:200]}\n")
    try:
        _check_rule(res, args, work, before, names, out)
    except AssertionError as exc:
        if not os.environ.get("SITING_FUZZ_COLLECT"):
            raise
        # survey mode: record the violation and go on
        with open(os.environ["SITING_FUZZ_COLLECT"], "a", encoding="utf-8") as fh:
            exc_text = " ".join(str(exc).split())[:300]
            fh.write(f"{type(res.exception).__name__} | {args[0]} | {exc_text}\n")
    return res


def _check_rule(
    res: Any,
    args: list[str],
    work: Path,
    before: set[str],
    names: tuple[str, ...],
    out: Path | None,
) -> None:
    err = res.stderr
    assert res.exit_code in (0, 2), (
        f"exit code {res.exit_code} for {args}\nstderr: {err}\nexception: {res.exception!r}"
    )
    assert "Traceback" not in err and "Traceback" not in res.stdout, err
    after = _files(work)
    if res.exit_code == 2:
        assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
        assert err.startswith("error: "), err
        named = err.removeprefix("error: ").split(": ", 1)[0]
        assert any(n in err for n in names) or Path(named).is_file(), (
            f"names neither a file nor one of {names}: {err!r}"
        )
        assert after == before, f"files left behind: {sorted(after - before)}"
        if out is not None:
            assert not out.exists(), f"output folder left behind: {out}"
    else:
        leftovers = [f for f in after - before if ".tmp" in f or ".siting-probe" in f]
        assert not leftovers, f"temporary files left behind: {leftovers}"


def check_validate(scenario: Path, work: Path, names: tuple[str, ...], deep: bool) -> Any:
    """``siting validate`` (deep: it also prepares the run, so ok means the run can start)."""
    args = ["validate", str(scenario)] + ([] if deep else ["--quick"])
    return check_cli(args, work, names)


# ----------------------------------------------------------------------------- values

SPECIAL_TEXT = [
    "",
    " ",
    "x",
    "yes",
    "no",
    "null",
    "0",
    "-1",
    "1e7",
    "1e400",
    "nan",
    "inf",
    "-inf",
    "116.4,39.9",
    "embedded",
    "hydrogen",
    "built",
    "GCJ-02",
    "/dev/null",
    "/dev/zero",
    "/proc/self/status",
    "/",
    "/nonexistent/file.csv",
    "../nowhere.geojson",
    "北京市东城区",
    "a\u0000b",
    "a\nb",
    "x" * 300,
]
SPECIAL_NUMBERS: list[Any] = [
    0,
    -0.0,
    -1,
    1,
    2,
    2.5,
    0.5,
    1e-320,
    5e-324,
    1e15,
    1e15 + 2,
    1e16,
    1e30,
    1e308,
    -1e308,
    10**15,
    10**15 + 1,
    10**30,
    2**63,
    float("inf"),
    float("-inf"),
    float("nan"),
]
SPECIAL: list[Any] = [None, True, False, [], {}, [1, 2], {"a": 1}, [None], SPECIAL_TEXT[0]]


def _near(value: Any) -> list[Any]:
    """Values at and beyond the limits around a field's current value."""
    if isinstance(value, bool):
        return [not value, int(value), str(value).lower()]
    if isinstance(value, int | float):
        v = float(value)
        out: list[Any] = [-value, value * 0, v + 0.5, v * 1e3, v * 1e12, v * 1e16, str(value)]
        if isinstance(value, int):
            out.append(float(value))
        elif v == v and abs(v) != float("inf"):
            out.append(int(value))
        return out
    if isinstance(value, str):
        return [value + "x", value.upper(), value[:-1], value * 3]
    if isinstance(value, list):
        return [value[:1], value * 2, list(reversed(value)), [value]]
    if isinstance(value, dict):
        return [list(value.items())[:1], list(value)]
    return []


def values_for(current: Any) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(SPECIAL_NUMBERS),
        st.sampled_from(SPECIAL_TEXT),
        st.sampled_from(SPECIAL),
        st.sampled_from(_near(current) or [None]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(2**70), 2**70),
        st.text(max_size=12),
    )


# ----------------------------------------------------------------------------- tree mutations


def _nodes(tree: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _nodes(v, (*path, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += _nodes(v, (*path, i))
    return out


def _leaves(tree: Any) -> list[tuple[Any, ...]]:
    return [p for p in _nodes(tree) if p and not isinstance(_get(tree, p), dict | list)]


def _get(tree: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        tree = tree[k]
    return tree


def _set(tree: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    _get(tree, path[:-1])[path[-1]] = value
    return tree


OPS = (
    "replace",
    "replace",
    "replace",
    "delete",
    "add_key",
    "rename_key",
    "wrap",
    "unwrap",
    "empty",
    "retype",
    "duplicate",
)


@st.composite
def mutated_tree(draw: Callable, tree: Any, max_ops: int = 3) -> Any:
    t = copy.deepcopy(tree)
    for _ in range(draw(st.integers(1, max_ops))):
        leaves = _leaves(t) if isinstance(t, dict | list) else []
        # mostly one value deep inside (that is where the schema's limits are tested)
        pool = leaves if leaves and draw(st.integers(0, 9)) < 7 else _nodes(t)
        path = draw(st.sampled_from(pool))
        cur = _get(t, path)
        op = draw(st.sampled_from(OPS))
        if op == "replace":
            t = _set(t, path, draw(values_for(cur)))
        elif op == "delete" and path:
            parent = _get(t, path[:-1])
            del parent[path[-1]]
        elif op == "add_key" and isinstance(cur, dict):
            key = draw(
                st.one_of(
                    st.sampled_from(["extra", "nme", "budget", "Name", "path", "<<"]),
                    st.sampled_from([1, 2.5, True, None]),
                    st.text(max_size=8),
                )
            )
            cur[key] = draw(values_for(None))
        elif op == "rename_key" and path and isinstance(path[-1], str):
            parent = _get(t, path[:-1])
            parent[path[-1] + draw(st.sampled_from(["_", "s", "x"]))] = parent.pop(path[-1])
        elif op == "wrap":
            t = _set(t, path, [cur])
        elif op == "unwrap" and isinstance(cur, list | dict) and cur:
            first = cur[0] if isinstance(cur, list) else next(iter(cur.values()))
            t = _set(t, path, first)
        elif op == "empty" and isinstance(cur, list | dict):
            t = _set(t, path, type(cur)())
        elif op == "retype" and isinstance(cur, dict):
            t = _set(t, path, [[k, v] for k, v in cur.items()])
        elif op == "retype" and isinstance(cur, list):
            t = _set(t, path, {str(i): v for i, v in enumerate(cur)})
        elif op == "duplicate" and isinstance(cur, list) and cur:
            cur.append(copy.deepcopy(cur[-1]))
    return t


def dump_yaml(tree: Any) -> str:
    try:
        return yaml.safe_dump(tree, allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:
        return yaml.safe_dump(json.loads(json.dumps(tree, default=str)), sort_keys=False)


# ----------------------------------------------------------------------------- text mutations

TEXT_EDITS = (
    *["none"] * 30,
    "dup_key",
    "list_key",
    "map_key",
    "int_key",
    "tag",
    "anchor",
    "self_alias",
    "alias_bomb",
    "deep",
    "multi_doc",
    "empty",
    "scalar_doc",
    "tabs",
    "control",
)
ENCODINGS = (*["utf-8"] * 30, "utf-8-sig", "utf-16", "gbk", "latin-1", "nul", "cut")


@st.composite
def yaml_text(draw: Callable, text: str) -> bytes:
    edit = draw(st.sampled_from(TEXT_EDITS))
    lines = text.splitlines()
    if edit == "dup_key" and lines:
        text += lines[0] + "\n"
    elif edit == "list_key":
        text += "? [a, b]\n: 1\n"
    elif edit == "map_key":
        text += "? {a: 1}\n: 2\n"
    elif edit == "int_key":
        text += draw(st.sampled_from(["1: x\n", "yes: 2\n", "~: 3\n", "2.5: 4\n"]))
    elif edit == "tag" and lines:
        i = draw(st.integers(0, len(lines) - 1))
        tag = draw(
            st.sampled_from(
                [
                    "!!python/object:os.system",
                    "!!binary",
                    "!custom",
                    "!!set",
                    "!!timestamp",
                    "!!float",
                    "!!int",
                    "!!str",
                    "!!map",
                    "!!omap",
                ]
            )
        )
        if ": " in lines[i]:
            k, v = lines[i].split(": ", 1)
            lines[i] = f"{k}: {tag} {v}"
            text = "\n".join(lines) + "\n"
    elif edit == "anchor":
        text = "x_defaults: &d {spacing_m: 1}\n" + text + "y: *d\nz:\n  <<: *d\n"
    elif edit == "self_alias":
        text += "loop: &a [*a]\n"
    elif edit == "alias_bomb":
        text += "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
            f"a{i + 1}: &a{i + 1} [" + ", ".join([f"*a{i}"] * 10) + "]\n" for i in range(7)
        )
    elif edit == "deep":
        n = draw(st.sampled_from([31, 33, 100, 600, 5000]))
        text = draw(
            st.sampled_from(["[" * n, "a: " + "[" * n + "]" * n, "{a: " * n + "1" + "}" * n])
        )
    elif edit == "multi_doc":
        text += "---\nx: 1\n"
    elif edit == "empty":
        text = draw(st.sampled_from(["", "~\n", "[]\n", "42\n", "'text'\n", "---\n"]))
    elif edit == "scalar_doc":
        text = draw(st.sampled_from(["- a\n- b\n", "!!binary aGk=\n", "&a [*a]\n"]))
    elif edit == "tabs":
        text = text.replace("  ", "\t", 1)
    elif edit == "control":
        i = draw(st.integers(0, len(text)))
        text = text[:i] + draw(st.sampled_from(["\x07", "\x1b", "\ufeff", "\u202e"])) + text[i:]
    return encode(draw, text)


def encode(draw: Callable, text: str) -> bytes:
    enc = draw(st.sampled_from(ENCODINGS))
    if enc == "nul":
        data = text.encode()
        i = draw(st.integers(0, len(data)))
        return data[:i] + b"\x00" + data[i:]
    if enc == "cut":
        data = text.encode()
        return data[: draw(st.integers(0, len(data)))]
    return text.encode(enc, errors="replace")


# ----------------------------------------------------------------------------- site files


def _csv_rows(path: Path) -> list[list[str]]:
    import csv

    with open(path, encoding="utf-8", newline="") as fh:
        return [list(r) for r in csv.reader(fh)]


CSV_CELLS = [
    "",
    "abc",
    "1e400",
    "nan",
    "inf",
    "-1",
    "0",
    "2.5",
    "1e30",
    "999",
    "116.4,39.9",
    "hydrogen",
    "fast_charger",
    "built",
    "required",
    "forbidden",
    "open",
    "200",
    "-200",
    "95",
    "39.9",
    "116.4",
    "北京",
    "x" * 500,
    '"',
    "a\nb",
]


@st.composite
def csv_text(draw: Callable, rows: list[list[str]]) -> str:
    import csv
    import io

    rows = copy.deepcopy(rows)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(
            st.sampled_from(
                ["cell", "cell", "cell", "drop_col", "rename", "add_col", "dup_row", "drop_row",
                 "ragged", "swap", "header_only", "empty", "dup_id"]
            )
        )  # fmt: skip
        if not rows:
            break
        width = len(rows[0])
        if op == "cell" and len(rows) > 1:
            r = draw(st.integers(1, len(rows) - 1))
            c = draw(st.integers(0, max(0, len(rows[r]) - 1)))
            if rows[r]:
                rows[r][c] = draw(st.sampled_from(CSV_CELLS) | st.text(max_size=8))
        elif op == "drop_col" and width > 1:
            c = draw(st.integers(0, width - 1))
            rows = [r[:c] + r[c + 1 :] for r in rows]
        elif op == "rename":
            c = draw(st.integers(0, width - 1))
            rows[0][c] = draw(st.sampled_from(["LON", "lng", "lat", "id", "", "plugs", "x"]))
        elif op == "add_col":
            rows = [[*r, draw(st.sampled_from(CSV_CELLS))] for r in rows]
        elif op == "dup_row" and len(rows) > 1:
            rows.append(list(rows[-1]))
        elif op == "drop_row" and len(rows) > 1:
            del rows[draw(st.integers(1, len(rows) - 1))]
        elif op == "ragged" and len(rows) > 1:
            r = draw(st.integers(1, len(rows) - 1))
            rows[r] = rows[r][:-1] if draw(st.booleans()) else rows[r] + ["extra"]
        elif op == "swap" and "lon" in rows[0] and "lat" in rows[0]:
            a, b = rows[0].index("lon"), rows[0].index("lat")
            for r in rows[1:]:
                if len(r) > max(a, b):
                    r[a], r[b] = r[b], r[a]
        elif op == "header_only":
            rows = rows[:1]
        elif op == "empty":
            rows = []
        elif op == "dup_id" and "id" in rows[0] and len(rows) > 2:
            c = rows[0].index("id")
            rows[2][c] = rows[1][c]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    text = buf.getvalue()
    if draw(st.integers(0, 9)) == 0:
        text = text.replace(",", ";")
    return text


@st.composite
def geojson_text(draw: Callable, obj: Any) -> str:
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(
            st.sampled_from(
                ["[]", "null", '"x"', "42", "{}", '{"type": "FeatureCollection"}', "[" * 5000,
                 '{"type": "FeatureCollection", "features": [], "features": []}',
                 '{"type": "FeatureCollection", "features": [NaN]}', "{", ""]
            )
        )  # fmt: skip
    tree = draw(mutated_tree(obj))
    text = json.dumps(tree, default=str)
    if choice == 1:
        text = text[: draw(st.integers(0, len(text)))]
    return text


def site_bytes(draw: Callable, path: Path) -> bytes:
    if path.suffix == ".csv":
        text = draw(csv_text(_csv_rows(path)))
    else:
        text = draw(geojson_text(json.loads(path.read_text(encoding="utf-8"))))
    return encode(draw, text)


# ----------------------------------------------------------------------------- area files

NEAR = [(116.39, 39.90), (116.40, 39.90), (116.40, 39.91), (116.39, 39.91)]
PLACES = {
    "tiananmen": (0.0, 0.0),
    "shanghai": (5.0, -8.7),
    "out_of_range": (100.0, 60.0),
    "yanqing": (-0.4, 0.55),
}


@st.composite
def area_geojson(draw: Callable) -> str:
    dx, dy = PLACES[draw(st.sampled_from(sorted(PLACES)))]
    ring = [[x + dx, y + dy] for x, y in NEAR] + [[NEAR[0][0] + dx, NEAR[0][1] + dy]]
    kind = draw(
        st.sampled_from(
            ["Polygon", "Polygon", "MultiPolygon", "Point", "LineString", "MultiPoint",
             "GeometryCollection", "bowtie", "degenerate", "empty", "null"]
        )
    )  # fmt: skip
    if kind == "Polygon":
        geom: Any = {"type": "Polygon", "coordinates": [ring]}
    elif kind == "MultiPolygon":
        geom = {"type": "MultiPolygon", "coordinates": [[ring]]}
    elif kind == "Point":
        geom = {"type": "Point", "coordinates": ring[0]}
    elif kind == "MultiPoint":
        geom = {"type": "MultiPoint", "coordinates": ring}
    elif kind == "LineString":
        geom = {"type": "LineString", "coordinates": ring}
    elif kind == "GeometryCollection":
        geom = {
            "type": "GeometryCollection",
            "geometries": [{"type": "Polygon", "coordinates": [ring]}],
        }
    elif kind == "bowtie":
        a, b, c, d = ring[:4]
        geom = {"type": "Polygon", "coordinates": [[a, c, b, d, a]]}
    elif kind == "degenerate":
        geom = {"type": "Polygon", "coordinates": [[ring[0], ring[1], ring[0]]]}
    elif kind == "empty":
        return json.dumps({"type": "FeatureCollection", "features": []})
    else:
        geom = None
    fc: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {}, "geometry": geom}],
    }
    if draw(st.integers(0, 5)) == 0:
        fc["crs"] = {
            "type": "name",
            "properties": {"name": draw(st.sampled_from(["EPSG:3857", "EPSG:4326", "x"]))},
        }
    return json.dumps(fc)


# ----------------------------------------------------------------------------- properties


def _scenario_case(data: Any, base: str, max_ops: int, deep: bool) -> None:
    tree = data.draw(mutated_tree(BASES[base], max_ops=max_ops), label="scenario")
    raw = data.draw(yaml_text(dump_yaml(tree)), label="text")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scn = work / "scenario.yaml"
        scn.write_bytes(raw)
        check_validate(scn, work, (str(scn),), deep=deep)


@_settings(150)
@given(data=st.data(), base=st.sampled_from([*FULL * 4, *sorted(BASES)]))
def test_mutated_scenarios_validate_to_ok_or_one_line(data, base):
    _scenario_case(data, base, max_ops=3, deep=False)


@_settings(40)
@given(data=st.data(), base=st.sampled_from(SMALL_BASES))
def test_mutated_small_scenarios_that_validate_can_start(data, base):
    _scenario_case(data, base, max_ops=1, deep=True)


def _with_file(base: str, edit: Callable[[Any], None]) -> Any:
    tree = copy.deepcopy(BASES[base])
    edit(tree)
    return tree


@_settings(120)
@given(data=st.data(), site=st.sampled_from(SITE_FILES))
def test_mutated_site_files_validate_to_ok_or_one_line(data, site):
    raw = site_bytes(data.draw, site)
    crs = data.draw(st.sampled_from(["WGS84", "GCJ-02"]))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sites = work / f"sites{site.suffix}"
        sites.write_bytes(raw)

        def point(t: Any) -> None:
            t["candidates"]["site_files"] = [{"path": str(sites), "crs": crs}]

        scn = work / "scenario.yaml"
        scn.write_text(dump_yaml(_with_file("small", point)), encoding="utf-8")
        check_validate(scn, work, (str(scn), str(sites)), deep=True)


@_settings(60)
@given(data=st.data(), grid_file=st.sampled_from(GRID_FILES))
def test_mutated_substation_files_validate_to_ok_or_one_line(data, grid_file):
    raw = site_bytes(data.draw, grid_file)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subs = work / f"substations{grid_file.suffix}"
        subs.write_bytes(raw)

        def point(t: Any) -> None:
            t.setdefault("grid", {})["substations"] = {"path": str(subs)}

        scn = work / "scenario.yaml"
        scn.write_text(dump_yaml(_with_file("small_grid", point)), encoding="utf-8")
        check_validate(scn, work, (str(scn), str(subs)), deep=True)


@_settings(40)
@given(data=st.data())
def test_study_area_files_validate_to_ok_or_one_line(data):
    text = data.draw(area_geojson())
    keep_bbox = data.draw(st.booleans())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        area = work / "area.geojson"
        area.write_text(text, encoding="utf-8")

        def point(t: Any) -> None:
            t["study_area"]["area"] = str(area)
            if not keep_bbox:
                t["study_area"].pop("bbox", None)

        scn = work / "scenario.yaml"
        scn.write_text(dump_yaml(_with_file("small", point)), encoding="utf-8")
        check_validate(scn, work, (str(scn), str(area)), deep=True)


FLAG_VALUES = [
    "banana",
    "0",
    "-1",
    "1",
    "1e-320",
    "+1e-320",
    "inf",
    "nan",
    "1e400",
    "20M",
    "1M:2M:+1e-320",
    "1M:2M:3",
    "2M:1M:3",
    "1M:2M:0",
    "1M:2M:+0",
    "1,,2",
    "",
    "-",
    "/proc/x",
    "/dev/null/x",
    "/dev/null",
    "/",
    "x" * 300,
    "tcp://",
    "99999999999999999999",
]
FLAGS = ["--out", "-o", "--budget", "--budgets", "-b", "--workers", "-w", "--scheduler",
         "--nested", "--phases", "--offline", "--cdn", "--bogus"]  # fmt: skip


@_settings(150)
@given(
    command=st.sampled_from(["run", "validate", "compare", "data"]),
    flags=st.lists(
        st.tuples(st.sampled_from(FLAGS), st.sampled_from(FLAG_VALUES) | st.text(max_size=6)),
        max_size=3,
    ),
    drop_value=st.booleans(),
)
def test_command_lines_give_ok_or_one_line(command, flags, drop_value):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # a scenario that does not exist: flags are checked first, nothing is ever solved
        args = [command, str(work / "missing.yaml")]
        for i, (flag, value) in enumerate(flags):
            args.append(flag)
            if not (drop_value and i == len(flags) - 1):
                args.append(value.replace("/work", str(work)))
        cwd = os.getcwd()
        os.chdir(work)
        try:
            names = ("missing.yaml", "SCENARIO", "--out", "command", "argument")
            names += tuple(f for f, _ in flags) + tuple(v for _, v in flags if v)
            res = check_cli(args, work, names)
        finally:
            os.chdir(cwd)
        if not os.environ.get("SITING_FUZZ_COLLECT"):
            assert res.exit_code == 2  # the scenario is missing, whatever the flags


# ----------------------------------------------------------------------------- heavier profile


@pytest.mark.slow
@_settings(150)
@given(data=st.data(), base=st.sampled_from(sorted(BASES)))
def test_slow_more_scenario_mutations(data, base):
    # up to 5 mutations at once; the run is prepared for the small scenarios (the shipped ones
    # take ~2.5 s each to prepare, so they are checked with --quick)
    _scenario_case(data, base, max_ops=5, deep=base in SMALL_BASES)


@pytest.mark.slow
@_settings(25)
@given(
    data=st.data(),
    out_kind=st.sampled_from(["new", "nested", "file", "foreign", "proc", "devnull", "long"]),
)
def test_slow_runs_of_mutated_small_scenarios_write_all_or_nothing(data, out_kind):
    tree = data.draw(mutated_tree(BASES["small"], max_ops=1))
    tree.setdefault("solver", {}) if isinstance(tree, dict) else None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        scn = work / "scenario.yaml"
        scn.write_text(dump_yaml(tree), encoding="utf-8")
        out = {
            "new": work / "out",
            "nested": work / "a" / "b" / "out",
            "file": work / "file.txt" / "out",
            "foreign": work / "foreign",
            "proc": Path("/proc/x"),
            "devnull": Path("/dev/null/x"),
            "long": work / ("x" * 250),
        }[out_kind]
        if out_kind == "file":
            (work / "file.txt").write_text("x")
        if out_kind == "foreign":
            out.mkdir()
            (out / "mine.txt").write_text("keep me")
        command = data.draw(st.sampled_from(["run", "compare"]))
        args = [command, str(scn), "--out", str(out)]
        if command == "compare":
            args += ["--budgets", data.draw(st.sampled_from(["1M,2M", "1M:3M:3", "0"]))]
        res = check_cli(args, work, (str(scn), "--out", str(out)), out=None)
        if res.exit_code == 0:
            assert out.is_dir() and (out / ".siting-output").exists()
        elif out_kind == "foreign":
            assert (out / "mine.txt").read_text() == "keep me"
        elif out_kind not in ("proc", "devnull"):
            assert not out.exists()


# ----------------------------------------------------------------------------- real processes

SUBPROCESS_CASES = {
    "deep_nesting": ("validate", "[" * 600),
    "list_key": ("validate", "? [a, b]\n: 1\n"),
    "alias_bomb": (
        "validate",
        "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"a{i + 1}: &a{i + 1} [" + ", ".join([f"*a{i}"] * 10) + "]\n" for i in range(8)),
    ),
    "utf16_garbage": ("validate", codecs.BOM_UTF16_LE + b"\xff\xfe\x00"),
}


@pytest.mark.parametrize("name", sorted(SUBPROCESS_CASES))
def test_real_process_prints_one_line_and_no_traceback(name, tmp_path):
    command, content = SUBPROCESS_CASES[name]
    scn = tmp_path / "s.yaml"
    scn.write_bytes(content if isinstance(content, bytes) else content.encode())
    proc = subprocess.run(
        [sys.executable, "-m", "siting", command, str(scn)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"error: {scn}: ")
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


@pytest.mark.parametrize(
    "args, start",
    [
        (["run", str(SMALL), "--out", "/proc/x"], "error: --out: /proc/x: cannot create"),
        (["compare", str(SMALL), "--out", "/dev/null/x", "--budgets", "1M"], "error: --out: "),
        (["run", str(SMALL), "--budget", "banana"], "error: --budget: "),
        (["compare", str(SMALL), "--out", "o", "--workers", "0"], "error: --workers: "),
        (["compare", str(SMALL), "--out", "o", "--budgets", "1M:2M:+1e-320"], "error: --budgets: "),
    ],
)
def test_real_process_flag_errors(args, start, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "siting", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(start), proc.stderr
    assert list(tmp_path.iterdir()) == []
