"""What the command-line modules share: the stderr console and the logging setup.

:mod:`siting.cli` and the ``siting compare`` command in :mod:`siting.compare` both use it, so
that neither imports the other's module for it.
"""

from __future__ import annotations

import logging
import logging.handlers

from rich.console import Console
from rich.logging import RichHandler

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
