"""Tests of the ``--budgets`` grammar (siting._budgets)."""

from __future__ import annotations

import itertools

import pytest

from siting._budgets import BudgetError, budget_label, budget_labels, parse_budgets
from siting._errors import SitingError


def test_list_with_suffixes_is_read_in_cny():
    assert parse_budgets("20M,50M,100M,200M") == [20e6, 50e6, 100e6, 200e6]


def test_suffixes_are_case_insensitive_and_plain_numbers_are_cny():
    assert parse_budgets("500k, 1.5b ,2e7,30_000_000") == [5e5, 2e7, 3e7, 1.5e9]


def test_count_range_gives_n_evenly_spaced_budgets_including_both_ends():
    out = parse_budgets("10M:200M:10")
    assert len(out) == 10
    assert out[0] == 10e6 and out[-1] == 200e6
    steps = {round(b - a) for a, b in itertools.pairwise(out)}
    assert max(steps) - min(steps) <= 1  # whole-yuan rounding only


def test_step_range_with_plus_or_suffix():
    assert parse_budgets("10M:50M:+20M") == [10e6, 30e6, 50e6]
    assert parse_budgets("10M:55M:20M") == [10e6, 30e6, 50e6]


def test_budgets_are_sorted_and_deduplicated():
    assert parse_budgets("100M,20M,20000000,50M:100M:2") == [20e6, 50e6, 100e6]


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("20X", "20X"),
        ("20M,,50M", "empty item"),
        ("-5M", "-5M"),
        ("10M:200M", "10M:200M"),
        ("200M:10M:5", "200M:10M:5"),
        ("10M:200M:2.5", "10M:200M:2.5"),
        ("10M:200M:+0", "10M:200M:+0"),
        ("abc", "abc"),
        ("", "no budgets"),
        ("1M:2M:100000", "100000"),
    ],
)
def test_bad_values_raise_one_line_naming_the_flag_and_item(text, bad):
    with pytest.raises(BudgetError) as exc:
        parse_budgets(text)
    msg = str(exc.value)
    assert msg.startswith("--budgets: ")
    assert bad in msg
    assert "\n" not in msg
    assert isinstance(exc.value, SitingError)


def test_labels_are_short_and_distinct():
    assert budget_label(20e6) == "20M"
    assert budget_label(1.5e9) == "1.5B"
    assert budget_label(500e3) == "500K"
    assert budget_label(0) == "0"
    labels = budget_labels([10_000_000, 10_001_000, 10_001_500])
    assert len(set(labels)) == 3
