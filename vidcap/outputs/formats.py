"""One file per video and format for ``vidcap caption --output-dir DIR --output-format srt,vtt,json,png|all``.

Each format is a writer in the ``OUTPUT_FORMATS`` registry, called as ``writer(path, captions)`` with a
:class:`VideoCaptions`; the file is ``DIR/<video stem>.<format>``. The JSON file holds the whole-video
caption and every segment with its start and end in seconds:

    {"video": "clips/a.mp4", "video_id": "a", "caption": "...", "duration": 12.0,
     "segments": [{"start": 0.0, "end": 10.0, "caption": "..."}, ...]}

Example:
    >>> sorted(OUTPUT_FORMATS.names())
    ['json', 'png', 'srt', 'vtt']
    >>> output_formats("srt,json"), output_formats("all")
    (['srt', 'json'], ['srt', 'vtt', 'json', 'png'])
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidcap.errors import UsageError
from vidcap.files import write_json
from vidcap.outputs.preview import save_preview
from vidcap.outputs.subtitles import Segment, write_srt, write_vtt
from vidcap.registry import Registry

__all__ = ["OUTPUT_FORMATS", "VideoCaptions", "output_formats", "output_paths", "write_outputs"]


@dataclass(frozen=True)
class VideoCaptions:
    """What captioning one video produced: the whole-video caption, its segments, and the sampled
    frames (with their times) that the preview shows; ``attention`` is ``(words, weights, positions)``."""

    video: Path
    caption: str
    segments: Sequence[Segment]
    duration: float
    frames: np.ndarray
    timestamps: Sequence[float] | np.ndarray
    attention: Any = None


Writer = Callable[[Path, VideoCaptions], Path]
OUTPUT_FORMATS: Registry[Writer] = Registry("output format")
# The order "all" expands to (and the order files are written in).
ORDER = ("srt", "vtt", "json", "png")


@OUTPUT_FORMATS.register("srt")
def _srt(path: Path, item: VideoCaptions) -> Path:
    return write_srt(path, item.segments)


@OUTPUT_FORMATS.register("vtt")
def _vtt(path: Path, item: VideoCaptions) -> Path:
    return write_vtt(path, item.segments)


@OUTPUT_FORMATS.register("json")
def _json(path: Path, item: VideoCaptions) -> Path:
    return write_json(path, {"video": str(item.video), "video_id": item.video.stem, "caption": item.caption,
                             "duration": float(item.duration),
                             "segments": [{"start": float(s.start), "end": float(s.end), "caption": s.caption}
                                          for s in item.segments]})


@OUTPUT_FORMATS.register("png")
def _png(path: Path, item: VideoCaptions) -> Path:
    return save_preview(path, item.frames, item.timestamps, item.caption, attention=item.attention)


def output_formats(text: str) -> list[str]:
    """``--output-format``'s value: comma-separated format names, or ``all``; an unknown name is a
    UsageError that suggests the closest one.

    Example:
        >>> output_formats("SRT")
        Traceback (most recent call last):
        ...
        vidcap.registry.UnknownNameError: unknown output format 'SRT'; choose one of: ... Did you mean 'srt'?
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UsageError(f"--output-format {text!r}: name one or more of {', '.join(ORDER)} (comma-separated), or all")
    if names == ["all"]:
        return [n for n in ORDER if n in OUTPUT_FORMATS.names()] + sorted(set(OUTPUT_FORMATS.names()) - set(ORDER))
    for name in names:
        OUTPUT_FORMATS.get(name)
    return list(dict.fromkeys(names))


def output_paths(out_dir: str | os.PathLike[str], video: Path, formats: Sequence[str]) -> dict[str, Path]:
    """Where ``video``'s files go: ``{format: out_dir/<stem>.<format>}``.

    Example:
        >>> output_paths("out", Path("clips/a.mp4"), ["srt", "json"])
        {'srt': PosixPath('out/a.srt'), 'json': PosixPath('out/a.json')}
    """
    return {fmt: Path(out_dir) / f"{video.stem}.{fmt}" for fmt in formats}


def write_outputs(out_dir: str | os.PathLike[str], item: VideoCaptions, formats: Sequence[str]) -> list[Path]:
    """Write ``item`` in each of ``formats`` into ``out_dir`` (created); returns the paths written.

    Example:
        >>> write_outputs("out", captions, ["srt", "json"])      # doctest: +SKIP
        [PosixPath('out/a.srt'), PosixPath('out/a.json')]
    """
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    return [OUTPUT_FORMATS.get(fmt)(path, item) for fmt, path in output_paths(out_dir, item.video, formats).items()]
