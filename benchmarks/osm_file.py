"""Time and memory per million OSM nodes of reading a local .osm.pbf (siting.osm_file).

Run from the repository root (needs ``../shared`` for the real file and pyosmium)::

    python benchmarks/osm_file.py                    # real file + generated 1x1, 3x3, 6x6 tiles
    python benchmarks/osm_file.py --tiles 1 6 10     # other generated sizes
    python benchmarks/osm_file.py --no-reference     # skip the previous reader (slow)
    python benchmarks/osm_file.py --shared /path/to/shared

Files:

* **real**: the whole central-Beijing OSM extract (``../shared/osm/beijing_central_2013``: 32,967
  nodes, 20,339 ways, all highway classes), written as .osm.pbf by the project's own
  ``tests/data/make_extract.py --pbf-only``.
* **generated k×k**: that real file tiled k×k times side by side (each copy translated by the
  extract's width/height, ids offset per copy) to reach Geofabrik-like sizes. GENERATED: the
  roads repeat; only the volume is realistic. Every node of these files is a road node (the source
  kept no buildings), whereas in a real Geofabrik extract most nodes belong to buildings and other
  features that pass 2 never hands to Python, so the per-node figures here are on the slow side.

Cases, each in a fresh subprocess (peak RSS = ``ru_maxrss`` of that process, minus the same
process that only imports the modules):

* ``clip``: :func:`siting.osm_file.build_tables` with the polygon of ONE central tile (a city in
  a province-size file): both passes over the whole file, graph tables for the polygon only;
* ``whole``: the same without a polygon (every road of the file kept);
* ``graph``: :func:`siting.network.load_network` on the clip (tables → networkx graph, speeds,
  largest strongly connected component), no cache;
* ``write_cache``: ``graph`` plus writing the GeoParquet cache;
* ``cached``: the same read again from that cache;
* ``reference``: the reader siting used before (one pass with a pyosmium node-location index,
  a networkx graph of the WHOLE file, ``osmnx.simplify_graph``), then the same clip; the ratio
  reference / clip is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
#: Extent of the real extract (degrees): tiles are shifted by these steps.
TILE_DX, TILE_DY = 0.470, 0.312
REAL_BBOX = (116.148, 39.788, 116.613, 40.096)


def peak_mb() -> float:
    """Peak resident memory of this process (MB; Linux reports KB)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != "darwin" else rss / 2**20


def make_real(out: Path, shared: Path = SHARED) -> Path:
    """The whole shared extract as .osm.pbf, by tests/data/make_extract.py."""
    cmd = [sys.executable, str(ROOT / "tests" / "data" / "make_extract.py"),
           "--shared", str(shared), "--pbf-only", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def make_tiled(real: Path, k: int, out: Path) -> Path:
    """GENERATED: ``real`` repeated k×k times side by side (translated, ids offset)."""
    import osmium

    nodes = [
        (n.id, n.location.lon, n.location.lat)
        for n in osmium.FileProcessor(str(real), osmium.osm.NODE)
    ]
    ways = [
        (w.id, [n.ref for n in w.nodes], dict(w.tags))
        for w in osmium.FileProcessor(str(real), osmium.osm.WAY)
    ]
    out.unlink(missing_ok=True)
    with osmium.SimpleWriter(str(out)) as writer:
        for t in range(k * k):
            dx, dy, off = (t % k) * TILE_DX, (t // k) * TILE_DY, t * 10**11
            for i, x, y in nodes:
                writer.add_node(osmium.osm.mutable.Node(id=i + off, location=(x + dx, y + dy)))
        for t in range(k * k):
            off = t * 10**11
            for i, refs, tags in ways:
                writer.add_way(
                    osmium.osm.mutable.Way(id=i + off, nodes=[r + off for r in refs], tags=tags)
                )
    return out


def central_tile_polygon(k: int) -> Any:
    """The real extract's bbox moved onto the central tile of a k×k file."""
    from shapely.geometry import box

    c = k // 2
    w, s, e, n = REAL_BBOX
    return box(w + c * TILE_DX, s + c * TILE_DY, e + c * TILE_DX, n + c * TILE_DY)


def reference_reader(path: Path, polygon: Any) -> int:
    """siting's previous .osm.pbf reader: whole-file graph, then clip. Returns kept nodes."""
    import networkx as nx
    import numpy as np
    import osmium
    import osmnx as ox
    import pandas as pd
    import shapely

    from siting import network as N

    ways, node_xy = [], {}
    fp = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations()
    fp = fp.with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
    fp = fp.with_filter(osmium.filter.KeyFilter("highway"))
    for w in fp:
        hwy = w.tags.get("highway")
        if hwy not in N.DRIVABLE_HIGHWAYS:
            continue
        refs = []
        for n in w.nodes:
            node_xy[n.ref] = (n.location.lon, n.location.lat)
            refs.append(n.ref)
        ow = w.tags.get("oneway", "")
        oneway = -1 if ow == "-1" else 1 if ow == "yes" else 0
        ways.append((w.id, hwy, oneway, w.tags.get("name", ""), refs))
    ways_df = pd.DataFrame(ways, columns=["way", "highway", "oneway", "name", "node_ids"])
    nodes_df = pd.DataFrame(
        [(k, x, y) for k, (x, y) in node_xy.items()], columns=["osmid", "x", "y"]
    )
    edges = N.edges_from_ways(ways_df, nodes_df)
    G = N.graph_from_frames(nodes_df, edges)
    G = ox.simplify_graph(G)
    ids = list(G.nodes)
    x = np.fromiter((G.nodes[i]["x"] for i in ids), float, len(ids))
    y = np.fromiter((G.nodes[i]["y"] for i in ids), float, len(ids))
    inside = shapely.contains_xy(polygon, x, y)
    G.remove_nodes_from([i for i, ok in zip(ids, inside, strict=True) if not ok])
    assert isinstance(G, nx.MultiDiGraph)
    return len(G)


def run_case(case: str, path: str, k: int) -> dict[str, Any]:
    """One measurement (runs inside a fresh subprocess)."""
    import geopandas  # noqa: F401  (imported by every case: part of the baseline)
    import osmium  # noqa: F401
    import osmnx  # noqa: F401

    from siting import network, osm_file

    poly = central_tile_polygon(k)
    base = peak_mb()
    t0 = time.perf_counter()
    if case == "baseline":
        out: dict[str, Any] = {}
    elif case in ("clip", "whole"):
        g = osm_file.build_tables(path, poly if case == "clip" else None)
        out = {"nodes": len(g.nodes), "edges": len(g.edges), "road_km": g.stats["road_km"]}
    elif case in ("graph", "write_cache", "cached"):
        G = network.load_network(
            {"kind": "file", "path": path}, clip=poly, file_cache=case != "graph"
        )
        out = {"nodes": len(G), "edges": G.number_of_edges(),
               "from_cache": G.graph["osm_file"]["from_cache"]}  # fmt: skip
    elif case == "reference":
        out = {"nodes": reference_reader(Path(path), poly)}
    else:
        raise ValueError(case)
    out.update(case=case, seconds=time.perf_counter() - t0, peak_mb=peak_mb(), import_mb=base)
    return out


def measure(case: str, path: Path, k: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--case", case, "--file", str(path), "--k", str(k)]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        raise RuntimeError(f"{case} on {path.name} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def count_nodes(path: Path) -> int:
    import osmium

    return sum(1 for _ in osmium.FileProcessor(str(path), osmium.osm.NODE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiles", type=int, nargs="*", default=[3, 6])
    parser.add_argument("--shared", type=Path, default=SHARED, help="shared material folder")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--reference-max-nodes", type=float, default=1.5e6,
                        help="skip the (slow) previous reader on larger files")  # fmt: skip
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--k", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.file, args.k)))
        return

    print(f"# {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"# {platform.platform()}, {os.cpu_count()} cores; load before: {os.getloadavg()}")
    tmp = Path(tempfile.mkdtemp(prefix="siting-osm-bench-"))
    real = make_real(tmp / "beijing_central_2013.osm.pbf", args.shared)
    files = [("real central Beijing", 1, real)]
    for k in args.tiles:
        files.append(
            (f"GENERATED {k}x{k} tiles", k, make_tiled(real, k, tmp / f"tiled_{k}x{k}.osm.pbf"))
        )
    base = measure("baseline", real, 1)
    print(f"# interpreter + imports: {base['peak_mb']:.0f} MB peak RSS (subtracted below)")
    header = (
        "file,osm_nodes,mb_on_disk,case,seconds,s_per_million_nodes,"
        "peak_rss_mb_above_imports,mb_per_million_nodes,kept_nodes,kept_edges"
    )
    print(header)
    ratios = []
    for label, k, path in files:
        n = count_nodes(path)
        cases = ["clip", "whole", "graph", "write_cache", "cached"]
        if not args.no_reference and n <= args.reference_max_nodes:
            cases.append("reference")
        got = {}
        for case in cases:
            r = measure(case, path, k)
            got[case] = r
            mb = r["peak_mb"] - base["peak_mb"]
            print(f"{label},{n},{path.stat().st_size / 1e6:.1f},{case},{r['seconds']:.2f},"
                  f"{r['seconds'] / n * 1e6:.2f},{mb:.0f},{mb / n * 1e6:.0f},"
                  f"{r.get('nodes', '')},{r.get('edges', '')}")  # fmt: skip
        if "reference" in got:
            ratios.append((label, got["reference"]["seconds"] / got["clip"]["seconds"],
                           (got["reference"]["peak_mb"] - base["peak_mb"])
                           / max(got["clip"]["peak_mb"] - base["peak_mb"], 1)))  # fmt: skip
    for label, t_ratio, m_ratio in ratios:
        print(f"# {label}: previous reader / siting.osm_file clip = {t_ratio:.1f}x time, "
              f"{m_ratio:.1f}x memory")  # fmt: skip
    print(f"# load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
