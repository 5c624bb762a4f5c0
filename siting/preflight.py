"""Check that a scenario can run, without running it: what ``siting validate`` reports.

``siting validate`` says "ok" only when :func:`check_runnable` passes, so that ``siting run`` of
the same file can start: the embedded data is present and unchanged (sha256 of every file in its
manifest), the road-network source is usable (a file exists and is a readable OSM / GraphML file;
an ``osmnx`` source says that it needs internet access), a study-area file is readable, the
corridor tables of a ``corridor`` section are valid, every site file reads (built sites within
their grid connection) and the substation file, if any, reads.
"""

from __future__ import annotations

from typing import Any

from siting._errors import InputError


def check_runnable(scn: Any) -> list[str]:
    """Check everything ``siting run`` needs before its first stage.

    Parameters
    ----------
    scn : siting.scenario.Scenario
        A validated scenario (:func:`siting.scenario.load_scenario`).

    Returns
    -------
    list of str
        One line per input checked (what it is, what it needs at run time).

    Raises
    ------
    SitingError
        The first input that would stop the run (one line naming the file and the problem).
    """
    from siting import candidates, data, network

    near = scn.path
    meta = data.check_data(near)
    notes = [f"embedded data {data.data_dir(near)} ({len(meta.get('files', []))} files, sha256 ok)"]
    net = scn.network
    source = {"kind": net.source, "path": net.path, "place": net.place, "bbox": net.bbox}
    notes.append("network: " + network.check_source(source, base_dir=scn.base_dir))
    if scn.study_area.area != "embedded":
        import geopandas as gpd

        try:
            gpd.read_file(scn.study_area.area, rows=1)
        except Exception as exc:  # fiona/pyogrio raise many types
            raise InputError(f"study_area.area: cannot read {scn.study_area.area}: {exc}") from exc
        notes.append(f"study area file {scn.study_area.area}")
    from siting import sizing

    sizing.read_scenario_substations(scn)
    n_sites = 0
    for sf in scn.candidates.site_files:
        table = candidates.read_site_file(sf.path, crs=sf.crs)
        candidates.check_built_connections(table, sf, scn.costs, scn.grid.connection_kw_max)
        n_sites += len(table)
    if scn.candidates.site_files:
        notes.append(f"{n_sites} sites in {len(scn.candidates.site_files)} site file(s)")
    if scn.corridor is not None:
        notes.append(_check_corridor(scn.corridor))
    return notes


def _check_corridor(sec: Any) -> str:
    from siting import corridor

    nodes, links = corridor.read_corridor_tables(sec.corridor_dir)
    if sec.trips.logistics:
        corridor.load_zones(sec.corridor_dir)
    text = f"corridor tables: {len(nodes)} nodes, {len(links)} links"
    if sec.roads.source == "file":
        from siting import network

        road = network.check_source({"kind": "file", "path": sec.roads.path})
        text += f"; corridor roads from {road}"
    return text
