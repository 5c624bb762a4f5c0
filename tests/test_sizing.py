"""Grid limits, sizing arrays, per-site queue figures and the binding limit on constructed cases."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from siting import grid, sizing
from siting import queueing as Q
from siting._errors import InputError
from siting.candidates import read_site_file


def _features(*feats):
    return {"type": "FeatureCollection", "features": list(feats)}


def _point(lon, lat, **props):
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": props}  # fmt: skip


def _square(lon0, lat0, d, **props):
    ring = [[lon0, lat0], [lon0 + d, lat0], [lon0 + d, lat0 + d], [lon0, lat0 + d], [lon0, lat0]]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": props}  # fmt: skip


def test_substations_feed_the_sites_they_serve(tmp_path):
    f = tmp_path / "subs.geojson"
    f.write_text(json.dumps(_features(
        _point(116.40, 39.90, name="A", headroom_mw=2.0, coincidence_factor=0.8, radius_m=2000),
        _point(116.45, 39.90, name="B", headroom_mw=1.0),
        _square(116.30, 39.95, 0.02, name="Zone", headroom_mw=0.5),
    )))  # fmt: skip
    subs = grid.read_substations(f, radius_m=3000)
    assert subs.names == ["A", "B", "Zone"]
    assert subs.headroom_kw.tolist() == [2000.0, 1000.0, 500.0]
    assert subs.coincidence.tolist() == [0.8, 1.0, 1.0]
    # sites: next to A, between A and B (nearer B), far from both, inside the zone
    lon = np.array([116.401, 116.43, 116.60, 116.31])
    lat = np.array([39.90, 39.90, 39.90, 39.96])
    m = grid.feeder_matrix(subs, lon, lat).toarray()
    assert m[:, 0].tolist() == [True, False, False]
    assert m[:, 1].tolist() == [False, True, False]  # nearest point B, 1.7 km < 3 km
    assert m[:, 2].tolist() == [False, False, False]
    assert m[:, 3].tolist() == [False, False, True]


@pytest.mark.parametrize(
    ("props", "message"),
    [
        (
            {"name": "A", "headroom_mw": -1},
            r"feature 0 \(A\): headroom_mw: must be >= 0 MW, got -1",
        ),
        ({"name": "A", "headroom_mw": 1, "coincidence_factor": 1.5}, "coincidence_factor: must be"),
        ({"headroom_mw": 1}, "name: missing"),
        ({"name": "A"}, "headroom_mw: missing"),
    ],
)
def test_bad_substation_fields_are_one_line_errors_naming_file_and_field(tmp_path, props, message):
    f = tmp_path / "subs.geojson"
    f.write_text(json.dumps(_features(_point(116.4, 39.9, **props))))
    with pytest.raises(InputError, match=message) as err:
        grid.read_substations(f)
    assert str(f) in str(err.value) and "\n" not in str(err.value)


def test_plug_limit_takes_the_tighter_of_max_plugs_and_connection():
    limit, by_conn = grid.plug_limit(
        np.array([20, 20, 4]), np.array([120.0, 120.0, 120.0]), np.array([1000.0, np.inf, 1000.0])
    )
    assert limit.tolist() == [8, 20, 4]
    assert by_conn.tolist() == [True, False, False]


def test_site_file_connection_column_is_read_and_checked(tmp_path):
    f = tmp_path / "built.csv"
    f.write_text("id,name,lon,lat,status,plugs,connection_kw_max\nb1,B1,116.4,39.9,built,4,600\n")
    t = read_site_file(f)
    assert t["connection_kw_max"].tolist() == [600.0]
    f.write_text("id,name,lon,lat,connection_kw_max\nb1,B1,116.4,39.9,-5\n")
    with pytest.raises(InputError, match=r"line 2: connection_kw_max: -5 kW is out of range"):
        read_site_file(f)


def _toy_candidates(n=3, max_plugs=6, conn=np.inf):
    return pd.DataFrame(
        {"plug_kw": np.full(n, 120.0), "max_plugs": np.full(n, max_plugs),
         "existing_plugs": np.zeros(n, dtype=np.int64), "connection_kw_max": np.full(n, conn),
         "lon": 116.4 + 0.01 * np.arange(n), "lat": np.full(n, 39.9)}
    )  # fmt: skip


def test_sizing_arrays_keep_only_the_peak_hour_for_one_mix():
    prof = np.vstack(
        [np.r_[np.full(23, 0.04), 0.08], np.r_[np.full(12, 0.05), np.full(12, 1 / 30)]]
    )
    prof /= prof.sum(axis=1, keepdims=True)
    dem = pd.DataFrame({"kwh_taxi": [100.0, 200.0], "kwh_bus": [50.0, 100.0]})  # same mix
    arr = sizing.sizing_arrays(
        dem, ["taxi", "bus"], prof, np.array([30.0, 60.0]), Q.ServiceLevel("p_wait", 0.2),
        charging_kw=60.0,
    )  # fmt: skip
    assert arr.hours.size == 1
    h = int(arr.hours[0])
    expected = dem.to_numpy() @ prof[:, h]
    assert np.allclose(arr.load[:, 0], expected)
    lim = arr.for_sites(_toy_candidates(conn=500.0))
    assert np.allclose(lim.level_capacity[0], Q.max_load_table(4, arr.level) * 60.0)
    assert lim.max_plugs.tolist() == [4, 4, 4] and lim.by_connection.all()  # 500 kW / 120 kW
    # demand-weighted mean session: 2/3 of the energy in 30 kWh sessions, 1/3 in 60 kWh ones
    sessions = (2 / 3) / 30 + (1 / 3) / 60
    assert arr.service_min == pytest.approx(60 * 1 / (sessions * 60.0))


def test_site_queues_recompute_erlang_c_at_each_sites_peak():
    prof = np.vstack([np.full(24, 1 / 24), np.r_[np.zeros(23), 1.0]])
    served = np.array([[240.0, 0.0], [0.0, 30.0]])  # site 0: flat taxi; site 1: all at 23:00
    out = sizing.site_queues(served, np.array([2, 3]), prof, np.array([30.0, 30.0]),
                             np.array([60.0, 60.0]))  # fmt: skip
    # site 0: 240/24 = 10 kWh/h -> 1/3 session per hour of 30 min: A = 1/6 E
    assert out["peak_arrivals_per_h"][0] == pytest.approx(1 / 3)
    assert out["service_min"][0] == pytest.approx(30.0)
    assert out["p_wait"][0] == pytest.approx(Q.erlang_c(2, 1 / 6))
    assert out["peak_hour"][1] == 23 and out["peak_load_erlangs"][1] == pytest.approx(0.5)
    assert out["mean_wait_min"][1] == pytest.approx(Q.mean_wait(3, 0.5, 30.0))
    assert out["utilisation"][1] == pytest.approx(0.5 / 3)


def _limit(**kw):
    base = dict(
        total=100.0, reachable=90.0, served=50.0, unserved_reach=np.array([10.0, 10.0, 0.0]),
        is_open=np.array([True, False, False]), plugs=np.array([4, 0, 0]),
        plug_limit=np.array([6, 6, 6]), by_connection=np.array([False, False, False]),
        allowed=np.ones(3, bool), site_cost=np.array([5e5, 5e5, 5e5]),
        plug_cost=np.full(3, 4e4), existing=np.zeros(3, dtype=np.int64), unspent=1e4,
    )  # fmt: skip
    base.update(kw)
    return sizing.binding_limit(**base)


def test_binding_limit_on_constructed_cases():
    assert _limit(total=100.0, reachable=100.0, served=100.0)[0] == "demand"
    lim, why = _limit(served=90.0)
    assert lim == "reach" and "beyond the travel-time limit" in why
    lim, why = _limit()  # 10 k CNY left, a plug costs 40 k
    assert lim == "budget" and "0.01 M CNY left" in why
    # money left, but both sites reaching unserved demand are at their connection limit
    lim, why = _limit(
        unspent=5e6, is_open=np.array([True, True, False]), plugs=np.array([6, 6, 0]),
        by_connection=np.array([True, True, False]),
    )  # fmt: skip
    assert lim == "grid" and "grid connection at 2" in why
    # ... or their substation has no headroom for one more plug
    lim, why = _limit(unspent=5e6, is_open=np.array([True, True, False]),
                      plugs=np.array([4, 4, 0]),
                      group_draw=sp.csr_matrix(np.array([[120.0, 120.0, 0.0]])),
                      group_left=np.array([50.0]))  # fmt: skip
    assert lim == "grid" and "substation headroom at 2" in why
    # ... or max_plugs
    lim, why = _limit(unspent=5e6, is_open=np.array([True, True, False]),
                      plugs=np.array([6, 6, 0]))  # fmt: skip
    assert lim == "grid" and "max_plugs at 2" in why
