"""Strict validation of configuration data against a pydantic schema, one line per failure.

Every section of a scenario is a pydantic model; this module is how data read from a file is
checked against it, the same way for every field (present or added later), with no per-field
code:

1. :func:`plain` walks the data first: mappings with text keys, lists, text, booleans, null and
   **finite** numbers within ±:data:`MAX_ABS` only, at most :data:`MAX_VALUES` values (aliases
   expanded, cycles refused). The first offending value is reported with its field path.
2. :func:`validate` validates the plain data with pydantic (constraints such as ``ge``, ``le``,
   ``Literal`` and the models' validators come from the schema; pydantic converts what YAML can
   only write as text or lists: paths, tuples, times, enumerations);
3. :func:`check_types` then walks the data beside the model's JSON schema and refuses every
   value of the wrong JSON type, so that nothing is coerced: a boolean is never a number
   (``budget_cny: yes``), text is never a number (``"5"``) or a boolean, a fraction or ``2.0``
   is never a whole number (``plugs: 2.5``). New fields get this from their type alone.
4. The first error becomes one line ``<file>: <field.path>: <what is wrong>``. A missing or
   unknown key is reported before errors deeper down (it is usually the cause).

Models built in code (``Scenario(...)``) are not affected: strictness applies to files.
"""

from __future__ import annotations

import functools
import logging
import math
import typing
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from siting._errors import ScenarioError

__all__ = [
    "MAX_ABS",
    "MAX_VALUES",
    "FieldError",
    "check_types",
    "error_line",
    "kind_of",
    "loc_text",
    "plain",
    "validate",
]

#: Largest magnitude of any number in a configuration file. Money (CNY), counts, kWh or kg per
#: day and minutes all stay far below; larger values overflow the model's arithmetic.
MAX_ABS = 1e15
#: Most values (scalars, lists and mappings) in one document once aliases are expanded.
MAX_VALUES = 100_000

M = TypeVar("M", bound=BaseModel)
logger = logging.getLogger(__name__)


class FieldError(ValueError):
    """A validation error that knows its own field path (raised by model validators).

    Parameters
    ----------
    loc : tuple
        Field path relative to the model that raises it, e.g. ``("costs", "hydrogen")``.
    msg : str
        What is wrong.
    """

    def __init__(self, loc: tuple[Any, ...], msg: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


def loc_text(loc: tuple[Any, ...]) -> str:
    """``("a", "b", 2, "c")`` -> ``a.b[2].c`` (``(top level)`` when empty)."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def error_line(file: str | Path, loc: tuple[Any, ...], msg: str) -> str:
    """One error line ``<file>: <field path>: <msg>`` (newlines folded to spaces)."""
    return " ".join(f"{file}: {loc_text(loc)}: {msg}".split())


def kind_of(value: Any) -> str:
    """What a YAML value is, in words: ``a list``, ``a number``, ``text``, ``binary data``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    kinds = {str: "text", list: "a list", tuple: "a list", dict: "a mapping", bytes: "binary data"}
    return kinds.get(type(value), f"a {type(value).__name__}")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def plain(data: Any, file: str | Path, prefix: tuple[Any, ...] = ()) -> Any:
    """Check that ``data`` is plain configuration data and return a copy of it.

    Parameters
    ----------
    data : Any
        As read from YAML (or built in code).
    file : str or Path
        Name used in messages.
    prefix : tuple
        Field path of ``data`` inside the file (for messages).

    Returns
    -------
    Any
        The same data made of ``dict`` (text keys), ``list``, ``str``, ``int``, ``float``,
        ``bool`` and ``None`` only (tuples become lists).

    Raises
    ------
    ScenarioError
        One line naming the field: a non-text key, a value of another type, a number that is
        not finite or beyond ±:data:`MAX_ABS`, a cycle, or more than :data:`MAX_VALUES` values.
    """
    count = 0
    active: set[int] = set()

    def fail(loc: tuple[Any, ...], msg: str) -> ScenarioError:
        return ScenarioError(error_line(file, loc, msg))

    def walk(value: Any, loc: tuple[Any, ...]) -> Any:
        nonlocal count
        count += 1
        if count > MAX_VALUES:
            raise fail(prefix, f"more than {MAX_VALUES} values (aliases expanded); not a scenario")
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int):
            if abs(value) > MAX_ABS:
                raise fail(loc, f"{value} is out of range (numbers must lie within ±{MAX_ABS:g})")
            return value
        if isinstance(value, float):
            if not math.isfinite(value):
                raise fail(loc, f"must be a finite number (got {value})")
            if abs(value) > MAX_ABS:
                raise fail(loc, f"{value:g} is out of range (numbers must lie within ±{MAX_ABS:g})")
            return value
        if isinstance(value, dict | list | tuple):
            if id(value) in active:
                raise fail(loc, "refers to itself (a YAML alias inside its own anchor)")
            active.add(id(value))
            try:
                if isinstance(value, dict):
                    out = {}
                    for k, v in value.items():
                        if not isinstance(k, str):
                            raise fail(
                                loc,
                                f"key {_show(k)} is {_KEY_KINDS.get(type(k), 'not text')}; "
                                "keys must be text (write it in quotes)",
                            )
                        out[k] = walk(v, (*loc, k))
                    return out
                return [walk(v, (*loc, i)) for i, v in enumerate(value)]
            finally:
                active.discard(id(value))
        if isinstance(value, Path):
            return str(value)
        kind = {bytes: "binary data", set: "a set"}.get(type(value), type(value).__name__)
        raise fail(loc, f"{kind} is not allowed here (use text, numbers, lists and mappings)")

    return walk(data, prefix)


_KEY_KINDS = {int: "a number", float: "a number", bool: "true/false", type(None): "null"}


def _message(err: dict[str, Any]) -> tuple[tuple[Any, ...], str]:
    """(field path, one-line text) of one pydantic error."""
    loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x.startswith("function-")))
    # strict JSON validation of unions and tagged values adds the member name to the path
    loc = tuple(x for x in loc if not (isinstance(x, str) and _is_member_tag(x)))
    typ = err["type"]
    got = err.get("input")
    if typ == "extra_forbidden":
        return loc, "unknown key"
    if typ == "missing":
        return loc, "missing (required field)"
    ctx_err = (err.get("ctx") or {}).get("error")
    if isinstance(ctx_err, FieldError):
        return loc + ctx_err.loc, ctx_err.msg
    msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if typ in ("int_type", "int_from_float", "int_parsing"):
        if isinstance(got, float) and not isinstance(got, bool):
            msg = "must be a whole number" + ("" if got.is_integer() else ", not a fraction")
        else:
            msg = "must be a whole number"
    elif typ in ("float_type", "float_parsing"):
        msg = "must be a valid number"
    elif typ in ("bool_type", "bool_parsing"):
        msg = "must be true or false"
    elif typ in ("string_type", "str_type"):
        msg = "must be text (in quotes if it looks like a number or true/false)"
    elif typ in ("list_type", "tuple_type"):
        msg = "must be a list"
    elif typ in ("dict_type", "model_type", "model_attributes_type"):
        msg = "must be a mapping (key: value lines)"
    elif typ in _BOUND_WORDS:
        limit = (err.get("ctx") or {}).get(_BOUND_WORDS[typ][1])
        if isinstance(limit, int | float) and not isinstance(limit, bool):
            limit = f"{limit:g}"
        msg = f"must be {_BOUND_WORDS[typ][0]} {limit}" if limit is not None else msg
    elif typ == "literal_error":
        expected = str((err.get("ctx") or {}).get("expected", "")).replace(" or ", ", ")
        msg = f"must be one of {expected}" if expected else msg
    if typ.endswith(("_type", "_parsing", "literal_error", "_from_float")) or typ in _BOUNDS:
        if not isinstance(got, dict | list):
            msg = f"{msg} (got {_show(got)})"
    return loc, msg


_BOUND_WORDS = {
    "greater_than_equal": (">=", "ge"),
    "greater_than": (">", "gt"),
    "less_than": ("<", "lt"),
    "less_than_equal": ("<=", "le"),
}
_BOUNDS = ("greater_than_equal", "greater_than", "less_than", "less_than_equal", "finite_number")
_MEMBER_TAGS = frozenset(("str", "int", "float", "bool", "none"))


def _is_member_tag(item: str) -> bool:
    """True for the union-member names pydantic puts into error paths (not field names)."""
    return "[" in item or item in _MEMBER_TAGS or item.startswith("constrained-")


# ----------------------------------------------------------------------------- JSON types


@functools.lru_cache(maxsize=64)
def _schema(model: type[BaseModel]) -> dict[str, Any] | None:
    """The model's JSON schema (validation mode, field names), or None if it has none."""
    try:
        return model.model_json_schema(mode="validation", by_alias=False)
    except Exception as exc:  # a field type without a JSON schema: lax validation only
        logger.debug("no JSON schema for %s (%s): types checked by pydantic only", model, exc)
        return None


_RAW_MODES = ("before", "wrap", "plain")


def _raw_fields(cls: type[BaseModel]) -> set[str]:
    """Fields whose raw input a validator reads first (their JSON type is the validator's
    business, not the schema's): ``mode="before"/"wrap"/"plain"`` validators and
    ``BeforeValidator``-style annotations."""
    raw: set[str] = set()
    for dec in cls.__pydantic_decorators__.field_validators.values():
        if dec.info.mode in _RAW_MODES:
            raw.update(cls.model_fields if "*" in dec.info.fields else dec.info.fields)
    for name, f in cls.model_fields.items():
        if any(type(m).__name__ in ("BeforeValidator", "WrapValidator", "PlainValidator")
               for m in f.metadata):  # fmt: skip
            raw.add(name)
    return raw


@functools.lru_cache(maxsize=64)
def _aliases(model: type[BaseModel]) -> dict[str, tuple[dict[str, str], set[str]]]:
    """``{model name: ({alias: field name}, raw fields)}`` for every model reachable."""
    out: dict[str, tuple[dict[str, str], set[str]]] = {}
    todo: list[Any] = [model]
    seen: set[Any] = set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            names: dict[str, str] = {}
            for name, f in cls.model_fields.items():
                alias = f.validation_alias
                choices = getattr(alias, "choices", None) or ([alias] if alias else [])
                choices = [*choices, f.alias] if f.alias else choices
                names.update({str(c): name for c in choices if isinstance(c, str)})
                todo.append(f.annotation)
            out[cls.__name__] = (names, _raw_fields(cls))
        else:
            todo.extend(typing.get_args(cls))
    return out


_SCALARS = ("number", "integer", "string", "boolean")
_WORDS = {
    "number": "a valid number",
    "integer": "a whole number",
    "string": "text (in quotes if it looks like a number or true/false)",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping (key: value lines)",
    "null": "empty",
}


def _is(kind: str, x: Any) -> bool:
    if kind == "number":
        return isinstance(x, int | float) and not isinstance(x, bool)
    if kind == "integer":
        return isinstance(x, int) and not isinstance(x, bool)
    return isinstance(x, {"string": str, "boolean": bool, "null": type(None),
                          "array": list, "object": dict}.get(kind, object))  # fmt: skip


class _TypeCheck:
    """Walk data and a JSON schema together; report the first value of the wrong JSON type."""

    def __init__(
        self, schema: dict[str, Any], aliases: dict[str, tuple[dict[str, str], set[str]]]
    ) -> None:
        self.defs = schema.get("$defs", {})
        self.aliases = aliases

    def resolve(self, s: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        name = None
        while "$ref" in s:
            name = s["$ref"].rsplit("/", 1)[-1]
            s = self.defs.get(name, {})
        return s, name or s.get("title")

    def fits(self, s: dict[str, Any], x: Any) -> bool:
        s, _ = self.resolve(s)
        branches = s.get("anyOf") or s.get("oneOf")
        if branches:
            return any(self.fits(b, x) for b in branches)
        kinds = s.get("type")
        if kinds is None:
            return True
        kinds = kinds if isinstance(kinds, list) else [kinds]
        return any(_is(k, x) for k in kinds)

    def check(self, s: dict[str, Any], x: Any, loc: tuple[Any, ...]) -> None:
        """Refuse a scalar of the wrong JSON type where the schema wants a scalar.

        Containers of the wrong shape are left to pydantic (a model may take a shorthand through
        a validator, e.g. ``sizing: service_level``; pydantic refuses what it cannot take).
        """
        s, name = self.resolve(s)
        branches = s.get("anyOf") or s.get("oneOf")
        if branches:
            for b in branches:
                if self.fits(b, x):
                    return self.check(b, x, loc)
            expected = [self.resolve(b)[0].get("type") for b in branches]
            expected = [e for e in expected if isinstance(e, str) and e != "null"] or ["null"]
            if expected[0] in _SCALARS and not isinstance(x, dict | list):
                raise FieldError(loc, self.wrong(expected[0], x))
            return None
        for sub in s.get("allOf", []):
            self.check(sub, x, loc)
        kinds = s.get("type")
        if kinds is not None:
            kinds = kinds if isinstance(kinds, list) else [kinds]
            if not any(_is(k, x) for k in kinds):
                if kinds[0] in _SCALARS and not isinstance(x, dict | list):
                    raise FieldError(loc, self.wrong(kinds[0], x))
                return None
        if isinstance(x, dict):
            self.check_object(s, name, x, loc)
        elif isinstance(x, list):
            prefix = s.get("prefixItems") or []
            for i, v in enumerate(x):
                item = prefix[i] if i < len(prefix) else s.get("items")
                if isinstance(item, dict):
                    self.check(item, v, (*loc, i))
        return None

    def check_object(
        self, s: dict[str, Any], name: str | None, x: dict[str, Any], loc: tuple[Any, ...]
    ) -> None:
        props = s.get("properties", {})
        alias, raw = self.aliases.get(name or "", ({}, set()))
        extra = s.get("additionalProperties")
        for k, v in x.items():
            field_name = k if k in props else alias.get(k, "")
            if field_name in raw:
                continue  # a validator reads this field's raw value
            sub = props.get(field_name)
            if sub is None and isinstance(extra, dict):
                sub = extra
            if sub is not None:
                self.check(sub, v, (*loc, k))

    @staticmethod
    def wrong(kind: str, x: Any) -> str:
        msg = f"must be {_WORDS.get(kind, kind)}"
        if kind == "integer" and isinstance(x, float) and not x.is_integer():
            msg += ", not a fraction"
        if not isinstance(x, dict | list):
            msg += f" (got {_show(x)})"
        return msg


def check_types(model: type[BaseModel], data: Any, file: str | Path, prefix: tuple = ()) -> None:
    """Refuse data whose JSON types do not match ``model``'s schema (no coercion at all).

    A boolean is not a number, text is not a number or a boolean, a fraction or ``2.0`` is not
    a whole number. Pydantic's own (lax) validation then converts what is legitimately written
    as text or lists in YAML: paths, tuples, times, enumerations.

    Raises
    ------
    ScenarioError
        One line naming the file and the field.
    """
    schema = _schema(model)
    if schema is None:
        return
    try:
        _TypeCheck(schema, _aliases(model)).check(schema, data, ())
    except FieldError as exc:
        raise ScenarioError(error_line(file, (*prefix, *exc.loc), exc.msg)) from None


def validate(
    model: type[M],
    data: Any,
    *,
    file: str | Path,
    context: dict[str, Any] | None = None,
    prefix: tuple[Any, ...] = (),
) -> M:
    """Validate file data strictly against ``model`` (see the module docstring).

    Parameters
    ----------
    model : pydantic model class
    data : Any
        As read from the file.
    file : str or Path
        Name used in messages.
    context : dict, optional
        Passed to pydantic validators (e.g. ``base_dir`` for relative paths).
    prefix : tuple
        Field path of ``data`` inside the file (``("corridor",)`` for a section).

    Returns
    -------
    model instance

    Raises
    ------
    ScenarioError
        One line ``<file>: <field.path>: <what is wrong>``.
    """
    data = plain(data, file, prefix)
    try:
        obj = model.model_validate(data, context=context)
    except ValidationError as exc:
        errs = exc.errors(include_url=False)
        err = min(errs, key=lambda e: e["type"] not in ("missing", "extra_forbidden"))
        if err["type"] not in ("missing", "extra_forbidden"):
            check_types(model, data, file, prefix)  # a wrong type is the likelier cause
        loc, msg = _message(err)
        raise ScenarioError(error_line(file, (*prefix, *loc), msg)) from None
    check_types(model, data, file, prefix)
    return obj
