"""Check that a scenario can run, without running it: what ``siting validate`` reports.

``siting validate`` and ``siting run`` call :func:`check_runnable` after
:func:`siting.inputs.check_scenario` (which reads every file the scenario names: site files,
study-area polygon, substations): the embedded data is present and unchanged (sha256 of every file
in its manifest), the road-network source is usable (a file exists and is a readable OSM /
GraphML file; an ``osmnx`` source says that it needs internet access), and the corridor tables
(and a corridor roads file) of a ``corridor`` section are valid.
"""

from __future__ import annotations

from typing import Any


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
    from siting import data, network

    near = scn.path
    meta = data.check_data(near)
    notes = [f"embedded data {data.data_dir(near)} ({len(meta.get('files', []))} files, sha256 ok)"]
    net = scn.network
    source = {"kind": net.source, "path": net.path, "place": net.place, "bbox": net.bbox}
    notes.append("network: " + network.check_source(source, base_dir=scn.base_dir))
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
