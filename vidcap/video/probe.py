"""Video metadata (fps, frame count, duration, size, codec) with fallbacks where the container lies.

Containers are often wrong: Matroska/WebM files may state a frame rate of thousands (their time base),
AVI headers can claim frames that are not there, streams can report 0 or negative frame counts. The
rules, applied in order:

* frame size: 0×0 means no video stream; a side above ``MAX_FRAME_SIDE`` is refused (VideoError).
* fps is plausible when finite and in (0, ``MAX_FPS``]; the frame count when it is a whole number in
  [1, ``MAX_FRAME_COUNT``].
* If either is implausible, every frame is grabbed once (no colour conversion): the count becomes the
  number of frames that decode, and an implausible fps is replaced by the rate of the frames'
  presentation timestamps, ``(count - 1) / (last - first)``; when the timestamps give no plausible
  rate either, ``DEFAULT_FPS`` is assumed with a warning.
* Each fallback is logged and recorded in ``VideoInfo.fallbacks``; an empty tuple means every number
  came from the container.

A count that is plausible but too high is only discovered while decoding; ``read_clip`` handles that.

Example:
    >>> info = probe("clip.mp4")                        # doctest: +SKIP
    >>> info.fps, info.frame_count, info.duration, info.fallbacks   # doctest: +SKIP
    (30.0, 450, 15.0, ())
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

import cv2

from vidcap.video.capture import Capture, VideoError

__all__ = ["DEFAULT_FPS", "MAX_FPS", "MAX_FRAME_COUNT", "MAX_FRAME_SIDE", "VideoInfo", "probe",
           "probe_capture"]

log = logging.getLogger(__name__)

MAX_FPS = 1000.0             # above this a stated rate is a time base, not a frame rate
DEFAULT_FPS = 25.0           # FFmpeg's own guess when a stream states no rate
MAX_FRAME_COUNT = 100_000_000  # ~38 days at 30 fps: larger counts are garbage
MAX_FRAME_SIDE = 16384       # no real codec profile goes beyond; larger sizes are corrupt headers


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a video file; ``duration == frame_count / fps`` (seconds).

    ``codec`` is the stream's FourCC as OpenCV reports it (``h264``, ``FMP4``, ``MJPG``, ``VP90`` …);
    ``fallbacks`` says which numbers did not come from the container, and why.
    """

    path: str
    fps: float
    frame_count: int
    duration: float
    width: int
    height: int
    codec: str
    fallbacks: tuple[str, ...] = ()


def _fourcc(value: float) -> str:
    code = int(value)
    text = "".join(chr((code >> 8 * i) & 0xFF) for i in range(4))
    return text.strip("\0 ") if text.isprintable() else f"0x{code:08x}"


def plausible_fps(fps: float) -> bool:
    return math.isfinite(fps) and 0 < fps <= MAX_FPS


def _plausible_count(count: float) -> bool:
    return math.isfinite(count) and count == int(count) and 1 <= count <= MAX_FRAME_COUNT


def _scan(cap: Capture) -> tuple[int, float, float]:
    """Grab every remaining frame: (frames, first and last presentation time in ms)."""
    first = last = math.nan
    while cap.grab():
        last = cap.msec()
        if cap.next_index == 1:
            first = last
    return cap.next_index, first, last


def probe_capture(cap: Capture) -> VideoInfo:
    """Metadata of an open capture; may grab frames (then ``cap.next_index > 0``)."""
    path = cap.path
    width, height = int(cap.prop(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.prop(cv2.CAP_PROP_FRAME_HEIGHT))
    if width <= 0 or height <= 0:
        raise VideoError(path, f"no video stream (frame size {width}×{height})")
    if max(width, height) > MAX_FRAME_SIDE:
        raise VideoError(path, f"absurd frame size {width}×{height} "
                               f"(the limit is {MAX_FRAME_SIDE} per side)")
    fps, count = cap.prop(cv2.CAP_PROP_FPS), cap.prop(cv2.CAP_PROP_FRAME_COUNT)
    fallbacks: list[str] = []
    if not (plausible_fps(fps) and _plausible_count(count)):
        frames, first, last = _scan(cap)
        if frames == 0:
            raise VideoError(path, "no frame could be decoded (truncated or corrupt video?)")
        if frames != count:
            fallbacks.append(f"the container states {count:g} frames; {frames} decode")
        count = frames
        if not plausible_fps(fps):
            derived = (frames - 1) * 1000.0 / (last - first) if frames > 1 and last > first else math.nan
            if plausible_fps(derived):
                fallbacks.append(f"the container states {fps:g} fps; the timestamps give {derived:.4g}")
                fps = derived
            else:
                fallbacks.append(f"the container states {fps:g} fps and the timestamps give no rate; "
                                 f"assumed {DEFAULT_FPS:g}")
                fps = DEFAULT_FPS
        for note in fallbacks:
            log.warning("%s: %s", path, note)
    return VideoInfo(path=str(path), fps=float(fps), frame_count=int(count), duration=int(count) / fps,
                     width=width, height=height, codec=_fourcc(cap.prop(cv2.CAP_PROP_FOURCC)),
                     fallbacks=tuple(fallbacks))


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Metadata of a video file (fps, frame count, duration, size, codec), checked as described above.

    Raises VideoError (missing/empty/unreadable file, no video stream, absurd size, nothing decodes).

    Example:
        >>> probe("intel_car-detection.mp4").frame_count    # doctest: +SKIP
        377
    """
    with Capture(path) as cap:
        return probe_capture(cap)
