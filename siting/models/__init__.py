"""Facility-location models built from arrays and solved by HiGHS (Pyomo export available)."""

from siting.models._milp import (
    Milp,
    MilpBuilder,
    MilpResult,
    solve_milp,
    solve_with_pyomo,
    to_pyomo,
)
from siting.models._solution import Solution
from siting.models.frlm import Trips, add_flow_refuelling, flow_refuelling

__all__ = [
    "Milp",
    "MilpBuilder",
    "MilpResult",
    "Solution",
    "Trips",
    "add_flow_refuelling",
    "flow_refuelling",
    "solve_milp",
    "solve_with_pyomo",
    "to_pyomo",
]
