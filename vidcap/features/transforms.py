"""Picklable frame transforms that run in the decoding workers: uint8 NHWC → uint8 NCHW.

They resize with OpenCV on uint8 data (INTER_AREA when shrinking, INTER_LINEAR when enlarging, unless a
transform names the interpolation its model was trained with), which costs a fraction of a float resize
and keeps the tensor sent to the main process small. Normalisation happens later, on the model's device
(``Backbone.normalize``).

Example:
    >>> frames = np.zeros((2, 240, 320, 3), np.uint8)
    >>> ResizeCenterCrop(size=224, resize=256)(frames).shape
    (2, 3, 224, 224)
    >>> Letterbox(imgsz=640)(frames).shape
    (2, 3, 640, 640)
    >>> Stretch(size=64)(frames).shape
    (2, 3, 64, 64)
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


# Interpolations by the names timm/torchvision configs use. OpenCV's cubic is not PIL's: PIL widens its
# filter when shrinking (antialiasing), OpenCV does not (effect measured in docs/features.md).
INTERPOLATIONS = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC,
                  "area": cv2.INTER_AREA, "lanczos": cv2.INTER_LANCZOS4}


def _resize(frame: np.ndarray, width: int, height: int, interpolation: str | None = None) -> np.ndarray:
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    if interpolation is not None:
        return cv2.resize(frame, (width, height), interpolation=INTERPOLATIONS[interpolation])
    shrinking = width * height < frame.shape[0] * frame.shape[1]
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _to_nchw(frames: list[np.ndarray]) -> np.ndarray:
    return np.ascontiguousarray(np.stack(frames).transpose(0, 3, 1, 2))


@dataclass(frozen=True)
class ResizeCenterCrop:
    """Resize the shorter side to ``resize``, then crop the centre ``size``×``size`` (torchvision's
    ImageNet evaluation transform, e.g. 256 → 224); ``interpolation`` is one of ``INTERPOLATIONS`` (None:
    area when shrinking, linear when enlarging)."""

    size: int
    resize: int
    interpolation: str | None = None

    def __post_init__(self) -> None:
        if self.interpolation is not None and self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation {self.interpolation!r}: choose one of {', '.join(INTERPOLATIONS)}")

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        h, w = frames.shape[1:3]
        scale = self.resize / min(h, w)
        nw, nh = max(self.size, round(w * scale)), max(self.size, round(h * scale))
        top, left = (nh - self.size) // 2, (nw - self.size) // 2
        return _to_nchw([_resize(f, nw, nh, self.interpolation)[top:top + self.size, left:left + self.size]
                         for f in frames])


@dataclass(frozen=True)
class Stretch:
    """Resize the whole frame to ``size``×``size``: nothing is cropped, the aspect ratio is not kept."""

    size: int

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        return _to_nchw([_resize(f, self.size, self.size) for f in frames])


@dataclass(frozen=True)
class Letterbox:
    """Scale the longer side to ``imgsz`` keeping the aspect ratio, pad to a square with grey (114, as
    ultralytics does for inference) or another colour (one value, or one per RGB channel)."""

    imgsz: int
    pad_value: int | tuple[int, int, int] = 114

    def params(self, height: int, width: int) -> tuple[float, int, int, int, int]:
        """(scale, new width, new height, left pad, top pad) for a frame of this size."""
        scale = self.imgsz / max(height, width)
        nw, nh = max(1, round(width * scale)), max(1, round(height * scale))
        return scale, nw, nh, (self.imgsz - nw) // 2, (self.imgsz - nh) // 2

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        _, nw, nh, left, top = self.params(*frames.shape[1:3])
        out = np.full((len(frames), self.imgsz, self.imgsz, 3), self.pad_value, np.uint8)
        for dst, frame in zip(out, frames):
            dst[top:top + nh, left:left + nw] = _resize(frame, nw, nh)
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))

    def unletterbox(self, boxes: np.ndarray, height: int, width: int) -> np.ndarray:
        """xyxy boxes in letterboxed-input pixels → xyxy normalised to the original frame, clipped."""
        scale, _, _, left, top = self.params(height, width)
        out = (boxes - np.array([left, top, left, top], boxes.dtype)) / scale
        out /= np.array([width, height, width, height], boxes.dtype)
        return np.clip(out, 0.0, 1.0)
