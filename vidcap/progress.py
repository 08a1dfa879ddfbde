"""What long steps show on the terminal: one switch for every progress bar, and one block for what failed.

Every step that can take more than a few seconds (extraction, training epochs, validation decoding,
captioning many files, scoring) draws its bar through :func:`bar`, so one rule decides whether bars are
drawn: on stderr, only when stderr is a terminal and nobody asked for quiet (``vidcap --quiet`` calls
:func:`configure`). Piped or redirected output therefore holds results and summaries only.

Inputs that failed or were missing are reported once, after the step, by :func:`problems_block`: a count
and the first few names (all of them with ``--verbose``), instead of one warning line per input.

Example:
    >>> configure(quiet=True)
    >>> with bar(total=3, desc="demo") as b:
    ...     b.update(3)
    >>> b.disable
    True
    >>> configure(quiet=False)
"""
from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")

# How many problem names a summary shows before "... and N more" (``--verbose`` shows all).
SHOWN = 5

_settings = {"quiet": False, "verbose": False}


def configure(*, quiet: bool | None = None, verbose: bool | None = None) -> None:
    """Set the process-wide switches: ``quiet`` hides every bar, ``verbose`` lists every problem.

    Example:
        >>> configure(verbose=True); settings()["verbose"]
        True
        >>> configure(verbose=False)
    """
    if quiet is not None:
        _settings["quiet"] = bool(quiet)
    if verbose is not None:
        _settings["verbose"] = bool(verbose)


def settings() -> dict[str, bool]:
    """The current switches (a copy)."""
    return dict(_settings)


def enabled(show: bool | None = None) -> bool:
    """Whether a bar is drawn: ``show`` when the caller decided (True/False), else (None) only when
    stderr is a terminal and quiet is off.

    Example:
        >>> enabled(False), enabled(True)
        (False, True)
    """
    if show is not None:
        return bool(show)
    if _settings["quiet"]:
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def bar(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str | None = None,
        unit: str = "it", show: bool | None = None, leave: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr, drawn when :func:`enabled` says so (``show`` overrides the rule).

    Example:
        >>> sum(bar(range(4), desc="add", show=False))
        6
    """
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not enabled(show), leave=leave,
                dynamic_ncols=True, file=sys.stderr, **kwargs)


def problems_block(what: str, problems: Sequence[tuple[str, str]], *, verbose: bool | None = None,
                   shown: int = SHOWN, where: str | None = None) -> str | None:
    """One block naming ``(name, reason)`` problems: a count line, then the first ``shown`` (every one
    when ``verbose``, default: the ``--verbose`` switch), then how many more; None when there are none.

    Example:
        >>> print(problems_block("videos failed", [(f"v{i}", "no file") for i in range(7)], shown=2,
        ...                      verbose=False, where="out/failures.json"))
        7 videos failed (all listed in out/failures.json):
          v0: no file
          v1: no file
          ... and 5 more (--verbose lists all)
    """
    if not problems:
        return None
    verbose = _settings["verbose"] if verbose is None else verbose
    head = f"{len(problems)} {what}" + (f" (all listed in {where})" if where else "") + ":"
    listed = problems if verbose else problems[:shown]
    lines = [head, *(f"  {name}: {reason}" for name, reason in listed)]
    if len(listed) < len(problems):
        lines.append(f"  ... and {len(problems) - len(listed)} more (--verbose lists all)")
    return "\n".join(lines)


def say(text: str) -> None:
    """Print a result line to stdout without tearing a bar that is being drawn on stderr.

    Example:
        >>> say("clip.mp4\\ta man is cooking")
        clip.mp4	a man is cooking
    """
    tqdm.write(text, file=sys.stdout)
    sys.stdout.flush()
