"""The distributed engine: travel-time tiles and budget sweeps on a 2-process Dask cluster."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from siting import network
from siting.travel import travel_times

EXTRACT = Path(__file__).parent / "data" / "beijing_extract" / "extract.graphml"
SMALL = Path(__file__).parent / "data" / "scenarios" / "small.yaml"


@pytest.fixture(scope="module")
def cluster():
    import distributed

    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cl, distributed.Client(cl) as client:  # fmt: skip
        yield cl, client


@pytest.mark.slow
def test_workers_are_two_other_processes(cluster):
    _, client = cluster
    pids = set(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids


@pytest.mark.slow
@pytest.mark.parametrize("window_min_nodes", [0, 10**9])  # windowed tiles; whole graph split
def test_travel_times_on_the_cluster_equal_the_local_ones(cluster, window_min_nodes):
    cl, client = cluster
    G = network.load_network({"kind": "file", "path": EXTRACT})
    arrays = network.graph_arrays(G)
    nodes = np.array(list(G.nodes))
    sites = np.random.default_rng(2).choice(nodes, 40, replace=False)
    kw = dict(window_min_nodes=window_min_nodes, dtype=np.float64)
    local = travel_times(arrays, nodes, sites, 2.0, **kw)
    by_client = travel_times(arrays, nodes, sites, 2.0, scheduler=client, **kw)
    by_address = travel_times(arrays, nodes, sites, 2.0, scheduler=cl.scheduler_address, **kw)
    assert local.nnz > 0
    assert (local != by_client).nnz == 0 and (local != by_address).nnz == 0


@pytest.mark.slow
def test_budget_sweep_and_preparation_on_the_cluster_equal_the_local_ones(cluster):
    from siting import compare as cmp
    from siting.plan import prepare
    from siting.scenario import load_scenario

    cl, _ = cluster
    scenario = load_scenario(SMALL)
    budgets = "0.5M,1M,2M,3M"
    local = cmp.compare(scenario, budgets, None)
    remote = cmp.compare(scenario, budgets, None, scheduler=cl.scheduler_address)
    assert remote.table["objective"].tolist() == pytest.approx(
        local.table["objective"].tolist(), rel=1e-9
    )
    a = prepare(scenario)
    b = prepare(scenario, scheduler=cl.scheduler_address)
    assert (a.travel != b.travel).nnz == 0
