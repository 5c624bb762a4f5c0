"""Check, before any work, that an output folder can be created where the user asked.

Outputs are written into a temporary sibling folder that is renamed into place at the end
(:mod:`siting.report`, :mod:`siting.compare`). :func:`check_output_dir` proves that this will
work *before* the scenario is prepared or solved: the path is well formed, every existing part
of it is a folder, and a folder can really be created where the first missing part would go
(a probe folder is made and removed at once; permission bits are not trusted, because root
ignores them while ``/proc`` still refuses). An existing output folder is accepted here; whether
it may be replaced is the writer's own check, which callers run too.

Failures raise :class:`~siting.InputError` with one line ``<flag>: <path>: <problem>``.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from siting._errors import InputError

__all__ = ["check_output_dir"]

#: Characters the writers add to the output folder's name for their temporary sibling
#: (``.<name>.tmp-<pid>`` or ``.<name>.tmp-<random>``).
_TMP_EXTRA = 24


def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def check_output_dir(out: str | os.PathLike[str], flag: str = "--out") -> Path:
    """Refuse an output folder that cannot be created, before anything is computed.

    Parameters
    ----------
    out : path-like
        The output folder asked for.
    flag : str
        The option or field that gave it, for messages.

    Returns
    -------
    Path
        The absolute output folder.

    Raises
    ------
    InputError
        One line: empty path, NUL byte, a name too long, an existing part that is a file or
        device (``/dev/null/x``), an existing output path that is not a folder, or a parent
        where no folder can be created (``/proc/x``, read-only or full file systems).
    """
    text = os.fspath(out)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text.strip():
        raise InputError(f"{flag}: empty path")
    if "\x00" in text:
        raise InputError(f"{flag}: the path holds a NUL character")
    try:
        path = Path(os.path.abspath(text))
    except (OSError, ValueError) as exc:
        raise InputError(f"{flag}: {text}: not a usable path ({exc})") from None
    if path.parent == path:
        raise InputError(f"{flag}: {path}: the root folder cannot be an output folder")

    # the deepest part of the path that exists
    probe_in = path.parent
    missing = [path.name]
    while True:
        try:
            st = probe_in.stat()
        except FileNotFoundError:
            missing.append(probe_in.name)
            probe_in = probe_in.parent
            continue
        except NotADirectoryError:
            # some part above is a file: find it for the message
            node = probe_in
            while not node.exists() and node.parent != node:
                node = node.parent
            raise InputError(f"{flag}: {path}: {node} is not a folder") from None
        except OSError as exc:
            raise InputError(f"{flag}: {path}: cannot use {probe_in}: {exc.strerror}") from None
        break
    import stat as stat_mod

    if not stat_mod.S_ISDIR(st.st_mode):
        raise InputError(f"{flag}: {path}: {probe_in} is not a folder")

    limit = _name_max(probe_in)
    for name in missing:
        if len(os.fsencode(name)) + _TMP_EXTRA > limit:
            raise InputError(
                f"{flag}: {path}: the name {name[:20]!r}... is too long "
                f"(at most {limit - _TMP_EXTRA} bytes)"
            )
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag}: {path}: exists and is not a folder")
    try:
        probe = tempfile.mkdtemp(prefix=".siting-probe-", dir=probe_in)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOENT:
            reason = "this file system does not allow new folders"
        raise InputError(
            f"{flag}: {path}: cannot create a folder in {probe_in}: {reason}"
        ) from None
    try:
        os.rmdir(probe)
    except OSError:  # pragma: no cover - we just made it
        pass
    return path
