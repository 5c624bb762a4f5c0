"""Plain data and helpers shared by the demand kinds and the planning pipeline."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting._errors import InputError

logger = logging.getLogger("siting.plan")

#: Callback receiving a stage name before each stage starts (or None).
Progress = Callable[[str], None] | None

#: Columns of ``Plan.sites`` common to every kind (docs/ARCHITECTURE.md), in order.
SITE_COLUMNS = [
    "site_id", "kind", "name", "district", "plugs", "capacity_kw", "cost_cny", "demand_served",
    "source", "lon", "lat", "max_travel_min", "size_kg_per_day", "trips_served", "status", "node",
    "geometry",
]  # fmt: skip


def stage(progress: Progress, name: str) -> float:
    """Log and announce stage ``name``; return the start time (``time.perf_counter``)."""
    logger.info("stage %s", name)
    if progress is not None:
        progress(name)
    return time.perf_counter()


def ids_to_mask(
    ids: Iterable[str] | None, site_ids: pd.Series, what: str | None = None
) -> np.ndarray:
    """Boolean mask of ``site_ids`` that are in ``ids``.

    With ``what`` (a field name) an unknown id is an :class:`InputError`; without it unknown ids
    are ignored (they belong to another kind's sites).
    """
    if ids is None:
        return np.zeros(len(site_ids), bool)
    wanted = list(ids)
    if what is not None:
        known = set(site_ids)
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise InputError(f"{what}: unknown site id(s) {unknown[:5]}")
    return site_ids.isin(set(wanted)).to_numpy()


def num(x: Any) -> float | None:
    """``float(x)`` when finite, else None (for summary.json)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


@dataclass
class ModelContext:
    """What a kind's ``add_component`` may need besides its own prepared part.

    Attributes
    ----------
    keep_open : iterable of str or None
        Site ids that must be open (earlier phases).
    weights : dict
        Objective weight per component name (default 1).
    handles : dict
        Component name -> handle of the components added before (a kind served by another
        kind's sites, e.g. depots by the corridor stations, finds them here).
    """

    keep_open: Iterable[str] | None = None
    weights: dict[str, float] = field(default_factory=dict)
    handles: dict[str, Any] = field(default_factory=dict)


@dataclass
class KindResult:
    """One kind's share of a :class:`~siting.results.Plan`.

    Attributes
    ----------
    sites : GeoDataFrame
        Chosen sites of the kind (:data:`SITE_COLUMNS` and kind-specific columns), or None when
        the kind has no sites of its own (depots are served by the corridor stations).
    candidates : GeoDataFrame or None
        The kind's candidates plus ``chosen``.
    summary : dict
        The kind's summary.json keys.
    demand : GeoDataFrame or None
        The kind's demand table (area grid, depots), if any.
    trips : GeoDataFrame or None
        Trip table (trip flows).
    site_served : ndarray or None
        Per candidate site of another kind, the amount this kind's demand draws there
        (depots -> corridor stations, kg/day).
    """

    sites: gpd.GeoDataFrame | None = None
    candidates: gpd.GeoDataFrame | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    demand: gpd.GeoDataFrame | None = None
    trips: gpd.GeoDataFrame | None = None
    site_served: np.ndarray | None = None
