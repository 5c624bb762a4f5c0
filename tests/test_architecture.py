"""Architecture rules, read from the source: no import circles, no stage importing a stage above
it, short functions in the planning path.

Every ``import`` statement counts, wherever it is: module level, inside functions, under
``TYPE_CHECKING``. ``from siting.pkg import name`` depends on the module ``siting.pkg.name`` when
that is a module, else on ``siting.pkg``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PKG = Path(__file__).resolve().parent.parent / "siting"

#: Layer of every module, lowest first. A module may import modules of its own layer or below.
#: A new module must be placed here (the test fails until it is).
LAYERS: dict[int, tuple[str, ...]] = {
    0: (
        "siting._errors",
        "siting._corridor_facts",
        "siting._budgets",
        "siting._cli_common",
        "siting._yaml",
        "siting._strict",
        "siting._outpath",
        "siting._flags",
        "siting._progress",
    ),
    1: ("siting", "siting.models*", "siting.results", "siting._osm_ways", "siting._sitefile"),
    2: ("siting.data", "siting.scenario", "siting.orlib", "siting.queueing", "siting.osm_file"),
    3: (
        "siting.network",
        "siting.corridor",
        "siting.frlm_network",
        "siting.basemap",
        "siting.road_tables",
    ),
    4: (
        "siting.demand",
        "siting.candidates",
        "siting.travel",
        "siting.study_area",
        "siting.grid",
        "siting.sizing",
        "siting.preflight",
    ),
    5: ("siting.demand_kinds*", "siting.inputs"),
    6: ("siting.plan",),
    7: ("siting.maps",),
    8: ("siting.report",),
    9: ("siting.compare",),
    10: ("siting.cli",),
    11: ("siting.__main__",),
}

#: Modules of the planning path, whose functions stay short. (Still longer, not yet split:
#: candidates.build_candidates, demand.build_demand and the add_* builders of models/coverage.py,
#: models/frlm.py, models/pmedian.py.)
PLANNING_PATH = (
    "siting.plan", "siting.scenario", "siting.study_area", "siting.demand_kinds*",
    "siting.models.joint", "siting.results", "siting.compare", "siting.cli",
)  # fmt: skip
#: Longest function (lines of code, docstring excluded) allowed in the planning path.
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = p.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


MODULES = _modules()


def _resolve(base: str, name: str | None) -> str | None:
    if name is None:
        return base if base in MODULES else None
    full = f"{base}.{name}"
    if full in MODULES:
        return full
    return base if base in MODULES else None


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                # the deepest siting module named (``import siting.models.frlm``)
                for i in range(len(parts), 0, -1):
                    if ".".join(parts[:i]) in MODULES:
                        found.add(".".join(parts[:i]))
                        break
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            if not base.startswith("siting"):
                continue
            for a in node.names:
                hit = _resolve(base, a.name)
                if hit is not None:
                    found.add(hit)
    found.discard(module)
    return found


def _graph() -> nx.DiGraph:
    G = nx.DiGraph()
    for mod, path in MODULES.items():
        G.add_node(mod)
        for dep in _imports(mod, path):
            G.add_edge(mod, dep)
    return G


def _matches(module: str, pattern: str) -> bool:
    if pattern.endswith("*"):
        root = pattern[:-1]
        return module == root or module.startswith(root + ".")
    return module == pattern


def _layer(module: str) -> int | None:
    hits = [lvl for lvl, pats in LAYERS.items() for p in pats if _matches(module, p)]
    return max(hits) if hits else None


def test_the_import_parser_sees_function_level_and_from_imports():
    deps = _imports("siting.cli", MODULES["siting.cli"])
    # module-level, function-level and `from siting import x` forms
    assert {"siting.compare", "siting._cli_common", "siting.plan", "siting.report"} <= deps
    assert "siting.models._validate" in _imports(
        "siting.models.coverage", MODULES["siting.models.coverage"]
    )


def test_no_import_circles_in_siting():
    cycles = [sorted(c) for c in nx.strongly_connected_components(_graph()) if len(c) > 1]
    assert not cycles, f"import circles: {cycles}"


def test_every_module_has_a_layer():
    missing = sorted(m for m in MODULES if _layer(m) is None)
    assert not missing, f"place these modules in LAYERS of {__file__}: {missing}"


def test_no_module_imports_a_layer_above_it():
    bad = []
    for u, v in _graph().edges:
        lu, lv = _layer(u), _layer(v)
        if lu is not None and lv is not None and lv > lu:
            bad.append(f"{u} (layer {lu}) imports {v} (layer {lv})")
    assert not bad, "\n".join(bad)


def _code_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    n = fn.end_lineno - fn.lineno + 1
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        if isinstance(body[0].value.value, str):
            n -= body[0].end_lineno - body[0].lineno + 1
    return n


@pytest.mark.parametrize(
    "module", [m for m in MODULES if any(_matches(m, p) for p in PLANNING_PATH)]
)
def test_planning_path_functions_are_short(module):
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    long = [
        f"{fn.name} ({_code_lines(fn)} lines)"
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        and _code_lines(fn) > MAX_FUNCTION_LINES
    ]
    assert not long, f"{module}: split into named steps: {long}"
