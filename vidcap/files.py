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

__all__ = ["TMP_SUFFIX", "read_bytes", "read_json", "read_text", "temp_owner", "write_atomic", "write_json"]

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


MAX_JSON_BYTES = 256 << 20  # MSR-VTT's largest annotation file is ~40 MB, VATEX's ~60 MB
MAX_JSON_DEPTH = 64        # every vidcap JSON document nests a few levels; deeper is hostile


MAX_TEXT_BYTES = 256 << 20  # configs, CSVs and mapping files are kilobytes to tens of megabytes


def read_bytes(path: str | os.PathLike[str], kind: str, *, max_bytes: int = MAX_TEXT_BYTES) -> bytes:
    """The bytes of ``path``, a ``kind`` of file that may come from anyone: at most ``max_bytes`` (checked
    before reading); InputError naming the file and ``kind`` when it is missing, a folder or unreadable.

    Example:
        >>> read_bytes("missing.yaml", "config file")
        Traceback (most recent call last):
        ...
        vidcap.errors.InputError: missing.yaml: config file not found
    """
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise InputError(f"{path}: {kind} is {size:,} bytes, more than the {max_bytes:,} a {kind} "
                                 "may have; is it the right file?")
            return fh.read()
    except FileNotFoundError:
        raise InputError(f"{path}: {kind} not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a {kind}") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read {kind}: {err}") from None


def read_text(path: str | os.PathLike[str], kind: str, *, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The text of ``path`` (:func:`read_bytes`), UTF-8 with or without a byte order mark; an undecodable byte
    is an InputError naming the file, ``kind`` and the byte's line.

    Example:
        >>> import tempfile
        >>> bad = Path(tempfile.mkdtemp()) / "c.yaml"
        >>> _ = bad.write_bytes(b"train:\\n  lr: 0.1\\xff\\n")
        >>> read_text(bad, "config file")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        vidcap.errors.InputError: .../c.yaml: line 2: config file is not UTF-8 text (byte 0xff at offset 16); save it as UTF-8
    """
    data = read_bytes(path, kind, max_bytes=max_bytes)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise _not_utf8(path, kind, data, err) from None


def _not_utf8(path: str | os.PathLike[str], kind: str, data: bytes, err: UnicodeDecodeError) -> InputError:
    line = data[: err.start].count(b"\n") + 1
    return InputError(f"{path}: line {line}: {kind} is not UTF-8 text (byte 0x{data[err.start]:02x} "
                      f"at offset {err.start}); save it as UTF-8")


def read_json(path: str | os.PathLike[str], kind: str, *, max_bytes: int = MAX_JSON_BYTES,
              max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The parsed contents of ``path``; InputError naming the file and ``kind`` when it cannot be read.

    The one JSON reader of vidcap, for files that may come from anyone: UTF-8 (with or without a byte
    order mark; UTF-16/32 as RFC 8259's detection finds them), at most ``max_bytes`` (checked before
    reading), nested at most ``max_depth`` levels. A syntax error or an undecodable byte is named with
    its line; ``NaN`` and ``Infinity`` (not JSON, though Python writes them) are refused.

    Example:
        >>> read_json("missing.json", "results file")
        Traceback (most recent call last):
        ...
        vidcap.errors.InputError: missing.json: results file not found
        >>> import tempfile
        >>> bad = Path(tempfile.mkdtemp()) / "deep.json"
        >>> _ = bad.write_text("[" * 100 + "]" * 100)
        >>> read_json(bad, "results file")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        vidcap.errors.InputError: .../deep.json: results file nests deeper than 64 levels (vidcap's files nest a few)
    """
    data = read_bytes(path, kind, max_bytes=max_bytes)
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except UnicodeDecodeError as err:
        raise _not_utf8(path, kind, data, err) from None
    except json.JSONDecodeError as err:
        raise InputError(f"{path}: line {err.lineno}: invalid JSON in {kind}: {err.msg} "
                         f"(column {err.colno})") from None
    except _NotJSON as err:
        raise InputError(f"{path}: {kind} holds {err}, which is not JSON (numbers must be finite)") from None
    except RecursionError:
        raise InputError(f"{path}: {kind} nests deeper than {max_depth} levels (vidcap's files nest a few)") from None
    if _depth_exceeds(value, max_depth):
        raise InputError(f"{path}: {kind} nests deeper than {max_depth} levels (vidcap's files nest a few)")
    return value


class _NotJSON(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NotJSON(name)


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether containers nest more than ``limit`` deep (iterative: a hostile depth cannot recurse)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False
