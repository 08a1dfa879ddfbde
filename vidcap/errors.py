"""Exceptions shared by every stage; the CLI turns them into one-line messages and exit codes.

``UsageError`` (exit 2) is for what the user asked for: unknown names, bad values, bad config keys.
``InputError`` (exit 1) is for what the user gave us: unreadable videos, annotation files,
checkpoints, results files. Messages always name the offending input.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


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


def shown(value: Any) -> str:
    """``value`` as a message quotes a config value: ``null`` for None, its repr cut to 80 characters (a hostile
    value may be megabytes long).

    Example:
        >>> shown(None), shown("a"), len(shown("x" * 10**6))
        ('null', "'a'", 80)
    """
    text = "null" if value is None else repr(value)
    return text if len(text) <= 80 else f"{text[:76]} ..."


def keyed_error(err: UsageError, section: str, values: Mapping[str, Any]) -> UsageError:
    """``err``, raised by library code in its own terms for options ``values`` (the keys of config
    ``section``), with the config key it is about in front. Library code states its contract in its own
    argument names; the caller that read them from a config section puts the key back.

    Example:
        >>> str(keyed_error(UsageError("hidden_size must be a positive integer, got 0"), "model",
        ...                 {"embed_size": 8, "hidden_size": 0}))
        'model.hidden_size=0: hidden_size must be a positive integer, got 0'
    """
    message = str(err)
    named = getattr(err, "kind", None)  # a registry lookup (UnknownNameError) names what it looked up
    for name, value in values.items():
        if name == named or message.startswith((f"{name} ", f"{name}=", f"{name}:")):
            return UsageError(f"{section}.{name}={shown(value)}: {message}")
    return UsageError(f"{section}: {message}")
