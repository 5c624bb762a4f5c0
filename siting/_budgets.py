"""Parse budget lists such as ``20M,50M,100M`` or ``10M:200M:10`` (CNY) and label them.

Grammar of ``--budgets`` (comma-separated items, all amounts in CNY):

* an amount: a plain number (``20000000``, ``2e7``, ``20_000_000``) or a number with a
  suffix ``K`` (thousand), ``M`` (million) or ``B`` (billion), case-insensitive: ``500K``,
  ``20M``, ``1.5B``;
* a range ``START:STOP:N`` with a bare whole number ``N >= 2``: ``N`` evenly spaced budgets
  from ``START`` to ``STOP``, both included (``10M:200M:10`` is 10 budgets, 10M, 31.11M, ...,
  200M, like ``numpy.linspace``);
* a range ``START:STOP:+STEP`` (or a step with a suffix, ``10M:200M:10M``): ``START``,
  ``START+STEP``, ... up to ``STOP`` (included when it falls on the step).

Budgets are rounded to whole CNY, sorted ascending and de-duplicated. Anything else raises
:class:`BudgetError` with one line naming the flag and the bad item.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import numpy as np

from siting._errors import SitingError

_UNITS = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}
_AMOUNT = re.compile(
    r"^\s*([0-9][0-9_]*(?:\.[0-9_]*)?(?:e[+-]?[0-9]+)?|\.[0-9]+)\s*([kmb]?)\s*$", re.I
)
_MAX_BUDGETS = 1000

HELP = (
    "budgets in CNY, comma-separated: amounts like 20M, 1.5B, 500K or 20000000, and ranges "
    "START:STOP:N (N evenly spaced budgets, both ends included, e.g. 10M:200M:10) or "
    "START:STOP:+STEP (e.g. 10M:200M:+20M)"
)


class BudgetError(SitingError):
    """A ``--budgets`` value cannot be read (bad number, suffix, range or negative amount)."""


#: Largest amount accepted (CNY), the bound on every number of a scenario file.
MAX_AMOUNT = 1e15


def _show(text: object) -> str:
    """``repr`` of a user's value, shortened for a one-line message."""
    shown = repr(text)
    return shown if len(shown) <= 42 else shown[:38] + "...'"


def _amount(token: str, flag: str, item: str) -> float:
    m = _AMOUNT.match(token)
    if not m:
        raise BudgetError(
            f"{flag}: cannot read {_show(item)}: {_show(token.strip())} is not an amount in CNY "
            "(use e.g. 20M, 1.5B, 500K or 20000000)"
        )
    value = float(m.group(1).replace("_", "")) * _UNITS[m.group(2).lower()]
    if not math.isfinite(value) or value > MAX_AMOUNT:
        raise BudgetError(
            f"{flag}: cannot read {_show(item)}: amount too large (at most {MAX_AMOUNT:g} CNY)"
        )
    return value


def _range(item: str, flag: str) -> list[float]:
    parts = item.split(":")
    if len(parts) != 3:
        raise BudgetError(
            f"{flag}: cannot read {_show(item)}: a range is START:STOP:N (N budgets) or "
            "START:STOP:+STEP, e.g. 10M:200M:10"
        )
    start = _amount(parts[0], flag, item)
    stop = _amount(parts[1], flag, item)
    if stop < start:
        raise BudgetError(f"{flag}: cannot read {_show(item)}: STOP is smaller than START")
    third = parts[2].strip()
    is_step = third.startswith("+") or bool(re.search(r"[kmb]$", third, re.I))
    if is_step:
        step = _amount(third.removeprefix("+"), flag, item)
        if step <= 0:
            raise BudgetError(f"{flag}: cannot read {_show(item)}: the step must be positive")
        count = (stop - start) / step * (1 + 1e-12)
        if not math.isfinite(count) or count >= _MAX_BUDGETS:
            raise BudgetError(
                f"{flag}: {_show(item)}: a step of {_show(third.removeprefix('+').strip())} "
                f"gives more than {_MAX_BUDGETS} budgets"
            )
        n = math.floor(count) + 1
        if n > _MAX_BUDGETS:
            raise BudgetError(f"{flag}: {_show(item)} gives {n} budgets; at most {_MAX_BUDGETS}")
        return [start + i * step for i in range(n)]
    if not re.fullmatch(r"[0-9]+", third):
        raise BudgetError(
            f"{flag}: cannot read {_show(item)}: the third part of a range is a whole number of "
            "budgets (e.g. 10) or a step with '+' (e.g. +20M)"
        )
    n = int(third)
    if n < 2 and start != stop:
        raise BudgetError(f"{flag}: cannot read {_show(item)}: a range needs at least 2 budgets")
    if n > _MAX_BUDGETS:
        raise BudgetError(f"{flag}: {_show(item)} asks for {n} budgets; at most {_MAX_BUDGETS}")
    return list(np.linspace(start, stop, max(n, 1)))


def parse_amount(text: str, flag: str = "--budget") -> float:
    """Read one amount in CNY (``20M``, ``1.5B``, ``500K``, ``20000000``, ``2e7``).

    Parameters
    ----------
    text : str
    flag : str
        Name used in error messages.

    Returns
    -------
    float
        The amount in CNY (finite, >= 0).

    Raises
    ------
    BudgetError
        One line naming ``flag``: not an amount, negative, or not finite.
    """
    item = str(text).strip()
    if not item:
        raise BudgetError(f"{flag}: empty value (e.g. 20M)")
    if item.startswith("-"):
        raise BudgetError(f"{flag}: cannot read {_show(item)}: a budget cannot be negative")
    return _amount(item.removeprefix("+"), flag, item)


def parse_budgets(text: str | Iterable[str | float], flag: str = "--budgets") -> list[float]:
    """Read a budget list.

    Parameters
    ----------
    text : str or iterable of str / float
        ``"20M,50M,100M"``, ``"10M:200M:10"``, ``"10M:200M:+20M"`` or a mix (grammar in the
        module docstring); an iterable is read item by item (numbers are taken as CNY).
    flag : str
        Name used in error messages.

    Returns
    -------
    list of float
        Budgets in CNY, whole yuan, ascending, without duplicates.

    Raises
    ------
    BudgetError
        One line naming ``flag`` and the bad item.
    """
    if isinstance(text, str):
        items = text.split(",")
    else:
        items = [str(x) for x in text]
    values: list[float] = []
    for raw in items:
        item = raw.strip()
        if not item:
            if isinstance(text, str) and text.strip() == "":
                raise BudgetError(f"{flag}: no budgets given (e.g. 20M,50M,100M)")
            raise BudgetError(f"{flag}: empty item in {_show(text)} (a stray comma?)")
        if item.startswith("-"):
            raise BudgetError(f"{flag}: cannot read {_show(item)}: budgets cannot be negative")
        values.extend(_range(item, flag) if ":" in item else [_amount(item, flag, item)])
    out = sorted({round(v) for v in values})
    if len(out) > _MAX_BUDGETS:
        raise BudgetError(f"{flag}: {len(out)} budgets; at most {_MAX_BUDGETS}")
    return [float(v) for v in out]


def _fmt(value: float, digits: int) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            text = f"{value / scale:.{digits}f}".rstrip("0").rstrip(".")
            return text + unit
    return f"{value:.0f}"


def budget_label(value: float, digits: int = 2) -> str:
    """Short label of a budget in CNY: ``20M``, ``31.11M``, ``1.5B``, ``500K``.

    Parameters
    ----------
    value : float
        Budget (CNY).
    digits : int
        Decimals kept before trailing zeros are stripped.

    Returns
    -------
    str
    """
    return _fmt(value, digits)


def budget_labels(values: Sequence[float]) -> list[str]:
    """Labels for several budgets, with as many decimals as needed to keep them distinct.

    Parameters
    ----------
    values : sequence of float
        Distinct budgets (CNY).

    Returns
    -------
    list of str
        One label per budget, in the same order, all different.
    """
    for digits in range(2, 10):
        labels = [_fmt(v, digits) for v in values]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{v:.0f}" for v in values]
