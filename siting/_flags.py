"""Command-line errors as one line: bad flags, missing arguments, and anything else.

:class:`OneLineErrorsGroup` is the click group class of the ``siting`` app. It runs click in
non-standalone mode and turns what click would print as a usage box into one line on stderr:

* a bad flag value, a missing argument, an unknown option or command (click's usage errors):
  ``error: --workers: 0 is not in the range x>=1`` — exit code 2;
* a :class:`~siting.SitingError` that escaped a command: ``error: <message>`` — exit code 2;
* an :class:`OSError` (a file the system refused): ``error: <file>: <reason>`` — exit code 2;
* anything else is a bug: ``error: internal error: <type>: <message>`` — exit code 1, no
  traceback unless the environment sets ``SITING_DEBUG=1``.

Help (``--help``, or no arguments) is printed as click prints it.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import typer.core

from siting._errors import SitingError

try:  # typer >= 0.26 carries its own copy of click
    from typer import _click as click
    from typer._click import core as _click_core
except ImportError:  # pragma: no cover - older typer uses click itself
    import click  # type: ignore[no-redef]
    import click.core as _click_core  # type: ignore[no-redef]

_exc = click.exceptions
_Abort = getattr(_exc, "Abort", None) or _click_core.Abort

__all__ = ["EXIT_BUG", "EXIT_USER_ERROR", "OneLineErrorsGroup", "click_error_line", "os_error_line"]

EXIT_USER_ERROR = 2
EXIT_BUG = 1

log = logging.getLogger(__name__)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _is_argument(param: Any) -> bool:
    return getattr(param, "param_type_name", "") == "argument"


def _flag_of(param: Any) -> str | None:
    if param is None:
        return None
    opts = [o for o in getattr(param, "opts", []) if o.startswith("--")] or list(
        getattr(param, "opts", [])
    )
    if _is_argument(param) or not opts:
        name = getattr(param, "name", None) or "argument"
        return str(name).upper()
    return max(opts, key=len)


def click_error_line(exc: click.ClickException) -> str:
    """One line for a click error (see :func:`_click_error_line`); never raises."""
    try:
        return _click_error_line(exc)
    except Exception:  # formatting must not turn a usage error into a crash
        return _one_line(getattr(exc, "message", "") or type(exc).__name__)


def _click_error_line(exc: click.ClickException) -> str:
    """One line for a click error: ``<flag>: <problem>`` where a flag is involved.

    Parameters
    ----------
    exc : click.ClickException

    Returns
    -------
    str
    """
    if isinstance(exc, _exc.NoSuchOption):
        text = f"{exc.option_name}: no such option"
        if exc.possibilities:
            text += f" (did you mean {', '.join(sorted(exc.possibilities))}?)"
        return text
    if isinstance(exc, _exc.MissingParameter):
        flag = _flag_of(exc.param)
        kind = "argument" if _is_argument(exc.param) else "option"
        usage = ""
        if exc.ctx is not None:
            usage = f" (usage: {_one_line(exc.ctx.get_usage()).removeprefix('Usage: ')})"
        return f"{flag}: missing {kind}{usage}"
    if isinstance(exc, _exc.BadParameter):
        flag = _flag_of(exc.param) or (exc.param_hint if isinstance(exc.param_hint, str) else "")
        flag = str(flag).strip("'\"") or "argument"
        return f"{flag}: {_one_line(exc.message)}"
    if isinstance(exc, _exc.BadOptionUsage):
        msg = _one_line(exc.message)
        if msg.startswith("Option '") and "requires an argument" in msg:
            return f"{exc.option_name}: needs a value"
        return msg
    return _one_line(exc.format_message())


def os_error_line(exc: OSError) -> str:
    """One line for a refused file operation: ``<file>: <reason>``."""
    reason = exc.strerror or _one_line(str(exc)) or type(exc).__name__
    names = [n for n in (exc.filename, exc.filename2) if n is not None]
    where = " -> ".join(os.fsdecode(n) if isinstance(n, bytes) else str(n) for n in names)
    return f"{where}: {reason}" if where else reason


def release_held_logs(success: bool) -> None:
    """Show the warnings held back during a command (on success) or drop them (on failure).

    Parameters
    ----------
    success : bool
    """
    for h in list(logging.getLogger().handlers):
        if getattr(h, "_siting_hold", False):
            if success:
                h.flush()
            else:
                h.buffer.clear()  # type: ignore[attr-defined]


def _say(text: str) -> None:
    click.echo(f"error: {_one_line(text)}", err=True)


class OneLineErrorsGroup(typer.core.TyperGroup):
    """Typer group whose every failure is one line on stderr (see the module docstring)."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        code: int
        try:
            rv = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
            code = rv if isinstance(rv, int) else 0
        except _exc.NoArgsIsHelpError as exc:
            exc.show()
            code = exc.exit_code
        except _Abort:
            _say("aborted")
            code = 130
        except click.ClickException as exc:
            _say(click_error_line(exc))
            code = EXIT_USER_ERROR if isinstance(exc, _exc.UsageError) else exc.exit_code
        except SitingError as exc:
            _say(str(exc))
            code = EXIT_USER_ERROR
        except OSError as exc:
            _say(os_error_line(exc))
            code = EXIT_USER_ERROR
        except Exception as exc:  # a bug: still one line, unless asked for the traceback
            if os.environ.get("SITING_DEBUG"):
                raise
            log.debug("internal error", exc_info=True)
            _say(
                f"internal error: {type(exc).__name__}: {_one_line(str(exc))[:300]} "
                "(a bug in siting; set SITING_DEBUG=1 to see the traceback)"
            )
            code = EXIT_BUG
        release_held_logs(code == 0)
        if not standalone_mode:
            return code
        sys.exit(code)
