"""Check every input of a scenario before any work starts (``siting validate`` and ``run``).

The validation layer has four parts, all raising a :class:`~siting.SitingError` whose message
is one line ``<file>: <field or place>: <what is wrong>`` (or ``<flag>: <what is wrong>``):

1. **Scenario files** (:func:`siting.scenario.load_scenario`): strict, bounded YAML
   (:mod:`siting._yaml`) validated strictly against the pydantic schema (:mod:`siting._strict`):
   no boolean or text where a number is meant, finite numbers within ±1e15, whole numbers where
   counts are meant, no unknown or missing keys. New fields get this without extra code.
2. **Data files the scenario names** (:func:`check_scenario`, this module): every file field
   (any ``Path`` anywhere in the scenario) is a readable regular file or folder; site files are
   read and checked completely (:mod:`siting._sitefile`); the study area is built as the run
   builds it (polygon file, bbox, districts) and must be a non-empty polygon that overlaps
   Beijing's districts and holds demand cells; ids in ``required`` / ``forbidden`` and the
   kinds of sites in files must make sense; plugs already built must fit their grid
   connection; the substation file is read; corridor nodes must exist.
3. **Output paths** (:func:`siting._outpath.check_output_dir`): creatable before solving.
4. **Command-line flags** (:mod:`siting._flags`, :mod:`siting._budgets`): one line naming the
   flag, never a usage box.

``siting validate`` runs 1 and 2, so a scenario that validates can start ``siting run``.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from siting._errors import InputError, ScenarioError
from siting._strict import error_line

__all__ = ["Checked", "check_scenario"]

logger = logging.getLogger(__name__)

#: Largest number of H3 demand cells ``validate`` counts exactly (larger areas are estimated).
_MAX_CELLS_COUNTED = 2_000_000
#: Site ids the run makes itself: generated road candidates (``g<node>``), OSM POIs.
_GENERATED_ID = re.compile(r"^(g-?[0-9]+|osm:.+)$")


@dataclass
class Checked:
    """What :func:`check_scenario` looked at (for the ``validate`` summary line).

    Attributes
    ----------
    n_sites : int
        Sites read from the scenario's site files.
    area_km2 : float
        Study-area size (km², equal-area projection).
    notes : list of str
        Things worth knowing that are not errors.
    """

    n_sites: int = 0
    area_km2: float = math.nan
    notes: list[str] = field(default_factory=list)


def _file(scn: Any) -> str:
    return str(scn.path) if getattr(scn, "path", None) is not None else "<scenario>"


def _fail(scn: Any, loc: tuple[Any, ...], msg: str) -> ScenarioError:
    return ScenarioError(error_line(_file(scn), loc, msg))


# ----------------------------------------------------------------------------- generic files


def _paths(model: Any, loc: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Path]]:
    """Every ``Path`` value in a validated scenario (any section, any depth), with its field."""
    out: list[tuple[tuple[Any, ...], Path]] = []
    if isinstance(model, BaseModel):
        for name in type(model).model_fields:
            if name == "path" and not loc:
                continue  # the scenario file itself
            out += _paths(getattr(model, name), (*loc, name))
    elif isinstance(model, dict):
        for k, v in model.items():
            out += _paths(v, (*loc, k))
    elif isinstance(model, list | tuple):
        for i, v in enumerate(model):
            out += _paths(v, (*loc, i))
    elif isinstance(model, Path):
        out.append((loc, model))
    return out


def _check_readable(scn: Any) -> None:
    for loc, p in _paths(scn):
        p = p if p.is_absolute() else scn.base_dir / p
        try:
            if p.is_dir():
                next(iter(p.iterdir()), None)
                continue
            if not p.exists():
                raise _fail(scn, loc, f"file not found: {p}")
            if not p.is_file():
                raise _fail(scn, loc, f"{p} is not a regular file (a device or pipe?)")
            with open(p, "rb") as fh:
                head = fh.read(1)
        except OSError as exc:
            raise _fail(scn, loc, f"cannot read {p}: {exc.strerror or exc}") from None
        if not head:
            raise _fail(scn, loc, f"{p} is empty")


# ----------------------------------------------------------------------------- site files


def _check_site_files(scn: Any) -> int:
    from siting import candidates

    c = scn.candidates
    seen: dict[str, str] = {}
    files: dict[Path, int] = {}
    n = 0
    for i, sf in enumerate(c.site_files):
        where = ("candidates", "site_files", i)
        first = files.setdefault(Path(sf.path).resolve(), i)
        if first != i:
            raise _fail(scn, (*where, "path"), f"{sf.path} is already site_files[{first}]")
        table = candidates.read_site_file(sf.path, crs=sf.crs)
        grid = getattr(scn, "grid", None)
        candidates.check_built_connections(
            table, sf, scn.costs, getattr(grid, "connection_kw_max", None)
        )
        n += len(table)
        kinds = table["kind"].where(table["kind"].notna(), sf.kind)
        for sid, kind in zip(table["id"], kinds, strict=True):
            if getattr(scn.costs, str(kind), None) is None:
                raise _fail(
                    scn,
                    ("costs", str(kind)),
                    f"missing: site {sid!r} of {sf.path} is of kind {kind!r}",
                )
            if sid in seen:
                raise _fail(
                    scn,
                    where,
                    f"site id {sid!r} of {sf.path} is also in {seen[sid]}; ids must be unique "
                    "across site files",
                )
            seen[str(sid)] = str(sf.path)
        logger.info("inputs: %s: %d sites", sf.path, len(table))
    for what in ("required", "forbidden"):
        for j, sid in enumerate(getattr(c, what)):
            if sid not in seen and not _GENERATED_ID.match(str(sid)):
                raise _fail(
                    scn,
                    ("candidates", what, j),
                    f"no site with id {sid!r} in the site files (generated sites are "
                    "'g<node>', OSM sites 'osm:<type>/<id>')",
                )
    return n


# ----------------------------------------------------------------------------- study area


def _area_km2(geom: Any) -> float:
    import geopandas as gpd

    return float(gpd.GeoSeries([geom], crs="EPSG:4326").to_crs("EPSG:6933").area.iloc[0] / 1e6)


def _check_demand_cells(scn: Any, area: Any, km2: float) -> None:
    import h3

    from siting import demand

    res = scn.demand.h3_resolution
    per_cell = float(h3.average_hexagon_area(res, unit="km^2"))
    if km2 / per_cell > _MAX_CELLS_COUNTED:
        return  # plenty of cells; counting them would cost what the run costs
    cells = demand.h3_cells(area, res)
    if cells.empty:
        raise _fail(
            scn,
            ("demand", "h3_resolution"),
            f"the study area ({km2:.3g} km²) holds no H3 cell centre at resolution {res}; "
            "use a finer resolution or a larger area",
        )


# ----------------------------------------------------------------------------- hydrogen


def _check_corridor(scn: Any) -> None:
    from siting import corridor
    from siting.demand_kinds.trip_flows import check_nodes

    sec = scn.corridor
    cdir = sec.corridor_dir
    if cdir is not None and not Path(cdir).is_absolute():
        cdir = scn.base_dir / cdir
    try:
        C = corridor.load_corridor(cdir)
    except ScenarioError:
        raise
    except InputError as exc:
        raise _fail(scn, ("corridor", "corridor_dir"), str(exc)) from None
    check_nodes(sec, C, _file(scn))


# ----------------------------------------------------------------------------- all


def check_scenario(scn: Any) -> Checked:
    """Check every input a loaded scenario names, as far as can be done without solving.

    Parameters
    ----------
    scn : Scenario
        From :func:`siting.scenario.load_scenario` (already schema-checked).

    Returns
    -------
    Checked

    Raises
    ------
    SitingError
        One line naming the file and field (or the data file, line and column).
    """
    from siting import sizing

    _check_readable(scn)
    sizing.read_scenario_substations(scn)
    n_sites = _check_site_files(scn)
    from siting.study_area import study_area_geometry

    area = study_area_geometry(scn)
    km2 = _area_km2(area)
    _check_demand_cells(scn, area, km2)
    if getattr(scn, "corridor", None) is not None:
        _check_corridor(scn)
    return Checked(n_sites=n_sites, area_km2=km2)
