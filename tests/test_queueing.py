"""Erlang formulas against a published table, an independent implementation and a simulation."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest

from siting import queueing as Q
from siting._errors import InputError


def erlang_c_direct(c: int, a: float) -> float:
    """Erlang C from its textbook sum (an implementation independent of the B recursion)."""
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / math.factorial(c) * c / (c - a)
    return tail / (head + tail)


# Erlang B: "if this trunk group [15 lines] is to remain within the blocking figure of 1%, it can
# be offered a maximum level of traffic of 8.108 Erlangs" (Westbay Engineers, Erlang calculator
# manual, https://erlang.com/calculatormanual/howmuchtrafficcanatrunkgrouphandle.htm).
def test_erlang_b_matches_the_published_table_value():
    assert Q.erlang_b(15, 8.108) == pytest.approx(0.01, abs=5e-5)
    # one more Erlang (rounding in the table is 0.001 E) would break the 1 % target
    assert Q.erlang_b(15, 8.2) > 0.0101


@pytest.mark.parametrize("c", [1, 2, 3, 5, 10, 20, 40])
@pytest.mark.parametrize("rho", [0.05, 0.3, 0.6, 0.85, 0.97])
def test_erlang_c_equals_the_direct_sum(c, rho):
    a = rho * c
    assert Q.erlang_c(c, a) == pytest.approx(erlang_c_direct(c, a), rel=1e-10)


def test_erlang_c_closed_forms_and_limits():
    for a in (0.1, 0.5, 0.9):
        assert Q.erlang_c(1, a) == pytest.approx(a)  # M/M/1: P(wait) = rho
    for a in (0.2, 1.0, 1.7):
        assert Q.erlang_c(2, a) == pytest.approx(a * a / (2 + a))
    assert Q.erlang_c(3, 0.0) == 0.0
    assert Q.erlang_c(3, 3.0) == 1.0 and Q.erlang_c(3, 5.0) == 1.0
    assert Q.mean_wait(3, 3.5, 30.0) == math.inf
    # vectorised over the load
    v = Q.erlang_c(4, np.array([1.0, 2.0, 3.0]))
    assert v.shape == (3,) and np.all(np.diff(v) > 0)


def test_erlang_c_is_stable_where_the_direct_sum_overflows():
    # 400 servers at 90 % load: A^c / c! overflows a double, the recursion does not
    p = Q.erlang_c(400, 360.0)
    assert 0.0 < p < 0.1


def simulate_mmc(c: int, lam: float, service: float, n: int, seed: int) -> tuple[np.ndarray, ...]:
    """FCFS M/M/c by event simulation: per arrival, did it wait and how long (same unit)."""
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1.0 / lam, n))
    s = rng.exponential(service, n)
    free = [0.0] * c  # when each plug is next free
    waits = np.empty(n)
    for k in range(n):
        first = heapq.heappop(free)
        start = max(first, t[k])
        waits[k] = start - t[k]
        heapq.heappush(free, start + s[k])
    return waits > 0, waits


def batch_mean_se(x: np.ndarray, batches: int = 50) -> tuple[float, float]:
    b = x[: x.size - x.size % batches].reshape(batches, -1).mean(axis=1)
    return float(b.mean()), float(b.std(ddof=1) / math.sqrt(batches))


@pytest.mark.parametrize(("c", "load"), [(4, 3.0), (10, 7.5)])
def test_simulated_site_agrees_with_erlang_c_within_sampling_error(c, load):
    service_min = 30.0
    lam = load / (service_min / 60.0)  # arrivals per hour
    waited, waits = simulate_mmc(c, lam, service_min / 60.0, 200_000, seed=20240611)
    warm = 5_000  # drop the start-up from an empty station
    p_hat, p_se = batch_mean_se(waited[warm:].astype(float))
    w_hat, w_se = batch_mean_se(waits[warm:] * 60.0)
    p = Q.erlang_c(c, load)
    w = Q.mean_wait(c, load, service_min)
    assert abs(p_hat - p) < 4 * p_se + 1e-3, (p_hat, p, p_se)
    assert abs(w_hat - w) < 4 * w_se + 0.05, (w_hat, w, w_se)
    # and the queue figures helper gives the same numbers
    f = Q.queue_figures(np.array([c]), np.array([lam]), np.array([service_min]))
    assert f["p_wait"][0] == pytest.approx(p) and f["mean_wait_min"][0] == pytest.approx(w)
    assert f["utilisation"][0] == pytest.approx(load / c)


def test_max_load_is_the_largest_load_meeting_the_rule():
    lv = Q.ServiceLevel("p_wait", alpha=0.2)
    table = Q.max_load_table(20, lv)
    assert table[0] == 0.0
    for c in range(1, 21):
        assert Q.erlang_c(c, table[c]) <= 0.2 + 1e-12
        assert Q.erlang_c(c, table[c] * (1 + 1e-9) + 1e-9) > 0.2 - 1e-9
    per_plug = table[1:] / np.arange(1, 21)
    assert np.all(np.diff(per_plug) > 0)  # pooling: a plug takes more load in a bigger site
    assert table[1] == pytest.approx(0.2)  # M/M/1: P(wait) = load


def test_max_load_of_the_mean_wait_rule():
    lv = Q.ServiceLevel("mean_wait", alpha=None, max_mean_wait_min=5.0)
    table = Q.max_load_table(10, lv, service_min=30.0)
    for c in range(1, 11):
        assert Q.mean_wait(c, table[c], 30.0) == pytest.approx(5.0, rel=1e-6)
    # M/M/1: W = A s / (1 - A) = 5 with s = 30 -> A = 1/7
    assert table[1] == pytest.approx(1 / 7, rel=1e-9)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5, None])
def test_alpha_outside_the_open_unit_interval_is_an_input_error(alpha):
    with pytest.raises(InputError, match="alpha"):
        Q.ServiceLevel("p_wait", alpha=alpha)


def test_profile_checks_name_the_field():
    ok = Q.check_profile([1 / 24] * 24, "f.yaml: demand.segments.taxi.profile")
    assert ok.sum() == pytest.approx(1.0)
    with pytest.raises(InputError, match=r"^f.yaml: x: the 24 shares must sum to 1"):
        Q.check_profile([0.05] * 24, "f.yaml: x")
    with pytest.raises(InputError, match="24 hourly shares, got 23"):
        Q.check_profile([1 / 23] * 23, "f.yaml: x")
    with pytest.raises(InputError, match="hour 3 must be a number >= 0"):
        Q.check_profile([1 / 22] * 3 + [-1 / 22] + [1 / 22] * 20, "f.yaml: x")


def test_embedded_profiles_are_valid_and_cover_the_default_segments():
    table = Q.load_profiles()
    for name in ("private_nev", "taxi", "bus", "logistics", "sanitation", "hydrogen"):
        assert name in table
        assert table[name].shape == (24,) and table[name].sum() == pytest.approx(1.0)


def test_peak_hours_keeps_only_hours_that_can_bind():
    # one mix: only its peak hour
    one = np.array([[0.02] * 23 + [0.54]])
    assert Q.peak_hours(one).tolist() == [23]
    # two mixes peaking at different hours: both kept, a dominated hour dropped
    two = np.zeros((2, 24))
    two[0, 8], two[1, 16] = 0.5, 0.5
    two[:, 12] = 0.2  # below both componentwise-max hours? (0.2, 0.2) vs (0.5, 0) and (0, 0.5)
    kept = Q.peak_hours(two).tolist()
    assert 8 in kept and 16 in kept
    # (0.2, 0.2) <= 0.5 * (0.5, 0) + 0.5 * (0, 0.5) = (0.25, 0.25): implied by a mixture
    assert 12 not in kept
    two[:, 12] = 0.3  # (0.3, 0.3) is not below any mixture of the peaks: must stay
    assert 12 in Q.peak_hours(two).tolist()
