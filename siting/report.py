"""Write a plan's output folder (map.html, sites.geojson, sites.csv, summary.json) atomically.

:func:`write_outputs` writes every file into a temporary sibling folder
(``.<name>.tmp-<pid>`` next to the output folder) and renames it into place at the end; an
existing output folder is first renamed aside, then deleted once the new one is in place. If
anything fails, the temporary folder is removed and the previous output is left as it was, so a
failed run never leaves half a result.

To avoid deleting a user's files by mistake (``--out .``), an existing folder is only replaced
when it is empty or looks like a siting output: it holds the marker file ``.siting-output``
written into every output folder, or only files with the output names below.

Files
-----
``map.html``
    The Folium map (:func:`siting.maps.write_map`).
``sites.geojson``
    One Point feature (WGS84, 6 decimals) per chosen site with properties ``site_id`` (str),
    ``kind`` (``fast_charger`` | ``hydrogen``), ``name`` (str or null), ``plugs`` (int or null),
    ``capacity_kw`` (kW), ``cost_cny`` (CNY), ``demand_served`` (kWh/day for fast chargers,
    kg/day for hydrogen stations), ``source`` (``osm:<id>`` | ``existing`` | ``generated`` |
    ``file:<name>``); hydrogen stations and trip-flow chargers also carry ``size_kg_per_day``
    (kg/day) and ``trips_served``; every site the :data:`OPTIONAL_COLUMNS` the plan has
    (``district``, ``trip_flow_per_day`` in vehicles/day, queueing figures). Unknown numbers
    are null.
``sites.csv``
    The same table for spreadsheets (UTF-8 with BOM so that Excel reads Chinese names), columns
    as above, then ``lon``, ``lat``; a column no site has a value for is left out (trips and
    kg/day in an area-charging plan, demand served in a trip-flow plan, queueing figures in a
    plan without them).
``summary.json``
    ``plan.summary`` made JSON-safe: NaN / inf become null, NumPy scalars and arrays plain
    numbers and lists, paths strings.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import pandas as pd

from siting._errors import InputError
from siting.results import Plan

logger = logging.getLogger(__name__)

#: Output groups and the files each writes.
OUTPUT_FILES: dict[str, tuple[str, ...]] = {
    "map": ("map.html",),
    "sites": ("sites.geojson", "sites.csv"),
    "summary": ("summary.json",),
}
#: Accepted names for each group in ``write_outputs(files=...)``.
_ALIASES = {
    "map": "map",
    "map.html": "map",
    "geojson": "sites",
    "sites": "sites",
    "sites.geojson": "sites",
    "csv": "sites",
    "sites.csv": "sites",
    "summary": "summary",
    "summary.json": "summary",
}
#: Marker file written into every output folder (lets a later run replace the folder).
MARKER = ".siting-output"

#: sites.geojson / sites.csv columns, in order.
SITE_COLUMNS = (
    "site_id",
    "kind",
    "name",
    "plugs",
    "capacity_kw",
    "cost_cny",
    "demand_served",
    "source",
)
#: Queue and grid columns of every site (issue 9 output contract): plugs new / already built,
#: session arrivals per hour and mean session minutes at the site's busiest hour, Erlang C
#: probability of waiting and mean wait (minutes) then, utilisation (busy share of the plugs in
#: that hour), connection kW used (plugs × rated kW) and allowed. Null where not modelled.
QUEUE_COLUMNS = (
    "plugs_new", "plugs_existing", "peak_arrivals_per_h", "service_min", "p_wait",
    "mean_wait_min", "utilisation", "connection_kw", "connection_kw_max",
)  # fmt: skip
_QUEUE_ROUND = {"peak_arrivals_per_h": 6, "service_min": 6, "p_wait": 9, "mean_wait_min": 6,
                "utilisation": 9, "connection_kw": 3, "connection_kw_max": 3}  # fmt: skip
HYDROGEN_COLUMNS = ("size_kg_per_day", "trips_served")
#: Columns written when the plan has them for at least one site (the scenario's kind decides):
#: the district and trip flows (vehicles/day refuelled).
OPTIONAL_COLUMNS = ("district", "trip_flow_per_day")
#: sites.csv columns written even when every site's value is empty.
_ALWAYS = ("site_id", "kind", "name", "plugs", "cost_cny", "source")
_ROUND = {"capacity_kw": 3, "cost_cny": 2, "demand_served": 3, "size_kg_per_day": 3}


# ----------------------------------------------------------------------------- JSON


def to_jsonable(obj: Any) -> Any:
    """A copy of ``obj`` that :func:`json.dumps` accepts with ``allow_nan=False``.

    NaN and ±inf become None; NumPy scalars / arrays, pandas values, paths, dates, sets, tuples,
    dataclasses and pydantic models become plain JSON types; anything else becomes ``str(obj)``.
    """
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray | pd.Series | pd.Index):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, list | tuple | set | frozenset):
        items = sorted(obj, key=str) if isinstance(obj, set | frozenset) else obj
        return [to_jsonable(v) for v in items]
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, datetime | date | pd.Timestamp):
        return None if pd.isna(obj) else obj.isoformat()
    if obj is pd.NA or obj is pd.NaT:
        return None
    if hasattr(obj, "model_dump"):  # pydantic
        return to_jsonable(obj.model_dump(mode="json"))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    logger.debug("to_jsonable: %s written as its str()", type(obj).__name__)
    return str(obj)


def _write_text_atomic(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json_atomic(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as strict JSON (UTF-8, NaN → null) via a temporary file and a rename.

    Parameters
    ----------
    path : path-like
        Target file; its folder is created if needed.
    obj : any
        Converted with :func:`to_jsonable` first.
    indent : int or None
        JSON indentation.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    text = json.dumps(to_jsonable(obj), indent=indent, ensure_ascii=False, allow_nan=False)
    return _write_text_atomic(Path(path), text + "\n")


# ----------------------------------------------------------------------------- sites


def _num(v: Any, digits: int | None = None) -> float | int | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(x):
        return None
    return round(x, digits) if digits is not None else x


def _str(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return None
    s = str(v)
    return s if s.strip() else None


def site_records(plan: Plan) -> list[dict[str, Any]]:
    """The chosen sites as plain records (the properties of ``sites.geojson``) plus lon/lat.

    Parameters
    ----------
    plan : siting.results.Plan

    Returns
    -------
    list of dict
        One dict per site: :data:`SITE_COLUMNS`, :data:`QUEUE_COLUMNS`, for hydrogen sites also
        :data:`HYDROGEN_COLUMNS`, then ``lon``, ``lat`` (degrees, 6 decimals).
    """
    sites = plan.sites
    if sites is None or len(sites) == 0:
        return []
    if sites.crs is not None and str(sites.crs).upper() not in ("EPSG:4326", "OGC:CRS84"):
        sites = sites.to_crs("EPSG:4326")
    geom = sites.geometry
    lon = geom.x.to_numpy() if len(geom) else np.zeros(0)
    lat = geom.y.to_numpy() if len(geom) else np.zeros(0)
    out = []
    for i, row in enumerate(sites.itertuples(index=False)):
        kind = _str(getattr(row, "kind", None))
        plugs = _num(getattr(row, "plugs", None))
        rec: dict[str, Any] = {
            "site_id": _str(getattr(row, "site_id", None)),
            "kind": kind,
            "name": _str(getattr(row, "name", None)),
            "plugs": None if plugs is None else round(plugs),
        }
        for col in ("capacity_kw", "cost_cny", "demand_served"):
            rec[col] = _num(getattr(row, col, None), _ROUND[col])
        rec["source"] = _str(getattr(row, "source", None))
        for col in QUEUE_COLUMNS:
            v = _num(getattr(row, col, None), _QUEUE_ROUND.get(col))
            rec[col] = round(v) if col in ("plugs_new", "plugs_existing") and v is not None else v
        trips = _num(getattr(row, "trips_served", None), 3)
        if kind == "hydrogen" or trips is not None:  # hydrogen stations, trip-flow chargers
            rec["size_kg_per_day"] = _num(getattr(row, "size_kg_per_day", None), 3)
            whole = trips is not None and float(trips).is_integer()
            rec["trips_served"] = round(trips) if whole else trips
        for col in OPTIONAL_COLUMNS:
            if col in sites.columns:
                v = getattr(row, col, None)
                rec[col] = _str(v) if col == "district" else _num(v, 4)
        rec["lon"] = _num(lon[i], 6)
        rec["lat"] = _num(lat[i], 6)
        out.append(rec)
    return out


def sites_geojson(plan: Plan) -> dict[str, Any]:
    """``sites.geojson`` as a dict (RFC 7946 FeatureCollection, WGS84)."""
    feats = []
    for rec in site_records(plan):
        props = {k: v for k, v in rec.items() if k not in ("lon", "lat")}
        geometry = (
            None
            if rec["lon"] is None or rec["lat"] is None
            else {"type": "Point", "coordinates": [rec["lon"], rec["lat"]]}
        )
        feats.append({"type": "Feature", "properties": props, "geometry": geometry})
    return {"type": "FeatureCollection", "features": feats}


def sites_csv(plan: Plan) -> str:
    """``sites.csv`` text (header + one row per site; empty cells for unknown values)."""
    records = site_records(plan)

    def used(c: str) -> bool:
        return any(r.get(c) is not None for r in records)

    # the output contract's columns are always written; figures no site of this plan has
    # (demand served by trip-flow stations, trips at area chargers) are left out
    core = [c for c in SITE_COLUMNS if c in _ALWAYS or not records or used(c)]
    extra = [c for c in (*HYDROGEN_COLUMNS, *OPTIONAL_COLUMNS) if used(c)]
    cols = [*core, *QUEUE_COLUMNS, *extra, "lon", "lat"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for rec in records:
        w.writerow({k: "" if rec.get(k) is None else rec[k] for k in cols})
    return buf.getvalue()


# ----------------------------------------------------------------------------- output folder


def _groups(files: Iterable[str] | None, plan: Plan) -> list[str]:
    if files is None:
        flags = getattr(plan.scenario, "outputs", None)
        if flags is None:
            return list(OUTPUT_FILES)
        wanted = {
            "map": getattr(flags, "map", True),
            "sites": getattr(flags, "sites_geojson", True),
            "summary": getattr(flags, "summary_json", True),
        }
        return [g for g, on in wanted.items() if on]
    if isinstance(files, str):
        files = [files]
    groups = []
    for f in files:
        g = _ALIASES.get(str(f).strip().lower())
        if g is None:
            raise InputError(
                f"outputs: unknown output {f!r} (use map, geojson, summary or their file names)"
            )
        if g not in groups:
            groups.append(g)
    return groups


def check_replaceable(out_dir: str | os.PathLike[str]) -> None:
    """Raise :class:`~siting.InputError` when :func:`write_outputs` would refuse ``out_dir``.

    Parameters
    ----------
    out_dir : path-like
        The output folder (it may not exist yet).
    """
    _check_replaceable(Path(os.path.abspath(out_dir)))


def _check_replaceable(out: Path) -> None:
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder; choose another output folder")
    names = {p.name for p in out.iterdir()}
    known = {MARKER} | {n for files in OUTPUT_FILES.values() for n in files}
    if names and MARKER not in names and not names <= known:
        extra = sorted(names - known)[:3]
        raise InputError(
            f"{out}: folder holds files siting did not write ({', '.join(extra)}); "
            "choose a new or empty output folder"
        )


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; an existing ``out`` is renamed aside first, then deleted."""
    old = None
    if out.exists() or out.is_symlink():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        if old.exists():
            shutil.rmtree(old)
        os.rename(out, old)
    try:
        os.rename(tmp, out)
    except BaseException:
        if old is not None:
            os.rename(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_outputs(
    plan: Plan,
    out_dir: str | os.PathLike[str],
    *,
    files: Iterable[str] | None = None,
    inline_assets: bool = False,
) -> Path:
    """Write a plan's output folder atomically.

    Parameters
    ----------
    plan : siting.results.Plan
        A solved plan.
    out_dir : path-like
        Output folder (created; an existing siting output folder is replaced).
    files : iterable of str, optional
        Which outputs: ``"map"`` (map.html), ``"geojson"`` (sites.geojson and sites.csv),
        ``"summary"`` (summary.json); file names (``"sites.geojson"``, ...) are accepted too.
        Default: the scenario's ``outputs`` switches (``map``, ``sites_geojson``,
        ``summary_json``), or all when the scenario has none.
    inline_assets : bool, default False
        Passed to :func:`siting.maps.write_map`: copy Leaflet into map.html so that it works
        with no network (on its offline base layer).

    Returns
    -------
    pathlib.Path
        The output folder.

    Raises
    ------
    InputError
        ``files`` names an unknown output, or ``out_dir`` exists and is a file or a folder with
        files siting did not write (nothing is written then).
    """
    groups = _groups(files, plan)
    out = Path(os.path.abspath(out_dir))
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        if "map" in groups:
            from siting import maps

            maps.write_map(plan, tmp / "map.html", inline_assets=inline_assets)
        if "sites" in groups:
            write_json_atomic(tmp / "sites.geojson", sites_geojson(plan), indent=None)
            _write_text_atomic(tmp / "sites.csv", sites_csv(plan), encoding="utf-8-sig")
        if "summary" in groups:
            write_json_atomic(tmp / "summary.json", plan.summary)
        (tmp / MARKER).write_text(
            "Output folder written by siting; a later run may replace it.\n", encoding="utf-8"
        )
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("outputs written to %s: %s", out, ", ".join(groups))
    return out


# ----------------------------------------------------------------------------- CLI table


def _fmt_seconds(v: Any) -> str:
    x = _num(v)
    if x is None:
        return "—"
    return f"{x:.2f} s" if x < 10 else f"{x:.0f} s" if x >= 100 else f"{x:.1f} s"


def summary_rows(plan: Plan) -> list[tuple[str, str]]:
    """Human-readable (label, value) rows summarising a plan, for the CLI's table.

    Parameters
    ----------
    plan : siting.results.Plan

    Returns
    -------
    list of (str, str)
        Scenario, status, MIP gap, budget, spent, sites by kind, plugs per kind (with kW),
        hydrogen capacity (kg/day), charging demand covered (% of kWh/day; left out for a
        hydrogen-only plan), trip flow refuelled (% of vehicles/day, flow-refuelling plans),
        hydrogen depot demand served (% of kg/day, when the plan has node demand), candidates
        and demand cells, solve and total time. Values are plain text (no markup).
    """
    from siting.maps import fmt_cny, fmt_num, fmt_share

    s = plan.summary
    sol = plan.solution
    status = str(s.get("status") or getattr(sol, "status", "—"))
    if status == "time_limit":
        status = "time_limit (best plan found within the time limit)"
    gap = _num(s.get("mip_gap", getattr(sol, "gap", None)))
    sites = plan.sites
    kinds = (
        sites["kind"].value_counts()
        if sites is not None and len(sites)
        else pd.Series(dtype="int64")
    )
    labels = {"fast_charger": "fast charger", "hydrogen": "hydrogen station"}
    by_kind = ", ".join(
        f"{int(n)} {labels.get(str(k), str(k))}{'s' if int(n) != 1 else ''}"
        for k, n in kinds.items()
    )
    spent = _num(s.get("spent_cny"))
    if spent is None and sites is not None and "cost_cny" in sites:
        spent = float(pd.to_numeric(sites["cost_cny"], errors="coerce").sum())
    budget = _num(plan.budget_cny)
    spent_text = fmt_cny(spent)
    if spent is not None and budget:
        spent_text += f" ({fmt_share(spent / budget)} of budget)"
    rows = [
        ("Scenario", str(s.get("scenario") or getattr(plan.scenario, "name", "—"))),
        ("Status", status),
        ("MIP gap", "—" if gap is None else f"{100 * gap:.2f} %"),
        ("Budget", fmt_cny(budget)),
        ("Spent", spent_text),
        ("Sites", by_kind or "none"),
    ]
    if sites is not None and len(sites) and "plugs" in sites:
        plugs = pd.to_numeric(sites["plugs"], errors="coerce")
        kw = pd.to_numeric(sites.get("capacity_kw"), errors="coerce")
        parts = []
        for kind in pd.unique(sites["kind"]):
            on = (sites["kind"] == kind).to_numpy()
            if not plugs[on].notna().any():
                continue
            text = f"{fmt_num(plugs[on].sum())} at {labels.get(str(kind), str(kind))}s"
            if kw is not None and kw[on].notna().any():
                text += f" ({fmt_num(kw[on].sum())} kW)"
            parts.append(text)
        if parts:
            rows.append(("Plugs", ", ".join(parts)))
        h2 = sites[sites["kind"] == "hydrogen"]
        if len(h2) and "size_kg_per_day" in h2:
            kg = pd.to_numeric(h2["size_kg_per_day"], errors="coerce").sum()
            rows.append(("Hydrogen capacity", f"{fmt_num(kg, 4)} kg/day"))
    share = _num(s.get("demand_covered_share"))
    total = _num(s.get("demand_kwh_per_day"))
    h2_share = _num(s.get("hydrogen_node_demand_served_share"))
    if total is not None or h2_share is None:
        # charging demand (a hydrogen-only plan has none: its node demand is reported below)
        cov = fmt_share(share)
        if total is not None:
            cov += f" of {fmt_num(total)} kWh/day"
        limit = _num(s.get("max_travel_min"))
        if limit is not None:
            cov += f" (within {limit:g} min)"
        rows.append(("Demand covered", cov))
    flow = _num(s.get("flow_refuelled_share"))
    if flow is not None:
        rows.append(("Trip flow refuelled", fmt_share(flow)))
    if h2_share is not None:
        kg_day = _num(s.get("hydrogen_node_demand_kg_per_day"))
        text = fmt_share(h2_share)
        if kg_day is not None:
            text += f" of {fmt_num(kg_day)} kg/day"
        rows.append(("Hydrogen depot demand served", text))
    n_c, n_d = s.get("n_candidates"), s.get("n_demand_cells")
    if n_c is not None or n_d is not None:
        rows.append(("Candidates / demand cells", f"{n_c if n_c is not None else '—'} / "
                     f"{n_d if n_d is not None else '—'}"))  # fmt: skip
    rows.append(("Solve time", _fmt_seconds(s.get("solve_seconds", getattr(sol, "seconds", None)))))
    if s.get("total_seconds") is not None:
        rows.append(("Total time", _fmt_seconds(s.get("total_seconds"))))
    return rows
