"""`siting run` as a planner runs it, on a city-size GENERATED .osm.pbf: time and peak memory.

Run from the repository root (``../shared`` beside it for the real extract, pyosmium)::

    python benchmarks/city_run.py --cells 150000 --candidates 30000
    python benchmarks/city_run.py --cells 20000 --candidates 4000      # a quick one

What it does:

1. **The file (GENERATED).** The real central-Beijing OSM extract (``../shared/osm/
   beijing_central_2013``, written as .osm.pbf by ``tests/data/make_extract.py``) is tiled side by
   side (``benchmarks/osm_file.py``: translated copies, ids offset) until the tiles cover the study
   area plus the network clip buffer. The roads repeat central Beijing's; only the volume is
   realistic. No whole-Beijing OSM file is available offline.
2. **The scenario.** The default scenario (``scenarios/beijing_fast_charging.yaml``: service-level
   plug model, fleets, costs, 10-minute reach, solver limits) with ``network: {source: file,
   path: <the generated file>}``, H3 resolution 9, the study area = the municipality within a
   disc around Tiananmen holding about ``--cells`` cells (as ``benchmarks/scale.py``), the budget
   scaled by area as scale.py does (200 M CNY × area / 1,216 km²), and ``candidates.spacing_m``
   set so that the scenario's road classes give about ``--candidates`` sites (found before the
   measured runs by placing candidates on the file's roads; setup, not timed).
3. **The runs**, each one whole command under ``/usr/bin/time -v`` (wall time and maximum
   resident set size of the process): ``siting run`` **cold** (no GeoParquet cache next to the
   file), ``siting run`` **warm** (the cache written by the cold run), then ``siting validate``
   (it prepares the run) with the warm cache. Stderr is a pipe, so progress shows as
   timestamped lines; the benchmark counts them per stage.

Prints one CSV row per run on stdout::

    run,cells,candidates,seconds,peak_rss_mb,status,gap

and on stderr ``# key: value`` lines (file size and OSM nodes, road network kept, pairs,
progress lines, machine load, the commands).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import osm_file as osm_bench
import scale

from siting._osm_ways import DRIVABLE_HIGHWAYS as DRIVABLE

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
STAGES = ("network", "demand", "candidates", "travel", "model", "plan", "outputs")


def note(key: str, value: object) -> None:
    print(f"# {key}: {value}", file=sys.stderr, flush=True)


def tile_ranges(
    bounds: tuple[float, float, float, float], margin_deg: float, extent: tuple
) -> tuple[range, range]:
    """Tile offsets (columns, rows) whose copies of the real extract cover ``bounds``."""
    w, s, e, n = bounds
    x0, y0, width, height = extent
    c0 = math.floor((w - margin_deg - x0) / width)
    c1 = math.floor((e + margin_deg - x0) / width)
    r0 = math.floor((s - margin_deg - y0) / height)
    r1 = math.floor((n + margin_deg - y0) / height)
    return range(c0, c1 + 1), range(r0, r1 + 1)


def read_real(real: Path) -> tuple[list, list, tuple]:
    """Nodes, ways and extent ``(west, south, width, height)`` of the real extract."""
    import osmium

    nodes = [(n.id, n.location.lon, n.location.lat)
             for n in osmium.FileProcessor(str(real), osmium.osm.NODE)]  # fmt: skip
    ways = [(w.id, [n.ref for n in w.nodes], dict(w.tags))
            for w in osmium.FileProcessor(str(real), osmium.osm.WAY)]  # fmt: skip
    xs, ys = [x for _, x, _ in nodes], [y for _, _, y in nodes]
    return nodes, ways, (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))


def _edge_ends(nodes: list, ways: list, extent: tuple, reach_m: float) -> dict[str, list]:
    """Dead-end way ends of the real extract within ``reach_m`` of each side of its extent,
    with the way whose tags a connector takes: ``{side: [(node id, tags), ...]}``."""
    from collections import Counter

    x0, y0, width, height = extent
    xy = {i: (x, y) for i, x, y in nodes}
    uses = Counter(r for _, refs, _ in ways for r in refs)
    dx, dy = reach_m / (111_320 * math.cos(math.radians(y0 + height / 2))), reach_m / 110_570
    ends: dict[str, list] = {"west": [], "east": [], "south": [], "north": []}
    for _, refs, tags in ways:
        if tags.get("highway") not in DRIVABLE or tags.get("oneway") in ("yes", "-1", "1"):
            continue
        for r in {refs[0], refs[-1]}:
            if uses[r] != 1 or r not in xy:
                continue
            x, y = xy[r]
            near = {"west": x - x0 < dx, "east": x0 + width - x < dx,
                    "south": y - y0 < dy, "north": y0 + height - y < dy}  # fmt: skip
            for side in (k for k, v in near.items() if v):
                ends[side].append((r, {"highway": tags["highway"]}))
    return ends


def make_city_file(real: Path, cols: range, rows: range, out: Path) -> tuple[Path, int]:
    """GENERATED city-size file: the real extract tiled over ``cols`` × ``rows``, mirrored.

    Tile (c, r) holds the real extract translated by c widths and r heights, mirrored
    left-right when c is odd and top-bottom when r is odd, so that two neighbouring tiles face
    each other with mirror images of the same edge. Each two-way road that the extract cut at
    an edge (a dead end within 1.5 km of it) is joined to its mirror twin in the neighbouring
    tile by a GENERATED connector way of its class (length twice its distance to the edge):
    without them every tile is an island and the largest strongly connected component is one
    tile. Returns the file and the number of connectors.
    """
    import osmium

    nodes, ways, extent = read_real(real)
    x0, y0, width, height = extent
    tiles = {(c, r): t for t, (c, r) in enumerate((c, r) for r in rows for c in cols)}
    ends = _edge_ends(nodes, ways, extent, 1500.0)
    out.unlink(missing_ok=True)
    n_conn = 0
    with osmium.SimpleWriter(str(out)) as writer:
        for (c, r), t in tiles.items():
            off = t * 10**11
            for i, x, y in nodes:
                u, v = x - x0, y - y0
                u, v = (width - u if c % 2 else u), (height - v if r % 2 else v)
                loc = (x0 + c * width + u, y0 + r * height + v)
                writer.add_node(osmium.osm.mutable.Node(id=i + off, location=loc))
        way_id = len(tiles) * 10**11
        for (c, r), t in tiles.items():
            off = t * 10**11
            for i, refs, tags in ways:
                writer.add_way(
                    osmium.osm.mutable.Way(id=i + off, nodes=[x + off for x in refs], tags=tags)
                )
            # the tile's east and north neighbours: which side of the real extract faces them
            for nb, side in (((c + 1, r), "west" if c % 2 else "east"),
                             ((c, r + 1), "south" if r % 2 else "north")):  # fmt: skip
                if nb not in tiles:
                    continue
                off_nb = tiles[nb] * 10**11
                for ref, tags in ends[side]:
                    way_id += 1
                    n_conn += 1
                    writer.add_way(osmium.osm.mutable.Way(
                        id=way_id, nodes=[ref + off, ref + off_nb],
                        tags={**tags, "note": "GENERATED connector between tiles"},
                    ))  # fmt: skip
    return out, n_conn


#: Road classes added, in turn, when the scenario's classes have fewer junctions than wanted.
MORE_CLASSES = ("secondary", "tertiary")


def calibrate_spacing(pbf: Path, area: Any, scn: dict, want: int) -> tuple[float, list, int]:
    """Candidate spacing (m) and road classes giving about ``want`` candidates inside ``area``.

    Candidates sit on road nodes (junctions of the simplified graph), so a class list has at
    most as many as its nodes: when the scenario's classes hold fewer than ``want`` at 20 m
    spacing, the next class of :data:`MORE_CLASSES` is added.
    """
    import shapely

    from siting import candidates, osm_file, road_tables

    g = osm_file.read_osm_file(pbf, area.buffer(0.02), cache=False, geometry=False)
    t = road_tables.from_frames(g.nodes, g.edges, speed_rule="osm")
    classes = list(scn["candidates"]["road_classes"])

    def count(spacing: float) -> int:
        c = candidates.road_candidates(t, classes, spacing)
        return int(shapely.contains_xy(area, c["lon"], c["lat"]).sum())

    for extra in MORE_CLASSES:
        if count(20.0) >= want:
            break
        classes.append(extra)
    spacing, n = float(scn["candidates"]["spacing_m"]), 0
    for _ in range(8):  # n ~ 1/spacing on sparse roads, 1/spacing² on dense ones
        n = count(spacing)
        if abs(n - want) <= 0.02 * want:
            break
        spacing *= (n / want) ** 0.75
    return round(spacing, 1), classes, n


def write_scenario(
    folder: Path, pbf: Path, area_file: Path, km2: float, spacing: float, classes: list | None
) -> Path:
    import yaml

    from siting._yaml import load_yaml_text

    scn = load_yaml_text(scale.SCENARIO.read_text(encoding="utf-8"), scale.SCENARIO)
    scn["name"] = f"city-size run on a GENERATED .osm.pbf ({km2:,.0f} km²)"
    scn["description"] = "benchmarks/city_run.py: generated tiling of the real central extract"
    scn["study_area"] = {"area": str(area_file)}
    scn["network"] = {"source": "file", "path": str(pbf)}
    scn["demand"]["h3_resolution"] = 9
    scn["candidates"]["spacing_m"] = spacing
    if classes is not None:
        scn["candidates"]["road_classes"] = classes
    scn["budget_cny"] = float(scn["budget_cny"]) * km2 / scale.EMBEDDED_AREA_KM2
    path = folder / "city_run.yaml"
    path.write_text(yaml.safe_dump(scn, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return float(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _child(pid: int) -> int | None:
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(kids[0]) if kids else None


def timed(cmd: list[str], log: Path) -> dict[str, Any]:
    """Run ``cmd`` under ``/usr/bin/time -v``: wall seconds and peak RSS (MB) of the command,
    exit code, stdout, stderr, and the largest RSS sampled (every 0.2 s) during each stage, the
    stage being the last progress line seen."""
    import threading

    from siting._cli_common import STAGE_LABELS

    tfile = log.with_suffix(".time")
    full = ["/usr/bin/time", "-v", "-o", str(tfile), *cmd]
    proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT)  # fmt: skip
    lines: list[str] = []
    stage = ["starting"]
    out: list[str] = []

    def read_err() -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            lines.append(line)
            for name, label in STAGE_LABELS.items():
                if re.match(r"\d\d:\d\d:\d\d ", line) and label in line:
                    stage[0] = name

    readers = [threading.Thread(target=read_err),
               threading.Thread(target=lambda: out.append(proc.stdout.read()))]  # type: ignore[union-attr]  # fmt: skip
    for th in readers:
        th.start()
    peaks: dict[str, float] = {}
    while proc.poll() is None:
        child = _child(proc.pid)
        if child is not None:
            peaks[stage[0]] = max(peaks.get(stage[0], 0.0), _rss_mb(child))
        time.sleep(0.2)
    for th in readers:
        th.join()
    log.write_text("".join(lines), encoding="utf-8")
    t = tfile.read_text(encoding="utf-8")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", t)
    h, m, sec = (float(x) if x else 0.0 for x in wall.groups()) if wall else (0, 0, math.nan)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", t)
    cpu = re.search(r"Percent of CPU this job got: (\S+)", t)
    return {
        "seconds": h * 3600 + m * 60 + sec,
        "peak_rss_mb": int(rss.group(1)) / 1024 if rss else math.nan,
        "exit": proc.returncode,
        "stdout": "".join(out),
        "stderr": "".join(lines),
        "cpu": cpu.group(1) if cpu else "?",
        "stage_rss_mb": {k: round(v) for k, v in peaks.items()},
    }


def progress_lines(stderr: str) -> dict[str, int]:
    """Timestamped progress lines per stage label (``HH:MM:SS <label> …``)."""
    from siting._cli_common import STAGE_LABELS

    count = {name: 0 for name in STAGE_LABELS}
    for line in stderr.splitlines():
        if not re.match(r"\d\d:\d\d:\d\d ", line):
            continue
        for name, label in STAGE_LABELS.items():
            if label in line:
                count[name] += 1
    return {k: v for k, v in count.items() if v}


def setup(a: argparse.Namespace, work: Path) -> tuple[Path, Path, dict[str, Any]]:
    import geopandas as gpd

    from siting._yaml import load_yaml_text
    from siting.study_area import area_km2

    poly = scale.study_polygon(a.cells)
    km2 = area_km2(poly)
    area_file = work / "study_area.geojson"
    gpd.GeoDataFrame(geometry=[poly], crs="EPSG:4326").to_file(area_file, driver="GeoJSON")
    real = osm_bench.make_real(work / "central_real.osm.pbf", a.shared)
    margin = 2500 / 111_000  # the default network.clip_buffer_m (2 km), with room
    cols, rows = tile_ranges(poly.bounds, margin, read_real(real)[2])
    pbf = work / "beijing_GENERATED_tiles.osm.pbf"
    t = time.perf_counter()
    _, n_conn = make_city_file(real, cols, rows, pbf)
    info = {"tiles": f"{len(cols)}×{len(rows)} (columns {cols.start}..{cols.stop - 1}, rows "
            f"{rows.start}..{rows.stop - 1}), mirrored, {n_conn} GENERATED connectors",
            "file_mb": round(pbf.stat().st_size / 1e6, 1),
            "osm_nodes": osm_bench.count_nodes(pbf), "km2": round(km2),
            "make_seconds": round(time.perf_counter() - t, 1)}  # fmt: skip
    base = load_yaml_text(scale.SCENARIO.read_text(encoding="utf-8"), scale.SCENARIO)
    classes = None
    if a.spacing_m is None:
        spacing, classes, n = calibrate_spacing(pbf, poly, base, a.candidates)
        info["spacing"] = f"{spacing} m on {classes} gives {n} generated candidates"
    else:
        spacing = a.spacing_m
    return pbf, write_scenario(work, pbf, area_file, km2, spacing, classes), info


def graph_path(scn_file: Path, out: Path) -> None:
    """The REFERENCE: the same run with a networkx graph of the city handed to every stage
    (``siting.network.load_network`` → ``area_demand.prepare`` → solve → outputs), as
    ``siting run`` did before the road tables became its path."""
    from siting import network, plan, report
    from siting.demand_kinds import area_demand
    from siting.scenario import load_scenario
    from siting.study_area import buffered, study_area

    scn = load_scenario(scn_file)
    net = scn.network
    clip = buffered(study_area(scn)[0], net.clip_buffer_m)
    G = network.load_network({"kind": "file", "path": net.path}, clip=clip, file_cache=net.cache)
    arrays = network.graph_arrays(G)
    part = area_demand.prepare(scn, G, arrays)
    prepared = plan.Prepared(
        scn, G, arrays, area=part.area, districts=part.districts, demand=part.demand,
        candidates=part.candidates, travel=part.travel, timings=part.timings,
        data_sources=part.data_sources, notes=part.notes, sizing=part.sizing,
    )  # fmt: skip
    report.write_outputs(plan.solve_prepared(prepared), out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", type=int, default=150_000)
    ap.add_argument("--candidates", type=int, default=30_000)
    ap.add_argument("--spacing-m", type=float, default=None, help="skip the calibration")
    ap.add_argument("--shared", type=Path, default=SHARED)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/siting_city_run"))
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--no-reference", action="store_true", help="skip the networkx graph path")
    ap.add_argument("--budget-cny", type=float, default=None,
                    help="also a warm run at this budget (e.g. 400e6: money binds)")  # fmt: skip
    ap.add_argument("--graph-path", nargs=2, type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.graph_path:
        graph_path(*a.graph_path)
        return 0
    work = a.workdir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    note("load before (uptime)", os.popen("uptime").read().strip())
    pbf, scn_file, info = setup(a, work)
    for k, v in info.items():
        note(f"setup {k}", v)
    cache = pbf.parent / (pbf.name + ".siting-cache")
    shutil.rmtree(cache, ignore_errors=True)
    siting = [sys.executable, "-m", "siting"]
    runs = [
        ("run_cold", [*siting, "run", str(scn_file), "--out", str(work / "out_cold")]),
        ("run_warm", [*siting, "run", str(scn_file), "--out", str(work / "out_warm")]),
        ("validate_warm", [*siting, "validate", str(scn_file)]),
    ]
    if a.budget_cny is not None:
        runs.append(("run_warm_budget", [*siting, "run", str(scn_file), "--out",
                     str(work / "out_budget"), "--budget", f"{a.budget_cny:.0f}"]))  # fmt: skip
    if not a.no_reference:
        runs.append(("graph_path_warm", [sys.executable, __file__, "--graph-path", str(scn_file),
                     str(work / "out_graph")]))  # fmt: skip
    results: dict[str, dict[str, Any]] = {}
    print("run,cells,candidates,seconds,peak_rss_mb,status,gap", flush=True)
    for name, cmd in runs:
        r = timed(cmd, work / f"{name}.log")
        if r["exit"] != 0:
            note(f"{name} FAILED (exit {r['exit']})", r["stderr"][-3000:])
            return 1
        results[name] = r
        folder = {"run_cold": "out_cold", "run_warm_budget": "out_budget",
                  "graph_path_warm": "out_graph"}.get(name, "out_warm")  # fmt: skip
        summary_file = work / folder / "summary.json"
        s = json.loads(summary_file.read_text(encoding="utf-8"))
        status = "validated" if name.startswith("validate") else s["status"]
        print(f"{name},{s['n_demand_cells']},{s['n_candidates']},{r['seconds']:.1f},"
              f"{r['peak_rss_mb']:.0f},{status},{s['mip_gap']:.2e}", flush=True)  # fmt: skip
        note(f"{name} CPU", r["cpu"])
        note(f"{name} largest RSS sampled per stage (MB)", r["stage_rss_mb"])
        note(f"{name} progress lines", progress_lines(r["stderr"]))
        if not name.startswith("validate"):
            note(f"{name} stages (s)", s.get("timings"))
            kept = next((d.get("note") for d in s["data_sources"] if d["name"] == "road network"),
                        "")  # fmt: skip
            note(f"{name} road network", kept)
            note(f"{name} plan", f"{len(s.get('sites_by_kind', {}))} kinds, "
                 f"{sum(s.get('sites_by_kind', {}).values())} sites, "
                 f"{100 * s['demand_covered_share']:.1f} % of demand served, spent "
                 f"{s['spent_cny'] / 1e6:,.0f} of {s['budget_cny'] / 1e6:,.0f} M CNY, binding "
                 f"{s.get('binding_limit')}; solver: {s.get('solver_message')}")  # fmt: skip
            sizes = {f.name: f.stat().st_size for f in summary_file.parent.iterdir()}
            note(f"{name} outputs (bytes)", sizes)
        else:
            note(f"{name} says", r["stdout"].strip().splitlines()[0][:400])
    if "graph_path_warm" in results:
        ref, new = results["graph_path_warm"], results["run_warm"]
        note("graph path (reference) / tables, warm, same run",
             f"{ref['seconds'] / new['seconds']:.2f}x time, "
             f"{ref['peak_rss_mb'] / new['peak_rss_mb']:.2f}x peak RSS")  # fmt: skip
    note("load after (uptime)", os.popen("uptime").read().strip())
    note("command", "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]))
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
