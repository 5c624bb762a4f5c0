"""City-size instance end to end: generated Beijing-extent road graph → outputs, time and memory.

Run from the repository root::

    python benchmarks/scale.py --cells 150000 --candidates 30000
    python benchmarks/scale.py --cells 20000 --candidates 4000 --stages   # per-stage table
    python benchmarks/scale.py --cells 150000 --candidates 30000 --trace  # + tracemalloc

Prints ONE CSV row on stdout::

    cells,candidates,pairs,seconds,peak_rss_mb,status,gap

and, on stderr, ``# key: value`` lines: per stage the seconds, the resident memory after it and
the peak resident memory *during* it (``/proc/self/clear_refs`` resets the high-water mark before
each stage), with ``--trace`` also the peak of Python/NumPy allocations (tracemalloc, slower);
the machine load (``uptime``) and the command.

**The instance.** The road graph is GENERATED (``benchmarks/citygraph.py``): a perturbed grid
with road classes and speeds calibrated on the embedded central-Beijing OSM graph, clipped to the
real municipal boundary (16,394 km²), ≥ 300,000 nodes. It is a benchmark input, not data: no
whole-municipality OSM network is available offline. Everything else is the default scenario
(``scenarios/beijing_fast_charging.yaml``): its model, fleets, costs, 10-minute reach and gap,
with

* the study area = the whole municipality (``--cells`` at or above its H3 resolution-9 cell count
  of ~156,000), or a disc around Tiananmen holding about ``--cells`` cells;
* H3 resolution 9 (0.105 km² cells);
* candidates on the scenario's road classes at the spacing that gives about ``--candidates``
  sites, then thinned at random (seed 0) to exactly that many;
* the budget scaled by area: 200 M CNY × (study area km² / 1,216 km², the embedded area);
  per-site costs unchanged.

``seconds`` runs from generating the network to the written outputs (``sites.geojson``,
``sites.csv``, ``summary.json``; the Folium map with ``--map``).
"""

from __future__ import annotations

import argparse
import copy
import gc
import logging
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import citygraph

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "beijing_fast_charging.yaml"
EMBEDDED_AREA_KM2 = 1216.0  # data/study_area.geojson, the area the default budget is set for
RES9_CELL_KM2 = 0.0752  # H3 resolution-9 cell area at Beijing (measured: 2107 km², 28,019 cells)
TIANANMEN = (116.3975, 39.9087)


def note(key: str, value: object) -> None:
    print(f"# {key}: {value}", file=sys.stderr, flush=True)


def _status_kb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    return float("nan")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class Stages:
    """Run named stages; record seconds, RSS after, peak RSS during (and tracemalloc peak)."""

    def __init__(self, trace: bool) -> None:
        self.trace = trace
        self.rows: list[tuple[str, float, float, float, float]] = []
        self.peak_mb = 0.0
        if trace:
            tracemalloc.start()

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        gc.collect()
        _reset_peak()
        if self.trace:
            tracemalloc.reset_peak()
        t = time.perf_counter()
        out = fn()
        sec = time.perf_counter() - t
        peak = _status_kb("VmHWM") / 1024
        rss = _status_kb("VmRSS") / 1024
        traced = tracemalloc.get_traced_memory()[1] / 2**20 if self.trace else float("nan")
        self.peak_mb = max(self.peak_mb, peak)
        self.rows.append((name, sec, rss, peak, traced))
        note(f"stage {name}", f"{sec:.2f} s, RSS after {rss:.0f} MB, peak during {peak:.0f} MB"
             + (f", traced peak {traced:.0f} MB" if self.trace else ""))  # fmt: skip
        return out


def study_polygon(cells: int) -> Any:
    """The municipality, or the part of it within a disc around Tiananmen of ~``cells`` cells."""
    import geopandas as gpd
    from shapely.geometry import Point

    muni = gpd.GeoSeries([citygraph.municipality()], crs="EPSG:4326").to_crs("EPSG:32650")
    want = cells * RES9_CELL_KM2 * 1e6
    if want >= muni.area.iloc[0]:
        return muni.to_crs("EPSG:4326").iloc[0]
    centre = gpd.GeoSeries([Point(TIANANMEN)], crs="EPSG:4326").to_crs("EPSG:32650").iloc[0]
    lo, hi = 0.0, 400_000.0
    for _ in range(40):  # radius whose disc ∩ municipality has the wanted area
        mid = 0.5 * (lo + hi)
        if centre.buffer(mid, quad_segs=64).intersection(muni.iloc[0]).area < want:
            lo = mid
        else:
            hi = mid
    part = centre.buffer(hi, quad_segs=64).intersection(muni.iloc[0])
    return gpd.GeoSeries([part], crs="EPSG:32650").to_crs("EPSG:4326").iloc[0]


def scaled_scenario(area_path: Path, area_km2: float) -> Any:
    from siting.scenario import load_scenario

    scn = load_scenario(SCENARIO)
    scn = copy.deepcopy(scn)
    scn.study_area.area = str(area_path)
    scn.demand.h3_resolution = 9
    scn.budget_cny = float(scn.budget_cny) * area_km2 / EMBEDDED_AREA_KM2
    return scn


def pick_candidates(tables: Any, scn: Any, area: Any, arrays: Any, n: int) -> Any:
    """Candidates on the scenario's road classes, spaced for about ``n``, thinned to ``n``."""
    from siting import candidates as cand_mod

    c = scn.candidates
    costs = {k: getattr(scn.costs, k) for k in ("fast_charger", "hydrogen")}
    costs = {k: v for k, v in costs.items() if v is not None}

    def build(spacing: float) -> Any:
        return cand_mod.build_candidates(
            tables, costs=costs, kind=c.kind, spacing_m=spacing, road_classes=c.road_classes,
            intersections=c.intersections, area=area, arrays=arrays,
        )  # fmt: skip

    spacing = float(c.spacing_m)
    cands = build(spacing)
    for _ in range(3):
        if len(cands) >= n:
            break
        spacing *= 0.9 * len(cands) / n
        cands = build(spacing)
    if len(cands) > n:
        keep = np.sort(np.random.default_rng(0).choice(len(cands), n, replace=False))
        cands = cands.iloc[keep].reset_index(drop=True)
    note("candidate spacing m", f"{spacing:.0f} on {list(c.road_classes)}")
    return cands


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=150_000)
    ap.add_argument("--candidates", type=int, default=30_000)
    ap.add_argument("--spacing-m", type=float, default=225.0, help="generated grid spacing")
    ap.add_argument("--trace", action="store_true", help="also tracemalloc peaks (slower)")
    ap.add_argument("--map", action="store_true", help="also write the Folium map")
    ap.add_argument("--scheduler", default=None, help="Dask scheduler for the travel stage")
    ap.add_argument(
        "--time-limit", type=float, default=None, help="solver seconds (default: the scenario's)"
    )
    ap.add_argument(
        "--budget-cny", type=float, default=None, help="budget (default: scaled to the area)"
    )
    ap.add_argument("--log", default="WARNING")
    a = ap.parse_args(argv)
    logging.basicConfig(level=a.log, stream=sys.stderr)

    from siting import demand as demand_mod
    from siting import plan as plan_mod
    from siting import report, road_tables, sizing, travel
    from siting.study_area import area_km2, study_area

    st = Stages(a.trace)
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="siting_scale_"))

    def network_stage() -> Any:
        muni = citygraph.municipality()
        nodes, edges = citygraph.generate(muni, spacing_m=a.spacing_m)
        tables = road_tables.from_frames(nodes, edges, source="generated (benchmarks/citygraph)")
        return tables, road_tables.graph_arrays(tables)

    tables, arrays = st.run("network", network_stage)
    note("network (GENERATED)", f"{len(tables)} nodes, {tables.number_of_edges()} directed edges")

    def demand_stage() -> Any:
        import geopandas as gpd

        from siting import data

        poly = study_polygon(a.cells)
        path = tmp / "study_area.geojson"
        gpd.GeoDataFrame(geometry=[poly], crs="EPSG:4326").to_file(path, driver="GeoJSON")
        km2 = area_km2(poly)
        scn = scaled_scenario(path, km2)
        if a.time_limit is not None:
            scn.solver.time_limit_s = a.time_limit
        if a.budget_cny is not None:
            scn.budget_cny = a.budget_cny
        area, districts, sources = study_area(scn)
        table = data.district_table(scn.path)
        dem = demand_mod.build_demand(
            tables, area, districts, scn.demand.segments,
            municipality_population=float(table["resident_population_2020"].sum()),
            h3_resolution=scn.demand.h3_resolution, proxy=scn.demand.proxy, arrays=arrays,
        )  # fmt: skip
        return scn, area, districts, sources, dem, km2

    scn, area, districts, sources, dem, km2 = st.run("demand", demand_stage)
    note("study area", f"{km2:.0f} km², {len(dem)} H3 res-9 cells, budget "
         f"{scn.budget_cny / 1e6:.0f} M CNY")  # fmt: skip
    cands = st.run("candidates", lambda: pick_candidates(tables, scn, area, arrays, a.candidates))

    tt = st.run(
        "travel",
        lambda: travel.travel_times(
            arrays,
            dem["node"].to_numpy(),
            cands["node"].to_numpy(),
            scn.coverage.max_travel_min,
            scheduler=a.scheduler,
        ),
    )
    note("pairs within the reach", f"{tt.nnz} ({tt.data.nbytes + tt.indices.nbytes >> 20} MB)")
    arrays_sizing = st.run("sizing", lambda: sizing.for_scenario(scn, dem))
    prepared = plan_mod.Prepared(
        scn, None, arrays, area=area, districts=districts, demand=dem, candidates=cands,
        travel=tt, data_sources=sources, sizing=arrays_sizing,
    )  # fmt: skip
    plan = st.run("model+plan", lambda: plan_mod.solve_prepared(prepared))
    files = ["geojson", "summary"] + (["map"] if a.map else [])
    out = st.run("outputs", lambda: report.write_outputs(plan, tmp / "out", files=files))
    seconds = time.perf_counter() - t0
    sizes = {f.name: f.stat().st_size for f in Path(out).iterdir() if not f.name.startswith(".")}
    shutil.rmtree(tmp, ignore_errors=True)
    sol = plan.solution
    print("cells,candidates,pairs,seconds,peak_rss_mb,status,gap")
    print(f"{len(dem)},{len(cands)},{tt.nnz},{seconds:.1f},{st.peak_mb:.0f},{sol.status},"
          f"{sol.gap:.2e}", flush=True)  # fmt: skip
    note("model", f"{plan.timings.get('model', float('nan')):.2f} s, {len(plan.sites)} sites, "
         f"{100 * plan.summary['demand_covered_share']:.1f} % of demand served, spent "
         f"{plan.summary['spent_cny'] / 1e6:.1f} M CNY, message: {sol.message}")  # fmt: skip
    d = sol.details or {}
    if "core_k" in d:
        note("core", f"k={d['core_k']}, {d['core_pairs']} of {d['full_pairs']} pairs; objective "
             f"{sol.objective:.6g}, full-instance bound {d['full_bound']:.6g}, the last core's "
             f"own bound {d['core_bound']:.6g}")  # fmt: skip
    note("outputs (bytes)", sizes)
    note("load (uptime)", os.popen("uptime").read().strip())
    note("command", "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
