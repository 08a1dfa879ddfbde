"""PNG contact sheets (vidcap/outputs/preview.py)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFont

from videogen import counter_frames, frame_counter
from vidcap.outputs import save_preview
from vidcap.outputs.preview import CAPTION_LINE, LABEL_HEIGHT, PAD, layout, wrap
from vidcap.video import Sampling, read_clip

BACKGROUND = (24, 24, 24)


def _frames(n: int) -> np.ndarray:
    return np.stack(list(counter_frames(n, 64, 48)))


def test_layout_geometry():
    grid = layout(10, 64, 48)
    assert (grid.columns, grid.rows, grid.thumb) == (7, 2, (160, 120))
    assert grid.width == PAD + 7 * (160 + PAD) == 1184
    assert grid.grid_height == PAD + 2 * (120 + LABEL_HEIGHT + PAD) == 304
    assert grid.box(0) == (8, 8) and grid.box(8) == (8 + 168, 8 + 148)
    assert layout(3, 640, 480, columns=2, thumb_width=100).thumb == (100, 75)


def test_sheet_shows_each_frame_its_time_and_the_caption(tmp_path):
    frames = _frames(10)
    path = save_preview(tmp_path / "p.png", frames, np.arange(10) / 4, "a short caption")
    image = np.asarray(Image.open(path).convert("RGB"))
    grid = layout(10, 64, 48)
    assert image.shape == (grid.grid_height + CAPTION_LINE + PAD, grid.width, 3)
    for i in range(10):
        x, y = grid.box(i)
        thumb = image[y:y + grid.thumb[1], x:x + grid.thumb[0]]
        assert frame_counter(thumb) == i  # the right frame in the right cell
        label = image[y + grid.thumb[1]:y + grid.thumb[1] + LABEL_HEIGHT, x:x + grid.thumb[0]]
        assert (label != BACKGROUND).any(), f"no timestamp under frame {i}"
    caption = image[grid.grid_height:]
    assert (caption > 200).any()  # white caption text
    empty_cell = image[grid.box(13)[1]:grid.box(13)[1] + 120, grid.box(13)[0]:grid.box(13)[0] + 160]
    assert (empty_cell == BACKGROUND).all()


def test_long_caption_wraps(tmp_path):
    caption = " ".join(["a person is slowly walking down a long street"] * 6)
    path = save_preview(tmp_path / "p.png", _frames(2), [0.0, 1.0], caption)
    font = ImageFont.load_default(size=16)
    grid = layout(2, 64, 48)
    lines = wrap(caption, font, grid.width - 2 * PAD)
    assert len(lines) > 3 and " ".join(lines) == caption
    assert Image.open(path).size == (grid.width, grid.grid_height + len(lines) * CAPTION_LINE + PAD)


def test_wrap_splits_overlong_words():
    font = ImageFont.load_default(size=16)
    lines = wrap("x" * 200 + " end", font, 100)
    assert len(lines) > 2 and "".join(lines).replace(" ", "") == "x" * 200 + "end"
    assert all(font.getlength(line) <= 100 for line in lines)


@pytest.mark.parametrize("frames, timestamps, message", [
    (np.zeros((2, 8, 8, 3), np.float32), [0, 1], "uint8"),
    (np.zeros((2, 8, 8), np.uint8), [0, 1], r"\(N, H, W, 3\)"),
    (np.zeros((0, 8, 8, 3), np.uint8), [], "non-empty"),
    (np.zeros((2, 8, 8, 3), np.uint8), [0], "2 frames but 1 timestamps"),
])
def test_bad_inputs(tmp_path, frames, timestamps, message):
    with pytest.raises(ValueError, match=message):
        save_preview(tmp_path / "p.png", frames, timestamps, "x")
    assert not list(tmp_path.iterdir())


def test_real_clip_preview(tmp_path, real_videos):
    clip = read_clip(real_videos[0], Sampling(), max_side=224)
    path = save_preview(tmp_path / "real.png", clip.frames, clip.timestamps, "cars are parked in a lot")
    grid = layout(28, clip.frames.shape[2], clip.frames.shape[1])
    assert (grid.columns, grid.rows) == (7, 4)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (grid.width, grid.grid_height + CAPTION_LINE + PAD)
