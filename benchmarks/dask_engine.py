"""Distributed engine: travel-time tiles and a budget sweep on Dask, 2 worker processes vs 1.

Run from the repository root::

    python benchmarks/dask_engine.py                          # both parts
    python benchmarks/dask_engine.py --cells 40000 --candidates 8000 --budgets 50M:300M:6

For 1 and then 2 worker processes (``distributed.LocalCluster(processes=True,
threads_per_worker=1)``, started before the clock runs) it times

* **travel**: :func:`siting.travel.travel_times` on a city-size instance (the GENERATED
  Beijing-extent road graph of ``benchmarks/citygraph.py``, ``--cells`` H3 resolution-9 cells
  around Tiananmen, ``--candidates`` sites on major roads, 10-minute reach), one task per tile;
* **sweep**: :func:`siting.compare.compare` over ``--budgets`` on the same city instance, prepared
  beforehand (its travel matrix from the in-process run) and shipped to the workers once; a free
  sweep, one task per budget (each solve: the default scenario's plug model on a core of the
  pairs, :mod:`siting.models.core`),

and prints CSV ``task,in_process_s,dask_1_s,dask_2_s,speedup_2_over_1,same_result,busy_1_s,
busy_2_s`` (the in-process run is the reference result; ``same_result`` compares every run with
it; ``busy_*`` = seconds the workers spent computing tasks, per worker with 2, from Dask's task
stream: how evenly the work was split, whatever else runs on the machine), then the machine load
and the command on stderr. On a shared machine read the speed-up with the load.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale


def note(key: str, value: object) -> None:
    print(f"# {key}: {value}", file=sys.stderr, flush=True)


def city_instance(cells: int, candidates: int) -> dict:
    """The generated city instance: arrays, scenario, study area, demand and candidates."""
    import geopandas as gpd

    from siting import data, road_tables
    from siting import demand as demand_mod
    from siting.study_area import area_km2, study_area

    muni = scale.citygraph.municipality()
    nodes, edges = scale.citygraph.generate(muni)
    tables = road_tables.from_frames(nodes, edges)
    arrays = road_tables.graph_arrays(tables)
    poly = scale.study_polygon(cells)
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"dask_engine_{os.getpid()}.geojson"
    gpd.GeoDataFrame(geometry=[poly], crs="EPSG:4326").to_file(tmp, driver="GeoJSON")
    scn = scale.scaled_scenario(tmp, area_km2(poly))
    area, districts, _ = study_area(scn)
    table = data.district_table(scn.path)
    dem = demand_mod.build_demand(
        tables, area, districts, scn.demand.segments,
        municipality_population=float(table["resident_population_2020"].sum()),
        h3_resolution=9, proxy=scn.demand.proxy, arrays=arrays,
    )  # fmt: skip
    cands = scale.pick_candidates(tables, scn, area, arrays, candidates)
    tmp.unlink()
    return dict(arrays=arrays, scn=scn, area=area, districts=districts, dem=dem, cands=cands)


def _busy_per_worker(stream: list[dict]) -> list[float]:
    """Seconds each worker spent computing tasks (from ``distributed.get_task_stream``)."""
    busy: dict[str, float] = {}
    for task in stream:
        for part in task.get("startstops", ()):
            if part.get("action") == "compute":
                busy[task["worker"]] = busy.get(task["worker"], 0.0) + part["stop"] - part["start"]
    return sorted(busy.values(), reverse=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=40_000)
    ap.add_argument("--candidates", type=int, default=8_000)
    ap.add_argument("--budgets", default="50M:300M:6")
    ap.add_argument("--skip", choices=["travel", "sweep"], default=None)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("distributed").setLevel(logging.ERROR)

    import distributed

    from siting import compare as cmp
    from siting import sizing, travel
    from siting.plan import Prepared

    city = city_instance(a.cells, a.candidates)
    arrays, scn, dem, cands = city["arrays"], city["scn"], city["dem"], city["cands"]
    note(
        "city instance (GENERATED graph)",
        f"{len(dem)} cells × {len(cands)} candidates, "
        f"{arrays.matrix.shape[0]} nodes, budget at this area {scn.budget_cny / 1e6:.0f} M CNY",
    )
    reach = scn.coverage.max_travel_min
    dem_nodes, site_nodes = dem["node"].to_numpy(), cands["node"].to_numpy()
    holder: dict = {}

    def run_travel(sched):
        return travel.travel_times(arrays, dem_nodes, site_nodes, reach, scheduler=sched)

    def run_sweep(sched):
        return cmp.compare(scn, a.budgets, None, scheduler=sched, prepared=holder["prepared"]).table

    jobs = {
        "travel": (run_travel, lambda x, y: x.shape == y.shape and (x != y).nnz == 0),
        "sweep": (run_sweep, lambda x, y: np.allclose(x["objective"], y["objective"], rtol=1e-9)),
    }
    if a.skip:
        jobs.pop(a.skip)
    if "sweep" in jobs:  # prepared before any clock runs
        holder["prepared"] = Prepared(
            scn, None, arrays, area=city["area"], districts=city["districts"], demand=dem,
            candidates=cands, travel=run_travel(None), sizing=sizing.for_scenario(scn, dem),
        )  # fmt: skip
    print("task,in_process_s,dask_1_s,dask_2_s,speedup_2_over_1,same_result,busy_1_s,busy_2_s",
          flush=True)  # fmt: skip
    for name, (run, same) in jobs.items():
        t = time.perf_counter()
        ref = run(None)
        times = [time.perf_counter() - t]
        ok = True
        busy: dict[int, list[float]] = {}
        for n in (1, 2):
            with distributed.LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                silence_logs=logging.ERROR,
            ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
                client.wait_for_workers(n)
                t = time.perf_counter()
                with distributed.get_task_stream(client) as ts:
                    out = run(client)
                times.append(time.perf_counter() - t)
                busy[n] = _busy_per_worker(ts.data)
            ok &= bool(same(ref, out))
        split = "/".join(f"{b:.1f}" for b in busy[2])
        print(f"{name},{times[0]:.2f},{times[1]:.2f},{times[2]:.2f},{times[1] / times[2]:.2f},{ok},"
              f"{sum(busy[1]):.1f},{split}", flush=True)  # fmt: skip
    note("cores", os.cpu_count())
    note("load (uptime)", os.popen("uptime").read().strip())
    note("command", "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
