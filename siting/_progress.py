"""Progress reports and Ctrl-C for long work: the plumbing between the stages and the CLI.

A stage does not know who is watching. It calls :func:`status` with a short text ("reading the
roads of beijing.osm.pbf"), and :func:`siting.models._milp.solve_milp` reports the solver's state
(:class:`SolveState`: elapsed seconds, incumbent, best bound, gap) from HiGHS' callbacks. Whoever
runs the pipeline (the CLI) installs a :class:`Monitor` with :func:`monitoring`; without one, the
calls cost nothing.

Ctrl-C: outside the solver Python raises ``KeyboardInterrupt`` as usual. During a solve, HiGHS runs
in a worker thread while the calling thread waits; a ``KeyboardInterrupt`` there sets
:attr:`Monitor.interrupt`, which the HiGHS interrupt callbacks (simplex, IPM, MIP) pass on to the
solver, so it stops within its next callback (measured well under a second). The solve then
returns status ``interrupted`` with the best plan found so far, or raises ``KeyboardInterrupt``
when it has none. A solve asked to start after an interrupt raises ``KeyboardInterrupt`` at once.

This module imports nothing from siting, so every stage may use it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class SolveState:
    """What a running MIP solve has reached.

    Attributes
    ----------
    model : str
        The model's name (e.g. ``max_coverage``).
    elapsed_s : float
        Seconds since the solver started.
    incumbent : float or None
        Objective of the best plan found so far (model units), None before the first.
    bound : float or None
        Best proven bound on the optimum (model units).
    gap : float or None
        Relative gap between incumbent and bound (0.01 = 1 %), None before the first plan.
    nodes : int
        Branch-and-bound nodes explored.
    """

    model: str
    elapsed_s: float
    incumbent: float | None
    bound: float | None
    gap: float | None
    nodes: int = 0


class Monitor:
    """Receives progress; carries the interrupt flag of one run.

    Parameters
    ----------
    on_status
        Called with a short text when a stage reports what it is doing.
    on_solve
        Called with a :class:`SolveState` when the solver finds a better plan, and about every
        ``solve_every_s`` seconds while it runs.
    solve_every_s
        Least seconds between two periodic solver reports (improvements are always reported).
    """

    def __init__(
        self,
        on_status: Callable[[str], None] | None = None,
        on_solve: Callable[[SolveState], None] | None = None,
        *,
        solve_every_s: float = 1.0,
    ) -> None:
        self.on_status = on_status
        self.on_solve = on_solve
        self.solve_every_s = solve_every_s
        self.interrupt = threading.Event()
        self._last_solve_report = 0.0

    def report_solve(self, state: SolveState, *, improved: bool = False) -> None:
        """Pass ``state`` on (throttled to ``solve_every_s`` unless ``improved``)."""
        now = time.monotonic()
        if self.on_solve is None:
            return
        if improved or now - self._last_solve_report >= self.solve_every_s:
            self._last_solve_report = now
            self.on_solve(state)


_current: ContextVar[Monitor | None] = ContextVar("siting_monitor", default=None)


@contextmanager
def monitoring(monitor: Monitor) -> Iterator[Monitor]:
    """Install ``monitor`` for the calls made inside the block."""
    token = _current.set(monitor)
    try:
        yield monitor
    finally:
        _current.reset(token)


def current() -> Monitor | None:
    """The installed monitor, or None."""
    return _current.get()


def status(text: str) -> None:
    """Report what the current stage is doing (no-op without a monitor)."""
    m = _current.get()
    if m is not None and m.on_status is not None:
        m.on_status(text)


def interrupted() -> bool:
    """True once Ctrl-C was pressed during a solve of this run."""
    m = _current.get()
    return m is not None and m.interrupt.is_set()


_solver_threads: list[threading.Thread] = []


def register_solver_thread(thread: threading.Thread) -> None:
    """Remember a solver worker thread (see :func:`solver_threads_alive`)."""
    _solver_threads[:] = [t for t in _solver_threads if t.is_alive()]
    _solver_threads.append(thread)


def solver_threads_alive() -> bool:
    """True while a solver abandoned after Ctrl-C is still winding down in its thread.

    The process must then end with ``os._exit`` (after flushing its streams): the interpreter's
    normal shutdown would wait on, or abort in, the solver's native threads.
    """
    return any(t.is_alive() for t in _solver_threads)
