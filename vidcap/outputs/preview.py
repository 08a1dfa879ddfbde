"""A PNG contact sheet: the sampled frames as thumbnails in a grid, each with its timestamp, and the
caption wrapped underneath.

The geometry is fixed by :func:`layout` (thumbnail ``i`` sits at ``layout(...).box(i)``), so the sheet's
size is predictable: ``width = PAD + columns * (thumb_width + PAD)``; the height is the grid's plus
one ``CAPTION_LINE`` per wrapped caption line and a ``PAD``.

With ``attention=(words, weights, positions)`` (what an attention decoder looked at, see
vidcap.inference.attention) a strip follows (:func:`strip_layout`): a row of small thumbnails of the frames
the model read (``frames[positions]``), then one row per word whose cells are shaded by how much that
word attended to each frame (relative to the word's largest weight; the percentage is printed when the
cell is wide enough), so one sees which frames drove which word.

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

__all__ = ["CAPTION_LINE", "LABEL_HEIGHT", "PAD", "Layout", "StripLayout", "layout", "save_preview", "strip_layout",
           "wrap"]

PAD = 8
LABEL_HEIGHT = 20   # timestamp line under each thumbnail
CAPTION_LINE = 22   # height of one caption line
THUMB_WIDTH = 160
MAX_COLUMNS = 7     # 28 frames (the default sampling) make a 7 × 4 grid
BACKGROUND, INK, MUTED = (24, 24, 24), (245, 245, 245), (170, 170, 170)
HEAT = (255, 140, 0)  # a word's strongest frame; weaker ones fade towards BACKGROUND
WORD_ROW = 20         # height of one word's row in the attention strip
STRIP_TITLE = 22      # the strip's title line
MAX_CELL = 96         # widest frame column of the strip


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


@dataclass(frozen=True)
class StripLayout:
    """Attention strip geometry: a ``label`` column for the words, then one ``cell``-wide column per frame;
    the strip starts at ``top`` with its title, thumbnails ``thumb_height`` high, then ``WORD_ROW`` per word."""

    top: int
    label: int
    cell: int
    thumb_height: int
    height: int

    def cell_box(self, word: int, frame: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the cell of word ``word`` and frame ``frame``."""
        x = PAD + self.label + frame * self.cell
        y = self.top + STRIP_TITLE + self.thumb_height + LABEL_HEIGHT + word * WORD_ROW
        return x, y, x + self.cell - 1, y + WORD_ROW - 2

    def thumb_box(self, frame: int) -> tuple[int, int]:
        """Top-left corner of frame ``frame``'s thumbnail in the strip."""
        return PAD + self.label + frame * self.cell, self.top + STRIP_TITLE


def strip_layout(top: int, width: int, n_words: int, n_frames: int, frame_width: int, frame_height: int,
                 label: int) -> StripLayout:
    """The strip under a sheet ``width`` wide, starting at ``top``, for ``n_words`` × ``n_frames`` cells.

    Example:
        >>> s = strip_layout(300, 1184, 5, 28, 64, 48, label=80)
        >>> s.cell, s.cell_box(0, 0)[:2], s.height
        (38, (88, 369), 177)
    """
    cell = max(1, min(MAX_CELL, (width - 2 * PAD - label) // max(1, n_frames)))
    thumb_height = max(1, round((cell - 2) * frame_height / frame_width))
    return StripLayout(top=top, label=label, cell=cell, thumb_height=thumb_height,
                       height=STRIP_TITLE + thumb_height + LABEL_HEIGHT + n_words * WORD_ROW + PAD)


def _shade(weight: float) -> tuple[int, int, int]:
    return tuple(round(b + (h - b) * weight) for b, h in zip(BACKGROUND, HEAT))  # type: ignore[return-value]


def _draw_strip(sheet: Image.Image, box: StripLayout, frames: np.ndarray, timestamps: Sequence[float],
                words: Sequence[str], weights: np.ndarray) -> None:
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    draw.text((PAD, box.top + 3), "attention: which of the frames the model read each word looked at",
              fill=MUTED, font=font)
    for f, (frame, t) in enumerate(zip(frames, timestamps)):
        x, y = box.thumb_box(f)
        thumb = Image.fromarray(frame).resize((box.cell - 2, box.thumb_height), Image.Resampling.BILINEAR,
                                              reducing_gap=2.0)
        sheet.paste(thumb, (x + 1, y))
        if box.cell >= 36:
            draw.text((x + 1, y + box.thumb_height + 3), _clock(t), fill=MUTED, font=ImageFont.load_default(size=10))
    for w, (word, row) in enumerate(zip(words, weights)):
        x0, y0, *_ = box.cell_box(w, 0)
        draw.text((PAD, y0 + 2), word if font.getlength(word) <= box.label - 4 else word[:8] + "…",
                  fill=INK, font=font)
        peak = float(row.max()) if len(row) and row.max() > 0 else 1.0
        for f, value in enumerate(row):
            cell = box.cell_box(w, f)
            draw.rectangle(cell, fill=_shade(float(value) / peak))
            if box.cell >= 30:
                draw.text((cell[0] + 3, cell[1] + 3), f"{100 * value:.0f}", fill=INK if value / peak < 0.6 else
                          BACKGROUND, font=ImageFont.load_default(size=11))


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
                 caption: str, *, thumb_width: int = THUMB_WIDTH, columns: int | None = None,
                 attention: tuple[Sequence[str], np.ndarray, Sequence[int]] | None = None) -> Path:
    """Write a PNG contact sheet of ``frames`` (N, H, W, 3) uint8 RGB with timestamps and ``caption``;
    ``attention=(words, weights (W, F), positions (F,))`` adds the per-word attention strip.

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
    height = grid.grid_height + len(lines) * CAPTION_LINE + PAD
    strip = None
    if attention is not None:
        words, weights, positions = list(attention[0]), np.asarray(attention[1], np.float64), np.asarray(attention[2])
        if weights.shape != (len(words), len(positions)) or not np.isin(positions, np.arange(len(frames))).all():
            raise ValueError(f"attention: weights must be (words, frames) = ({len(words)}, {len(positions)}) and "
                             f"positions indices of the {len(frames)} frames, got {weights.shape} and {positions}")
        label = max([60, *(round(label_font.getlength(w)) + 8 for w in words)])
        strip = strip_layout(height, grid.width, len(words), len(positions), frames.shape[2], frames.shape[1],
                             min(label, 140))
        height += strip.height
    sheet = Image.new("RGB", (grid.width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for i, (frame, t) in enumerate(zip(frames, timestamps)):
        x, y = grid.box(i)
        sheet.paste(Image.fromarray(frame).resize(grid.thumb, Image.Resampling.BILINEAR, reducing_gap=2.0),
                    (x, y))
        draw.text((x, y + grid.thumb[1] + 3), _clock(t), fill=MUTED, font=label_font)
    for k, line in enumerate(lines):
        draw.text((PAD, grid.grid_height + k * CAPTION_LINE), line, fill=INK, font=caption_font)
    if strip is not None:
        _draw_strip(sheet, strip, frames[positions], np.asarray(timestamps)[positions], words, weights)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=False)
    return write_atomic(path, buffer.getvalue())
