"""OSM way tables to directed edge tables, in bulk; the drivable highway classes.

A low module shared by :mod:`siting.network` (which re-exports these names) and the embedded-data
build in :mod:`siting.data`, so that neither imports the other for them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from siting._errors import InputError

#: OSM highway classes treated as drivable: the classes of
#: :data:`siting.network.DEFAULT_SPEEDS_KPH` (a test checks that the two agree).
DRIVABLE_HIGHWAYS: frozenset[str] = frozenset(
    {
        "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
        "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified",
        "residential", "living_street", "road",
    }
)  # fmt: skip
#: Mean Earth radius (m) for great-circle distances.
EARTH_RADIUS_M = 6_371_008.8


def edges_from_ways(ways: pd.DataFrame, nodes: pd.DataFrame) -> pd.DataFrame:
    """Turn polylines (ways) into directed edges between consecutive nodes, in bulk.

    Parameters
    ----------
    ways
        Columns ``way`` (id), ``highway``, ``oneway`` (1 forward, -1 reverse, 0 both directions),
        ``name`` and ``node_ids`` (a list of node ids, or a space-separated string).
    nodes
        Columns ``osmid``, ``x`` (lon), ``y`` (lat); must contain every node of ``ways``.

    Returns
    -------
    pandas.DataFrame
        One row per directed edge, sorted by ``u, v, key``: ``u``, ``v``, ``key`` (0.. among
        parallel edges), ``osmid`` (way id), ``highway``, ``name``, ``oneway`` (bool),
        ``reversed`` (bool: drawn against the way's node order), ``length`` (m, great circle).
    """
    refs = ways["node_ids"]
    if len(refs) and isinstance(refs.iloc[0], str):
        refs = refs.str.split()
    counts = refs.map(len).to_numpy()
    flat = np.fromiter(
        (int(n) for seq in refs for n in seq), dtype=np.int64, count=int(counts.sum())
    )
    row = np.repeat(np.arange(len(ways)), counts)
    same_way = row[:-1] == row[1:]
    a, b, r = flat[:-1][same_way], flat[1:][same_way], row[:-1][same_way]
    keep = a != b
    a, b, r = a[keep], b[keep], r[keep]

    oneway = ways["oneway"].to_numpy()[r]
    fwd = oneway >= 0  # 1 or 0: drawn in node order
    bwd = oneway <= 0  # -1 or 0: drawn against node order
    u = np.concatenate([a[fwd], b[bwd]])
    v = np.concatenate([b[fwd], a[bwd]])
    rr = np.concatenate([r[fwd], r[bwd]])
    rev = np.concatenate([np.zeros(fwd.sum(), bool), np.ones(bwd.sum(), bool)])

    coords = nodes.set_index("osmid")[["x", "y"]]
    missing = ~np.isin(np.unique(np.concatenate([u, v])), coords.index.to_numpy())
    if missing.any():
        raise InputError(f"ways refer to {int(missing.sum())} node id(s) missing from nodes")
    xu, yu = coords.loc[u, "x"].to_numpy(), coords.loc[u, "y"].to_numpy()
    xv, yv = coords.loc[v, "x"].to_numpy(), coords.loc[v, "y"].to_numpy()

    w = ways.iloc[rr]
    edges = pd.DataFrame(
        {
            "u": u,
            "v": v,
            "osmid": w["way"].to_numpy(dtype=np.int64),
            "highway": w["highway"].astype(str).to_numpy(),
            "name": w["name"].fillna("").astype(str).to_numpy(),
            "oneway": oneway[np.concatenate([fwd.nonzero()[0], bwd.nonzero()[0]])] != 0,
            "reversed": rev,
            "length": great_circle_m(yu, xu, yv, xv),
        }
    )
    edges = edges.sort_values(["u", "v", "osmid", "reversed"], kind="stable")
    edges.insert(2, "key", edges.groupby(["u", "v"]).cumcount().to_numpy(dtype=np.int64))
    return edges.reset_index(drop=True)


def great_circle_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray:
    """Great-circle distance in metres between points given in degrees (vectorised haversine)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0, 1)))
