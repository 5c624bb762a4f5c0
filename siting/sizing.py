"""Plug sizing of charging sites: model arrays from demand, profiles and limits; queue outputs.

Used by the area-demand kind of the planning pipeline, between the stage outputs (demand grid,
candidates) and the model layer (:func:`siting.models.plug_levels.max_coverage_levels`):

:func:`sizing_arrays`
    Per demand cell the load (kW) it offers in each *kept* hour: ``sum_seg kWh/day_seg ×
    profile_seg[h]`` (kWh arriving per hour; divided by the mean charging power it is the offered
    load in Erlangs, :mod:`siting.queueing`); per site and plug count the load the service level
    allows, ``A_max(c) × mean charging kW``; the most plugs per site (``max_plugs`` and the grid
    connection, :mod:`siting.grid`); the substation rows. Kept hours: those whose capacity rows
    can bind (:func:`siting.queueing.peak_hours`; with one segment mix, just its peak hour).
:func:`site_queues`
    For the chosen sites: the demand each serves by segment, its own peak hour, arrivals per
    hour, mean session minutes, P(wait), mean wait, utilisation, connection kW used vs allowed.
:func:`binding_limit`
    Which limit stops the plan from serving more: ``demand``, ``reach``, ``budget`` or ``grid``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from siting import grid as grid_mod
from siting import queueing as Q

logger = logging.getLogger(__name__)


@dataclass
class SiteLimits:
    """Per-candidate arrays of the service-level model (recomputed for any candidate table).

    Attributes
    ----------
    level_capacity : ndarray (n_sites, L+1)
        kW a site may be offered with c plugs and meet the service level.
    charging_kw : ndarray (n_sites,)
        Mean power a plug delivers while a vehicle charges (kW).
    max_plugs : ndarray of int (n_sites,)
        ``min(max_plugs, floor(connection_kw_max / plug_kw))``.
    by_connection : ndarray of bool (n_sites,)
        Where the grid connection, not ``max_plugs``, sets that limit.
    feeders : scipy.sparse.csr_matrix or None
        Substation × site membership (bool).
    group_draw, group_limit : sparse matrix and ndarray, or None
        kW each new plug draws from each substation (cf × plug kW), and the headroom (kW).
    """

    level_capacity: np.ndarray
    charging_kw: np.ndarray
    max_plugs: np.ndarray
    by_connection: np.ndarray
    feeders: sp.csr_matrix | None = None
    group_draw: sp.csr_matrix | None = None
    group_limit: np.ndarray | None = None


@dataclass
class SizingArrays:
    """Demand-side arrays of the service-level plug model for one prepared scenario.

    Attributes
    ----------
    level : siting.queueing.ServiceLevel
    segments : list of str
        Demand segments (columns ``kwh_<segment>`` of the demand grid).
    profiles : ndarray (n_segments, 24)
        Share of each segment's daily sessions starting in each hour.
    session_kwh : ndarray (n_segments,)
        Mean energy per session (kWh).
    hours : ndarray of int
        Kept hours (whose capacity rows can bind).
    load : ndarray (n_demand, n_hours)
        kW each cell's whole demand offers in each kept hour.
    mean_charging_kw : float
        Mean power a plug delivers while a vehicle charges (kW).
    service_min : float
        Demand-weighted mean session minutes (the service time of the mean-wait rule).
    peak_hour : int
        Hour with the most offered load over the whole demand grid.
    substations : siting.grid.Substations or None
    """

    level: Q.ServiceLevel
    segments: list[str]
    profiles: np.ndarray
    session_kwh: np.ndarray
    hours: np.ndarray
    load: np.ndarray
    mean_charging_kw: float
    service_min: float
    peak_hour: int
    substations: grid_mod.Substations | None = None
    _tables: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def a_max(self, n_levels: int) -> np.ndarray:
        """``A_max(c)`` for c = 0..n_levels (Erlangs), cached."""
        if n_levels not in self._tables:
            self._tables[n_levels] = Q.max_load_table(n_levels, self.level, self.service_min)
        return self._tables[n_levels]

    def for_sites(self, candidates: pd.DataFrame) -> SiteLimits:
        """Per-site arrays for a candidate table (``plug_kw``, ``max_plugs``,
        ``existing_plugs``, ``connection_kw_max``, ``lon``, ``lat``)."""
        plug_kw = candidates["plug_kw"].to_numpy(float)
        conn = candidates["connection_kw_max"].to_numpy(float)
        limit, by_conn = grid_mod.plug_limit(
            candidates["max_plugs"].to_numpy(np.int64), plug_kw, conn
        )
        existing = candidates["existing_plugs"].to_numpy(np.int64)
        n_lv = int(max(limit.max(initial=0), existing.max(initial=0), 1))
        ckw = np.full(len(candidates), float(self.mean_charging_kw))
        # a hair inside the target so that round-off never reports P(wait) above it
        cap = self.a_max(n_lv)[None, :] * ckw[:, None] * (1 - 1e-9)
        out = SiteLimits(cap, ckw, limit, by_conn)
        subs = self.substations
        if subs is not None and len(subs):
            feed = grid_mod.feeder_matrix(
                subs, candidates["lon"].to_numpy(float), candidates["lat"].to_numpy(float)
            )
            out.feeders = feed
            out.group_draw = sp.csr_matrix(
                feed.multiply(subs.coincidence[:, None]).multiply(plug_kw[None, :])
            )
            out.group_limit = subs.headroom_kw.copy()
        return out


def segment_energy(demand: pd.DataFrame, segments: list[str]) -> np.ndarray:
    """kWh/day per demand cell and segment (n_demand, n_segments)."""
    return demand[[f"kwh_{s}" for s in segments]].to_numpy(float)


def sizing_arrays(
    demand: pd.DataFrame,
    segments: list[str],
    profiles: np.ndarray,
    session_kwh: np.ndarray,
    level: Q.ServiceLevel,
    *,
    charging_kw: float,
    substations: grid_mod.Substations | None = None,
) -> SizingArrays:
    """Build the demand-side arrays of the service-level model (module doc).

    Parameters
    ----------
    demand : DataFrame
        Demand grid with ``kwh_<segment>`` columns (kWh/day).
    segments : list of str
    profiles : ndarray (n_segments, 24)
    session_kwh : ndarray (n_segments,)
    level : ServiceLevel
    charging_kw : float
        Mean power a plug delivers while charging (kW), for every site.
    substations : Substations, optional

    Returns
    -------
    SizingArrays
        Per-site arrays follow from :meth:`SizingArrays.for_sites`.
    """
    E = segment_energy(demand, segments)
    hourly = E @ profiles  # kWh arriving per hour = kW of load, per cell and hour
    w = E.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mixes = np.unique(np.round(hourly[w > 0] / w[w > 0, None], 12), axis=0)
    hours = Q.peak_hours(mixes) if mixes.size else np.array([int(hourly.sum(axis=0).argmax())])
    total_e = E.sum(axis=0)
    share = total_e / total_e.sum() if total_e.sum() > 0 else np.full(len(segments), 1.0)
    # demand-weighted mean session time: sessions of segment s are E_s / e_s of the total
    sessions = share / session_kwh
    service_min = float(60.0 * share.sum() / (sessions.sum() * charging_kw))
    out = SizingArrays(
        level=level, segments=list(segments), profiles=profiles, session_kwh=session_kwh,
        hours=hours, load=hourly[:, hours], mean_charging_kw=float(charging_kw),
        service_min=service_min, peak_hour=int(hourly.sum(axis=0).argmax()),
        substations=substations,
    )  # fmt: skip
    logger.info(
        "sizing: rule %s, kept hours %s (peak %d:00), mean session %.1f min",
        level.rule, hours.tolist(), out.peak_hour, service_min,
    )  # fmt: skip
    return out


def site_queues(
    served_by_segment: np.ndarray,
    plugs: np.ndarray,
    profiles: np.ndarray,
    session_kwh: np.ndarray,
    charging_kw: np.ndarray,
) -> pd.DataFrame:
    """Queue figures of chosen sites at each site's busiest hour.

    Parameters
    ----------
    served_by_segment : ndarray (n_sites, n_segments)
        kWh/day each site serves of each segment.
    plugs : ndarray of int (n_sites,)
    profiles : ndarray (n_segments, 24)
    session_kwh : ndarray (n_segments,)
    charging_kw : ndarray (n_sites,)
        Mean charging power per plug (kW).

    Returns
    -------
    DataFrame
        One row per site: ``peak_hour``, ``peak_arrivals_per_h`` (sessions starting in that
        hour), ``service_min`` (their mean minutes at a plug), ``peak_load_erlangs``,
        ``utilisation`` (busy share of the plugs in that hour), ``p_wait``, ``mean_wait_min``.
    """
    S = np.asarray(served_by_segment, dtype=float)
    ckw = np.asarray(charging_kw, dtype=float)
    kwh_h = S @ profiles  # kWh/h arriving, per site and hour
    load = kwh_h / ckw[:, None]  # Erlangs
    arrivals = (S / session_kwh[None, :]) @ profiles  # sessions starting per hour
    peak = load.argmax(axis=1) if len(S) else np.zeros(0, dtype=np.int64)
    rows = np.arange(len(S))
    lam = arrivals[rows, peak]
    a = load[rows, peak]
    with np.errstate(divide="ignore", invalid="ignore"):
        s_min = np.where(lam > 0, 60.0 * a / lam, 60.0 * (session_kwh.mean() / ckw))
    f = Q.queue_figures(plugs, lam, s_min)
    return pd.DataFrame(
        {
            "peak_hour": peak.astype(np.int64),
            "peak_arrivals_per_h": lam,
            "service_min": s_min,
            "peak_load_erlangs": a,
            "utilisation": f["utilisation"],
            "p_wait": f["p_wait"],
            "mean_wait_min": f["mean_wait_min"],
        }
    )


def binding_limit(
    *,
    total: float,
    reachable: float,
    served: float,
    unserved_reach: np.ndarray,
    is_open: np.ndarray,
    plugs: np.ndarray,
    plug_limit: np.ndarray,
    by_connection: np.ndarray,
    allowed: np.ndarray,
    site_cost: np.ndarray,
    plug_cost: np.ndarray,
    existing: np.ndarray,
    unspent: float,
    group_draw: sp.csr_matrix | None = None,
    group_left: np.ndarray | None = None,
    tol: float = 1e-3,
) -> tuple[str, str]:
    """The limit that stops a plan from serving more demand, and a one-line explanation.

    Decided in this order:

    1. ``demand``: every demand is served (all of it is reachable and the plan serves it);
    2. ``reach``: all demand some candidate site can reach is served; the rest is beyond the
       travel-time limit of every candidate, so more money or plugs would not serve it;
    3. a *step* is one more plug at an open site, or a new site with one plug, at a site that
       reaches demand left unserved, allowed by the site's plug limit and the headroom of its
       substations. If a step exists: ``budget`` (the unspent money is less than the cheapest
       step, or the plan is within its optimality gap);
    4. ``grid``: no step exists: every site that reaches unserved demand is at its size limit:
       its grid connection, its substation's headroom or ``max_plugs`` (the detail says which).

    Parameters
    ----------
    total, reachable, served : float
        Demand in all, within reach of some allowed candidate, and served (per day).
    unserved_reach : ndarray (n_sites,)
        Per candidate: demand it reaches that is left unserved.
    is_open, plugs : ndarray (n_sites,)
        The plan (plugs 0 where closed).
    plug_limit, by_connection : ndarray (n_sites,)
        Most plugs per site and whether the connection sets it (:func:`siting.grid.plug_limit`).
    allowed : ndarray of bool (n_sites,)
        Not forbidden.
    site_cost, plug_cost : ndarray (n_sites,)
        CNY (site cost 0 for built sites).
    existing : ndarray of int (n_sites,)
        Plugs already built.
    unspent : float
        Budget minus money spent (CNY).
    group_draw : sparse (n_groups, n_sites), optional
        kW each new plug draws from each substation.
    group_left : ndarray (n_groups,), optional
        Headroom left in the plan (kW).
    tol : float
        Relative tolerance of "all served".

    Returns
    -------
    tuple of str
        ``(limit, detail)``.
    """
    if served >= reachable * (1 - tol) - 1e-9:
        if reachable >= total * (1 - tol):
            return "demand", "all demand is served"
        return "reach", (
            f"all demand within reach of a candidate site is served ({served / total:.1%} of "
            f"all); the rest is beyond the travel-time limit of every candidate"
        )
    wants = allowed & (unserved_reach > max(tol * 1e-3 * total, 1e-9))
    n_s = len(is_open)
    # does one more plug fit each site's substations?
    if group_draw is not None and group_draw.shape[0] and group_left is not None:
        draw = group_draw.toarray()
        extra = np.where(is_open, (plugs + 1 - existing) > 0, existing < 1).astype(float)
        fits_sub = ((draw * extra[None, :]) <= group_left[:, None] + 1e-9).all(axis=0)
    else:
        fits_sub = np.ones(n_s, bool)
    fits_site = np.where(is_open, plugs < plug_limit, plug_limit >= 1)
    can = wants & fits_site & fits_sub
    step_cost = np.where(
        is_open,
        plug_cost * ((plugs + 1 - existing) > 0),
        site_cost + plug_cost * (existing < 1),
    )
    if can.any():
        cheapest = float(step_cost[can].min())
        if cheapest > unspent:
            return "budget", (
                f"{unspent / 1e6:.2f} M CNY left, less than the cheapest step that would serve "
                f"more ({cheapest / 1e6:.2f} M CNY)"
            )
        return "budget", (
            f"{unspent / 1e6:.2f} M CNY left and a step of {cheapest / 1e6:.2f} M CNY would serve "
            "more: the plan is within its optimality gap"
        )
    at = wants & ~(fits_site & fits_sub)
    n_conn = int((at & ~fits_site & by_connection).sum())
    n_max = int((at & ~fits_site & ~by_connection).sum())
    n_sub = int((at & fits_site & ~fits_sub).sum())
    return "grid", (
        f"{unspent / 1e6:.2f} M CNY left but every site reaching unserved demand is at its size "
        f"limit: grid connection at {n_conn}, substation headroom at {n_sub}, max_plugs at "
        f"{n_max} sites"
    )


# ----------------------------------------------------------------------------- pipeline glue


def for_scenario(scenario: Any, demand: pd.DataFrame) -> SizingArrays:
    """Sizing arrays of a scenario's area demand (profiles, sessions, service level, grid).

    Built under both rules: ``service_level`` sizes plugs with them, ``daily_energy`` uses them
    for the waiting figures of its plans only.

    Parameters
    ----------
    scenario : siting.scenario.Scenario
    demand : DataFrame
        The demand grid (``kwh_<segment>`` columns).

    Returns
    -------
    SizingArrays
    """
    segs = list(scenario.demand.segments)
    where = f"{scenario.path or '<scenario>'}: demand.segments"
    table = Q.load_profiles(
        None if scenario.path is None else _data_path(Q.PROFILE_FILE, scenario.path)
    )
    given = {k: v.profile for k, v in scenario.demand.segments.items()}
    profiles = Q.resolve_profiles(segs, given, table, where)
    session = np.array([scenario.demand.segments[k].session_kwh for k in segs], dtype=float)
    subs = read_scenario_substations(scenario)
    return sizing_arrays(
        demand, segs, profiles, session, scenario.sizing.service_level(),
        charging_kw=scenario.sizing.mean_charging_kw, substations=subs,
    )  # fmt: skip


def read_scenario_substations(scenario: Any) -> grid_mod.Substations | None:
    """The scenario's substation file (``grid.substations``), errors prefixed with the scenario
    file and field: ``<scenario>: grid.substations: <file>: feature k (name): <field>: ...``."""
    from siting._errors import InputError

    sec = scenario.grid.substations
    if sec is None:
        return None
    try:
        return grid_mod.read_substations(sec.path, crs=sec.crs, radius_m=sec.radius_m)
    except InputError as exc:
        raise InputError(f"{scenario.path}: grid.substations: {exc}") from None


def _data_path(name: str, near: Any) -> Any:
    from siting import data

    return data.data_path(name, near)


#: Columns every chosen site carries in ``sites.geojson`` / ``sites.csv`` (issue 9 contract).
QUEUE_COLUMNS = (
    "plugs_new", "plugs_existing", "peak_arrivals_per_h", "service_min", "p_wait",
    "mean_wait_min", "utilisation", "connection_kw", "connection_kw_max",
)  # fmt: skip


def site_columns(
    arrays: SizingArrays,
    demand: pd.DataFrame,
    candidates: pd.DataFrame,
    open_idx: np.ndarray,
    plugs: np.ndarray,
    assignment_kwh: sp.spmatrix | None,
) -> pd.DataFrame:
    """The queue and grid columns of the chosen charger sites (one row per ``open_idx``).

    Parameters
    ----------
    arrays : SizingArrays
    demand, candidates : DataFrame
    open_idx : ndarray of int
        Candidate positions of the chosen sites.
    plugs : ndarray of int
        Plugs per chosen site.
    assignment_kwh : sparse (n_demand, n_open), optional
        kWh/day each cell gets from each chosen site (segments split pro rata to the cell's
        segment demand); None: no site serves anything.

    Returns
    -------
    DataFrame
        :data:`QUEUE_COLUMNS` plus ``peak_hour`` and ``peak_load_erlangs``.
    """
    open_idx = np.asarray(open_idx, dtype=np.int64)
    c = candidates.iloc[open_idx]
    E = segment_energy(demand, arrays.segments)
    tot = E.sum(axis=1)
    mix = np.divide(E, tot[:, None], out=np.zeros_like(E), where=tot[:, None] > 0)
    if assignment_kwh is None or open_idx.size == 0:
        S = np.zeros((open_idx.size, len(arrays.segments)))
    else:
        S = np.asarray(sp.csr_matrix(assignment_kwh).T @ mix)
    ckw = np.full(open_idx.size, arrays.mean_charging_kw)
    q = site_queues(S, plugs, arrays.profiles, arrays.session_kwh, ckw)
    existing = c["existing_plugs"].to_numpy(np.int64)
    q.insert(0, "plugs_new", np.maximum(plugs - existing, 0))
    q.insert(1, "plugs_existing", np.minimum(existing, plugs))
    q["connection_kw"] = plugs * c["plug_kw"].to_numpy(float)
    q["connection_kw_max"] = c["connection_kw_max"].to_numpy(float)
    return q.reset_index(drop=True)


def summary_keys(
    arrays: SizingArrays,
    rule: str,
    kwh_per_plug_day: float | None,
    queues: pd.DataFrame,
    plugs: np.ndarray,
) -> dict[str, Any]:
    """``service_level`` and plug statistics for ``summary.json`` (the binding limit needs the
    budget: :func:`plan_binding_limit`)."""
    if rule == "service_level":
        level: dict[str, Any] = arrays.level.as_dict()
    else:
        level = {"rule": "daily_energy", "kwh_per_plug_day": kwh_per_plug_day}
    level["peak_hour"] = int(arrays.peak_hour)
    level["model_hours"] = [int(h) for h in arrays.hours] if rule == "service_level" else []
    level["mean_charging_kw"] = float(arrays.mean_charging_kw)
    level["mean_session_min"] = round(float(arrays.service_min), 3)
    pw = queues["p_wait"].to_numpy(float)
    mw = queues["mean_wait_min"].to_numpy(float)
    arr = queues["peak_arrivals_per_h"].to_numpy(float)
    ok = np.isfinite(pw) & (arr > 0)
    level["p_wait_max"] = float(pw[ok].max()) if ok.any() else None
    level["mean_wait_min_max"] = float(mw[ok].max()) if ok.any() else None
    level["p_wait_mean"] = float(np.average(pw[ok], weights=arr[ok])) if ok.any() else None
    counts = np.bincount(np.asarray(plugs, dtype=np.int64)) if len(plugs) else np.zeros(0)
    return {
        "service_level": level,
        "plugs_new": int(queues["plugs_new"].sum()) if len(queues) else 0,
        "plugs_existing": int(queues["plugs_existing"].sum()) if len(queues) else 0,
        "plugs_per_site": {str(k): int(v) for k, v in enumerate(counts) if v},
    }


def plan_binding_limit(
    arrays: SizingArrays,
    travel: sp.csr_matrix,
    demand: pd.DataFrame,
    candidates: pd.DataFrame,
    open_idx: np.ndarray,
    plugs: np.ndarray,
    served_cell: np.ndarray,
    budget: float,
    spent: float,
) -> tuple[str, str]:
    """:func:`binding_limit` of a charger plan, from the pipeline's tables."""
    from siting.models.core import site_reach  # row blocks: no copy of a city-size matrix

    w = demand["kwh_per_day"].to_numpy(float)
    status = candidates["status"].to_numpy()
    allowed = status != "forbidden"
    _, reach_cell = site_reach(travel, w, allowed)
    unserved = np.where(reach_cell, np.maximum(w - served_cell, 0.0), 0.0)
    n_s = len(candidates)
    unserved_reach, _ = site_reach(travel, unserved, allowed)
    is_open = np.zeros(n_s, bool)
    is_open[open_idx] = True
    p_all = np.zeros(n_s, dtype=np.int64)
    p_all[open_idx] = plugs
    existing = candidates["existing_plugs"].to_numpy(np.int64)
    lim = arrays.for_sites(candidates)
    left = None
    if lim.group_draw is not None and lim.group_limit is not None:
        left = lim.group_limit - lim.group_draw @ np.maximum(p_all - existing, 0)
    return binding_limit(
        total=float(w.sum()), reachable=float(w[reach_cell].sum()),
        served=float(served_cell.sum()), unserved_reach=unserved_reach, is_open=is_open,
        plugs=p_all, plug_limit=lim.max_plugs, by_connection=lim.by_connection,
        allowed=allowed, site_cost=candidates["fixed_cost_cny"].to_numpy(float),
        plug_cost=candidates["plug_cost_cny"].to_numpy(float), existing=existing,
        unspent=float(budget - spent), group_draw=lim.group_draw, group_left=left,
    )  # fmt: skip


def station_queues(
    served_kg_per_day: np.ndarray,
    existing: np.ndarray,
    dispensers: np.ndarray,
    kg_per_fill: float,
    fill_min: float,
    profile: np.ndarray,
) -> pd.DataFrame:
    """Queue columns of hydrogen stations: dispensers are the servers, a fill the service.

    Arrivals per hour at the profile's peak = served kg/day / kg per fill × peak share; the
    stations are sized in kg/day by the flow-refuelling model, so these figures describe the
    plan, they do not size it. ``connection_kw`` / ``connection_kw_max`` are NaN (the electrical
    connection of hydrogen stations is not modelled).

    Returns
    -------
    DataFrame
        :data:`QUEUE_COLUMNS`, ``plugs`` (= dispensers), ``peak_hour``, ``peak_load_erlangs``.
    """
    kg = np.nan_to_num(np.asarray(served_kg_per_day, dtype=float))
    n = kg.size
    ex = np.asarray(existing, dtype=bool)
    plugs = np.broadcast_to(np.asarray(dispensers, dtype=np.int64), (n,)).copy()
    rate = kg_per_fill / (fill_min / 60.0)  # kg/h one dispenser delivers while filling
    q = site_queues(kg[:, None], plugs, np.asarray(profile, float)[None, :],
                    np.array([kg_per_fill]), np.full(n, rate))  # fmt: skip
    q.insert(0, "plugs", plugs)
    q.insert(1, "plugs_new", np.where(ex, 0, plugs))
    q.insert(2, "plugs_existing", np.where(ex, plugs, 0))
    q["connection_kw"] = np.nan
    q["connection_kw_max"] = np.nan
    return q
