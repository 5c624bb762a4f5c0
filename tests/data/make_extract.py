"""Cut the small real test extract in ``tests/data/beijing_extract/`` from the shared OSM tables.

Run from the repository root: ``python tests/data/make_extract.py [--shared ../shared]``.
``--pbf-only OUT.osm.pbf [--bbox W S E N] [--highways CLASS ...]`` writes only a ``.osm.pbf`` of
the given area (default: the whole shared extract, 32,967 nodes; used by
``benchmarks/osm_file.py``) and classes. ``tests/data/corridor/central_expressways.osm.pbf`` is
``--pbf-only … --highways motorway motorway_link trunk trunk_link``.

Area: lon 116.385–116.410, lat 39.898–39.918 (about 2.1 km × 2.2 km around Tiananmen Square,
Dongcheng/Xicheng). Writes, all from ``osm/beijing_central_2013`` (© OpenStreetMap contributors,
ODbL):

- ``nodes.csv``, ``ways.csv``: the shared format, restricted to the area. A way leaving the area
  keeps its longest run of consecutive nodes inside it.
- ``extract.osm``: the same ways (all highway classes) and nodes as OSM XML. The source has no OSM
  way ids, so a way's id is its row number in the shared ``ways.csv``; ``oneway`` 1 → ``yes``,
  -1 → ``-1``; no other tags exist in the source.
- ``extract.osm.pbf``: the same content as PBF (needs pyosmium, ``pip install osmium``).
- ``extract.graphml``: ``osmnx.graph_from_xml`` of ``extract.osm`` reduced to the drivable classes.
- ``overpass_drive.json``: an Overpass-API-format response (``[out:json]``: nodes, then ways with
  tags) holding the drivable ways of the area and their nodes: what osmnx receives for
  ``graph_from_bbox(BBOX, network_type="drive")``. It is built from the shared extract, not
  captured from the live API (which would return today's roads).
"""

from __future__ import annotations

import argparse
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
OUT = HERE / "beijing_extract"
#: west, south, east, north (degrees)
BBOX = (116.385, 39.898, 116.410, 39.918)
DRIVABLE = {
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link", "secondary",
    "secondary_link", "tertiary", "tertiary_link", "unclassified", "residential",
    "living_street", "road",
}  # fmt: skip


def longest_inside_run(ids: list[int], inside: set[int]) -> list[int]:
    """Longest run of consecutive node ids that all lie inside the area."""
    best: list[int] = []
    run: list[int] = []
    for n in ids:
        if n in inside:
            run.append(n)
            if len(run) > len(best):
                best = run.copy()
        else:
            run = []
    return best


def cut(
    shared: Path, bbox: tuple[float, float, float, float] = BBOX
) -> tuple[pd.DataFrame, pd.DataFrame]:
    src = shared / "osm" / "beijing_central_2013"
    nodes = pd.read_csv(src / "nodes.csv", dtype={"lon": str, "lat": str})
    ways = pd.read_csv(src / "ways.csv", dtype={"name": str, "node_ids": str})
    lon, lat = nodes["lon"].astype(float), nodes["lat"].astype(float)
    w, s, e, n = bbox
    inside_nodes = nodes[(lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)]
    inside = set(inside_nodes["osm_node_id"].tolist())
    runs = (
        ways["node_ids"]
        .str.split()
        .map(lambda ids: longest_inside_run(list(map(int, ids)), inside))
    )
    ways = ways.assign(node_ids=runs.map(lambda r: " ".join(map(str, r))))[runs.map(len) >= 2]
    used = {int(x) for ids in ways["node_ids"] for x in ids.split()}
    nodes = inside_nodes[inside_nodes["osm_node_id"].isin(used)].sort_values("osm_node_id")
    return nodes.reset_index(drop=True), ways.reset_index(drop=True)


def way_tags(row: pd.Series) -> dict[str, str]:
    tags = {"highway": row["highway"]}
    if row["oneway"] == 1:
        tags["oneway"] = "yes"
    elif row["oneway"] == -1:
        tags["oneway"] = "-1"
    if isinstance(row["name"], str) and row["name"]:
        tags["name"] = row["name"]
    return tags


def write_xml(nodes: pd.DataFrame, ways: pd.DataFrame, path: Path) -> None:
    root = ET.Element("osm", version="0.6", generator="siting tests/data/make_extract.py")
    root.append(ET.Comment(" © OpenStreetMap contributors, ODbL; cut from ../shared/osm "))
    w, s, e, n = BBOX
    ET.SubElement(root, "bounds", minlat=str(s), minlon=str(w), maxlat=str(n), maxlon=str(e))
    for r in nodes.itertuples():
        ET.SubElement(root, "node", id=str(r.osm_node_id), lat=r.lat, lon=r.lon)
    for _, r in ways.iterrows():
        el = ET.SubElement(root, "way", id=str(r["way"]))
        for ref in r["node_ids"].split():
            ET.SubElement(el, "nd", ref=ref)
        for k, v in way_tags(r).items():
            ET.SubElement(el, "tag", k=k, v=v)
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def write_pbf(nodes: pd.DataFrame, ways: pd.DataFrame, path: Path) -> None:
    import osmium

    path.unlink(missing_ok=True)
    with osmium.SimpleWriter(str(path)) as writer:
        for r in nodes.itertuples():
            writer.add_node(
                osmium.osm.mutable.Node(
                    id=int(r.osm_node_id), location=(float(r.lon), float(r.lat))
                )
            )
        for _, r in ways.iterrows():
            refs = [int(x) for x in r["node_ids"].split()]
            writer.add_way(osmium.osm.mutable.Way(id=int(r["way"]), nodes=refs, tags=way_tags(r)))


def write_overpass(nodes: pd.DataFrame, ways: pd.DataFrame, path: Path) -> None:
    ways = ways[ways["highway"].isin(DRIVABLE)]
    used = {int(x) for ids in ways["node_ids"] for x in ids.split()}
    elements: list[dict] = [
        {"type": "node", "id": int(r.osm_node_id), "lat": float(r.lat), "lon": float(r.lon)}
        for r in nodes.itertuples()
        if r.osm_node_id in used
    ]
    elements += [
        {
            "type": "way",
            "id": int(r["way"]),
            "nodes": [int(x) for x in r["node_ids"].split()],
            "tags": way_tags(r),
        }
        for _, r in ways.iterrows()
    ]
    response = {
        "version": 0.6,
        "generator": "siting tests/data/make_extract.py (Overpass format, from ../shared/osm)",
        "osm3s": {"copyright": "© OpenStreetMap contributors, ODbL"},
        "elements": elements,
    }
    path.write_text(json.dumps(response, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")


def write_graphml(xml_path: Path, path: Path) -> None:
    import osmnx as ox

    G = ox.graph_from_xml(xml_path, simplify=False, retain_all=True)
    drop = [
        (u, v, k) for u, v, k, d in G.edges(keys=True, data=True) if d["highway"] not in DRIVABLE
    ]
    G.remove_edges_from(drop)
    G.remove_nodes_from([x for x in list(G.nodes) if G.degree(x) == 0])
    ox.save_graphml(G, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=HERE.parents[2] / "shared")
    parser.add_argument(
        "--pbf-only",
        type=Path,
        metavar="OUT.osm.pbf",
        help="write only a .osm.pbf of --bbox (default: the whole shared extract) to this path",
    )
    parser.add_argument("--bbox", type=float, nargs=4, metavar=("W", "S", "E", "N"))
    parser.add_argument(
        "--highways", nargs="+", metavar="CLASS", help="with --pbf-only: keep only these classes"
    )
    args = parser.parse_args()
    if args.pbf_only is not None:
        nodes, ways = cut(args.shared, tuple(args.bbox) if args.bbox else (-180, -90, 180, 90))
        if args.highways:
            ways = ways[ways["highway"].isin(args.highways)]
            used = {int(x) for ids in ways["node_ids"] for x in ids.split()}
            nodes = nodes[nodes["osm_node_id"].isin(used)]
        write_pbf(nodes, ways, args.pbf_only)
        print(f"{len(nodes)} nodes, {len(ways)} ways in {args.pbf_only}")
        return
    OUT.mkdir(exist_ok=True)
    nodes, ways = cut(args.shared)
    nodes.to_csv(OUT / "nodes.csv", index=False, lineterminator="\n")
    ways.to_csv(OUT / "ways.csv", index=False, lineterminator="\n")
    write_xml(nodes, ways, OUT / "extract.osm")
    write_pbf(nodes, ways, OUT / "extract.osm.pbf")
    write_overpass(nodes, ways, OUT / "overpass_drive.json")
    write_graphml(OUT / "extract.osm", OUT / "extract.graphml")
    n_drive = int(ways["highway"].isin(DRIVABLE).sum())
    print(f"{len(nodes)} nodes, {len(ways)} ways ({n_drive} drivable) in {OUT}")
    print(f"sizes (bytes): { {p.name: p.stat().st_size for p in sorted(OUT.iterdir())} }")


if __name__ == "__main__":
    main()
