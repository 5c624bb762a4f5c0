"""Scenario schema (pydantic) and loader: one YAML file describes one planning run.

Every section is a pydantic model with ``extra="forbid"``, so a misspelt key is an error.
Units are in the field names (``budget_cny``, ``max_travel_min``, ``kwh_per_vehicle_day``, ...).
Relative file paths are resolved against the scenario file's folder and must exist.

:func:`load_scenario` turns *every* problem (YAML syntax, unknown key, wrong type, negative
budget, unknown district, missing file) into a :class:`~siting.ScenarioError` whose message is one
line: ``<file>: <field.path>: <what is wrong>``.

Adding a section means adding one optional field to :class:`Scenario` whose type is another
:class:`Section` subclass; nothing else in the loader changes. A commented reference of every field
is in ``scenarios/README.md``.

This module is the schema alone: it imports no pipeline stage (the corridor vocabulary it
validates against comes from :mod:`siting._corridor_facts`). The ``corridor:`` section (trip
flows on the Olympic corridor / intercity roads, depot demand, corridor stations, joint siting)
is also accepted under its former name ``hydrogen:``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from siting import _strict
from siting._corridor_facts import LOGISTICS_FCEV_TOTAL, NODE_KINDS, OLYMPIC_FCEV_TOTAL
from siting._errors import ScenarioError
from siting._strict import FieldError, error_line, loc_text
from siting._yaml import load_yaml

logger = logging.getLogger(__name__)

Kind = Literal["fast_charger", "hydrogen"]
Status = Literal["optional", "required", "forbidden", "built"]

NonNeg = Annotated[float, Field(ge=0)]
Pos = Annotated[float, Field(gt=0)]

#: Road classes used for generated candidates unless the scenario says otherwise.
DEFAULT_CANDIDATE_ROADS = ("motorway", "trunk", "primary")
#: Corridor node kinds that are station candidates unless the scenario says otherwise.
DEFAULT_CANDIDATE_KINDS = ("town", "interchange", "service_area", "venue", "junction_city")
#: Key of the corridor section in a scenario file, and its former name (still accepted).
CORRIDOR_KEY, CORRIDOR_KEY_OLD = "corridor", "hydrogen"


class Section(BaseModel):
    """Base of every scenario section: unknown keys are errors, values are validated on set."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _resolve_path(value: Any, info: ValidationInfo) -> Path | None:
    """Resolve ``value`` against the scenario folder (validation context) and require it exists.

    Used as an *after* validator (the value is already text or a path): file data is validated
    strictly through JSON (:mod:`siting._strict`), where a before-validator must not return a
    ``Path``.
    """
    if value is None:
        return None
    p = Path(str(value)).expanduser()
    base = (info.context or {}).get("base_dir")
    if not p.is_absolute() and base is not None:
        p = Path(base) / p
    if not p.exists():
        raise ValueError(f"file not found: {p}")
    return p


# ----------------------------------------------------------------------------- sections


class StudyArea(Section):
    """Where demand is counted and candidates are placed.

    ``area`` is ``"embedded"`` (where the embedded road data exists, central Beijing) or a path
    to a GeoJSON polygon file; ``bbox`` (west, south, east, north, degrees WGS84) clips it further;
    ``districts`` keeps only the named districts (English or Chinese name, or 6-digit code).
    """

    area: str = "embedded"
    bbox: tuple[float, float, float, float] | None = None
    districts: list[str] | None = None

    @field_validator("area")
    @classmethod
    def _area(cls, v: str, info: ValidationInfo) -> str:
        if v == "embedded":
            return v
        return str(_resolve_path(v, info))

    @field_validator("bbox")
    @classmethod
    def _bbox(cls, v: tuple[float, float, float, float] | None) -> Any:
        if v is None:
            return v
        w, s, e, n = v
        if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
            raise ValueError("must be [west, south, east, north] in degrees with west < east")
        return v


class Network(Section):
    """Road-network source (see :mod:`siting.network`) and speed settings.

    ``speeds_kph`` overrides the per-class default speeds (km/h) where OSM gives no maxspeed;
    ``speed_factor`` scales every speed (e.g. 0.7 for peak-hour congestion).
    """

    source: Literal["embedded", "file", "osmnx"] = "embedded"
    path: Path | None = None
    place: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    speeds_kph: dict[str, Pos] = Field(default_factory=dict)
    speed_factor: Pos = 1.0

    @field_validator("path")
    @classmethod
    def _path(cls, v: Any, info: ValidationInfo) -> Path | None:
        return _resolve_path(v, info)

    @model_validator(mode="after")
    def _needs(self) -> Network:
        if self.source == "file" and self.path is None:
            raise ValueError("source 'file' needs 'path'")
        if self.source == "osmnx" and (self.place is None) == (self.bbox is None):
            raise ValueError("source 'osmnx' needs exactly one of 'place' or 'bbox'")
        return self


class Segment(Section):
    """One fleet segment turned into daily public fast-charging demand.

    Demand (kWh/day) = ``vehicles`` × ``kwh_per_vehicle_day`` × ``public_fast_share``, allocated
    to demand cells in proportion to resident population. With ``scope: municipality`` (default)
    ``vehicles`` is the whole-Beijing fleet and is scaled by the share of the census population
    living inside the study area; with ``scope: study_area`` it is taken as is.
    """

    vehicles: NonNeg
    kwh_per_vehicle_day: NonNeg
    public_fast_share: Annotated[float, Field(ge=0, le=1)]
    scope: Literal["municipality", "study_area"] = "municipality"
    source: str = ""
    #: Time of day of the segment's sessions (``sizing: service_level``): the name of a profile
    #: in ``data/facts/charging_time_of_day.csv`` (default: the segment's own name) or 24 shares
    #: of the day's sessions starting in hours 0..23 (>= 0, summing to 1).
    profile: str | list[float] | None = None
    #: Mean energy of one session (kWh); with the mean charging power it sets the session time.
    #: Default 30 kWh: assumption (a 30-minute charge at 60 kW, the charge time of Beijing's
    #: SOHO Modern City station, data/facts/charging_operations.csv row 7).
    session_kwh: Pos = 30.0

    @field_validator("profile")
    @classmethod
    def _profile(cls, v: str | list[float] | None) -> str | list[float] | None:
        if isinstance(v, list):
            from siting.queueing import check_profile

            try:
                check_profile(v, "profile")
            except ValueError as exc:
                raise ValueError(str(exc).removeprefix("profile: ")) from None
        return v


class Demand(Section):
    """Demand grid: H3 resolution, population proxy and fleet segments."""

    h3_resolution: Annotated[int, Field(ge=4, le=11)] = 8
    proxy: Literal["residential_road_length", "uniform"] = "residential_road_length"
    segments: dict[str, Segment]

    @field_validator("segments")
    @classmethod
    def _segments(cls, v: dict[str, Segment]) -> dict[str, Segment]:
        if not v:
            raise ValueError("at least one segment is needed")
        for name in v:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
                raise ValueError(f"segment name {name!r}: use letters, digits and _")
        return v


class SiteFile(Section):
    """A list of sites (CSV with ``lon,lat,name[,id,kind,status,plugs]`` or GeoJSON points).

    ``crs`` is the coordinate system of the file: ``WGS84`` (GPS, OSM) or ``GCJ-02`` (the offset
    system of Chinese web maps; converted to WGS84 on load). ``kind`` and ``status`` apply to rows
    that do not give their own.
    """

    path: Path
    kind: Kind = "fast_charger"
    status: Status = "optional"
    crs: Literal["WGS84", "GCJ-02"] = "WGS84"
    max_offset_m: Pos = 1000.0

    @field_validator("path")
    @classmethod
    def _path(cls, v: Any, info: ValidationInfo) -> Path | None:
        return _resolve_path(v, info)


class Candidates(Section):
    """Candidate rules: generated points on major roads, site files, OSM POIs, required/forbidden.

    Generated candidates: about one per ``spacing_m`` × ``spacing_m`` square along roads of the
    ``road_classes``, snapped to a graph node on those roads; ``intersections: true`` prefers
    junction nodes of those roads.
    """

    kind: Kind = "fast_charger"
    spacing_m: Pos = 1000.0
    road_classes: list[str] = Field(default_factory=lambda: list(DEFAULT_CANDIDATE_ROADS))
    intersections: bool = False
    site_files: list[SiteFile] = Field(default_factory=list)
    osm_pois: bool = True
    required: list[str] = Field(default_factory=list)
    forbidden: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _overlap(self) -> Candidates:
        both = sorted(set(self.required) & set(self.forbidden))
        if both:
            raise ValueError(f"site id(s) both required and forbidden: {both}")
        return self


class KindCost(Section):
    """Costs and technology of one site kind."""

    fixed_cost_cny: NonNeg
    plug_cost_cny: NonNeg
    plug_kw: Pos
    kwh_per_plug_day: Pos
    max_plugs: Annotated[int, Field(ge=1)] = 20


class HydrogenQueue(Section):
    """Queue figures of hydrogen stations (outputs only; stations are sized in kg/day).

    Dispensers are the servers (one per ``kg_per_day_per_dispenser`` of station size), one fill
    the service: ``fill_min`` minutes for ``kg_per_fill`` kg, arrivals from the served kg/day and
    the ``profile`` of the day's fills.
    """

    #: dispensers = ceil(station kg/day / this): assumption, 2 per 500 kg/day (no dispenser
    #: count per station size found; a 500 kg/day station has "3-5 filling equipment", costs
    #: row 10)
    kg_per_day_per_dispenser: Pos = 250.0
    #: derived: 500 kg/day for ~33 buses a day (costs_and_technology.csv row 4)
    kg_per_fill: Pos = 15.0
    #: about 30 minutes per bus or coach at Yanqing's 70 MPa station (costs row 7)
    fill_min: Pos = 30.0
    #: time of day of fills (an assumption, charging_time_of_day.csv)
    profile: str | list[float] = "hydrogen"


class Sizing(Section):
    """How plugs are sized (``sizing:``; the string ``daily_energy`` is short for that rule).

    ``rule: service_level``: at each site's busiest hour the probability that an arriving vehicle
    waits (Erlang C, M/M/c) is at most ``alpha``, or the mean wait at most
    ``max_mean_wait_min`` (give one; default ``alpha: 0.2``, an assumption); load from the
    segments' time-of-day ``profile`` and ``session_kwh`` and the ``mean_charging_kw`` a plug
    delivers while a vehicle charges. ``rule: daily_energy``: each plug serves
    ``costs.<kind>.kwh_per_plug_day`` kWh a day (the flat rule; the default when the section is
    absent). Waiting figures are reported under both rules.
    """

    rule: Literal["service_level", "daily_energy"] = "daily_energy"
    alpha: float | None = None
    max_mean_wait_min: Pos | None = None
    #: Default 60 kW: assumption (half the 120 kW rating; measured mean fast-charging power was
    #: 61 % of the rating in Norway, charging_operations.csv row 9; 30 kWh in a 30-minute charge).
    mean_charging_kw: Pos = 60.0
    hydrogen: HydrogenQueue = Field(default_factory=HydrogenQueue)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v: Any) -> Any:
        return {"rule": v} if isinstance(v, str) else v

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, v: float | None) -> float | None:
        if v is not None and not 0.0 < v < 1.0:
            raise ValueError(f"must be in (0, 1) (got {v!r})")
        return v

    @model_validator(mode="after")
    def _one_target(self) -> Sizing:
        if self.alpha is not None and self.max_mean_wait_min is not None:
            raise _FieldError(("max_mean_wait_min",), "give alpha or max_mean_wait_min, not both")
        return self

    def service_level(self) -> Any:
        """The :class:`siting.queueing.ServiceLevel` of this section (default alpha 0.2)."""
        from siting.queueing import ServiceLevel

        if self.max_mean_wait_min is not None:
            return ServiceLevel("mean_wait", None, self.max_mean_wait_min)
        return ServiceLevel("p_wait", 0.2 if self.alpha is None else self.alpha)


class SubstationFile(Section):
    """Substations / feeder zones (:mod:`siting.grid`): GeoJSON points or polygons, or CSV."""

    path: Path
    crs: Literal["WGS84", "GCJ-02"] = "WGS84"
    #: Sites within this distance of a point substation (its nearest) are fed by it (m).
    radius_m: Pos = 3000.0

    @field_validator("path", mode="before")
    @classmethod
    def _path(cls, v: Any, info: ValidationInfo) -> Path | None:
        return _resolve_path(v, info)


class Grid(Section):
    """Grid limits (:mod:`siting.grid`): connection power per site, substation headroom.

    ``connection_kw_max`` is the default maximum connection of a site (kW; none when absent);
    a site file's ``connection_kw_max`` column overrides it per site.
    """

    connection_kw_max: NonNeg | None = None
    substations: SubstationFile | None = None


class Costs(Section):
    """Costs per site kind (CNY); only kinds used by the scenario are needed."""

    fast_charger: KindCost | None = None
    hydrogen: KindCost | None = None


class Coverage(Section):
    """Coverage rule: a demand cell counts as covered by a site within ``max_travel_min``."""

    max_travel_min: Pos


class Solver(Section):
    """Solver options.

    ``backend``: ``"highs"`` (arrays passed to HiGHS directly, default) or ``"pyomo:<solver>"``
    (the same model built as a Pyomo model and solved by that Pyomo solver, e.g.
    ``pyomo:appsi_highs``; much slower to build on large models).
    """

    time_limit_s: Pos | None = 60.0
    mip_gap: Annotated[float, Field(ge=0, lt=1)] = 1e-4
    threads: Annotated[int, Field(ge=1)] | None = None
    backend: str = "highs"

    @field_validator("backend")
    @classmethod
    def _backend(cls, v: str) -> str:
        if v != "highs" and not re.fullmatch(r"pyomo:\S+", v):
            raise ValueError("must be 'highs' or 'pyomo:<solver name>'")
        return v


class Outputs(Section):
    """Which output files ``siting run`` writes."""

    map: bool = True
    sites_geojson: bool = True
    summary_json: bool = True


class Phase(Section):
    """One build phase for ``siting compare``.

    ``budget_cny`` is cumulative: the total spent by the end of the phase. Sites built in a phase
    stay open in later ones.
    """

    name: str
    budget_cny: NonNeg


# ----------------------------------------------------------------------------- corridor


class StationSize(Section):
    """One station size option: daily capacity (kg/day) and build cost (CNY)."""

    size_kg_per_day: Pos
    cost_cny: NonNeg
    source: str = ""


class Fleet(Section):
    """Fuel use of a fleet: kg of hydrogen per 100 km (kWh/100 km for ``vehicle: bev``)."""

    kg_per_100km: Pos
    source: str = ""


class DemandPoint(Section):
    """A depot or venue with daily demand = vehicles × km_per_day × fleet kg/100 km / 100."""

    name: str
    node: str
    vehicles: NonNeg
    km_per_day: NonNeg
    fleet: str
    source: str = ""


class TripSpec(Section):
    """Which gravity trip sets to use, their totals (round trips/day), deterrence and fleets."""

    olympic: bool = True
    logistics: bool = True
    olympic_total_per_day: NonNeg = OLYMPIC_FCEV_TOTAL
    logistics_total_per_day: NonNeg = LOGISTICS_FCEV_TOTAL
    olympic_beta_per_km: NonNeg = 0.01
    logistics_beta_per_km: NonNeg = 0.02
    olympic_fleet: str | None = None
    logistics_fleet: str | None = None
    basis: str = ""


class ExistingStation(Section):
    """A station already built at a corridor node (kept open at no cost)."""

    node: str
    size_kg_per_day: Pos
    name: str = ""
    source: str = ""


class JointSpec(Section):
    """Joint siting with the area demand (fast chargers) of the scenario's charger sections.

    ``budget_split`` gives fractions of the budget per kind (``hydrogen``, ``fast_charger``;
    summing to 1) instead of one shared budget. ``weights`` weight each component's share in the
    objective (keys ``flow``, ``node``, ``fast_charger``; default 1 each = equal weights).
    ``colocation_saving_cny`` is saved when a fast charger and a hydrogen station are built
    within ``colocation_max_m`` of each other.
    """

    fast_chargers: bool = False
    budget_split: dict[Literal["hydrogen", "fast_charger"], NonNeg] | None = None
    weights: dict[Literal["flow", "node", "fast_charger"], NonNeg] = Field(default_factory=dict)
    colocation_saving_cny: NonNeg = 0.0
    colocation_max_m: Pos = 300.0

    @field_validator("budget_split")
    @classmethod
    def _split(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None and abs(sum(v.values()) - 1.0) > 1e-9:
            raise ValueError(f"fractions must sum to 1, got {sum(v.values())}")
        return v


class CorridorSection(Section):
    """The ``corridor:`` section (former name ``hydrogen:``): stations on the corridor roads.

    Two demand kinds are served by these stations: trip flows (round trips on the Olympic
    corridor / intercity roads, flow refuelling) and depot demand (``demand_points``, kg/day or
    kWh/day at depots and venues). ``vehicle: fcev`` plans hydrogen refuelling stations,
    ``vehicle: bev`` DC fast-charging stations (intercity charging). Capacitated stations: give
    ``station_sizes``; uncapacitated: give ``station_cost_cny``. ``joint.fast_chargers`` adds the
    area demand of the scenario's charger sections under the same budget.
    """

    vehicle: Literal["fcev", "bev"] = "fcev"
    range_km: Pos
    station_sizes: list[StationSize] = Field(default_factory=list)
    station_cost_cny: NonNeg | None = None
    #: Plugs of each uncapacitated fast-charging station (``vehicle: bev``) and their power (kW),
    #: reported per site (plugs, capacity_kw); the cost stays ``station_cost_cny``.
    station_plugs: Annotated[int, Field(ge=1)] | None = None
    station_plug_kw: Pos | None = None
    fleets: dict[str, Fleet] = Field(default_factory=dict)
    demand_points: list[DemandPoint] = Field(default_factory=list)
    max_travel_min: Pos = 15.0
    trips: TripSpec = Field(default_factory=TripSpec)
    candidate_kinds: list[str] = Field(default_factory=lambda: list(DEFAULT_CANDIDATE_KINDS))
    required: list[str] = Field(default_factory=list)
    forbidden: list[str] = Field(default_factory=list)
    existing: list[ExistingStation] = Field(default_factory=list)
    joint: JointSpec = Field(default_factory=JointSpec)
    whole_trips: bool = False
    beijing_venues_via_city: bool = True
    max_snap_km: Pos = 5.0
    corridor_dir: Path | None = None

    @field_validator("candidate_kinds")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        bad = sorted(set(v) - NODE_KINDS)
        if bad:
            raise ValueError(f"unknown node kind(s) {bad}; use {sorted(NODE_KINDS)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> CorridorSection:
        if bool(self.station_sizes) == (self.station_cost_cny is not None):
            raise ValueError("give exactly one of station_sizes (capacitated) or station_cost_cny")
        for i, p in enumerate(self.demand_points):
            if p.fleet not in self.fleets:
                raise ValueError(f"demand_points[{i}].fleet {p.fleet!r} is not in fleets")
        for name in ("olympic_fleet", "logistics_fleet"):
            f = getattr(self.trips, name)
            if f is not None and f not in self.fleets:
                raise ValueError(f"trips.{name} {f!r} is not in fleets")
            seg = name.removesuffix("_fleet")
            if self.station_sizes and getattr(self.trips, seg) and f is None:
                raise ValueError(f"trips.{name} is needed with station_sizes (fuel per km)")
        both = sorted(set(self.required) & set(self.forbidden))
        if both:
            raise ValueError(f"node(s) both required and forbidden: {both}")
        return self

    @property
    def capacitated(self) -> bool:
        """True when stations have sizes (kg/day)."""
        return bool(self.station_sizes)

    @property
    def station_kind(self) -> Kind:
        """Site kind of the corridor stations: ``hydrogen`` (fcev) or ``fast_charger`` (bev)."""
        return "hydrogen" if self.vehicle == "fcev" else "fast_charger"


#: Former name of :class:`CorridorSection`.
HydrogenSection = CorridorSection


class Scenario(Section):
    """A whole planning scenario (see ``scenarios/README.md`` for a commented example)."""

    name: str
    description: str = ""
    study_area: StudyArea = Field(default_factory=StudyArea)
    network: Network = Field(default_factory=Network)
    demand: Demand
    candidates: Candidates = Field(default_factory=Candidates)
    costs: Costs
    budget_cny: NonNeg
    coverage: Coverage
    solver: Solver = Field(default_factory=Solver)
    outputs: Outputs = Field(default_factory=Outputs)
    phases: list[Phase] = Field(default_factory=list)
    #: Plug sizing rule (:class:`Sizing`); absent = ``daily_energy``.
    sizing: Sizing = Field(default_factory=Sizing)
    #: Grid limits (:class:`Grid`).
    grid: Grid = Field(default_factory=Grid)
    #: Corridor stations for trip flows and depot demand, joint siting (:mod:`siting.demand_kinds`);
    #: the YAML key is ``corridor:``, or its former name ``hydrogen:``.
    corridor: CorridorSection | None = Field(
        default=None, validation_alias=AliasChoices(CORRIDOR_KEY, CORRIDOR_KEY_OLD)
    )
    #: The scenario file (set by :func:`load_scenario`; None for scenarios built in code).
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _one_corridor_key(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and CORRIDOR_KEY in raw and CORRIDOR_KEY_OLD in raw:
            raise _FieldError(
                (CORRIDOR_KEY_OLD,),
                f"give the section once: '{CORRIDOR_KEY}:' (or its former name "
                f"'{CORRIDOR_KEY_OLD}:'), not both",
            )
        return raw

    @model_validator(mode="after")
    def _costs_for_kinds(self) -> Scenario:
        kinds = {self.candidates.kind} | {f.kind for f in self.candidates.site_files}
        for i, f in enumerate(self.candidates.site_files):
            if getattr(self.costs, f.kind) is None:
                raise _FieldError(
                    ("candidates", "site_files", i, "kind"), f"no costs.{f.kind} section given"
                )
        for kind in sorted(kinds):
            if getattr(self.costs, kind) is None:
                raise _FieldError(("costs", kind), f"missing: candidates of kind {kind} need it")
        return self

    @property
    def base_dir(self) -> Path:
        """Folder against which the scenario's relative paths were resolved."""
        return self.path.parent if self.path is not None else Path.cwd()

    @property
    def hydrogen(self) -> CorridorSection | None:
        """Former name of :attr:`corridor` (kept for code written against it)."""
        return self.corridor

    def cost_of(self, kind: str) -> KindCost:
        """The :class:`KindCost` of site kind ``kind``."""
        cost = getattr(self.costs, kind)
        if cost is None:
            raise ScenarioError(f"{self.path}: costs.{kind}: missing")
        return cost


# ----------------------------------------------------------------------------- loading

# one-line messages and the strict file validation live in siting._strict (shared by sections)
_FieldError = FieldError
_loc = loc_text
_error_line = error_line


def _message(err: dict[str, Any]) -> tuple[tuple[Any, ...], str]:
    """(field path, one-line text) of one pydantic error (see :mod:`siting._strict`)."""
    return _strict._message(err)


def _check_districts(scn: Scenario, file: Path) -> None:
    names = scn.study_area.districts
    if not names:
        return
    from siting import data

    try:
        table = data.district_table(file.resolve())
    except Exception as exc:  # the embedded data itself is missing
        raise ScenarioError(_error_line(file, ("study_area", "districts"), str(exc))) from exc
    known = set(table["district_code"].astype(str))
    known |= set(table["district_en"].str.lower()) | set(table["district_zh"])
    for i, name in enumerate(names):
        if str(name).strip().lower() not in known and str(name).strip() not in known:
            raise ScenarioError(
                _error_line(
                    file,
                    ("study_area", "districts", i),
                    f"unknown district {name!r} (use an English or Chinese name or a code from "
                    "the 2020 census table, e.g. 'Dongcheng', '东城区' or '110101')",
                )
            )


def _check_sizing(scn: Scenario, file: Path) -> None:
    """Named time-of-day profiles exist (one-line error naming the field)."""
    from siting import queueing
    from siting._errors import SitingError

    if scn.sizing.rule == "service_level" or scn.corridor is not None:
        try:
            table = queueing.load_profiles(_profile_file(file))
        except SitingError as exc:
            raise ScenarioError(_error_line(file, ("sizing",), str(exc))) from exc
        named = [
            (("demand", "segments", k, "profile"), seg.profile or k)
            for k, seg in scn.demand.segments.items()
            if not isinstance(seg.profile, list)
        ]
        if isinstance(scn.sizing.hydrogen.profile, str):
            named.append((("sizing", "hydrogen", "profile"), scn.sizing.hydrogen.profile))
        for loc, name in named:
            if name not in table:
                raise ScenarioError(_error_line(file, loc, (
                    f"no profile named {name!r} in {queueing.PROFILE_FILE} (known: "
                    f"{', '.join(sorted(table))}); name one or give 24 shares"
                )))  # fmt: skip


def _profile_file(file: Path) -> Path:
    from siting import data, queueing

    return data.data_path(queueing.PROFILE_FILE, file.resolve())


def parse_scenario(raw: Any, *, file: str | Path = "<scenario>", base_dir: Path | None = None):
    """Validate an already-parsed scenario mapping.

    Parameters
    ----------
    raw
        The mapping read from YAML.
    file
        Name used in error messages.
    base_dir
        Folder against which relative paths are resolved (default: the current folder).

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        One line ``<file>: <field.path>: <what is wrong>``.
    """
    if not isinstance(raw, dict):
        kind = "empty" if raw is None else f"{_strict.kind_of(raw)}, not a mapping"
        raise ScenarioError(f"{file}: (top level): the scenario is {kind}")
    return _strict.validate(Scenario, raw, file=file, context={"base_dir": base_dir or Path.cwd()})


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file.

    Parameters
    ----------
    path
        The scenario file; relative paths inside it are resolved against its folder.

    Returns
    -------
    Scenario
        The validated scenario, with ``path`` set to the absolute file path.

    Raises
    ------
    ScenarioError
        On any problem, with a one-line message ``<file>: <field.path>: <what is wrong>``
        (YAML syntax errors name the line instead of a field).
    """
    file = Path(path)
    raw = load_yaml(file, "scenario file")
    scn = parse_scenario(raw, file=file, base_dir=file.resolve().parent)
    _check_districts(scn, file)
    _check_sizing(scn, file)
    scn.path = file.resolve()
    return scn


def parse_corridor_section(
    raw: Any,
    *,
    file: str | Path = "<scenario>",
    base_dir: Path | None = None,
    key: str = CORRIDOR_KEY,
) -> CorridorSection:
    """Validate a ``corridor:`` (or ``hydrogen:``) mapping on its own.

    Parameters
    ----------
    raw : mapping
        The section as read from YAML.
    file : str or Path
        Name used in messages.
    base_dir : Path, optional
        Folder for relative paths (``corridor_dir``).
    key : str
        Section name used in messages (``corridor`` or ``hydrogen``).

    Returns
    -------
    CorridorSection

    Raises
    ------
    ScenarioError
        One line ``<file>: <key>.<field>: <what is wrong>``.
    """
    sec = _strict.validate(
        CorridorSection,
        raw,
        file=file,
        context={"base_dir": base_dir or Path.cwd()},
        prefix=(key,),
    )
    if sec.corridor_dir is not None and not sec.corridor_dir.is_absolute() and base_dir:
        sec.corridor_dir = Path(base_dir) / sec.corridor_dir
    return sec


def load_corridor_section(path: str | Path) -> CorridorSection:
    """Read only the ``corridor:`` (or ``hydrogen:``) section of a scenario YAML file.

    Raises
    ------
    ScenarioError
        File unreadable, no such section, or an invalid value (one line).
    """
    p = Path(path)
    raw = load_yaml(p, "scenario file")
    key = next((k for k in (CORRIDOR_KEY, CORRIDOR_KEY_OLD) if isinstance(raw, dict) and k in raw),
               None)  # fmt: skip
    if key is None:
        raise ScenarioError(f"{p}: {CORRIDOR_KEY}: missing section")
    return parse_corridor_section(raw[key], file=p, base_dir=p.resolve().parent, key=key)
