"""Flow-refuelling optima on the Kuby–Lim 25-node network, with times; optional spopt comparison.

Usage::

    python benchmarks/frlm_25node.py --range 8 --range 12 --p 1 --p 2 --p 3
    python benchmarks/frlm_25node.py --range 8 12 16 20 --p 1 2 3 4 5 6 --compare-spopt

Prints CSV ``range,p,objective,sites,seconds`` (sites = space-separated node ids of the file,
objective = refuelled flow, seconds = model build + HiGHS solve). Ranges are in the network's
own distance units (the integer edge lengths of ``25-Node_Network_Edges.csv``). Trips: the 300
round trips ``i < j`` along the lexicographically smallest shortest path; refuelling convention of
issue 5 (see ``siting.models.frlm``).

With ``--compare-spopt`` the same instances go to ``spopt.locate.FRLM`` (spopt >= 0.8, exact
PuLP/CBC solve, given the same paths) and four columns are added: ``spopt_reported`` (the
coverage spopt reports), ``spopt_true`` (the flow its sites really refuel, by the independent tank
simulation ``siting.frlm_network.simulate_round_trip``), ``spopt_sites`` and ``spopt_seconds``.
spopt 0.8 declares Python >= 3.12; ``--spopt-path DIR`` puts an unpacked spopt first on sys.path.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import sys
import time
from pathlib import Path

import numpy as np

from siting.frlm_network import kuby_lim_trips, read_kuby_lim, round_trips_refuelled
from siting.models.frlm import flow_refuelling

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "kuby_lim_25node"


def run_spopt(net, trips, R: float, p: int):
    """Solve with spopt's FRLM on the same network and paths; return (reported, sites, seconds)."""
    import pandas as pd
    import pulp
    import scipy.sparse as sp
    from spopt.locate import FRLM

    n = net.n_nodes
    w = np.r_[net.length, net.length]
    g = sp.csr_matrix((w, (np.r_[net.tail, net.head], np.r_[net.head, net.tail])), shape=(n, n))
    flows = pd.DataFrame(
        {
            "origin": [int(trips.path(q)[0]) for q in range(trips.n_trips)],
            "destination": [int(trips.path(q)[-1]) for q in range(trips.n_trips)],
            "volume": trips.flow,
            "path": [trips.path(q).tolist() for q in range(trips.n_trips)],
        }
    )
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # spopt prints; keep stdout pure CSV
        m = FRLM.from_flow_dataframe(g, flows, vehicle_range=float(R), p_facilities=int(p))
        res = m.solve(pulp.PULP_CBC_CMD(msg=False))
    seconds = time.perf_counter() - t0
    return float(m.objective_value), sorted(int(s) for s in res["selected_facilities"]), seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--range",
        dest="ranges",
        type=float,
        nargs="+",
        action="extend",
        required=True,
        help="driving range(s), network distance units",
    )
    ap.add_argument(
        "--p",
        dest="ps",
        type=int,
        nargs="+",
        action="extend",
        required=True,
        help="number(s) of stations",
    )
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with the 3 CSVs")
    ap.add_argument("--threads", type=int, default=None, help="HiGHS threads")
    ap.add_argument("--compare-spopt", action="store_true", help="also run spopt.locate.FRLM")
    ap.add_argument(
        "--spopt-path",
        type=Path,
        default=None,
        help="folder to put first on sys.path to import spopt >= 0.8 from",
    )
    args = ap.parse_args(argv)
    if args.spopt_path is not None:
        sys.path.insert(0, str(args.spopt_path))

    net = read_kuby_lim(args.data)
    trips, _ = kuby_lim_trips(net)
    total = float(trips.flow.sum())
    out = csv.writer(sys.stdout, lineterminator="\n")
    header = ["range", "p", "objective", "sites", "seconds"]
    if args.compare_spopt:
        header += ["spopt_reported", "spopt_true", "spopt_sites", "spopt_seconds"]
    out.writerow(header)
    print(f"# total flow {total:.3f}", file=sys.stderr)
    for R in args.ranges:
        for p in args.ps:
            t0 = time.perf_counter()
            s = flow_refuelling(trips, R, n_sites=net.n_nodes, p=p, threads=args.threads)
            seconds = time.perf_counter() - t0
            if s.status != "optimal":
                print(f"# R={R:g} p={p}: {s.status} {s.message}", file=sys.stderr)
            row = [
                f"{R:g}",
                p,
                f"{s.objective:.3f}",
                " ".join(str(int(net.node_ids[k])) for k in s.open),
                f"{seconds:.3f}",
            ]
            if args.compare_spopt:
                rep, sites, sp_s = run_spopt(net, trips, R, p)
                mask = np.zeros(net.n_nodes, bool)
                mask[sites] = True
                true = float(trips.flow @ round_trips_refuelled(trips, mask, R))
                row += [
                    f"{rep:.3f}",
                    f"{true:.3f}",
                    " ".join(str(int(net.node_ids[k])) for k in sites),
                    f"{sp_s:.3f}",
                ]
            out.writerow(row)
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
