"""Windows of consecutive frames around the sampled frame positions, for clip (3D) backbones.

A clip backbone (R(2+1)D, S3D, Swin3D …) reads a short stack of frames, not one frame. To line its
features up with the frame streams, each of the T positions :func:`vidcap.video.sample_indices` picks
(the same positions an image backbone reads for ``--frames T``) gets one window of ``length`` frames,
``stride`` frames apart, with the sampled frame at position ``length // 2``
(``centre - (length // 2) * stride`` … ``centre + (length - 1 - length // 2) * stride``).

Ends: a window that would reach before the first or past the last frame of the sampling window
``[lo, hi)`` (the video, or ``--start``/``--end``) is *shifted* inside it, keeping all its frames
distinct; the shift is visible in the recorded indices. Where the sampled range is shorter than a
window's span, the window starts at ``lo`` and its positions past the last frame repeat that last frame.

The windows of neighbouring positions overlap whenever T × span exceeds the video; the decoder reads
every distinct frame once (``read_clip(..., windows=)``), never once per window.

Example:
    >>> w = ClipWindows(length=4, stride=2)
    >>> w.indices(np.array([1, 10, 19]), 0, 20).tolist()     # first shifted right, last shifted left
    [[0, 2, 4, 6], [6, 8, 10, 12], [13, 15, 17, 19]]
    >>> w.indices(np.array([1, 3]), 0, 5).tolist()           # 5 frames < span 7: the last one repeats
    [[0, 2, 4, 4], [0, 2, 4, 4]]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vidcap.errors import UsageError

__all__ = ["ClipWindows"]

MAX_LENGTH = 512  # frames per window; far above any Kinetics model's clip (16 to 128)
MAX_STRIDE = 64


@dataclass(frozen=True)
class ClipWindows:
    """``length`` frames ``stride`` apart around each sampled position; see the module docstring."""

    length: int
    stride: int = 1

    def __post_init__(self) -> None:
        for name, value, top in (("clip_len", self.length, MAX_LENGTH), ("clip_stride", self.stride, MAX_STRIDE)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= top:
                raise UsageError(f"{name}={value!r}: choose a whole number of frames from 1 to {top}")
            object.__setattr__(self, "length" if name == "clip_len" else "stride", int(value))

    @property
    def span(self) -> int:
        """Frames from a window's first to its last, both included."""
        return (self.length - 1) * self.stride + 1

    def indices(self, centres: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """(T, length) int64 frame indices of the windows around ``centres``, inside ``[lo, hi)``.

        Example:
            >>> ClipWindows(3).indices(np.array([0, 5, 9]), 0, 10).tolist()
            [[0, 1, 2], [4, 5, 6], [7, 8, 9]]
        """
        if hi <= lo:
            raise ValueError(f"empty frame range [{lo}, {hi})")
        centres = np.asarray(centres, dtype=np.int64)
        first = centres - (self.length // 2) * self.stride
        first = np.clip(first, lo, max(lo, hi - self.span))  # shifted inside; at lo when the range is short
        offsets = np.arange(self.length, dtype=np.int64) * self.stride
        return np.minimum(first[:, None] + offsets[None, :], hi - 1)

    def describe(self) -> dict[str, Any]:
        """How windows are placed, for the feature spec's preprocessing record."""
        return {"clip_len": self.length, "clip_stride": self.stride, "clip_centre": self.length // 2,
                "clip_ends": "shifted inside the sampled range",
                "clip_short": "last frame repeated where the range is shorter than a window"}
