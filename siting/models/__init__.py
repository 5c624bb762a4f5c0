"""Facility-location models built from arrays and solved by HiGHS (Pyomo export available)."""

from siting.models._milp import (
    Milp,
    MilpBuilder,
    MilpResult,
    ModelHandle,
    solve_milp,
    solve_with_pyomo,
    to_pyomo,
)
from siting.models._solution import Solution
from siting.models.coverage import (
    add_max_coverage,
    add_set_cover,
    build_max_coverage,
    build_set_cover,
    max_coverage,
    set_cover,
)
from siting.models.facility import (
    add_facility_location,
    build_facility_location,
    facility_location,
)
from siting.models.frlm import FlowRefuellingHandle, Trips, add_flow_refuelling, flow_refuelling
from siting.models.pmedian import add_p_median, build_p_median, p_median

__all__ = [
    "FlowRefuellingHandle",
    "Milp",
    "MilpBuilder",
    "MilpResult",
    "ModelHandle",
    "Solution",
    "Trips",
    "add_facility_location",
    "add_flow_refuelling",
    "add_max_coverage",
    "add_p_median",
    "add_set_cover",
    "build_facility_location",
    "build_max_coverage",
    "build_p_median",
    "build_set_cover",
    "facility_location",
    "flow_refuelling",
    "max_coverage",
    "p_median",
    "set_cover",
    "solve_milp",
    "solve_with_pyomo",
    "to_pyomo",
]
