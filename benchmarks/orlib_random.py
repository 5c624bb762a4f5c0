"""Random p-median graphs made the way OR-Library's pmed1-40 were made (Beasley 1985).

Usage::

    python benchmarks/orlib_random.py OUTDIR [--seed S]

writes ``rpmed21.txt`` ... ``rpmed40.txt`` (pmed file format) with the published (n, m, p) of
pmed21-40. They are **random stand-ins**, not the OR-Library files (which are not shipped here):
their optima are unknown and differ from ``pmedopt``.

How the shipped pmed1-20 files are built (read off the files themselves): the first ``n`` edge
lines form the Hamiltonian cycle ``1-2, 2-3, ..., (n-1)-n, n-1``; the other ``m - n`` lines join
two distinct nodes drawn uniformly from ``1..n-1`` (node ``n`` never appears there in any of the
20 files, so it has degree 2; some node pairs repeat: the last line counts); every edge cost is a
uniform integer 1..100. This generator does the same. Compared on pmed16
(n = 400, m = 3200): degree 2..30 (mean 16), cost mean 50.4, 47 repeated pairs, 59.6 distinct
distances per node; see ``compare`` below for the same figures of a generated graph.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from siting.orlib import pmed_distance

# published sizes of pmed21-40 (OR-Library pmedinfo / Beasley 1985, Table 2): n, m (edges), p
FAMILY_21_40 = [
    (500, 5000, 5), (500, 5000, 10), (500, 5000, 50), (500, 5000, 100), (500, 5000, 167),
    (600, 7200, 5), (600, 7200, 10), (600, 7200, 60), (600, 7200, 120), (600, 7200, 200),
    (700, 9800, 5), (700, 9800, 10), (700, 9800, 70), (700, 9800, 140),
    (800, 12800, 5), (800, 12800, 10), (800, 12800, 80),
    (900, 16200, 5), (900, 16200, 10), (900, 16200, 90),
]  # fmt: skip

DEFAULT_SEED = 1985


def beasley_edges(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Edge list ``(m, 3)`` of 1-based ``i j cost`` lines in the pmed style (see module doc)."""
    if m < n:
        raise ValueError(f"need m >= n for the Hamiltonian cycle, got n={n}, m={m}")
    ring_u = np.arange(1, n + 1)
    ring_v = np.roll(ring_u, -1)
    k = m - n
    u = rng.integers(1, n, k)  # 1..n-1, as in the shipped files
    v = rng.integers(1, n, k)
    same = u == v
    while same.any():  # two distinct end nodes
        v[same] = rng.integers(1, n, int(same.sum()))
        same = u == v
    cost = rng.integers(1, 101, m)
    return np.column_stack([np.concatenate([ring_u, u]), np.concatenate([ring_v, v]), cost])


def family(seed: int = DEFAULT_SEED) -> list[tuple[str, int, np.ndarray]]:
    """The 20 random stand-ins ``(name, p, edges)`` for pmed21-40, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    return [
        (f"rpmed{21 + k}", p, beasley_edges(n, m, rng)) for k, (n, m, p) in enumerate(FAMILY_21_40)
    ]


def distance(edges: np.ndarray, n: int) -> np.ndarray:
    """All-pairs shortest paths of a 1-based edge list (last repeated pair counts)."""
    return pmed_distance(n, edges[:, 0] - 1, edges[:, 1] - 1, edges[:, 2])[0]


def compare(edges: np.ndarray, n: int) -> dict[str, float]:
    """Figures to compare a graph with the shipped files: degree, cost, repeats, distinct dists."""
    u, v = np.minimum(edges[:, 0], edges[:, 1]), np.maximum(edges[:, 0], edges[:, 1])
    deg = np.bincount(np.concatenate([edges[:, 0], edges[:, 1]]) - 1, minlength=n)
    d = np.sort(distance(edges, n), axis=1)
    distinct = 1 + (np.diff(d, axis=1) != 0).sum(axis=1)
    return {
        "degree_min": int(deg.min()),
        "degree_mean": float(deg.mean()),
        "degree_max": int(deg.max()),
        "cost_mean": float(edges[:, 2].mean()),
        "repeated_pairs": int(edges.shape[0] - np.unique(u * (n + 1) + v).size),
        "distinct_distances_per_node": float(distinct.mean()),
        "max_distance": float(d.max()),
    }


def write_pmed(path: Path, n: int, p: int, edges: np.ndarray) -> None:
    """Write one instance in the OR-Library pmed format."""
    lines = [f" {n} {edges.shape[0]} {p}"] + [f" {a} {b} {c}" for a, b, c in edges.tolist()]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    a = ap.parse_args(argv)
    a.outdir.mkdir(parents=True, exist_ok=True)
    for name, p, edges in family(a.seed):
        n = int(edges[:, :2].max())
        write_pmed(a.outdir / f"{name}.txt", n, p, edges)
        print(name, n, edges.shape[0], p, compare(edges, n), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
