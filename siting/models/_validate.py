"""Shared checks of the arrays handed to the model layer; bad input raises ModelInputError."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp

from siting._errors import ModelInputError


def cost_matrix(a: object, name: str = "cost") -> np.ndarray:
    """Return a dense 2-D float cost matrix; ``np.inf`` marks a pair that is not allowed.

    Raises
    ------
    ModelInputError
        If the array is not 2-D, is empty, holds NaN, negative values or ``-inf``.
    """
    if sp.issparse(a):
        raise ModelInputError(f"{name} must be a dense array (use np.inf for pairs not allowed)")
    try:
        arr = np.asarray(a, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ModelInputError(f"{name} must be a numeric 2-D array: {exc}") from None
    if arr.ndim != 2:
        raise ModelInputError(f"{name} must be 2-D (demand × site), got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ModelInputError(f"{name} is empty (shape {arr.shape})")
    if np.isnan(arr).any():
        i, j = np.argwhere(np.isnan(arr))[0]
        raise ModelInputError(f"{name} holds NaN (first at row {i}, column {j})")
    if (arr < 0).any():
        i, j = np.argwhere(arr < 0)[0]
        raise ModelInputError(
            f"{name} holds a negative value {arr[i, j]} at row {i}, column {j}; costs must be >= 0"
        )
    return arr


def vector(
    a: object | None,
    n: int,
    name: str,
    *,
    default: float | None = None,
    nonnegative: bool = True,
    finite: bool = True,
) -> np.ndarray:
    """Return a 1-D float vector of length ``n`` (scalars are broadcast; None gives ``default``)."""
    if a is None:
        if default is None:
            raise ModelInputError(f"{name} is required")
        return np.full(n, float(default))
    try:
        arr = np.asarray(a, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ModelInputError(f"{name} must be numeric: {exc}") from None
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ModelInputError(f"{name} must have length {n}, got shape {arr.shape}")
    if np.isnan(arr).any():
        raise ModelInputError(f"{name} holds NaN (first at index {int(np.argmax(np.isnan(arr)))})")
    if finite and np.isinf(arr).any():
        raise ModelInputError(
            f"{name} holds an infinite value at index {int(np.argmax(np.isinf(arr)))}"
        )
    if nonnegative and (arr < 0).any():
        k = int(np.argmax(arr < 0))
        raise ModelInputError(f"{name} holds a negative value {arr[k]} at index {k}; must be >= 0")
    return arr


def int_vector(a: object | None, n: int, name: str, *, default: int = 0) -> np.ndarray:
    """Return a 1-D vector of non-negative integers of length ``n``."""
    arr = vector(a, n, name, default=default)
    if (arr != np.round(arr)).any():
        k = int(np.argmax(arr != np.round(arr)))
        raise ModelInputError(f"{name} must hold whole numbers, got {arr[k]} at index {k}")
    return arr.astype(np.int64)


def site_set(a: Iterable[int] | np.ndarray | None, n: int, name: str) -> np.ndarray:
    """Return a boolean mask of length ``n`` from site indices or a boolean mask (None = none)."""
    mask = np.zeros(n, dtype=bool)
    if a is None:
        return mask
    arr = np.asarray(list(a) if not isinstance(a, np.ndarray) else a)
    if arr.size == 0:
        return mask
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ModelInputError(f"{name} as a boolean mask must have length {n}, got {arr.shape}")
        return arr.copy()
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and (arr == np.round(arr)).all():
            arr = arr.astype(np.int64)
        else:
            raise ModelInputError(f"{name} must be site indices (integers) or a boolean mask")
    arr = arr.ravel()
    bad = (arr < 0) | (arr >= n)
    if bad.any():
        raise ModelInputError(
            f"{name} holds site index {int(arr[bad][0])}, outside 0..{n - 1} ({n} sites)"
        )
    mask[arr] = True
    return mask


def required_forbidden(
    required: object | None, forbidden: object | None, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return (required, forbidden) masks; a site cannot be both."""
    req = site_set(required, n, "required")
    forb = site_set(forbidden, n, "forbidden")
    both = req & forb
    if both.any():
        raise ModelInputError(
            f"site(s) {np.flatnonzero(both)[:10].tolist()} are both required and forbidden"
        )
    return req, forb


def check_p(p: object, n_sites: int, name: str = "p") -> int:
    """Return ``p`` as an int in 1..n_sites."""
    if isinstance(p, bool) or not isinstance(p, int | np.integer):
        if isinstance(p, float) and p == int(p):
            p = int(p)
        else:
            raise ModelInputError(f"{name} must be a whole number, got {p!r}")
    p = int(p)
    if p < 1:
        raise ModelInputError(f"{name} must be at least 1, got {p}")
    if p > n_sites:
        raise ModelInputError(f"{name}={p} is larger than the number of sites ({n_sites})")
    return p


def coverage_matrix(a: object, name: str = "coverage") -> sp.csr_matrix:
    """Return a demand×site boolean CSR matrix (dense arrays are accepted too)."""
    if sp.issparse(a):
        m = sp.csr_matrix(a)
    else:
        try:
            arr = np.asarray(a)
        except (TypeError, ValueError) as exc:
            raise ModelInputError(f"{name} must be a demand × site matrix: {exc}") from None
        if arr.ndim != 2:
            raise ModelInputError(f"{name} must be 2-D (demand × site), got shape {arr.shape}")
        m = sp.csr_matrix(arr)
    if m.shape[0] == 0 or m.shape[1] == 0:
        raise ModelInputError(f"{name} is empty (shape {m.shape})")
    m.eliminate_zeros()
    if m.nnz and np.isnan(m.data).any():
        raise ModelInputError(f"{name} holds NaN")
    m = m.astype(bool)
    m.eliminate_zeros()
    m.sort_indices()
    return m


def time_and_gap(time_limit: float | None, mip_gap: float) -> None:
    """Check a solver time limit (seconds, > 0) and relative MIP gap (>= 0)."""
    if time_limit is not None and not (float(time_limit) > 0):
        raise ModelInputError(f"time_limit must be a positive number of seconds, got {time_limit}")
    if not (float(mip_gap) >= 0):
        raise ModelInputError(f"mip_gap must be >= 0, got {mip_gap}")
