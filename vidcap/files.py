"""Writing files atomically and reading and writing JSON: the one implementation every stage uses.

A write goes to a temporary file in the target's own folder (``<name>.<pid>-<token>.tmp``), is
flushed and fsynced, then ``os.replace``d over the target, which is atomic on POSIX and Windows within
one file system: a reader, or a crash, sees the old file or the new one, never half of one. A process
killed mid-write leaves only its temporary file, which :func:`temp_owner` maps back to its target so
that a resumed run can clean up after it.

Example:
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> write_json(folder / "meta.json", {"b": 1, "a": [1, 2]}).read_text()
    '{\\n  "a": [\\n    1,\\n    2\\n  ],\\n  "b": 1\\n}\\n'
    >>> read_json(folder / "meta.json", "metadata")
    {'a': [1, 2], 'b': 1}
    >>> sorted(p.name for p in folder.iterdir())        # no temporary file left behind
    ['meta.json']
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import IO, Any, Callable

from vidcap.errors import InputError

__all__ = ["TMP_SUFFIX", "read_json", "temp_owner", "write_atomic", "write_json"]

TMP_SUFFIX = ".tmp"

Payload = bytes | str | Callable[[IO[bytes]], object]


def write_atomic(path: str | os.PathLike[str], data: Payload) -> Path:
    """Write ``data`` to ``path`` atomically, creating missing parent folders; returns the path.

    ``data`` is bytes, text (written as UTF-8), or a function that writes into the binary file it is
    given (``lambda f: np.savez(f, **arrays)``). The new file's permissions follow the umask, as with
    a plain ``open``.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "sub" / "note.txt"
        >>> write_atomic(target, "first").read_text(), write_atomic(target, b"second").read_text()
        ('first', 'second')
        >>> write_atomic(target, lambda f: f.write(b"third")).read_bytes()
        b'third'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}")
    try:
        with open(tmp, "xb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only still there when writing failed
    return path


def temp_owner(name: str) -> str | None:
    """The target name of a temporary file :func:`write_atomic` made; None for any other name.

    Example:
        >>> temp_owner("video7.npz.4711-0a1b2c3d.tmp"), temp_owner("video7.npz")
        ('video7.npz', None)
    """
    if not name.endswith(TMP_SUFFIX):
        return None
    return name[: -len(TMP_SUFFIX)].rpartition(".")[0] or None


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` atomically as indented JSON with sorted keys: identical bytes for identical objects.

    Example:
        >>> import tempfile
        >>> write_json(Path(tempfile.mkdtemp()) / "m.json", [{"z": 0.5, "a": None}]).read_text()
        '[\\n  {\\n    "a": null,\\n    "z": 0.5\\n  }\\n]\\n'
    """
    return write_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike[str], kind: str) -> Any:
    """The parsed contents of ``path``; InputError naming the file and ``kind`` when it cannot be read.

    Example:
        >>> read_json("missing.json", "results file")
        Traceback (most recent call last):
        ...
        vidcap.errors.InputError: missing.json: results file not found
    """
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise InputError(f"{path}: {kind} not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read {kind}: {err}") from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: invalid JSON: {err}") from None
    except RecursionError:  # arrays/objects nested deeper than Python's parser recurses
        raise InputError(f"{path}: {kind} nested too deeply to read (not something vidcap writes)") from None
