"""Segments of a long video at its shot boundaries (PySceneDetect), for per-segment captions.

PySceneDetect's ``ContentDetector`` finds the frames where a new shot starts (a jump in hue, saturation
and brightness between consecutive frames); it decodes with OpenCV, vidcap's own decoder. A cut at frame
``k`` is the time ``k / fps``, the start of that frame (vidcap.video.sampling's convention), so a segment
``[start, end)`` holds exactly the frames of its shot. :func:`scene_spans` then makes usable caption
segments of the cuts: a shot shorter than ``min_seconds`` joins the one after it (the last joins the one
before), a shot longer than ``max_seconds`` is cut into equal parts no longer than that.

Example:
    >>> scene_spans(20.0, [1.0, 6.0, 6.5, 9.0], min_seconds=2.0, max_seconds=8.0)
    [(0.0, 6.0), (6.0, 9.0), (9.0, 14.5), (14.5, 20.0)]
    >>> SceneCuts(min_seconds=2, max_seconds=30)("long.mp4")          # doctest: +SKIP
    [(0.0, 12.48), (12.48, 31.2), ...]
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Callable, Sequence

from vidcap.errors import UsageError
from vidcap.video.capture import VideoError
from vidcap.video.probe import probe

__all__ = ["SEGMENTERS", "SceneCuts", "scene_spans"]

_EPS = 1e-9


def scene_spans(duration: float, cuts: Sequence[float], *, min_seconds: float,
                max_seconds: float) -> list[tuple[float, float]]:
    """Consecutive ``[start, end)`` segments covering ``[0, duration)``, split at ``cuts`` (seconds) with
    the minimum and maximum lengths applied (see the module docstring).

    Example:
        >>> scene_spans(10.0, [4.0], min_seconds=1.0, max_seconds=30.0)
        [(0.0, 4.0), (4.0, 10.0)]
        >>> scene_spans(10.0, [], min_seconds=1.0, max_seconds=4.0)   # three equal parts of one long shot
        [(0.0, 3.3333333333333335), (3.3333333333333335, 6.666666666666667), (6.666666666666667, 10.0)]
    """
    if not (0 < min_seconds <= max_seconds) or not math.isfinite(max_seconds):
        raise UsageError(f"scene segments need 0 < minimum <= maximum length, got {min_seconds!r} and "
                         f"{max_seconds!r} seconds")
    if not math.isfinite(duration) or duration <= 0:
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    kept = [0.0]
    for cut in sorted(c for c in cuts if 0 < c < duration):
        if cut - kept[-1] >= min_seconds - _EPS:  # a shorter shot runs on into the next
            kept.append(float(cut))
    if len(kept) > 1 and duration - kept[-1] < min_seconds - _EPS:
        kept.pop()  # a short last shot joins the one before
    bounds = [*kept, float(duration)]
    spans: list[tuple[float, float]] = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        parts = max(1, math.ceil((end - start) / max_seconds - _EPS))
        edges = [start + (end - start) * k / parts for k in range(parts)] + [end]
        spans += list(zip(edges[:-1], edges[1:]))
    return spans


@dataclass(frozen=True)
class SceneCuts:
    """A segmenter: ``SceneCuts(...)(path)`` → the ``[start, end)`` segments of the video at ``path``.

    ``threshold`` is ContentDetector's (higher: fewer cuts; its default 27 suits hard cuts in ordinary
    footage).
    """

    min_seconds: float = 2.0
    max_seconds: float = 30.0
    threshold: float = 27.0

    def __post_init__(self) -> None:
        scene_spans(1.0, [], min_seconds=self.min_seconds, max_seconds=self.max_seconds)  # check the lengths
        if not (isinstance(self.threshold, (int, float)) and 0 < self.threshold < 256):
            raise UsageError(f"scene threshold must be in (0, 255], got {self.threshold!r}")

    def cuts(self, path: str | os.PathLike[str]) -> list[float]:
        """The times (s) where a new shot starts, in order (0 itself is not a cut).

        Example:
            >>> SceneCuts().cuts("two_shots.mp4")                               # doctest: +SKIP
            [4.0]
        """
        from scenedetect import ContentDetector, detect
        from scenedetect.video_stream import VideoOpenFailure

        logging.getLogger("pyscenedetect").setLevel(logging.WARNING)  # it logs every run at INFO
        try:
            # min_scene_len=1: every cut is reported; scene_spans decides which shots are too short.
            scenes = detect(str(path), ContentDetector(threshold=float(self.threshold), min_scene_len=1))
        except (VideoOpenFailure, OSError) as err:
            raise VideoError(str(path), f"shot detection could not read it ({err})") from None
        # FrameTimecode.seconds from PySceneDetect 0.7 (get_seconds() before, deprecated since)
        return [float(start.seconds) if hasattr(start, "seconds") else start.get_seconds() for start, _ in scenes[1:]]

    def __call__(self, path: str | os.PathLike[str]) -> list[tuple[float, float]]:
        return scene_spans(probe(path).duration, self.cuts(path), min_seconds=self.min_seconds,
                           max_seconds=self.max_seconds)


# Segmenters by name (``vidcap caption --segment NAME``, ``Captioner.describe(segment=NAME)``): each
# builds, from its options, a callable path → [start, end) segments. A number of seconds instead of a
# name means fixed windows (vidcap.video.windows).
SEGMENTERS: dict[str, Callable[..., Callable[[str | os.PathLike[str]], list[tuple[float, float]]]]] = {
    "scenes": SceneCuts}
