"""What the command-line modules share: the stderr console and the logging setup.

:mod:`siting.cli` and the ``siting compare`` command in :mod:`siting.compare` both use it, so
that neither imports the other's module for it.
"""

from __future__ import annotations

import logging

from rich.console import Console
from rich.logging import RichHandler

#: Console on stderr for progress, notes and error lines.
err = Console(stderr=True)


def setup_logging(verbose: bool) -> None:
    """Log through rich on stderr: INFO with ``verbose``, else WARNING (replaces our handler)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_siting", False):
            root.removeHandler(h)
    handler = RichHandler(console=err, show_path=False, show_time=False, markup=False)
    handler._siting = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    level = logging.INFO if verbose else logging.WARNING
    root.setLevel(level)
    logging.getLogger("siting").setLevel(level)
