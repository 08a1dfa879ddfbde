"""Picklable frame transforms that run in the decoding workers: uint8 NHWC → uint8 NCHW.

They resize uint8 data — with OpenCV (INTER_AREA when shrinking, INTER_LINEAR when enlarging), or, for
``PilResizeCenterCrop``, with torchvision's antialiased kernels that reproduce PIL — which costs a
fraction of a float resize and keeps the tensor sent to the main process small. Normalisation happens
later, on the model's device (``Backbone.normalize``).

Example:
    >>> frames = np.zeros((2, 240, 320, 3), np.uint8)
    >>> ResizeCenterCrop(size=224, resize=256)(frames).shape
    (2, 3, 224, 224)
    >>> Letterbox(imgsz=640)(frames).shape
    (2, 3, 640, 640)
    >>> Stretch(size=64)(frames).shape
    (2, 3, 64, 64)
    >>> PilResizeCenterCrop(size=224, resize=256, interpolation="bicubic")(frames).shape
    (2, 3, 224, 224)
    >>> VideoResizeCenterCrop(size=112, resize=(128, 171))(np.zeros((5, 2, 240, 320, 3), np.uint8)).shape
    (5, 2, 3, 112, 112)
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torchvision.transforms import functional as TF1
from torchvision.transforms.v2 import functional as TF


def _resize(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    if frame.shape[1] == width and frame.shape[0] == height:
        return frame
    shrinking = width * height < frame.shape[0] * frame.shape[1]
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _to_nchw(frames: list[np.ndarray]) -> np.ndarray:
    return np.ascontiguousarray(np.stack(frames).transpose(0, 3, 1, 2))


@dataclass(frozen=True)
class ResizeCenterCrop:
    """Resize the shorter side to ``resize``, then crop the centre ``size``×``size`` (torchvision's
    ImageNet evaluation transform, e.g. 256 → 224)."""

    size: int
    resize: int

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        h, w = frames.shape[1:3]
        scale = self.resize / min(h, w)
        nw, nh = max(self.size, round(w * scale)), max(self.size, round(h * scale))
        top, left = (nh - self.size) // 2, (nw - self.size) // 2
        return _to_nchw([_resize(f, nw, nh)[top:top + self.size, left:left + self.size] for f in frames])


@dataclass(frozen=True)
class PilResizeCenterCrop:
    """timm's and torchvision's evaluation transform as PIL computes it: shorter side to ``resize``
    (longer side truncated, as ``transforms.Resize(int)``) with an antialiased ``interpolation`` filter,
    then the centre ``size``×``size`` crop (offsets rounded as ``CenterCrop``).

    Runs torchvision's uint8 tensor kernels, which equal PIL's output within one grey level at about
    OpenCV's speed. Why not OpenCV: its bicubic does not widen the filter when shrinking (PIL does:
    antialiasing), and with the real EfficientNet-Lite0 weights that difference decided whether a
    missing normalisation still passed for correct features (docs/features.md).
    """

    size: int
    resize: int
    interpolation: str = "bicubic"

    modes = ("nearest", "bilinear", "bicubic")  # the filters torchvision's tensor kernels have

    def __post_init__(self) -> None:
        if self.interpolation not in self.modes:
            raise ValueError(f"interpolation {self.interpolation!r}: choose one of {', '.join(self.modes)}")

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        x = TF.resize(x, [self.resize], interpolation=TF.InterpolationMode(self.interpolation), antialias=True)
        x = TF.center_crop(x, [self.size, self.size])
        return np.ascontiguousarray(x.numpy())


@dataclass(frozen=True)
class VideoResizeCenterCrop:
    """torchvision's video evaluation transform (``transforms._presets.VideoClassification``) on uint8:
    resize to ``resize`` (one value: the shorter side; two: height and width) with its interpolation and
    *no* antialiasing (how torchvision's Kinetics weights were evaluated), then the centre
    ``size``×``size`` crop. With ``antialias=True`` it is the image preset (``ImageClassification``, e.g.
    ResNet's ``IMAGENET1K_V2`` weights) instead. Any leading axes: (N, H, W, 3) → (N, 3, S, S), (B, L, H, W, 3) → (B, L, 3, S, S).

    It calls the same kernel as that transform (``torchvision.transforms.functional``, which rounds uint8
    results to nearest; the ``v2`` kernel can land one grey level lower) on uint8 frames, as it does, so
    the normalised input equals ``Weights.transforms()``'s to float precision (tests/features/test_motion.py).
    """

    size: int
    resize: tuple[int, ...]
    interpolation: str = "bilinear"
    antialias: bool = False

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        lead, (h, w) = frames.shape[:-3], frames.shape[-3:-1]
        x = torch.from_numpy(np.ascontiguousarray(frames.reshape(-1, h, w, 3))).permute(0, 3, 1, 2)
        x = TF1.resize(x, list(self.resize), interpolation=TF1.InterpolationMode(self.interpolation),
                       antialias=self.antialias)
        x = TF1.center_crop(x, [self.size, self.size])
        return np.ascontiguousarray(x.numpy()).reshape(*lead, 3, self.size, self.size)


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
