"""The one result type every location model returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from siting.models._milp import Status


@dataclass
class Solution:
    """Result of a location model.

    Attributes
    ----------
    status : {"optimal", "time_limit", "infeasible"}
        ``time_limit`` means the best plan found when the limit was hit (see ``gap``).
    objective : float
        Objective value of the returned plan, in the model's units (NaN when infeasible).
    bound : float
        Best proven bound on the optimum (equals ``objective`` when optimal).
    gap : float
        Relative gap ``|objective - bound| / |objective|`` (0 when optimal, inf with no plan).
    open : ndarray of int
        Indices of the sites in the plan, ascending.
    assignment : ndarray or scipy.sparse matrix, optional
        Model-specific: for p-median / facility location the site serving each demand point
        (int array, -1 = unserved) or, for split demand, a sparse demand×site matrix of the served
        fraction; for coverage models a bool array "demand point covered".
    seconds : float
        Wall-clock seconds in the solver (including hand-off).
    build_seconds : float
        Wall-clock seconds spent building the model arrays.
    message : str
        Why a model is infeasible where that can be told, else the solver's status text.
    details : dict
        Further model-specific results (e.g. ``modules`` = plugs per site).
    """

    status: Status
    objective: float
    bound: float
    gap: float
    open: np.ndarray
    assignment: np.ndarray | sp.spmatrix | None = None
    seconds: float = 0.0
    build_seconds: float = 0.0
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def is_feasible(self) -> bool:
        """True when the solution holds a plan (optimal or best found within the time limit)."""
        return self.status != "infeasible"

    @classmethod
    def infeasible(
        cls, message: str, *, seconds: float = 0.0, build_seconds: float = 0.0
    ) -> Solution:
        """An infeasible result with its reason."""
        return cls(
            status="infeasible",
            objective=float("nan"),
            bound=float("nan"),
            gap=float("inf"),
            open=np.zeros(0, dtype=int),
            seconds=seconds,
            build_seconds=build_seconds,
            message=message,
        )
