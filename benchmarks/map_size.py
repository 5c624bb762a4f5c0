"""Size of each shipped scenario's map.html, and what the offline base layer adds to it.

Run from the repository root::

    python benchmarks/map_size.py                   # the three shipped scenarios
    python benchmarks/map_size.py --time-limit 10   # solver time limit per scenario (s)

Each scenario is solved (with the given solver time limit: the map of a ``time_limit`` plan has
the same layers) and its ``map.html`` written as ``siting run`` does (Leaflet inlined). The table
gives the page size, the bytes of the offline base layer's data (roads by class, boundaries,
corridor, raster tiles; :func:`siting.basemap.offline_context`) and the reference measured in the
same run: the page without that data, and the ratio of the two. The sizes of the pages before the
offline base layer existed are recorded in ``benchmarks/README_maps.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ["beijing_fast_charging", "jjj_intercity_fast_charging", "olympic_corridor_hydrogen"]


def measure(name: str, time_limit: float, out: Path) -> dict[str, float]:
    """Solve one shipped scenario, write its map, and split the page size."""
    from siting import basemap, maps, plan, report
    from siting.scenario import load_scenario

    scn = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    scn.solver.time_limit_s = time_limit
    result = plan.run_scenario(scn)
    t = time.perf_counter()
    report.write_outputs(result, out / name, inline_assets=True)
    seconds = time.perf_counter() - t
    page = (out / name / "map.html").stat().st_size
    context = basemap.offline_context(maps._bounds(result))
    parts = {k: len(maps._js_json(v).encode()) for k, v in context.items()}
    base = len(maps._js_json(context).encode())
    return {
        "page_kb": page / 1e3,
        "offline_base_kb": base / 1e3,
        "roads_kb": parts["roads"] / 1e3,
        "tiles_kb": parts["tiles"] / 1e3,
        "without_base_kb": (page - base) / 1e3,
        "ratio": page / (page - base),
        "write_s": seconds,
        "sites": float(len(result.sites)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--time-limit", type=float, default=10.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in SCENARIOS:
            rows[name] = measure(name, args.time_limit, Path(tmp))
    print(f"command: python benchmarks/map_size.py --time-limit {args.time_limit:g}")
    print("| scenario | map.html kB | offline base kB (roads / tiles) | page without it kB | "
          "ratio | write s |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['page_kb']:,.0f} | {r['offline_base_kb']:,.0f} "
            f"({r['roads_kb']:,.0f} / {r['tiles_kb']:,.0f}) | {r['without_base_kb']:,.0f} | "
            f"{r['ratio']:.2f}× | {r['write_s']:.2f} |"
        )
    print(json.dumps(rows, indent=1), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
