"""Which frames to take from a video: N uniformly, or at a fixed rate, inside an optional time window.

Frame ``i`` is shown during ``[i / fps, (i + 1) / fps)``; a window ``[start, end)`` (seconds) covers
the frames shown during it, ``lo = floor(start * fps)`` up to ``hi = ceil(end * fps)`` (exclusive),
clipped to the video. Timestamps are always ``index / fps``.

* ``frames=N``: the centre frame of each of N equal segments of ``[lo, hi)``, computed in integers:
  ``lo + (2k + 1) * (hi - lo) // (2N)``. A window with fewer than N frames repeats frames, so every
  clip yields exactly N (the decoder reads each distinct frame once).
* ``fps=R``: the frame shown at ``start + k / R`` for every such time before the window's end; a rate
  above the video's would repeat frames, so each distinct frame is kept once.
* ``stride=S`` (with ``margin=M``, ``window=W``, ``frames=N``, all optional): every S-th frame from
  ``lo + M`` up to ``hi - M`` (each taken frame has M frames before it and M after it, counting itself:
  the centre of a 2M-frame clip), the first W of those, then N spread over the W positions as
  ``np.linspace(0, W - 1, N)`` truncated to integers. Positions past the last strided frame are dropped
  (a short clip yields fewer frames). This is the extraction of hobincar/SA-LSTM's features
  (hobincar/pytorch-video-feature-extractor ``commons.py`` ``sample_frames``: stride 5 from frame 8;
  hobincar/SA-LSTM ``loader/data_loader.py``: the first 60, 28 spread over them), which pads a short
  clip's missing positions with zero features instead.

Example:
    >>> info = VideoInfo("v.mp4", fps=10.0, frame_count=100, duration=10.0, width=64, height=48, codec="h264")
    >>> sample_indices(info, Sampling(frames=4))[0].tolist()
    [12, 37, 62, 87]
    >>> idx, ts = sample_indices(info, Sampling.from_options(fps=0.5, start=2.0, end=7.0))
    >>> idx.tolist(), ts.tolist()
    ([20, 40, 60], [2.0, 4.0, 6.0])
    >>> sample_indices(info, Sampling(frames=4, stride=5, margin=8, window=10))[0].tolist()
    [8, 23, 38, 53]
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import numpy as np

from vidcap.errors import UsageError
from vidcap.video.capture import VideoError
from vidcap.video.probe import VideoInfo

__all__ = ["DEFAULT_FRAMES", "MIN_FRAMES", "Sampling", "sample_indices", "windows"]

DEFAULT_FRAMES = 28  # the usual MSR-VTT setting (S2VT, SA-LSTM, …)
# A sampling is read from checkpoints, model folders and stores (untrusted): a frame count decides how many
# frames are decoded and held at once (uniform positions repeat past a video's end), and a rate how many
# sample times are computed. The papers use at most 80 frames; dense sampling of long videos is `fps`.
MAX_FRAMES = 4096
MAX_FPS = 1000.0
MIN_FRAMES = 2       # a single frame is a still image, not a video
_STRIDED = ("stride", "margin", "window")
_EPS = 1e-6          # in frames: absorbs float error in time × fps (1/3 s × 30 fps = 10.000000000000002)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"sampling {name} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Sampling:
    """How to sample a video: ``frames`` uniformly (default 28) *or* at ``fps`` *or* every ``stride``-th
    frame (``margin``, ``window`` and ``frames`` then shape it; see the module docstring), within
    [start, end) s.

    Invalid values raise UsageError. Use :meth:`from_options` for command-line style input, where
    giving ``fps`` or ``stride`` alone means "no fixed frame count".

    Example:
        >>> Sampling.from_options(fps=2.0, end=10)
        Sampling(frames=None, fps=2.0, start=None, end=10.0, stride=None, margin=None, window=None)
        >>> Sampling.from_dict(Sampling(frames=8).to_dict())
        Sampling(frames=8, fps=None, start=None, end=None, stride=None, margin=None, window=None)
        >>> Sampling(frames=28, stride=5, margin=8, window=60).to_dict()["window"]
        60
    """

    frames: int | None = DEFAULT_FRAMES
    fps: float | None = None
    start: float | None = None
    end: float | None = None
    stride: int | None = None
    margin: int | None = None
    window: int | None = None

    def __post_init__(self) -> None:
        for name in ("stride", "margin", "window"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                      or value < (0 if name == "margin" else 1)):
                raise UsageError(f"sampling {name} must be a whole number >= {0 if name == 'margin' else 1}, "
                                 f"got {value!r}")
            if value is not None:
                object.__setattr__(self, name, int(value))
        if self.window is not None and self.window > MAX_FRAMES:
            raise UsageError(f"sampling window must be at most {MAX_FRAMES} frames, got {self.window!r}")
        if self.stride is not None:
            if self.fps is not None:
                raise UsageError(f"sample every stride-th frame or at a rate (fps), not both (got stride="
                                 f"{self.stride!r}, fps={self.fps!r})")
        elif self.margin is not None or self.window is not None:
            raise UsageError(f"sampling margin and window shape strided sampling: give stride too (got margin="
                             f"{self.margin!r}, window={self.window!r})")
        elif (self.frames is None) == (self.fps is None):
            raise UsageError("sample either a number of frames or a rate (fps), exactly one of them "
                             f"(got frames={self.frames!r}, fps={self.fps!r}; frames defaults to "
                             f"{DEFAULT_FRAMES}, so pass frames=None with fps)")
        if self.frames is not None:
            if isinstance(self.frames, bool) or not isinstance(self.frames, (int, np.integer)) \
                    or self.frames < 1:
                raise UsageError(f"sampling frames must be a whole number >= 1, got {self.frames!r}")
            if self.frames > MAX_FRAMES:
                raise UsageError(f"sampling frames must be at most {MAX_FRAMES} (all held in memory at once), "
                                 f"got {self.frames!r}; sample long videos at a rate (fps) instead")
            object.__setattr__(self, "frames", int(self.frames))
        if self.fps is not None and not 0 < _number("fps", self.fps) <= MAX_FPS:
            raise UsageError(f"sampling fps must be > 0 and at most {MAX_FPS:g}, got {self.fps!r}")
        if self.start is not None and _number("start", self.start) < 0:
            raise UsageError(f"sampling start must be >= 0 seconds, got {self.start!r}")
        if self.end is not None and _number("end", self.end) <= (self.start or 0.0):
            raise UsageError(f"sampling end ({self.end!r} s) must be after start ({self.start or 0.0!r} s)")
        for name in ("fps", "start", "end"):  # store plain floats so to_dict() is stable
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, float(value))

    @classmethod
    def from_options(cls, frames: int | None = None, fps: float | None = None, start: float | None = None,
                     end: float | None = None, stride: int | None = None, margin: int | None = None,
                     window: int | None = None) -> Sampling:
        """From command-line options: neither frames, fps nor stride means the default frame count."""
        if frames is not None and fps is not None:
            raise UsageError("sample either a number of frames or a rate (fps), not both")
        if frames is None and fps is None and stride is None:
            frames = DEFAULT_FRAMES
        return cls(frames=frames, fps=fps, start=start, end=end, stride=stride, margin=margin, window=window)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record (kept in feature stores and checkpoints); the strided keys only when used,
        so a record made before they existed still equals today's."""
        record = asdict(self)
        return {k: v for k, v in record.items() if v is not None or k not in _STRIDED}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Sampling:
        """Inverse of :meth:`to_dict`; unknown keys raise UsageError naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(record) - known)
        if unknown:
            raise UsageError(f"unknown sampling keys {unknown}; valid keys: {sorted(known)}")
        return cls(**{k: record.get(k) for k in known})


def _window(info: VideoInfo, sampling: Sampling) -> tuple[int, int]:
    """The frame range [lo, hi) shown during the sampling window."""
    start = sampling.start or 0.0
    if start >= info.duration:
        raise VideoError(info.path, f"sampling window starts at {start:g} s, at or after the end of the "
                                    f"video ({info.duration:.3f} s)")
    lo = math.floor(start * info.fps + _EPS)
    hi = info.frame_count
    if sampling.end is not None:
        hi = min(hi, math.ceil(sampling.end * info.fps - _EPS))
    return lo, max(hi, lo + 1)  # a window always shows at least the frame on screen at its start


def sample_indices(info: VideoInfo, sampling: Sampling) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices (int64, non-decreasing) and their timestamps in seconds (float64) to decode.

    Raises VideoError when the video has fewer than ``MIN_FRAMES`` frames or the window misses it.

    Example:
        >>> info = VideoInfo("v.mp4", 30.0, 90, 3.0, 64, 48, "h264")
        >>> idx, ts = sample_indices(info, Sampling(frames=3, start=1.0, end=2.0))
        >>> idx.tolist(), ts.round(4).tolist()
        ([35, 45, 55], [1.1667, 1.5, 1.8333])
    """
    if info.frame_count < MIN_FRAMES:
        raise VideoError(info.path, f"only {info.frame_count} frame: a still image, not a video")
    lo, hi = _window(info, sampling)
    if sampling.stride is not None:
        margin = sampling.margin or 0
        taken = np.arange(lo + margin, hi - margin + 1, sampling.stride, dtype=np.int64)[:sampling.window]
        if not len(taken):
            raise VideoError(info.path, f"no frame to take every {sampling.stride} frames with {margin} frames "
                                        f"before and after it: the window has {hi - lo} frames")
        if sampling.frames is not None:
            positions = np.linspace(0, (sampling.window or len(taken)) - 1, sampling.frames).astype(np.int64)
            taken = taken[np.unique(positions[positions < len(taken)])]
        indices = taken
    elif sampling.frames is not None:
        k = np.arange(sampling.frames, dtype=np.int64)
        indices = lo + (2 * k + 1) * (hi - lo) // (2 * sampling.frames)
    else:
        assert sampling.fps is not None
        start, end = sampling.start or 0.0, min(sampling.end or math.inf, info.duration)
        count = max(1, math.ceil((end - start) * sampling.fps - _EPS))
        times = start + np.arange(count, dtype=np.float64) / sampling.fps
        indices = np.unique(np.clip(np.floor(times * info.fps + _EPS).astype(np.int64), lo, hi - 1))
    return indices, indices / info.fps


def windows(duration: float, seconds: float) -> list[tuple[float, float]]:
    """Consecutive ``[start, end)`` windows of ``seconds`` covering ``[0, duration)``, for segment captions.

    A last remainder shorter than half a window is merged into the window before it (a sliver of a
    few frames makes a poor caption).

    Example:
        >>> windows(10.0, 4.0)
        [(0.0, 4.0), (4.0, 8.0), (8.0, 10.0)]
        >>> windows(9.0, 4.0)
        [(0.0, 4.0), (4.0, 9.0)]
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or seconds <= 0:
        raise UsageError(f"segment length must be a positive number of seconds, got {seconds!r}")
    if not math.isfinite(duration) or duration <= 0:
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    count = max(1, math.ceil(duration / seconds - _EPS))
    if count > 1 and duration - (count - 1) * seconds < seconds / 2:
        count -= 1
    bounds = [k * float(seconds) for k in range(count)] + [float(duration)]
    return list(zip(bounds[:-1], bounds[1:]))
