"""OR-Library readers: formats, traps (duplicate edges, wrapped values, the word 'capacity')."""

from pathlib import Path

import numpy as np
import pytest

from siting import InputError
from siting.orlib import read_cap, read_optima, read_pmed

DATA = Path(__file__).parent / "data" / "orlib"


def test_pmed_reader_gives_symmetric_shortest_paths():
    inst = read_pmed(DATA / "pmed1.txt")
    assert inst.name == "pmed1" and inst.n == 100 and inst.p == 5
    d = inst.distance
    assert np.allclose(d, d.T) and (np.diag(d) == 0).all() and np.isfinite(d).all()


def test_pmed_duplicate_edge_last_line_counts(tmp_path):
    f = tmp_path / "dup.txt"
    f.write_text("3 3 1\n1 2 5\n2 3 1\n2 1 9\n")
    d = read_pmed(f).distance
    assert d[0, 1] == 9 and d[0, 2] == 10


def test_pmed_zero_length_edge_is_kept(tmp_path):
    f = tmp_path / "zero.txt"
    f.write_text("3 2 1\n1 2 0\n2 3 4\n")
    d = read_pmed(f).distance
    assert d[0, 1] == 0 and d[0, 2] == 4


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("3 2\n1 2 5\n", "line 1"),
        ("3 2 1\n1 2 5\n", "2 edges"),
        ("3 1 1\n1 4 5\n", "line 2"),
        ("3 1 1\n1 2 x\n", "line 2"),
        ("3 1 5\n1 2 3\n", "line 1"),
    ],
)
def test_pmed_wrong_format_names_file_and_line(tmp_path, text, needle):
    f = tmp_path / "bad.txt"
    f.write_text(text)
    with pytest.raises(InputError, match=r"bad\.txt") as e:
        read_pmed(f)
    assert needle in str(e.value)


def test_cap_reader_reads_wrapped_values(tmp_path):
    inst = read_cap(DATA / "cap41.txt")
    assert inst.cost.shape == (50, 16) and inst.capacity.shape == (16,)
    # the same numbers wrapped onto other lines read identically
    toks = (DATA / "cap41.txt").read_text().split()
    f = tmp_path / "wrapped.txt"
    f.write_text("\n".join(" ".join(toks[k : k + 7]) for k in range(0, len(toks), 7)))
    again = read_cap(f)
    assert np.array_equal(again.cost, inst.cost) and np.array_equal(again.demand, inst.demand)


def test_cap_word_capacity_needs_caller_capacity(tmp_path):
    f = tmp_path / "capx.txt"
    f.write_text("2 2\ncapacity 10\ncapacity 20.5\n3 1 2\n4\n 5 6\n")
    with pytest.raises(InputError, match=r"capx.txt, line 2.*capacity"):
        read_cap(f)
    inst = read_cap(f, capacity=100)
    assert inst.capacity.tolist() == [100, 100] and inst.fixed_cost.tolist() == [10, 20.5]
    assert inst.demand.tolist() == [3, 4] and inst.cost.tolist() == [[1, 2], [5, 6]]


@pytest.mark.parametrize(
    ("text", "needle"),
    [("2 2\n5 1\n5 1\n3 1 2\n4 5\n", "ended early"), ("1 1\n5 1\n3 1 9\n", "line 3")],
)
def test_cap_wrong_format_names_file(tmp_path, text, needle):
    f = tmp_path / "badcap.txt"
    f.write_text(text)
    with pytest.raises(InputError, match=r"badcap\.txt") as e:
        read_cap(f)
    assert needle in str(e.value)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_pmed(tmp_path / "nope.txt")


def test_optima_files():
    assert read_optima(DATA / "pmedopt.txt")["pmed1"] == 5819
    assert read_optima(DATA / "capopt.txt")["cap41"] == pytest.approx(1040444.375)


def test_pmed_distance_last_edge_counts_and_ignores_loops():
    from siting.orlib import pmed_distance

    d, n_edges = pmed_distance(3, np.array([0, 1, 1, 2]), np.array([1, 2, 0, 2]), [5, 1, 9, 3])
    assert n_edges == 2 and d[0, 1] == 9 and d[0, 2] == 10 and d[2, 2] == 0


def test_random_pmed_graphs_are_built_like_beasleys():
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from orlib_random import beasley_edges, compare, family

    e = beasley_edges(50, 400, np.random.default_rng(0))
    assert e.shape == (400, 3)
    assert (e[:50, 0] == np.arange(1, 51)).all() and (
        e[:50, 1] == np.roll(np.arange(1, 51), -1)
    ).all()
    rest = e[50:, :2]
    assert rest.min() >= 1 and rest.max() <= 49 and (rest[:, 0] != rest[:, 1]).all()
    assert e[:, 2].min() >= 1 and e[:, 2].max() <= 100
    stats = compare(e, 50)
    assert stats["degree_mean"] == 16.0 and stats["degree_min"] == 2
    a, b = family(3)[0], family(3)[0]
    assert a[0] == "rpmed21" and a[1] == 5 and np.array_equal(a[2], b[2])
