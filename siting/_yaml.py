"""Read YAML input files strictly and within bounds: plain data in, one-line errors out.

:func:`load_yaml` is the one YAML reader of the project (scenarios and their sections). Compared
with ``yaml.safe_load`` it

* reads at most :data:`MAX_BYTES` bytes, as UTF-8 (a byte-order mark is allowed; UTF-16 files
  with a byte-order mark are decoded too), and names the first undecodable byte;
* refuses more than :data:`MAX_DEPTH` levels of nesting *while composing* the document, so
  ``[[[[...`` 600 levels deep is one error line, not a ``RecursionError``;
* refuses a key given twice in one mapping, and keys that are lists or mappings (``? [a, b]``);
* resolves plain scalars by the YAML 1.2 core rules for numbers (``1e7`` is a number, ``1:30``
  and ``2022-02-04`` are text, ``0x1F`` is 31) and keeps the YAML 1.1 words ``yes``/``no``/
  ``on``/``off`` as booleans (so they never pass as numbers: the schema refuses them);
* knows only the standard tags; ``!!python/...`` and custom tags are errors.

What the data may hold (strings, finite numbers, booleans, null, lists and mappings with text
keys, at most :data:`MAX_VALUES` values once aliases are expanded) is checked by
:func:`siting._strict.plain`, which every loader calls next.

Every problem raises :class:`~siting.ScenarioError` with one line
``<file>: line <L>, column <C>: <what is wrong>``.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, ScalarNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from siting._errors import ScenarioError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "decode_text", "load_yaml", "load_yaml_text"]

#: Largest YAML input read (bytes). Shipped scenarios are about 10 kB.
MAX_BYTES = 1 << 20
#: Deepest nesting of lists / mappings accepted. A scenario needs about 6.
MAX_DEPTH = 32

_INT = re.compile(
    r"""^(?:[-+]?[0-9][0-9_]*
        |[-+]?0x[0-9a-fA-F][0-9a-fA-F_]*
        |[-+]?0o[0-7][0-7_]*)$""",
    re.X,
)
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*\.[0-9_]*|\.[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
    re.X,
)
_BOOL = re.compile(
    r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"
)
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")


class _Resolver(BaseResolver):
    """Plain-scalar types: YAML 1.2 core numbers, YAML 1.1 booleans, no timestamps."""


for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:bool", _BOOL, "yYnNtTfFoO"),
    ("tag:yaml.org,2002:int", _INT, "-+0123456789"),
    ("tag:yaml.org,2002:float", _FLOAT, "-+0123456789."),
    ("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), "<"),
):
    _Resolver.add_implicit_resolver(_tag, _regexp, list(_first))


class _Constructor(SafeConstructor):
    """Safe constructor with duplicate-key and non-scalar-key checks and YAML 1.2 numbers."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if not isinstance(key_node, ScalarNode):
                kind = "list" if key_node.id == "sequence" else "mapping"
                raise ConstructorError(
                    None, None, f"a key is a {kind}; keys must be plain text", key_node.start_mark
                )
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                raise ConstructorError(
                    None, None, "a key cannot be used as a key (unhashable)", key_node.start_mark
                ) from None
            if key in seen:
                raise ConstructorError(
                    None, None, f"key {key!r} given twice in one mapping", key_node.start_mark
                )
            seen[key] = True
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
            if isinstance(exc, yaml.YAMLError):
                raise
            tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
            raise ConstructorError(
                None, None, f"value cannot be read as {tag}", node.start_mark
            ) from None

    def construct_yaml_int(self, node: ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        if not _INT.match(text):
            raise ConstructorError(None, None, f"{text!r} is not a whole number", node.start_mark)
        text = text.replace("_", "")
        if len(text) > 40:
            raise ConstructorError(None, None, "a number with too many digits", node.start_mark)
        sign = -1 if text.startswith("-") else 1
        text = text.lstrip("+-")
        if text.startswith("0x"):
            return sign * int(text[2:], 16)
        if text.startswith("0o"):
            return sign * int(text[2:], 8)
        return sign * int(text)

    def construct_yaml_float(self, node: ScalarNode) -> float:
        text = str(self.construct_scalar(node))
        if not (_FLOAT.match(text) or re.fullmatch(r"[-+]?[0-9][0-9_]*", text)):
            raise ConstructorError(None, None, f"{text!r} is not a number", node.start_mark)
        text = text.replace("_", "").lower()
        if text in (".nan", "+.nan", "-.nan"):
            return float("nan")
        if text.endswith(".inf"):
            return float("-inf") if text.startswith("-") else float("inf")
        return float(text)


_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)
_Constructor.add_constructor("tag:yaml.org,2002:float", _Constructor.construct_yaml_float)
_Constructor.add_constructor("tag:yaml.org,2002:map", _Constructor.construct_yaml_map)


class _Composer(Composer):
    """Composer that stops at :data:`MAX_DEPTH` levels instead of recursing without bound."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested more than {MAX_DEPTH} levels deep",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _StrictLoader(Reader, Scanner, Parser, _Composer, _Constructor, _Resolver):
    """The loader behind :func:`load_yaml` (pure Python: bounded depth needs the composer)."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        _Composer.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)


def decode_text(data: bytes, file: str | Path, error: type[Exception] = ScenarioError) -> str:
    """Decode an input file's bytes: UTF-8 (optional BOM) or UTF-16/32 with a BOM.

    Parameters
    ----------
    data : bytes
    file : str or Path
        Name used in the message.
    error : exception class
        Raised (one line naming the file and the byte offset) when the bytes are not text.

    Returns
    -------
    str
    """
    codec = "utf-8-sig"
    for bom, with_bom in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            codec = with_bom
            break
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise error(
            f"{file}: not {codec.removesuffix('-sig').upper()} text: byte "
            f"0x{data[exc.start]:02x} at offset {exc.start} ({exc.reason}); save the file as UTF-8"
        ) from None
    if "\x00" in text:
        raise error(f"{file}: not a text file (holds NUL characters); save it as UTF-8 text")
    return text


def load_yaml(path: str | Path, what: str = "file") -> Any:
    """Read one YAML document from ``path`` (see the module docstring for the rules).

    Parameters
    ----------
    path : str or Path
    what : str
        What the file is, for messages (``"scenario file"``).

    Returns
    -------
    Any
        Plain Python data (``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``, ``None``;
        other types only where the file used an explicit standard tag).

    Raises
    ------
    ScenarioError
        Missing or unreadable file, too large, not text, YAML syntax, nesting, keys, tags.
    """
    file = Path(path)
    try:
        with open(file, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError(f"{file}: {what} not found") from None
    except IsADirectoryError:
        raise ScenarioError(f"{file}: is a folder, not a YAML file") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ScenarioError(f"{file}: cannot read: {reason}") from None
    if len(data) > MAX_BYTES:
        raise ScenarioError(f"{file}: larger than {MAX_BYTES // 1024} KiB; not a scenario file")
    return load_yaml_text(decode_text(data, file), file)


def load_yaml_text(text: str, file: str | Path = "<yaml>") -> Any:
    """Parse YAML text with the rules of :func:`load_yaml`.

    Parameters
    ----------
    text : str
    file : str or Path
        Name used in messages.

    Returns
    -------
    Any

    Raises
    ------
    ScenarioError
        One line ``<file>: line L, column C: <problem>``.
    """
    if len(text) > MAX_BYTES:
        raise ScenarioError(f"{file}: larger than {MAX_BYTES // 1024} KiB; not a scenario file")
    loader = None
    try:
        loader = _StrictLoader(text)
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{file}: {_describe(exc, text)}") from None
    except RecursionError:  # pragma: no cover - the composer's depth limit comes first
        raise ScenarioError(f"{file}: nested too deeply") from None
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
        raise ScenarioError(
            f"{file}: a tagged YAML value does not fit its tag ({type(exc).__name__}: {exc})"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


def _describe(exc: yaml.YAMLError, text: str) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(unknown line)"
    if isinstance(exc, yaml.reader.ReaderError):
        pos = min(max(int(exc.position), 0), len(text))
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        return (
            f"line {line}, column {column}: control character U+{exc.character:04X} is not "
            "allowed in YAML text"
        )
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if isinstance(exc, ConstructorError) and problem and "constructor for the tag" in problem:
        tag = problem.split("tag", 1)[1].strip().strip("'").replace("tag:yaml.org,2002:", "!!")
        problem = f"unknown tag {tag} (only plain YAML values are allowed)"
    elif isinstance(exc, ConstructorError) and "found unconstructable recursive node" in str(exc):
        problem = "an alias refers to the node that contains it"
    text = problem or str(exc)
    if context and problem and "while" not in context and context not in text:
        text = f"{context}; {problem}"
    text = " ".join(text.split())
    if isinstance(exc, yaml.MarkedYAMLError) and not isinstance(
        exc, ConstructorError | yaml.composer.ComposerError
    ):
        text = f"YAML syntax error: {text}"
    return f"{where}: {text}"
