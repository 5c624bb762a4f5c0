"""What the command-line modules share: the stderr console, logging setup, progress, Ctrl-C.

:mod:`siting.cli` and the ``siting compare`` command in :mod:`siting.compare` both use it, so
that neither imports the other's module for it.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import threading
import time
from typing import Any, NoReturn

from rich.console import Console
from rich.logging import RichHandler

from siting._progress import Monitor, SolveState, monitoring, solver_threads_alive

#: Console on stderr for progress, notes and error lines.
err = Console(stderr=True)


def setup_logging(verbose: bool) -> None:
    """Log through rich on stderr: INFO with ``verbose``, else WARNING (replaces our handler).

    Without ``verbose`` the warnings are held back and shown only when the command succeeds
    (:func:`siting._flags.release_held_logs`), so that a failure prints nothing but its one
    error line.
    """
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_siting", False):
            root.removeHandler(h)
    handler: logging.Handler = RichHandler(
        console=err, show_path=False, show_time=False, markup=False
    )
    if not verbose:
        handler = logging.handlers.MemoryHandler(
            capacity=10_000, flushLevel=logging.CRITICAL + 1, target=handler, flushOnClose=False
        )
        handler._siting_hold = True  # type: ignore[attr-defined]
    handler._siting = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    level = logging.INFO if verbose else logging.WARNING
    root.setLevel(level)
    logging.getLogger("siting").setLevel(level)


# ----------------------------------------------------------------------------- progress

#: What each pipeline stage is doing, as the user reads it.
STAGE_LABELS = {
    "network": "loading the road network",
    "demand": "building the demand grid",
    "candidates": "placing candidate sites",
    "travel": "computing travel times",
    "trip_flows": "routing corridor trips, placing corridor stations",
    "depots": "reading depot demand",
    "model": "solving the model",
    "plan": "assembling the plan",
    "outputs": "writing outputs",
}

#: Exit code of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130
#: Set by the console entry point: after Ctrl-C the process ends with ``os._exit`` once its
#: streams are flushed, skipping the interpreter's teardown of a large heap (about a second).
FAST_EXIT_ON_INTERRUPT = False


def _num(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def describe_solve(state: SolveState) -> str:
    """``12 s, incumbent 2,441,539, bound 2,531,111, gap 3.67%`` (what the solver reached)."""
    gap = "—" if state.gap is None else f"{state.gap:.2%}"
    return (
        f"{state.elapsed_s:.0f} s, incumbent {_num(state.incumbent)}, "
        f"bound {_num(state.bound)}, gap {gap}"
    )


class Reporter:
    """Progress of one command on stderr, with each stage's real name.

    On a terminal a live status line (rich) shows the stage, its elapsed seconds and, while
    solving, the incumbent, best bound and gap from HiGHS' callbacks. When stderr is not a
    terminal (a pipe, a log file) the same shows as timestamped lines: one per stage, one per
    solver improvement, and a ``still …`` line after ``heartbeat_s`` seconds without any.

    Parameters
    ----------
    title
        Shown before the first stage (e.g. the scenario name).
    timings
        Receives the seconds of each finished stage.
    live
        Force the live status line (True) or lines (False); default: stderr is a terminal.
    heartbeat_s
        Seconds without output after which line mode says that the stage is still running.
    quiet_s
        Line mode only: a stage's lines start once it has run this long (0: at once). ``validate``
        uses it so that a quick check prints nothing but its result (or its one error line),
        while a city-size one shows its long stages.
    """

    def __init__(
        self,
        title: str,
        timings: dict[str, float] | None = None,
        *,
        live: bool | None = None,
        heartbeat_s: float = 5.0,
        quiet_s: float = 0.0,
    ) -> None:
        self.title = title
        self.timings = timings if timings is not None else {}
        self.live = err.is_terminal if live is None else live
        self.heartbeat_s = heartbeat_s
        self.quiet_s = quiet_s
        self._announced = quiet_s <= 0
        self.stage_name: str | None = None
        self.stage_t0 = time.perf_counter()
        self.detail = ""
        self._last_line = time.monotonic()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._status: Any = None
        self.monitor = Monitor(
            on_status=self.note, on_solve=self.solve, solve_every_s=1.0 if self.live else 2.0
        )

    # -- callbacks
    def stage(self, name: str) -> None:
        """The pipeline's ``progress(stage)`` callback."""
        with self._lock:
            self._close_stage()
            self.stage_name, self.stage_t0, self.detail = name, time.perf_counter(), ""
            self._announced = self.quiet_s <= 0
        self._show(f"{self.label} …", line=True)

    def note(self, text: str) -> None:
        """A stage's own status text (e.g. what part of a file it is reading)."""
        self.detail = text
        self._show(f"{self.label}: {text}", line=True)

    def solve(self, state: SolveState) -> None:
        """A solver report (from :class:`siting._progress.Monitor`)."""
        self.detail = describe_solve(state)
        self._show(f"{self.label}: {self.detail}", line=True)

    # -- rendering
    @property
    def label(self) -> str:
        """The current stage as the user reads it."""
        if self.stage_name is None:
            return f"{self.title}: starting"
        return STAGE_LABELS.get(self.stage_name, self.stage_name.replace("_", " "))

    def elapsed(self) -> float:
        """Seconds since the current stage started."""
        return time.perf_counter() - self.stage_t0

    def _show(self, text: str, *, line: bool) -> None:
        if self.live:
            if self._status is not None:
                self._status.update(f"{text} [{self.elapsed():.0f} s]")
        elif line and self._announced:
            self._line(text)

    def _line(self, text: str) -> None:
        self._last_line = time.monotonic()
        stamp = time.strftime("%H:%M:%S")
        err.print(f"{stamp} {text}", markup=False, highlight=False, soft_wrap=True)

    def _tick(self) -> None:
        while not self._stop.wait(0.2):
            with self._lock:
                if self.stage_name is None:
                    continue
                if self.live:
                    detail = f": {self.detail}" if self.detail else " …"
                    self._show(f"{self.label}{detail}", line=False)
                elif not self._announced:
                    if self.elapsed() >= self.quiet_s:
                        self._announced = True
                        detail = f": {self.detail}" if self.detail else " …"
                        self._line(f"{self.label}{detail} ({self.elapsed():.0f} s)")
                elif time.monotonic() - self._last_line >= self.heartbeat_s:
                    self._line(f"still {self.label} ({self.elapsed():.0f} s)")

    def _close_stage(self) -> None:
        if self.stage_name is not None:
            self.timings[self.stage_name] = time.perf_counter() - self.stage_t0

    # -- context
    def __enter__(self) -> Reporter:
        if self.live:
            self._status = err.status(f"{self.title}: starting …")
            self._status.__enter__()
        elif self._announced:
            self._line(f"{self.title}: starting")
        self._ticker = threading.Thread(target=self._tick, name="siting-progress", daemon=True)
        self._ticker.start()
        self._monitoring = monitoring(self.monitor)
        self._monitoring.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._monitoring.__exit__(*exc)
        self._stop.set()
        self._ticker.join()
        with self._lock:
            if exc[0] is None:
                self._close_stage()
        if self._status is not None:
            self._status.__exit__(*exc)
            self._status = None


def exit_interrupted(message: str) -> NoReturn:
    """Say ``interrupted: <message>`` on stderr and end the process with exit code 130.

    When a solver abandoned after Ctrl-C is still winding down in its native thread (a normal
    shutdown would wait on it or abort), or when running as the ``siting`` command
    (:data:`FAST_EXIT_ON_INTERRUPT`), the process ends with ``os._exit`` after flushing its
    streams; otherwise (e.g. inside a test runner) through ``typer.Exit``.
    """
    import typer

    err.print(f"interrupted: {message}", markup=False, highlight=False, soft_wrap=True)
    if solver_threads_alive() or FAST_EXIT_ON_INTERRUPT:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    raise typer.Exit(EXIT_INTERRUPTED)
