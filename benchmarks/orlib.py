"""Solve OR-Library p-median / capacitated warehouse instances and compare with references.

Usage::

    python benchmarks/orlib.py {pmed|cap} FILE... [--optima FILE] [--capacity N] [--time-limit S]
        [--spopt-max-n N] [--mclp-max-n N] [--no-reference] [--random-family] [--random-cap K]

stdout: CSV ``instance,objective,optimum,status,gap,seconds,build_seconds`` (one row per
instance; ``optimum`` empty when unknown; ``seconds`` = solve incl. hand-off, ``build_seconds`` =
model arrays). stderr: the reference comparisons measured in the same run, as ``# key: value``
lines (so stdout stays clean CSV):

- build + hand-off of our model vs. the same formulation written by hand as raw highspy arrays
  (pmed: the classic assignment formulation, on the largest instance given and on a random
  900-node graph = pmed38 size, 810k assignment variables; cap: the split-demand CFLP);
- total time vs. spopt ``PMedian`` (PuLP + CBC, with a time limit) on the instances with at most
  ``--spopt-max-n`` nodes; spopt has no capacitated *fixed-charge* model, so none for cap;
- peak memory (``ru_maxrss`` of the process; ``tracemalloc`` peak of one build).

``--random-family`` also solves 20 random graphs with the published (n, m, p) of pmed21–40
(random, NOT the OR-Library files) and reports the total time; ``--random-cap K`` solves K random
100-site × 1000-customer capacitated instances (random, like capa/b/c in size only).
"""

from __future__ import annotations

import argparse
import csv
import math
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from siting.models import build_facility_location, build_p_median, facility_location, p_median
from siting.models._milp import new_highs, pass_to_highs
from siting.orlib import optimum_key, read_cap, read_optima, read_pmed

sys.path.insert(0, str(Path(__file__).parent))
from orlib_random import FAMILY_21_40, beasley_edges, distance, family


def note(key: str, value: object) -> None:
    """One reference figure on stderr."""
    print(f"# {key}: {value}", file=sys.stderr, flush=True)


def random_graph_distances(n: int, m: int, seed: int) -> np.ndarray:
    """Shortest paths of a random graph built like Beasley's pmed files (orlib_random.py)."""
    return distance(beasley_edges(n, m, np.random.default_rng(seed)), n)


def raw_pmedian_assignment(d: np.ndarray, p: int):  # -> highspy.Highs
    """The classic p-median assignment model written directly as highspy CSC arrays."""
    import highspy

    n_d, n_s = d.shape
    nx = n_d * n_s
    n_rows = n_d + nx + 1
    k = np.arange(nx)
    i = k // n_s
    # x_ij: row i (assignment) and row n_d + k (link); y_j: link rows of column j, then p row
    x_idx = np.empty(2 * nx, dtype=np.int32)
    x_idx[0::2] = i
    x_idx[1::2] = n_d + k
    link_rows = n_d + (np.arange(n_d)[None, :] * n_s + np.arange(n_s)[:, None])
    y_idx = np.concatenate([link_rows, np.full((n_s, 1), n_rows - 1)], axis=1).ravel()
    indices = np.concatenate([x_idx, y_idx.astype(np.int32)])
    x_val = np.empty(2 * nx)
    x_val[0::2] = 1.0
    x_val[1::2] = 1.0
    y_val = np.concatenate([-np.ones((n_s, n_d)), np.ones((n_s, 1))], axis=1).ravel()
    values = np.concatenate([x_val, y_val])
    start = np.concatenate(
        [np.arange(0, 2 * nx + 1, 2), 2 * nx + (n_d + 1) * np.arange(1, n_s + 1)]
    ).astype(np.int32)
    h = new_highs()
    inf = h.getInfinity()
    n_cols = nx + n_s
    row_lo = np.concatenate([np.ones(n_d), np.full(nx, -inf), [p]])
    row_up = np.concatenate([np.ones(n_d), np.zeros(nx), [p]])
    integrality = np.concatenate([np.zeros(nx), np.ones(n_s)]).astype(np.int32)
    h.passModel(
        n_cols, n_rows, int(values.size), int(highspy.MatrixFormat.kColwise),
        int(highspy.ObjSense.kMinimize), 0.0,
        np.concatenate([d.ravel(), np.zeros(n_s)]), np.zeros(n_cols), np.ones(n_cols),
        row_lo, row_up, start, indices, values, integrality,
    )  # fmt: skip
    return h


def raw_cflp(cost: np.ndarray, f: np.ndarray, dem: np.ndarray, cap: np.ndarray):
    """The split-demand CFLP (same rows as siting's) written directly as highspy CSR arrays."""
    import highspy

    n_d, n_s = cost.shape
    nx = n_d * n_s
    k = np.arange(nx)
    i, j = k // n_s, k % n_s
    # rows: assign (n_d), link (nx), capacity (n_s), total capacity (1); build CSR by row blocks
    r_assign = np.repeat(np.arange(n_d), n_s)
    rows = np.concatenate([r_assign, n_d + k, n_d + k, n_d + nx + j, n_d + nx + np.arange(n_s),
                           np.full(n_s, n_d + nx + n_s)])  # fmt: skip
    cols = np.concatenate([k, k, nx + j, k, nx + np.arange(n_s), nx + np.arange(n_s)])
    vals = np.concatenate([np.ones(nx), np.ones(nx), -np.ones(nx), dem[i], -cap, cap])
    order = np.argsort(rows, kind="stable")
    n_rows = n_d + nx + n_s + 1
    start = np.searchsorted(rows[order], np.arange(n_rows + 1)).astype(np.int32)
    h = new_highs()
    inf = h.getInfinity()
    n_cols = nx + n_s
    row_lo = np.concatenate([np.ones(n_d), np.full(nx + n_s, -inf), [dem.sum()]])
    row_up = np.concatenate([np.ones(n_d), np.zeros(nx + n_s), [inf]])
    h.passModel(
        n_cols, n_rows, int(vals.size), int(highspy.MatrixFormat.kRowwise),
        int(highspy.ObjSense.kMinimize), 0.0,
        np.concatenate([cost.ravel(), f]), np.zeros(n_cols), np.ones(n_cols),
        row_lo, row_up, start, cols[order].astype(np.int32), vals[order],
        np.concatenate([np.zeros(nx), np.ones(n_s)]).astype(np.int32),
    )  # fmt: skip
    return h


def timed(fn, repeat: int = 3) -> float:
    """Best wall-clock seconds of ``repeat`` calls."""
    best = math.inf
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def handoff_ratio(label: str, ours, raw) -> None:
    """Report build+hand-off of our model vs the raw highspy reference."""
    t_ours, t_raw = timed(ours), timed(raw)
    note(f"build+hand-off {label}: siting s", f"{t_ours:.3f}")
    note(f"build+hand-off {label}: raw highspy s", f"{t_raw:.3f}")
    note(f"build+hand-off {label}: ratio siting/raw", f"{t_ours / t_raw:.2f}")
    tracemalloc.start()
    ours()
    _, peak_ours = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    tracemalloc.start()
    raw()
    _, peak_raw = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    note(f"peak traced memory {label}: siting MB", f"{peak_ours / 2**20:.0f}")
    note(f"peak traced memory {label}: raw highspy MB", f"{peak_raw / 2**20:.0f}")


def spopt_pmedian(d: np.ndarray, p: int, time_limit: float) -> tuple[float, float, str]:
    """(objective, seconds, status) of spopt's PMedian with CBC on the same matrix."""
    import pulp
    from spopt.locate import PMedian

    t = time.perf_counter()
    model = PMedian.from_cost_matrix(d, np.ones(d.shape[0]), p_facilities=p)
    model = model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit))
    seconds = time.perf_counter() - t
    status = pulp.LpStatus[model.problem.status]
    return float(pulp.value(model.problem.objective)), seconds, status


def mclp_radius(d: np.ndarray) -> float:
    """Service radius of the MCLP comparison: the 5 % quantile of the node-to-node distances."""
    return float(np.quantile(d[~np.eye(d.shape[0], dtype=bool)], 0.05))


def ours_mclp(d: np.ndarray, p: int) -> tuple[float, float, str]:
    """(covered nodes, seconds incl. the coverage matrix, status) of siting's max_coverage."""
    import scipy.sparse as sp

    from siting.models import max_coverage

    t = time.perf_counter()
    cov = sp.csr_matrix(d <= mclp_radius(d))
    sol = max_coverage(cov, np.ones(d.shape[0]), np.zeros(d.shape[1]), budget=None, p=p)
    return sol.objective, time.perf_counter() - t, sol.status


def spopt_mclp(d: np.ndarray, p: int, time_limit: float) -> tuple[float, float, str]:
    """(covered nodes, seconds, status) of spopt's MCLP with CBC on the same radius."""
    import pulp
    from spopt.locate import MCLP

    t = time.perf_counter()
    model = MCLP.from_cost_matrix(d, np.ones(d.shape[0]), mclp_radius(d), p_facilities=p)
    model = model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit))
    seconds = time.perf_counter() - t
    status = pulp.LpStatus[model.problem.status]
    return float(pulp.value(model.problem.objective)), seconds, status


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=["pmed", "cap"])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--optima", type=Path, help="file of 'name value' lines")
    ap.add_argument("--capacity", type=float, help="site capacity (capa/b/c 'capacity' word)")
    ap.add_argument("--time-limit", type=float, default=None, help="seconds per instance")
    ap.add_argument("--spopt-max-n", type=int, default=100, help="run spopt up to this n")
    ap.add_argument(
        "--mclp-max-n",
        type=int,
        default=None,
        help="MCLP vs spopt up to this n (default: --spopt-max-n)",
    )
    ap.add_argument("--spopt-time-limit", type=float, default=300.0)
    ap.add_argument("--no-reference", action="store_true", help="skip the comparisons")
    ap.add_argument("--random-family", action="store_true", help="random pmed21-40 sizes")
    ap.add_argument("--seed", type=int, default=1985, help="seed of the random pmed family")
    ap.add_argument("--random-cap", type=int, default=0, help="random 100x1000 cap instances")
    a = ap.parse_args(argv)
    optima = read_optima(a.optima) if a.optima else {}
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(["instance", "objective", "optimum", "status", "gap", "seconds", "build_seconds"])

    def row(name: str, sol, opt: float | None) -> None:
        out.writerow([name, f"{sol.objective:.6f}", "" if opt is None else f"{opt:.10g}",
                      sol.status, f"{sol.gap:.2e}", f"{sol.seconds:.3f}",
                      f"{sol.build_seconds:.3f}"])  # fmt: skip
        sys.stdout.flush()

    total = 0.0
    largest = None
    spopt_cases: list[tuple[str, np.ndarray, int, float]] = []
    mclp_cases: list[tuple[str, np.ndarray, int]] = []
    rand_cap = None
    if a.kind == "pmed":
        for f in a.files:
            inst = read_pmed(f)
            sol = p_median(inst.distance, inst.p, time_limit=a.time_limit)
            total += sol.seconds + sol.build_seconds
            row(inst.name, sol, optima.get(inst.name))
            if largest is None or inst.n > largest.n:
                largest = inst
            if inst.n <= (a.mclp_max_n if a.mclp_max_n is not None else a.spopt_max_n):
                mclp_cases.append((inst.name, inst.distance, inst.p))
            if inst.n <= a.spopt_max_n:
                spopt_cases.append(
                    (inst.name, inst.distance, inst.p, sol.seconds + sol.build_seconds)
                )
        if a.random_family:
            t_fam = 0.0
            for (name, p, edges), (n, m, _) in zip(family(a.seed), FAMILY_21_40, strict=True):
                sol = p_median(distance(edges, n), p, time_limit=a.time_limit)
                t_fam += sol.seconds + sol.build_seconds
                row(f"{name}_n{n}_m{m}_p{p}", sol, None)
            note("random pmed21-40-size family: total s", f"{t_fam:.1f}")
            note("OR-Library pmed1-20 given + random 21-40: total s", f"{total + t_fam:.1f}")
            total += t_fam
    else:
        for f in a.files:
            inst = read_cap(f, capacity=a.capacity)
            sol = facility_location(
                inst.cost, inst.fixed_cost, inst.demand, inst.capacity, time_limit=a.time_limit
            )
            total += sol.seconds + sol.build_seconds
            row(inst.name, sol, optima.get(optimum_key(inst.name, a.capacity)))
            if largest is None or inst.cost.size > largest.cost.size:
                largest = inst
        rng = np.random.default_rng(100)
        for k in range(a.random_cap):
            n_s, n_d = 100, 1000
            sites, cust = rng.random((n_s, 2)), rng.random((n_d, 2))
            dem = rng.integers(5, 36, n_d).astype(float)
            cost = dem[:, None] * np.linalg.norm(cust[:, None] - sites[None], axis=2) * 1000
            fixed = rng.uniform(5000, 15000, n_s).round()
            cap = np.full(n_s, a.capacity or round(5 * dem.sum() / n_s))
            sol = facility_location(cost, fixed, dem, cap, time_limit=a.time_limit)
            total += sol.seconds + sol.build_seconds
            row(f"random_cap100x1000_{k}", sol, None)
            rand_cap = (cost, fixed, dem, cap)
    note("total seconds (build + solve, all rows above)", f"{total:.2f}")
    if not a.no_reference and largest is not None:
        if a.kind == "pmed":
            d = largest.distance
            handoff_ratio(
                f"pmed assignment {largest.name} ({d.size} x vars)",
                lambda: pass_to_highs(build_p_median(d, largest.p, formulation="assignment")),
                lambda: raw_pmedian_assignment(d, largest.p),
            )
            d9 = random_graph_distances(900, 16200, seed=38)
            handoff_ratio(
                "pmed assignment random 900 nodes (810000 x vars, pmed38 size)",
                lambda: pass_to_highs(build_p_median(d9, 5, formulation="assignment")),
                lambda: raw_pmedian_assignment(d9, 5),
            )
            if spopt_cases:
                ours = sum(c[3] for c in spopt_cases)
                theirs, same = 0.0, True
                for name, dd, p, _ in spopt_cases:
                    obj, sec, st = spopt_pmedian(dd, p, a.spopt_time_limit)
                    theirs += sec
                    same &= abs(obj - optima.get(name, obj)) <= 1e-6 * max(1.0, abs(obj))
                    note(f"spopt PMedian {name}", f"{obj:g} in {sec:.2f} s ({st})")
                names = ",".join(c[0] for c in spopt_cases)
                note(f"spopt PMedian total s on {names}", f"{theirs:.2f}")
                note("total time ratio spopt/siting on that subset", f"{theirs / ours:.1f}")
                note("spopt objectives equal the optima", same)
            if mclp_cases:
                mnames = ",".join(c[0] for c in mclp_cases)
                # MCLP: cover the most nodes within mclp_radius with p sites (unit weights)
                ours_m = theirs_m = 0.0
                same_m = True
                for name, dd, p in mclp_cases:
                    o_obj, o_sec, o_st = ours_mclp(dd, p)
                    s_obj, s_sec, s_st = spopt_mclp(dd, p, a.spopt_time_limit)
                    ours_m, theirs_m = ours_m + o_sec, theirs_m + s_sec
                    same_m &= abs(o_obj - s_obj) <= 1e-6 * max(1.0, abs(s_obj))
                    note(
                        f"MCLP {name} (radius {mclp_radius(dd):g}, p={p})",
                        f"siting {o_obj:g} in {o_sec:.3f} s ({o_st}); "
                        f"spopt {s_obj:g} in {s_sec:.3f} s ({s_st})",
                    )
                note(f"MCLP total s on {mnames}: siting", f"{ours_m:.3f}")
                note(f"MCLP total s on {mnames}: spopt", f"{theirs_m:.3f}")
                note("MCLP total time ratio spopt/siting", f"{theirs_m / ours_m:.1f}")
                note("MCLP objectives equal", same_m)

        else:
            inst = largest
            handoff_ratio(
                f"cap split-demand CFLP {inst.name}",
                lambda: pass_to_highs(
                    build_facility_location(inst.cost, inst.fixed_cost, inst.demand, inst.capacity)
                ),
                lambda: raw_cflp(inst.cost, inst.fixed_cost, inst.demand, inst.capacity),
            )
            if rand_cap is not None:
                handoff_ratio(
                    "cap split-demand CFLP random 100x1000",
                    lambda: pass_to_highs(build_facility_location(*rand_cap)),
                    lambda: raw_cflp(*rand_cap),
                )
            note("spopt", "no capacitated fixed-charge (CFLP) model in spopt; no comparison")
    note(
        "peak RSS MB (whole process)",
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}",
    )
    return 0


if __name__ == "__main__":
    from siting import SitingError

    try:
        raise SystemExit(main())
    except SitingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
