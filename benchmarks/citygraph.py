"""A GENERATED road graph of Beijing's extent, for scale benchmarks (not data, not a real road).

No whole-municipality OSM network is available offline (the embedded and shared OSM data cover
central Beijing only), so ``benchmarks/scale.py`` runs on this synthetic stand-in. It is a
**perturbed grid** clipped to the real municipal boundary (16 districts, 16,394 km², from
``data/boundaries``), calibrated on the embedded central-Beijing OSM graph:

* node density: the embedded graph has 21,727 nodes on 1,216 km² (17.9 per km²); the default
  spacing of 225 m gives about 19.7 per km², i.e. ~323,000 nodes over the municipality;
* road classes: each grid line gets one class for its whole length, drawn with the length shares
  of the embedded graph (tertiary 35 %, residential 29 %, secondary 11 %, unclassified 8.5 %,
  trunk 5 %, primary 4 %, motorway 3 %; links and the rest are folded into the classes above);
  speeds are the project's per-class defaults (``siting.network.DEFAULT_SPEEDS_KPH``);
* irregularity: node positions jittered by N(0, 0.15 × spacing) in each direction, 12 % of the
  residential / unclassified / tertiary road segments removed, and only the largest strongly
  connected component kept; every road is two-way.

Node ids are 1..n, edge ``osmid`` is negative (no OSM object), names are empty. Deterministic
for a given ``seed``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Road-class length shares of the embedded central-Beijing graph (links folded in, rounded).
CLASS_SHARES = {
    "tertiary": 0.35,
    "residential": 0.29,
    "secondary": 0.11,
    "unclassified": 0.085,
    "trunk": 0.05,
    "primary": 0.04,
    "motorway": 0.03,
}
#: Share of minor-road segments removed to break the grid's regularity.
DROP_MINOR = 0.12
MINOR = ("residential", "unclassified", "tertiary")


def municipality(data_dir: str | None = None):  # -> shapely geometry
    """The union of Beijing's 16 districts (WGS84), from the embedded boundaries."""
    import geopandas as gpd

    from siting import data

    folder = data.data_dir() if data_dir is None else data_dir
    return gpd.read_parquet(f"{folder}/boundaries/beijing_districts.parquet").geometry.union_all()


def generate(
    area, *, spacing_m: float = 225.0, seed: int = 2022
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate the node and edge tables of the synthetic road graph inside ``area``.

    Parameters
    ----------
    area : shapely (Multi)Polygon
        WGS84 boundary (e.g. :func:`municipality`).
    spacing_m : float
        Grid spacing (m) before jitter.
    seed : int
        Random seed.

    Returns
    -------
    (nodes, edges) : pandas.DataFrame
        ``nodes``: ``osmid`` (int64), ``x`` (lon), ``y`` (lat); ``edges``: ``u``, ``v``, ``key``,
        ``osmid``, ``highway``, ``name``, ``oneway``, ``reversed``, ``length`` (m), both
        directions of every road, in the schema of the embedded network tables.
    """
    import shapely

    from siting.network import great_circle_m

    rng = np.random.default_rng(seed)
    west, south, east, north = area.bounds
    lat0 = 0.5 * (south + north)
    m_lon = 111_320.0 * np.cos(np.radians(lat0))
    m_lat = 110_540.0
    nx_ = int((east - west) * m_lon / spacing_m) + 2
    ny_ = int((north - south) * m_lat / spacing_m) + 2
    gx, gy = np.meshgrid(np.arange(nx_), np.arange(ny_))
    gx, gy = gx.ravel(), gy.ravel()
    jitter = rng.normal(0.0, 0.15 * spacing_m, (2, gx.size))
    lon = west + (gx * spacing_m + jitter[0]) / m_lon
    lat = south + (gy * spacing_m + jitter[1]) / m_lat
    inside = shapely.contains_xy(area, lon, lat)

    classes = np.array(list(CLASS_SHARES))
    share = np.array(list(CLASS_SHARES.values()))
    col_class = rng.choice(classes.size, nx_, p=share / share.sum())  # vertical lines
    row_class = rng.choice(classes.size, ny_, p=share / share.sum())  # horizontal lines
    grid_id = np.full((ny_, nx_), -1, dtype=np.int64)
    grid_id[gy[inside], gx[inside]] = np.arange(int(inside.sum()))

    # horizontal segments (x, y)-(x+1, y) on row y; vertical (x, y)-(x, y+1) on column x
    a_h, b_h = grid_id[:, :-1].ravel(), grid_id[:, 1:].ravel()
    c_h = np.repeat(row_class, nx_ - 1)
    a_v, b_v = grid_id[:-1, :].ravel(), grid_id[1:, :].ravel()
    c_v = np.tile(col_class, ny_ - 1)
    a = np.concatenate([a_h, a_v])
    b = np.concatenate([b_h, b_v])
    c = np.concatenate([c_h, c_v])
    ok = (a >= 0) & (b >= 0)
    minor = np.isin(classes[c], MINOR)
    ok &= ~(minor & (rng.random(a.size) < DROP_MINOR))
    a, b, c = a[ok], b[ok], c[ok]
    lon, lat = lon[inside], lat[inside]

    keep = _largest_scc(a, b, lon.size)
    new_id = np.full(lon.size, -1, dtype=np.int64)
    new_id[keep] = np.arange(1, int(keep.sum()) + 1)
    both = keep[a] & keep[b]
    a, b, c = new_id[a[both]], new_id[b[both]], c[both]
    nodes = pd.DataFrame(
        {"osmid": np.arange(1, int(keep.sum()) + 1), "x": lon[keep], "y": lat[keep]}
    )
    length = great_circle_m(lat[keep][a - 1], lon[keep][a - 1], lat[keep][b - 1], lon[keep][b - 1])
    n_e = a.size
    edges = pd.DataFrame(
        {
            "u": np.concatenate([a, b]),
            "v": np.concatenate([b, a]),
            "key": np.zeros(2 * n_e, dtype=np.int64),
            "osmid": -np.concatenate([np.arange(1, n_e + 1)] * 2),
            "highway": pd.Categorical(np.concatenate([classes[c]] * 2)),
            "name": "",
            "oneway": False,
            "reversed": np.repeat([False, True], n_e),
            "length": np.round(np.concatenate([length, length]), 2),
        }
    )
    return nodes, edges


def _largest_scc(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Mask of the nodes in the largest (strongly = weakly, roads are two-way) component."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    g = sp.csr_matrix((np.ones(a.size), (a, b)), shape=(n, n))
    _, labels = connected_components(g, directed=False)
    return labels == np.bincount(labels).argmax()
