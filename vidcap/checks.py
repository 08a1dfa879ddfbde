"""Checks applied to untrusted values where they enter vidcap: numbers that must be finite, ids that
become file names, text that reaches a terminal or a subtitle file.

Each check has one implementation here, so every reader (feature stores, configs, annotations, results,
checkpoints, the training loop) refuses the same things with the same words. They raise
:class:`~vidcap.errors.InputError` naming what the caller says the value is (``what``); the ``*_problem``
variants return the reason, or None, for callers that collect every offending entry before raising.

Example:
    >>> import numpy as np
    >>> check_finite(np.array([1.0, np.nan]), "feature store feats/: video 'v1', stream frame")
    Traceback (most recent call last):
    ...
    vidcap.errors.InputError: feature store feats/: video 'v1', stream frame: 1 non-finite value (NaN or infinity) of 2, first at index (1,)
    >>> id_problem("../../etc/passwd"), id_problem("video7010")
    ("contains '/' (an id becomes a file name; it may not name a path)", None)
"""
from __future__ import annotations

import math
import unicodedata
from typing import Any

from vidcap.errors import InputError

__all__ = ["check_finite", "check_id", "control_characters", "finite_problem", "id_problem"]


def finite_problem(values: Any) -> str | None:
    """Why a numpy array, torch tensor or number is not all finite, or None when it is (integer and
    boolean arrays always are).

    Example:
        >>> import torch
        >>> finite_problem(torch.tensor([[0.0, float("inf")], [1.0, 2.0]])), finite_problem(3.5)
        ('1 non-finite value (NaN or infinity) of 4, first at index (0, 1)', None)
    """
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        return None if math.isfinite(values) else f"non-finite value {values!r}"
    if hasattr(values, "is_floating_point"):  # a torch tensor: checked where it lies (no copy to the CPU)
        import torch

        if not (values.is_floating_point() or values.is_complex()):
            return None
        bad = ~torch.isfinite(values)
        count = int(bad.sum())
        if not count:
            return None
        first = tuple(int(i) for i in torch.nonzero(bad)[0].tolist())
        total = values.numel()
    else:
        import numpy as np

        values = np.asarray(values)
        if values.dtype.kind not in "fc":
            return None
        bad = ~np.isfinite(values)
        count = int(bad.sum())
        if not count:
            return None
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        total = values.size
    plural = "" if count == 1 else "s"
    return f"{count} non-finite value{plural} (NaN or infinity) of {total}, first at index {first}"


def check_finite(values: Any, what: str) -> None:
    """InputError ``"<what>: N non-finite values ..."`` unless every value is finite; see the module
    example. ``what`` names the input: store and video id and stream, file and tensor, config key."""
    problem = finite_problem(values)
    if problem is not None:
        raise InputError(f"{what}: {problem}")


# Bidirectional overrides and isolates: invisible, they make text display in another order than it reads.
_BIDI = frozenset(map(chr, [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]))


def control_characters(text: str) -> list[str]:
    """The distinct control characters of ``text`` as ``U+XXXX``: C0/C1 controls (tab excepted; newlines
    included), lone surrogates, line/paragraph separators and bidirectional overrides. None of them
    belongs in a caption or an id, and each can rewrite a terminal, split a subtitle file or fail to
    encode as UTF-8.

    Example:
        >>> control_characters("a man\\x1b[2J runs\\u202e"), control_characters("a\\tdog café")
        (['U+001B', 'U+202E'], [])
    """
    found = {c for c in text if (c != "\t" and unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp")) or c in _BIDI}
    return [f"U+{ord(c):04X}" for c in sorted(found)]


def id_problem(video_id: str) -> str | None:
    """Why ``video_id`` cannot be a video id, or None. Ids become file names (``<id>.mp4`` looked up in a
    video folder, subtitle and preview files, store entries), so an id is one non-empty path component:
    no ``/`` or ``\\``, not ``.`` or ``..``, no control characters, at most 255 characters.

    Example:
        >>> [id_problem(v) for v in ("clip_5_15", "/abs", "..", "a\\x00b")]  # doctest: +NORMALIZE_WHITESPACE
        [None, "contains '/' (an id becomes a file name; it may not name a path)",
         "is '..' (an id becomes a file name; it may not name a path)", 'contains control characters U+0000']
    """
    if not video_id.strip():
        return "is blank"
    for sep in ("/", "\\"):
        if sep in video_id:
            return f"contains {sep!r} (an id becomes a file name; it may not name a path)"
    if video_id in (".", ".."):
        return f"is {video_id!r} (an id becomes a file name; it may not name a path)"
    controls = control_characters(video_id)
    if controls:
        return f"contains control characters {', '.join(controls)}"
    if len(video_id) > 255:
        return f"is {len(video_id)} characters long (at most 255: an id becomes a file name)"
    return None


def check_id(video_id: str, where: str) -> str:
    """``video_id`` when it is a valid id (see :func:`id_problem`), else InputError naming ``where``.

    Example:
        >>> check_id("a/b", "results.json [3]")
        Traceback (most recent call last):
        ...
        vidcap.errors.InputError: results.json [3]: video id 'a/b' contains '/' (an id becomes a file name; it may not name a path)
    """
    problem = id_problem(video_id)
    if problem is not None:
        raise InputError(f"{where}: video id {video_id!r:.80} {problem}")
    return video_id
