"""Exceptions shared by every stage; the CLI turns them into one-line messages and exit codes.

``UsageError`` (exit 2) is for what the user asked for: unknown names, bad values, bad config keys.
``InputError`` (exit 1) is for what the user gave us: unreadable videos, annotation files,
checkpoints, results files. Messages always name the offending input.
"""
from __future__ import annotations

from collections.abc import Sequence


class VidcapError(Exception):
    """Base class of vidcap's own errors."""

    exit_code = 1


class UsageError(VidcapError, ValueError):
    """An invalid request: unknown backbone/model name, bad option value, unknown config key."""

    exit_code = 2


class InputError(VidcapError, ValueError):
    """An input file is missing, malformed or untrusted; the message names the file and the problem."""

    exit_code = 1


def listing(items: Sequence[object], shown: int = 5) -> str:
    """The first ``shown`` items and, when there are more, how many there are in all: what an error
    message quotes of a long list of offending entries.

    Example:
        >>> listing(["video3", "video9"]), listing([f"v{i}" for i in range(7)])
        ('video3, video9', 'v0, v1, v2, v3, v4, ... (7 in all)')
    """
    quoted = ", ".join(map(printable, items[:shown]))
    return f"{quoted}, ... ({len(items)} in all)" if len(items) > shown else quoted


def printable(text: object) -> str:
    """``text`` as a message may quote it: unchanged when printable, else its Python literal (escapes
    instead of control characters, so a hostile id or caption cannot rewrite the user's terminal).

    Example:
        >>> printable("video7"), printable("x\\x1b[2J")
        ('video7', "'x\\\\x1b[2J'")
    """
    text = str(text)
    return text if text.isprintable() else repr(text)
