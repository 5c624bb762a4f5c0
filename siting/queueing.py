"""Queues at a charging site: Erlang C (M/M/c), service-level load limits, time-of-day profiles.

A site with ``c`` plugs is modelled at its busiest hour as an M/M/c queue: sessions arrive at
random (Poisson) at ``lam`` per hour and occupy a plug for ``s`` hours on average (exponential),
so the offered load is ``A = lam * s`` Erlangs (mean number of busy plugs). Then

- the probability that an arriving vehicle finds every plug busy and waits is Erlang C,
  ``P_wait = C(c, A)`` (:func:`erlang_c`), computed from the Erlang B recursion
  ``B(0) = 1, B(n) = A B(n-1) / (n + A B(n-1))`` and ``C = B / (1 - (A/c)(1 - B))``;
- the mean wait in the queue is ``W = C(c, A) s / (c - A)`` (:func:`mean_wait`).

Both grow with ``A``, so a service level (``P_wait <= alpha`` or ``W <= W_max``) gives, for each
plug count ``c``, the largest load a site may be offered: ``A_max(c)`` (:func:`max_load`). It
depends on ``c`` and the target only (for the mean-wait rule also on ``s``), not on where the
demand comes from, and ``A_max(c) / c`` grows with ``c`` (pooling: one queue in front of many
plugs wastes less), so the load a site can take is not linear in its plugs.

Offered load from energy: a segment with ``E`` kWh/day of public fast-charging demand, a share
``p[h]`` of its sessions starting in hour ``h``, sessions of ``e`` kWh and plugs delivering ``P``
kW on average, has ``E p[h] / e`` arrivals per hour of ``e / P`` hours each, hence
``A = E p[h] / P`` Erlangs: the session size cancels out of the load (it sets the service time and
so the mean wait, not ``P_wait``). Arrival rates vary by hour; each hour is treated as a
stationary M/M/c (the usual peak-hour approximation). Sessions of different segments have
different mean lengths; the queue then is M/G/c, approximated here by M/M/c with the
demand-weighted mean session time (Erlang C is exact for exponential service times only).

Profiles (24 shares of a segment's daily sessions that start in each hour) are read from
``data/facts/charging_time_of_day.csv`` (:func:`load_profiles`), one row per figure with its
source; a scenario may give its own 24 shares (:func:`check_profile`).
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from siting._errors import InputError

logger = logging.getLogger(__name__)

#: File (under the embedded data folder) holding the published / assumed time-of-day profiles.
PROFILE_FILE = "facts/charging_time_of_day.csv"
#: Tolerance on the sum of a profile's 24 shares.
PROFILE_SUM_TOL = 1e-3
HOURS = 24


# ----------------------------------------------------------------------------- Erlang formulas


def erlang_b(c: int, load: float | np.ndarray) -> float | np.ndarray:
    """Erlang B (loss) probability of ``c`` servers offered ``load`` Erlangs.

    Computed with the recursion ``B(0) = 1, B(n) = A B(n-1) / (n + A B(n-1))``, which is stable
    for any ``c`` (the direct sum overflows at large ``c``).

    Parameters
    ----------
    c : int
        Servers (plugs), >= 0.
    load : float or ndarray
        Offered load ``A`` in Erlangs, >= 0.

    Returns
    -------
    float or ndarray
        ``B(c, A)`` in [0, 1].
    """
    a = np.asarray(load, dtype=float)
    b = np.ones_like(a)
    for n in range(1, int(c) + 1):
        b = a * b / (n + a * b)
    return float(b) if b.ndim == 0 else b


def erlang_c(c: int, load: float | np.ndarray) -> float | np.ndarray:
    """Probability of waiting in an M/M/c queue (Erlang C).

    Parameters
    ----------
    c : int
        Servers (plugs), >= 1.
    load : float or ndarray
        Offered load ``A`` in Erlangs (arrivals per hour × mean service hours), >= 0.

    Returns
    -------
    float or ndarray
        ``C(c, A)`` in [0, 1]; 1 when ``A >= c`` (the queue grows without bound).
    """
    a = np.asarray(load, dtype=float)
    if int(c) < 1:
        out = np.where(a > 0, 1.0, 0.0)
        return float(out) if out.ndim == 0 else out
    b = np.asarray(erlang_b(c, a), dtype=float)
    rho = a / c
    with np.errstate(divide="ignore", invalid="ignore"):
        cc = b / (1.0 - rho * (1.0 - b))
    out = np.where(a >= c, 1.0, np.clip(cc, 0.0, 1.0))
    return float(out) if out.ndim == 0 else out


def mean_wait(c: int, load: float | np.ndarray, service: float) -> float | np.ndarray:
    """Mean time in the queue of an M/M/c queue, ``C(c, A) s / (c - A)``.

    Parameters
    ----------
    c : int
        Servers (plugs).
    load : float or ndarray
        Offered load in Erlangs.
    service : float
        Mean service time (any unit; the result is in the same unit).

    Returns
    -------
    float or ndarray
        Mean wait; ``inf`` when ``A >= c``.
    """
    a = np.asarray(load, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(a >= c, np.inf, np.asarray(erlang_c(c, a)) * service / (c - a))
    return float(w) if w.ndim == 0 else w


# ----------------------------------------------------------------------------- service levels


@dataclass(frozen=True)
class ServiceLevel:
    """The waiting rule plugs are sized by, at each site's busiest hour.

    Attributes
    ----------
    rule : ``"p_wait"`` or ``"mean_wait"``
        ``p_wait``: the probability that an arriving vehicle waits is at most ``alpha``;
        ``mean_wait``: the mean wait is at most ``max_mean_wait_min`` minutes.
    alpha : float or None
        Target of the ``p_wait`` rule, in (0, 1).
    max_mean_wait_min : float or None
        Target of the ``mean_wait`` rule, minutes (> 0).
    """

    rule: Literal["p_wait", "mean_wait"] = "p_wait"
    alpha: float | None = 0.2
    max_mean_wait_min: float | None = None

    def __post_init__(self) -> None:
        if self.rule == "p_wait":
            if self.alpha is None or not (0.0 < float(self.alpha) < 1.0):
                raise InputError(f"service level: alpha must be in (0, 1), got {self.alpha!r}")
        elif self.rule == "mean_wait":
            w = self.max_mean_wait_min
            if w is None or not (float(w) > 0 and math.isfinite(float(w))):
                raise InputError(f"service level: max_mean_wait_min must be > 0, got {w!r}")
        else:
            raise InputError(f"service level: unknown rule {self.rule!r} (p_wait | mean_wait)")

    def as_dict(self) -> dict[str, object]:
        """The rule and its target as written to ``summary.json`` (without the peak hour)."""
        if self.rule == "p_wait":
            return {"rule": "p_wait", "alpha": float(self.alpha)}  # type: ignore[arg-type]
        return {"rule": "mean_wait", "max_mean_wait_min": float(self.max_mean_wait_min)}  # type: ignore[arg-type]

    def met(self, c: int, load: float, service_min: float) -> bool:
        """True when a site with ``c`` plugs offered ``load`` Erlangs meets the rule."""
        if self.rule == "p_wait":
            return bool(erlang_c(c, load) <= self.alpha + 1e-12)  # type: ignore[operator]
        return bool(mean_wait(c, load, service_min) <= self.max_mean_wait_min + 1e-9)  # type: ignore[operator]


def max_load(c: int, level: ServiceLevel, service_min: float | None = None) -> float:
    """Largest offered load (Erlangs) a site with ``c`` plugs may take and meet ``level``.

    Both waiting measures increase with the load, so the limit is found by bisection to a
    relative precision of 1e-12 and rounded *down* (the returned load meets the rule).

    Parameters
    ----------
    c : int
        Plugs, >= 0 (0 plugs take no load).
    level : ServiceLevel
    service_min : float, optional
        Mean session minutes at a plug; needed by the ``mean_wait`` rule.

    Returns
    -------
    float
        ``A_max(c)`` in [0, c).
    """
    c = int(c)
    if c <= 0:
        return 0.0
    if level.rule == "mean_wait" and not (service_min is not None and service_min > 0):
        raise InputError("service level mean_wait: needs a mean session time > 0 minutes")
    lo, hi = 0.0, float(c)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if level.met(c, mid, service_min if service_min is not None else 1.0):
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * c:
            break
    return lo


def max_load_table(c_max: int, level: ServiceLevel, service_min: float | None = None) -> np.ndarray:
    """``A_max(c)`` for ``c = 0 .. c_max`` (Erlangs; index = plug count)."""
    return np.array([max_load(c, level, service_min) for c in range(int(c_max) + 1)])


def queue_figures(
    plugs: np.ndarray, arrivals_per_h: np.ndarray, service_min: np.ndarray
) -> dict[str, np.ndarray]:
    """Waiting figures of sites at a given hour (vectorised over sites).

    Parameters
    ----------
    plugs : ndarray of int
        Plugs per site.
    arrivals_per_h : ndarray
        Session arrivals per hour.
    service_min : ndarray
        Mean session minutes at a plug.

    Returns
    -------
    dict of ndarray
        ``load`` (Erlangs), ``utilisation`` (load / plugs, NaN without plugs), ``p_wait``
        (Erlang C) and ``mean_wait_min`` (minutes; inf when overloaded).
    """
    plugs = np.asarray(plugs, dtype=np.int64)
    lam = np.asarray(arrivals_per_h, dtype=float)
    s = np.asarray(service_min, dtype=float)
    load = lam * np.nan_to_num(s) / 60.0
    p = np.full(plugs.size, np.nan)
    w = np.full(plugs.size, np.nan)
    for i, (c, a) in enumerate(zip(plugs, load, strict=True)):
        if c > 0:
            p[i] = erlang_c(int(c), float(a))
            w[i] = mean_wait(int(c), float(a), float(s[i])) if a > 0 else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(plugs > 0, load / np.maximum(plugs, 1), np.nan)
    return {"load": load, "utilisation": util, "p_wait": p, "mean_wait_min": w}


# ----------------------------------------------------------------------------- profiles


def check_profile(values: object, where: str) -> np.ndarray:
    """Validate a time-of-day profile: 24 shares >= 0 that sum to 1 (within 1e-3).

    Parameters
    ----------
    values : sequence of float
        Shares of daily sessions starting in hours 0..23.
    where : str
        ``"<file>: <field>"`` used in the error message.

    Returns
    -------
    ndarray (24,)
        The shares, renormalised to sum exactly to 1.

    Raises
    ------
    InputError
        One line naming ``where`` and what is wrong.
    """
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise InputError(f"{where}: a profile must be 24 numbers") from None
    if arr.size != HOURS:
        raise InputError(f"{where}: a profile needs 24 hourly shares, got {arr.size}")
    if not np.isfinite(arr).all() or (arr < 0).any():
        h = int(np.flatnonzero(~np.isfinite(arr) | (arr < 0))[0])
        raise InputError(f"{where}: share of hour {h} must be a number >= 0, got {arr[h]}")
    total = float(arr.sum())
    if abs(total - 1.0) > PROFILE_SUM_TOL:
        raise InputError(
            f"{where}: the 24 shares must sum to 1 (within {PROFILE_SUM_TOL}), they sum to "
            f"{total:.6g}"
        )
    return arr / total


def load_profiles(path: str | Path | None = None) -> dict[str, np.ndarray]:
    """Read the time-of-day profiles of ``data/facts/charging_time_of_day.csv``.

    Parameters
    ----------
    path : path-like, optional
        The CSV (columns ``profile, hour, share, source``); default the embedded file.

    Returns
    -------
    dict
        ``{profile name: ndarray (24,)}``, each validated by :func:`check_profile`.

    Raises
    ------
    InputError
        Missing file, bad rows, an hour missing or given twice, shares not summing to 1.
    """
    if path is None:
        from siting import data

        path = data.data_path(PROFILE_FILE)
    path = Path(path)
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise InputError(f"{path}: cannot read profiles: {exc}") from None
    found: dict[str, dict[int, float]] = {}
    for k, row in enumerate(rows, start=2):
        try:
            name = str(row["profile"]).strip()
            hour = int(row["hour"])
            share = float(row["share"])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{path}: line {k}: need profile, hour (0-23) and share") from None
        if not 0 <= hour < HOURS:
            raise InputError(f"{path}: line {k}: hour {hour} outside 0-23")
        if hour in found.setdefault(name, {}):
            raise InputError(f"{path}: line {k}: hour {hour} of profile {name!r} given twice")
        found[name][hour] = share
    out = {}
    for name, by_hour in found.items():
        missing = sorted(set(range(HOURS)) - set(by_hour))
        if missing:
            raise InputError(f"{path}: profile {name!r}: hours {missing} missing")
        out[name] = check_profile([by_hour[h] for h in range(HOURS)], f"{path}: {name}")
    return out


def resolve_profiles(
    segments: Sequence[str],
    given: Mapping[str, object],
    table: Mapping[str, np.ndarray],
    where: str,
) -> np.ndarray:
    """The profile matrix of demand segments (rows = segments, 24 columns).

    Parameters
    ----------
    segments : sequence of str
        Segment names, in demand-column order.
    given : mapping
        Per segment: a profile name of ``table``, 24 shares, or None (use the profile named like
        the segment).
    table : mapping
        Profiles by name (:func:`load_profiles`).
    where : str
        Prefix of error messages (file and field path of the segments).

    Returns
    -------
    ndarray (n_segments, 24)
    """
    rows = []
    for seg in segments:
        spec = given.get(seg)
        field = f"{where}.{seg}.profile"
        if spec is None or isinstance(spec, str):
            key = seg if spec is None else spec
            if key not in table:
                raise InputError(
                    f"{field}: no profile named {key!r} in {PROFILE_FILE} (known: "
                    f"{', '.join(sorted(table))}); name one or give 24 shares"
                )
            rows.append(table[key])
        else:
            rows.append(check_profile(spec, field))
    return np.vstack(rows) if rows else np.zeros((0, HOURS))


def peak_hours(loads: np.ndarray, *, tol: float = 1e-12) -> np.ndarray:
    """Hours whose load rows can bind: an exact reduction of ``sum_h`` capacity rows.

    ``loads`` holds, per demand mix ``k`` (a row) and hour ``h`` (a column), the load per unit of
    daily demand. A capacity row ``sum_k d_k loads[k, h] <= cap`` (``d >= 0``) is implied by the
    rows of other hours when ``loads[:, h] <= sum_g lam_g loads[:, g]`` componentwise for some
    convex weights ``lam`` (same right-hand side ``cap``), so hour ``h`` can be dropped. Found
    exactly with one small LP per hour after removing hours dominated by a single other hour.
    With one mix (every demand point has the same segment shares) only the peak hour is left.

    Parameters
    ----------
    loads : ndarray (n_mixes, 24)
    tol : float
        Numerical slack of the dominance test.

    Returns
    -------
    ndarray of int
        Hours (ascending) whose rows must be kept.
    """
    loads = np.asarray(loads, dtype=float)
    n_h = loads.shape[1]
    keep = np.ones(n_h, dtype=bool)
    # single-hour dominance (ties: keep the earliest hour)
    for h in range(n_h):
        for g in range(n_h):
            if g == h or not keep[g]:
                continue
            if (loads[:, h] <= loads[:, g] + tol).all() and (
                (loads[:, h] < loads[:, g] - tol).any() or g < h
            ):
                keep[h] = False
                break
    hours = np.flatnonzero(keep)
    if hours.size <= 2 or loads.shape[0] == 1:
        return hours
    from scipy.optimize import linprog

    kept = list(hours)
    for h in list(hours):
        others = [g for g in kept if g != h]
        # feasibility: lam >= 0, sum lam = 1, loads[:, others] @ lam >= loads[:, h]
        res = linprog(
            np.zeros(len(others)),
            A_ub=-loads[:, others],
            b_ub=-loads[:, h] + tol,
            A_eq=np.ones((1, len(others))),
            b_eq=[1.0],
            bounds=(0, None),
            method="highs",
        )
        if res.status == 0:
            kept.remove(h)
    return np.array(sorted(kept), dtype=np.int64)
