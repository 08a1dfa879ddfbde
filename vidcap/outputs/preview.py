"""A PNG contact sheet: the sampled frames as thumbnails in a grid, each with its timestamp, and the
caption wrapped underneath.

The geometry is fixed by :func:`layout` (thumbnail ``i`` sits at ``layout(...).box(i)``), so the sheet's
size is predictable: ``width = PAD + columns * (thumb_width + PAD)``; the height is the grid's plus
one ``CAPTION_LINE`` per wrapped caption line and a ``PAD``.

Example:
    >>> save_preview("clip.png", clip.frames, clip.timestamps, "a man is cooking")   # doctest: +SKIP
    >>> layout(28, 320, 240).columns, layout(28, 320, 240).width
    (7, 1184)
"""
from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vidcap.files import write_atomic

__all__ = ["CAPTION_LINE", "LABEL_HEIGHT", "PAD", "Layout", "layout", "save_preview", "wrap"]

PAD = 8
LABEL_HEIGHT = 20   # timestamp line under each thumbnail
CAPTION_LINE = 22   # height of one caption line
THUMB_WIDTH = 160
MAX_COLUMNS = 7     # 28 frames (the default sampling) make a 7 × 4 grid
BACKGROUND, INK, MUTED = (24, 24, 24), (245, 245, 245), (170, 170, 170)


@dataclass(frozen=True)
class Layout:
    """Grid geometry: ``columns × rows`` thumbnails of size ``thumb`` (w, h), on a sheet ``width`` wide."""

    columns: int
    rows: int
    thumb: tuple[int, int]
    width: int
    grid_height: int

    def box(self, i: int) -> tuple[int, int]:
        """Top-left corner (x, y) of thumbnail ``i``; its timestamp is drawn just below it."""
        row, col = divmod(i, self.columns)
        return PAD + col * (self.thumb[0] + PAD), PAD + row * (self.thumb[1] + LABEL_HEIGHT + PAD)


def layout(n: int, frame_width: int, frame_height: int, *, thumb_width: int = THUMB_WIDTH,
           columns: int | None = None) -> Layout:
    """The grid for ``n`` frames of ``frame_width × frame_height`` (aspect ratio kept)."""
    if n < 1 or frame_width < 1 or frame_height < 1 or thumb_width < 1:
        raise ValueError(f"cannot lay out {n} frames of {frame_width}×{frame_height} at width {thumb_width}")
    cols = min(n, columns or MAX_COLUMNS)
    rows = math.ceil(n / cols)
    thumb = (thumb_width, max(1, round(thumb_width * frame_height / frame_width)))
    return Layout(columns=cols, rows=rows, thumb=thumb, width=PAD + cols * (thumb[0] + PAD),
                  grid_height=PAD + rows * (thumb[1] + LABEL_HEIGHT + PAD))


def wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    """Greedy word wrap to ``width`` pixels; a word wider than a line is split between characters."""
    draw = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    fits = lambda s: draw.textlength(s, font=font) <= width  # noqa: E731
    lines: list[str] = []
    line = ""
    for word in text.split():
        while not fits(word):  # hard-split an over-long word
            cut = max(1, next((k for k in range(len(word), 0, -1) if fits(word[:k])), 1))
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:cut])
            word = word[cut:]
        candidate = f"{line} {word}" if line else word
        if fits(candidate):
            line = candidate
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines or [""]


def _clock(seconds: float) -> str:
    minutes, secs = divmod(float(seconds), 60.0)
    return f"{int(minutes)}:{secs:05.2f}"


def save_preview(path: str | os.PathLike[str], frames: np.ndarray, timestamps: Sequence[float] | np.ndarray,
                 caption: str, *, thumb_width: int = THUMB_WIDTH, columns: int | None = None) -> Path:
    """Write a PNG contact sheet of ``frames`` (N, H, W, 3) uint8 RGB with timestamps and ``caption``.

    Example:
        >>> save_preview("sheet.png", clip.frames, clip.timestamps, "a dog runs")   # doctest: +SKIP
        PosixPath('sheet.png')
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"frames must be a non-empty (N, H, W, 3) uint8 array, got {frames.dtype} "
                         f"{frames.shape}")
    if len(timestamps) != len(frames):
        raise ValueError(f"{len(frames)} frames but {len(timestamps)} timestamps")
    grid = layout(len(frames), frames.shape[2], frames.shape[1], thumb_width=thumb_width, columns=columns)
    label_font = ImageFont.load_default(size=13)
    caption_font = ImageFont.load_default(size=16)
    lines = wrap(caption, caption_font, grid.width - 2 * PAD)
    sheet = Image.new("RGB", (grid.width, grid.grid_height + len(lines) * CAPTION_LINE + PAD), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, (frame, t) in enumerate(zip(frames, timestamps)):
        x, y = grid.box(i)
        sheet.paste(Image.fromarray(frame).resize(grid.thumb, Image.Resampling.BILINEAR, reducing_gap=2.0),
                    (x, y))
        draw.text((x, y + grid.thumb[1] + 3), _clock(t), fill=MUTED, font=label_font)
    for k, line in enumerate(lines):
        draw.text((PAD, grid.grid_height + k * CAPTION_LINE), line, fill=INK, font=caption_font)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=False)
    return write_atomic(path, buffer.getvalue())
