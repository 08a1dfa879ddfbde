"""Decode only the sampled frames of a video, as RGB uint8, with their indices and timestamps.

Frames between samples are skipped with ``grab()``, which demuxes and decodes but skips colour
conversion and the copy to numpy; only sampled frames are ``retrieve()``d. Across a gap of at least
``SEEK_MIN_GAP`` frames the reader seeks instead (FFmpeg then decodes only from the keyframe before the
target), but only where the landing point can be trusted: the metadata came from the container (no
fallbacks), the frames grabbed so far had presentation times matching ``index / fps``, and OpenCV
reports landing exactly on the target. Otherwise it grabs, which is always exact.

Videos shorter than their header claims: when the stream ends before the last sampled index, the
frames that exist are counted, the sampling is re-done over that real count (the same rule, so indices
stay exact), those frames are decoded, and the correction is logged and recorded in
``clip.info.fallbacks``.

Clip backbones: ``windows=ClipWindows(...)`` also reads a window of frames around every sampled
position (:mod:`vidcap.video.clip_windows`). Sampled and window frames are decoded together, each
distinct frame once: ``clip.window_frames`` holds them in index order and ``clip.windows`` (T, L) says
which rows make each window (``clip.window_indices``: their frame numbers).

Example:
    >>> clip = read_clip("clip.mp4", Sampling(frames=8), max_side=256)   # doctest: +SKIP
    >>> clip.frames.shape, clip.indices[:3], clip.timestamps[:3]          # doctest: +SKIP
    ((8, 144, 256, 3), array([ 28,  84, 140]), array([0.933, 2.8  , 4.667]))
"""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass

import cv2
import numpy as np

from vidcap.errors import UsageError
from vidcap.video.capture import Capture, VideoError
from vidcap.video.clip_windows import ClipWindows
from vidcap.video.probe import VideoInfo, probe_capture
from vidcap.video.sampling import MIN_FRAMES, Sampling, _window, sample_indices

__all__ = ["MAX_CLIP_BYTES", "SEEK_MIN_GAP", "Clip", "read_clip"]

log = logging.getLogger(__name__)

# A seek costs decoding from the previous keyframe (x264's default keyframe interval is 250 frames),
# so below this gap grabbing forward is as cheap and needs no trust in timestamps.
SEEK_MIN_GAP = 300
MAX_CLIP_BYTES = 2 << 30  # refuse to hold more than 2 GiB of frames: use max_side or fewer frames


@dataclass
class Clip:
    """Sampled frames (N, H, W, 3) uint8 RGB, their frame indices (int64) and timestamps (s, float64).

    Read with ``windows``: ``window_frames`` (U, H, W, 3) every distinct frame decoded, ``windows`` (N, L)
    rows of it forming each sampled position's window, ``window_indices`` (N, L) their frame numbers.
    """

    frames: np.ndarray
    indices: np.ndarray
    timestamps: np.ndarray
    info: VideoInfo
    window_frames: np.ndarray | None = None
    windows: np.ndarray | None = None
    window_indices: np.ndarray | None = None


def _output_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


class _Reader:
    """Reads chosen frames in increasing order from one Capture, grabbing or seeking between them."""

    def __init__(self, cap: Capture, info: VideoInfo, max_side: int | None):
        self.cap, self.info, self.max_side = cap, info, max_side
        # Seeking trusts the container's fps and timestamps; any fallback means they are wrong somewhere.
        self.may_seek = not info.fallbacks
        self.size: tuple[int, int] | None = None  # output (width, height), fixed by the first frame

    def _timestamps_agree(self) -> bool:
        expected = (self.cap.next_index - 1) * 1000.0 / self.info.fps
        return abs(self.cap.msec() - expected) <= 500.0 / self.info.fps  # within half a frame

    def _goto(self, target: int) -> bool:
        """Make ``target`` the last grabbed frame; False if the stream ends first."""
        cap = self.cap
        if cap.next_index > target:
            cap.rewind()
        if self.may_seek and target - cap.next_index >= SEEK_MIN_GAP:
            if cap.seek(target):
                log.debug("%s: seeked to frame %d", cap.path, target)
            else:
                log.debug("%s: seeking to frame %d was not exact; grabbing instead", cap.path, target)
                self.may_seek = False
        while cap.next_index <= target:
            if not cap.grab():
                return False
            if self.may_seek and not self._timestamps_agree():
                log.debug("%s: frame %d is not at index / fps; not seeking", cap.path, cap.next_index - 1)
                self.may_seek = False
        return True

    def _frame(self) -> np.ndarray:
        bgr = self.cap.retrieve()
        if self.size is None:
            self.size = _output_size(bgr.shape[1], bgr.shape[0], self.max_side)
        if (bgr.shape[1], bgr.shape[0]) != self.size:  # downscale, or a mid-stream size change
            bgr = cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def read(self, indices: np.ndarray) -> list[np.ndarray] | int:
        """Frames at the sorted distinct ``indices``, or the real frame count if the video ends early."""
        frames = []
        for target in indices.tolist():
            if not self._goto(target):
                return self.cap.next_index
            frames.append(self._frame())
        return frames


def _check_memory(info: VideoInfo, n: int, max_side: int | None) -> None:
    width, height = _output_size(info.width, info.height, max_side)
    size = n * width * height * 3
    if size > MAX_CLIP_BYTES:
        raise VideoError(info.path, f"{n} frames of {width}×{height} need {size / 2**30:.1f} GiB; "
                                    "sample fewer frames or downscale (max_side)")


def read_clip(path: str | os.PathLike[str], sampling: Sampling = Sampling(), *,
              max_side: int | None = None, windows: ClipWindows | None = None) -> Clip:
    """Decode the frames ``sampling`` selects from ``path`` as RGB uint8, with indices and timestamps.

    ``max_side`` shrinks frames (area interpolation) so that neither side exceeds it; ``windows`` also
    reads a window of frames around each sampled one (see the module docstring). Raises
    VideoError for every unusable file, UsageError for a bad ``max_side``.

    Example:
        >>> clip = read_clip("intel_walk.mkv", Sampling(frames=4))   # doctest: +SKIP
        >>> clip.indices.tolist(), clip.frames.shape                  # doctest: +SKIP
        ([11, 33, 55, 77], (4, 480, 640, 3))
    """
    if max_side is not None and (isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 1):
        raise UsageError(f"max_side must be a whole number of pixels >= 1, got {max_side!r}")
    with Capture(path) as cap:
        info = probe_capture(cap)
        indices, timestamps, spans = _plan(info, sampling, windows)
        wanted, where = np.unique(np.concatenate([indices, spans.ravel()]), return_inverse=True)
        # what is held at the end: the sampled frames, plus every distinct window frame
        _check_memory(info, len(indices) + (0 if windows is None else len(wanted)), max_side)
        frames = _Reader(cap, info, max_side).read(wanted)
        if isinstance(frames, int):
            real = frames
            if real < MIN_FRAMES:
                raise VideoError(path, f"only {real} of the {info.frame_count} frames the container states "
                                       "decode (truncated or corrupt video?)")
            note = (f"the container states {info.frame_count} frames; {real} decode "
                    "(sampled over those)")
            log.warning("%s: %s", path, note)
            info = dataclasses.replace(info, frame_count=real, duration=real / info.fps,
                                       fallbacks=(*info.fallbacks, note))
            indices, timestamps, spans = _plan(info, sampling, windows)
            wanted, where = np.unique(np.concatenate([indices, spans.ravel()]), return_inverse=True)
            frames = _Reader(cap, info, max_side).read(wanted)
            if isinstance(frames, int):  # the stream ended at a different place the second time
                raise VideoError(path, f"decoding is not repeatable: the stream ended after {real}, "
                                       f"then after {frames} frames")
    stacked = np.stack(frames)
    if windows is None:
        if len(wanted) < len(indices):  # repeated indices (more samples than frames): copy, don't re-decode
            stacked = stacked[where]
        return Clip(frames=stacked, indices=indices, timestamps=timestamps, info=info)
    rows = where[len(indices):].reshape(spans.shape)
    return Clip(frames=stacked[where[:len(indices)]], indices=indices, timestamps=timestamps, info=info,
                window_frames=stacked, windows=rows, window_indices=spans)


def _plan(info: VideoInfo, sampling: Sampling,
          windows: ClipWindows | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sampled indices, their timestamps, and the (T, L) window indices around them ((T, 0) without windows)."""
    indices, timestamps = sample_indices(info, sampling)
    if windows is None:
        return indices, timestamps, np.zeros((len(indices), 0), np.int64)
    return indices, timestamps, windows.indices(indices, *_window(info, sampling))
