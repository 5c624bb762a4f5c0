"""Read OR-Library p-median (pmed) and capacitated warehouse (cap, capa/b/c) instance files.

Formats (J.E. Beasley's OR-Library):

- **pmed**: first line ``n m p`` (nodes, undirected edges, medians), then ``m`` lines
  ``i j cost`` with 1-based nodes. The p-median cost matrix is the all-pairs shortest-path length
  of that graph. If an edge appears twice, **the last line counts** (as in Beasley's own code).
- **cap**: ``m n`` (sites, customers); ``m`` lines ``capacity fixed_cost``; then per customer its
  demand followed by ``m`` numbers, the cost of serving ALL of its demand from each site (values
  may wrap lines). In capa/capb/capc the capacity is the literal word ``capacity``: the caller
  gives it (``capacity=``).
- **optima** files (``pmedopt.txt``, ``capopt.txt``) as published: header words, ``name value``
  lines, instances with several capacities as ``name capacity value ...`` (capa/capb/capc),
  and notes in prose at the end (:func:`read_optima_table`).

Every format error raises :class:`siting.InputError` naming the file and line.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse.csgraph import csgraph_from_dense, shortest_path

from siting._errors import InputError

logger = logging.getLogger(__name__)

__all__ = [
    "CapInstance",
    "Optimum",
    "PmedInstance",
    "optimum_key",
    "pmed_distance",
    "read_cap",
    "read_optima",
    "read_optima_table",
    "read_pmed",
]


@dataclass
class PmedInstance:
    """An OR-Library p-median instance.

    Attributes
    ----------
    name : str
        File stem, e.g. ``pmed1``.
    p : int
        Number of medians.
    distance : ndarray (n, n)
        All-pairs shortest-path length (the file's units); every node is a demand point of
        weight 1 and a candidate site.
    num_edges : int
        Distinct undirected edges after duplicates were resolved (last line counts).
    """

    name: str
    p: int
    distance: np.ndarray
    num_edges: int

    @property
    def n(self) -> int:
        """Number of nodes."""
        return int(self.distance.shape[0])


@dataclass
class CapInstance:
    """An OR-Library capacitated warehouse location instance (sites × customers).

    Attributes
    ----------
    name : str
        File stem, e.g. ``cap41``.
    capacity : ndarray (m,)
        Capacity of each site (demand units).
    fixed_cost : ndarray (m,)
        Fixed cost of opening each site.
    demand : ndarray (n,)
        Demand of each customer.
    cost : ndarray (n, m)
        Cost of serving ALL of customer i's demand from site j (split demand pays pro rata).
    """

    name: str
    capacity: np.ndarray
    fixed_cost: np.ndarray
    demand: np.ndarray
    cost: np.ndarray


def _stem(path: Path) -> str:
    name = path.name
    for suf in (".txt", ".dat"):
        if name.endswith(suf):
            return name[: -len(suf)]
    return name


def _read_text(path: str | os.PathLike) -> tuple[Path, list[str]]:
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii", errors="strict")
    except FileNotFoundError:
        raise InputError(f"{p}: file not found") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not a text instance file ({exc.reason})") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror})") from None
    return p, text.splitlines()


def _number(tok: str, path: Path, line: int, what: str) -> float:
    try:
        v = float(tok)
    except ValueError:
        raise InputError(f"{path}, line {line}: {what} must be a number, got {tok!r}") from None
    if not np.isfinite(v):
        raise InputError(f"{path}, line {line}: {what} must be finite, got {tok!r}")
    return v


def _int(tok: str, path: Path, line: int, what: str) -> int:
    v = _number(tok, path, line, what)
    if v != int(v):
        raise InputError(f"{path}, line {line}: {what} must be a whole number, got {tok!r}")
    return int(v)


def read_pmed(path: str | os.PathLike) -> PmedInstance:
    """Read an OR-Library p-median file and return its shortest-path distance matrix.

    Parameters
    ----------
    path : path-like
        A ``pmedN.txt`` file (format in the module docstring).

    Returns
    -------
    PmedInstance

    Raises
    ------
    InputError
        If the file is missing or not in the pmed format (message names file and line).
    """
    p, lines = _read_text(path)
    body = [(k + 1, ln.split()) for k, ln in enumerate(lines) if ln.strip()]
    if not body:
        raise InputError(f"{p}: empty file, expected a first line 'n m p'")
    line0, head = body[0]
    if len(head) != 3:
        raise InputError(
            f"{p}, line {line0}: expected 'n m p' (3 numbers) on the first line, got {len(head)}"
        )
    n = _int(head[0], p, line0, "n (nodes)")
    m = _int(head[1], p, line0, "m (edges)")
    pp = _int(head[2], p, line0, "p (medians)")
    if n < 1 or m < 0 or not (1 <= pp <= n):
        raise InputError(f"{p}, line {line0}: need n >= 1, m >= 0 and 1 <= p <= n, got {head}")
    edges = body[1:]
    if len(edges) < m:
        raise InputError(f"{p}: header says {m} edges but the file has {len(edges)} edge lines")
    if len(edges) > m:
        extra_line = edges[m][0]
        raise InputError(f"{p}, line {extra_line}: more edge lines than the {m} in the header")
    arr = np.empty((m, 3))
    for k, (ln, toks) in enumerate(edges):
        if len(toks) != 3:
            raise InputError(f"{p}, line {ln}: expected 'i j cost' (3 numbers), got {len(toks)}")
        i = _int(toks[0], p, ln, "node i")
        j = _int(toks[1], p, ln, "node j")
        if not (1 <= i <= n and 1 <= j <= n):
            raise InputError(f"{p}, line {ln}: node outside 1..{n}: {i} {j}")
        c = _number(toks[2], p, ln, "edge cost")
        if c < 0:
            raise InputError(f"{p}, line {ln}: negative edge cost {c}")
        arr[k] = (i - 1, j - 1, c)
    dist, n_edges = pmed_distance(n, arr[:, 0], arr[:, 1], arr[:, 2])
    return PmedInstance(_stem(p), pp, dist, n_edges)


def pmed_distance(n: int, i: np.ndarray, j: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, int]:
    """All-pairs shortest-path lengths of an OR-Library p-median graph given as an edge list.

    Parameters
    ----------
    n : int
        Number of nodes.
    i, j : ndarray of int (m,)
        0-based end nodes of each undirected edge, in file order.
    cost : ndarray (m,)
        Edge length (the file's units). When an edge appears more than once **the last one
        counts** (Beasley's rule); self-loops are ignored.

    Returns
    -------
    (distance, num_edges) : ndarray (n, n) of shortest-path lengths (inf between components) and
    the number of distinct edges used.
    """
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    cost = np.asarray(cost, dtype=float)
    m = i.size
    u, v = np.minimum(i, j), np.maximum(i, j)
    key = u * n + v
    # last occurrence wins: unique over the reversed array keeps the first = last line
    _, idx_rev = np.unique(key[::-1], return_index=True)
    last = m - 1 - idx_rev
    last = last[u[last] != v[last]]
    w = cost[last]
    uu, vv = u[last], v[last]
    # dense graph with inf = "no edge", so that zero-length edges survive as explicit zeros
    g = np.full((n, n), np.inf)
    g[uu, vv] = w
    g[vv, uu] = w
    graph = csgraph_from_dense(g, null_value=np.inf)
    return shortest_path(graph, directed=False), int(last.size)


def read_cap(path: str | os.PathLike, capacity: float | None = None) -> CapInstance:
    """Read an OR-Library capacitated warehouse location file (cap41..cap134, capa/capb/capc).

    Parameters
    ----------
    path : path-like
        The instance file.
    capacity : float, optional
        Capacity of every site (demand units). Required when the file holds the literal word
        ``capacity`` (capa/capb/capc); when given it replaces the capacities in the file.

    Returns
    -------
    CapInstance

    Raises
    ------
    InputError
        If the file is missing, not in the cap format, or says ``capacity`` and no capacity is
        given (message names file and line).
    """
    p, lines = _read_text(path)
    toks: list[str] = []
    tline: list[int] = []
    for k, ln in enumerate(lines):
        parts = ln.split()
        toks.extend(parts)
        tline.extend([k + 1] * len(parts))
    if len(toks) < 2:
        raise InputError(f"{p}: empty or truncated file, expected 'm n' (sites customers) first")
    m = _int(toks[0], p, tline[0], "m (sites)")
    n = _int(toks[1], p, tline[1], "n (customers)")
    if m < 1 or n < 1:
        raise InputError(f"{p}, line {tline[0]}: need m >= 1 sites and n >= 1 customers")
    need = 2 + 2 * m + n * (1 + m)
    if len(toks) < need:
        last = tline[-1]
        raise InputError(
            f"{p}, line {last}: file ended early: {m} sites × {n} customers need {need} values, "
            f"found {len(toks)}"
        )
    if len(toks) > need:
        raise InputError(
            f"{p}, line {tline[need]}: unexpected extra value {toks[need]!r} after {n} customers"
        )
    cap = np.empty(m)
    fixed = np.empty(m)
    for j in range(m):
        a, b = 2 + 2 * j, 3 + 2 * j
        if toks[a].lower() == "capacity":
            if capacity is None:
                raise InputError(
                    f"{p}, line {tline[a]}: site capacity is the word 'capacity'; "
                    "give the capacity (read_cap(..., capacity=N) or --capacity N)"
                )
            cap[j] = np.nan
        else:
            cap[j] = _number(toks[a], p, tline[a], f"capacity of site {j + 1}")
        fixed[j] = _number(toks[b], p, tline[b], f"fixed cost of site {j + 1}")
    if capacity is not None:
        if not (float(capacity) > 0):
            raise InputError(f"{p}: capacity must be positive, got {capacity}")
        cap[:] = float(capacity)
    start = 2 + 2 * m
    block = np.array(toks[start:need], dtype=object).reshape(n, 1 + m)
    try:
        vals = block.astype(float)
    except ValueError:
        for q in range(start, need):
            _number(toks[q], p, tline[q], "customer demand / cost")
        raise
    if not np.isfinite(vals).all():
        q = start + int(np.argmax(~np.isfinite(vals.ravel())))
        raise InputError(f"{p}, line {tline[q]}: value must be finite, got {toks[q]!r}")
    if (vals < 0).any() or (cap < 0).any() or (fixed < 0).any():
        bad = np.flatnonzero(vals.ravel() < 0)
        q = start + int(bad[0]) if bad.size else 2
        raise InputError(f"{p}, line {tline[q]}: negative value {toks[q]!r}")
    return CapInstance(_stem(p), cap, fixed, vals[:, 0].copy(), vals[:, 1:].copy())


_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")
_FILLER = frozenset(("capacity", "capacity:", "capacity=", "=", ":", "-", "|"))


@dataclass
class Optimum:
    """One published optimum.

    Attributes
    ----------
    name : str
        Instance name (file stem), e.g. ``cap41`` or ``capa``.
    capacity : float or None
        Site capacity the optimum is for (capa/capb/capc, which list several); None otherwise.
    value : float
        Optimal objective value.
    line : int
        Line of the optima file it was read from.
    """

    name: str
    capacity: float | None
    value: float
    line: int

    @property
    def key(self) -> str:
        """``name`` or ``name-capacity`` (``capa-8000``), the key in :func:`read_optima`."""
        return self.name if self.capacity is None else optimum_key(self.name, self.capacity)


def optimum_key(name: str, capacity: float | None = None) -> str:
    """Key of an instance's optimum in :func:`read_optima`: ``cap41``, ``capa-8000``.

    Parameters
    ----------
    name : str
        Instance name (file stem).
    capacity : float, optional
        Site capacity (capa/capb/capc).

    Returns
    -------
    str
    """
    if capacity is None:
        return name
    cap = float(capacity)
    return f"{name}-{int(cap) if cap.is_integer() else cap:g}"


def _num(tok: str) -> float | None:
    try:
        v = float(tok)
    except ValueError:
        return None
    return v


def _is_prose(toks: list[str]) -> bool:
    """A line of words (the header or the notes that end the published files)."""
    words = [t for t in toks if _num(t) is None]
    return len(toks) >= 3 and len(words) >= 2


def read_optima_table(path: str | os.PathLike) -> list[Optimum]:
    """Read an OR-Library optima file as published (``pmedopt.txt``, ``capopt.txt``).

    Accepted layout: header lines of words; then per instance either ``name value`` or, for
    instances solved at several capacities (capa/capb/capc), ``name`` followed by
    ``capacity value`` pairs, on the same line (several pairs per line allowed, the word
    ``capacity`` optional before each) and/or on the following lines that start with a number.
    Lines of prose (three or more words, at least two of them not numbers), such as the notes
    that end the published ``capopt.txt``, are skipped wherever they are.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    list of Optimum
        In file order.

    Raises
    ------
    InputError
        A table line that is neither ``name value`` nor ``name capacity value ...``, a value
        that is not finite, a capacity that is not positive, an instance listed twice with
        different values, an instance without values, or no table at all (file and line named).
    """
    p, lines = _read_text(path)
    rows: list[Optimum] = []
    current: tuple[str, int] | None = None  # block name awaiting capacity/value pairs
    pending: tuple[str, int] | None = None  # a name given alone on its line
    notes: list[int] = []
    for k, ln in enumerate(lines, start=1):
        toks = [t for t in ln.replace(",", " ").split() if t.lower() not in _FILLER]
        if not toks:
            continue
        nums = [_num(t) for t in toks]
        first_is_name = nums[0] is None and bool(_NAME.match(toks[0]))
        rest_numeric = all(v is not None for v in nums[1:])
        if first_is_name and rest_numeric:
            name = _stem(Path(toks[0]))
            vals = [float(v) for v in nums[1:] if v is not None]
            if pending is not None:
                raise InputError(f"{p}, line {pending[1]}: {pending[0]!r} has no values")
            if len(vals) == 1:
                rows.append(_optimum(p, k, name, None, vals[0]))
                current = None
            elif len(vals) == 0:
                current = (name, k)
                # a lone word before any value may be a header; later it must get values
                pending = (name, k) if rows else None
            elif len(vals) % 2 == 0:
                for c, v in zip(vals[::2], vals[1::2], strict=True):
                    rows.append(_optimum(p, k, name, c, v))
                current = (name, k)
            else:
                raise InputError(
                    f"{p}, line {k}: expected 'name value' or 'name capacity value ...' "
                    f"(pairs), got {len(vals)} numbers after {toks[0]!r}"
                )
            continue
        if nums[0] is not None and all(v is not None for v in nums):
            if current is None:
                raise InputError(
                    f"{p}, line {k}: numbers without an instance name: {ln.strip()[:40]!r}"
                )
            vals = [float(v) for v in nums if v is not None]
            if len(vals) % 2:
                raise InputError(
                    f"{p}, line {k}: expected 'capacity value' pairs for {current[0]!r}, got "
                    f"{len(vals)} numbers"
                )
            for c, v in zip(vals[::2], vals[1::2], strict=True):
                rows.append(_optimum(p, k, current[0], c, v))
            pending = None
            continue
        if _is_prose(toks) or (not rows and not any(ch.isdigit() for ch in ln)):
            # a header or a note: skipped; it ends the block of the name above it
            if pending is not None:
                raise InputError(f"{p}, line {pending[1]}: {pending[0]!r} has no values")
            if rows:
                notes.append(k)
            current = None
            continue
        raise InputError(
            f"{p}, line {k}: expected 'name value' (or 'name capacity value ...'), got "
            f"{ln.strip()[:40]!r}"
        )
    if pending is not None:
        raise InputError(f"{p}, line {pending[1]}: {pending[0]!r} has no values")
    if not rows:
        raise InputError(f"{p}: no 'name value' lines found")
    if notes:
        logger.debug("%s: %d lines of notes skipped (first: line %d)", p, len(notes), notes[0])
    seen: dict[str, Optimum] = {}
    for r in rows:
        old = seen.get(r.key)
        if old is not None and old.value != r.value:
            raise InputError(
                f"{p}, line {r.line}: {r.key} listed again with another value "
                f"({r.value:g}; line {old.line} has {old.value:g})"
            )
        seen[r.key] = r
    return rows


def _optimum(p: Path, line: int, name: str, capacity: float | None, value: float) -> Optimum:
    if not np.isfinite(value):
        raise InputError(f"{p}, line {line}: the optimum of {name} must be finite, got {value}")
    if capacity is not None and not (np.isfinite(capacity) and capacity > 0):
        raise InputError(f"{p}, line {line}: capacity of {name} must be > 0, got {capacity:g}")
    return Optimum(name, capacity, value, line)


def read_optima(path: str | os.PathLike) -> dict[str, float]:
    """Read an optima file into ``{key: optimum}`` (format: :func:`read_optima_table`).

    Keys are instance names (``pmed1``, ``cap41``) and, for instances listed at several
    capacities, ``name-capacity`` (``capa-8000``; see :func:`optimum_key`).

    Raises
    ------
    InputError
        See :func:`read_optima_table`.
    """
    return {r.key: r.value for r in read_optima_table(path)}
