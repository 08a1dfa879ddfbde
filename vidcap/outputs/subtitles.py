"""Per-segment captions as subtitles: SubRip (``.srt``) and WebVTT (``.vtt``).

Example:
    >>> segs = [Segment(0.0, 4.0, "a man walks"), Segment(4.0, 7.5, "he sits down")]
    >>> print(format_srt(segs), end="")
    1
    00:00:00,000 --> 00:00:04,000
    a man walks
    <BLANKLINE>
    2
    00:00:04,000 --> 00:00:07,500
    he sits down
    >>> format_vtt(segs).splitlines()[:3]
    ['WEBVTT', '', '00:00:00.000 --> 00:00:04.000']
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from vidcap.files import write_atomic

__all__ = ["Segment", "format_srt", "format_vtt", "write_srt", "write_vtt"]


@dataclass(frozen=True)
class Segment:
    """A caption for the time span ``[start, end)`` of a video, in seconds."""

    start: float
    end: float
    caption: str

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end) and 0 <= self.start < self.end):
            raise ValueError(f"a segment needs 0 <= start < end (seconds), got {self.start!r}..{self.end!r}")


def _clock(seconds: float, separator: str) -> str:
    ms = round(seconds * 1000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def _one_line(caption: str) -> str:
    # A blank line ends a cue in both formats, so captions are kept on one line.
    return " ".join(caption.split())


def format_srt(segments: Iterable[Segment]) -> str:
    """SubRip text: numbered cues from 1, ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, blank line between cues."""
    cues = [f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{_one_line(s.caption)}\n"
            for i, s in enumerate(segments, start=1)]
    return "\n".join(cues)


def format_vtt(segments: Iterable[Segment]) -> str:
    """WebVTT text: ``WEBVTT`` header, ``HH:MM:SS.mmm`` times, ``& < >`` escaped as the format needs."""
    def escape(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    cues = [f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{escape(_one_line(s.caption))}\n"
            for s in segments]
    return "\n".join(["WEBVTT\n", *cues])


def write_srt(path: str | os.PathLike[str], segments: Iterable[Segment]) -> Path:
    """Write ``segments`` as a SubRip file (UTF-8, atomically).

    Example:
        >>> write_srt("clip.srt", [Segment(0, 5, "a cat sleeps")])    # doctest: +SKIP
    """
    return write_atomic(path, format_srt(segments))


def write_vtt(path: str | os.PathLike[str], segments: Iterable[Segment]) -> Path:
    """Write ``segments`` as a WebVTT file (UTF-8, atomically).

    Example:
        >>> write_vtt("clip.vtt", [Segment(0, 5, "a cat sleeps")])    # doctest: +SKIP
    """
    return write_atomic(path, format_vtt(segments))
