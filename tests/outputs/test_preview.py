"""PNG contact sheets (vidcap/outputs/preview.py)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFont

from videogen import counter_frames, frame_counter
from vidcap.outputs import save_preview
from vidcap.outputs.preview import CAPTION_LINE, HEAT, LABEL_HEIGHT, PAD, layout, strip_layout, wrap
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


# ------------------------------------------------------------------------------------ attention strip
def _strip_sheet(tmp_path, weights, positions, words=("a", "dog", "runs"), n=6):
    frames = _frames(n)
    path = save_preview(tmp_path / "s.png", frames, np.arange(n) / 2, "a dog runs",
                        attention=(list(words), np.asarray(weights, np.float32), positions))
    return np.asarray(Image.open(path).convert("RGB")), layout(n, 64, 48)


def test_attention_strip_shades_each_words_frames(tmp_path):
    weights = [[0.7, 0.2, 0.1, 0.0], [0.0, 0.0, 0.25, 0.75], [0.25, 0.25, 0.25, 0.25]]
    positions = [0, 2, 3, 5]  # the model read 4 of the 6 sampled frames
    image, grid = _strip_sheet(tmp_path, weights, positions)
    top = grid.grid_height + CAPTION_LINE + PAD
    strip = strip_layout(top, grid.width, 3, 4, 64, 48, label=60)
    assert image.shape[0] == top + strip.height and image.shape[1] == grid.width
    for f, position in enumerate(positions):  # the strip's thumbnails are the frames the model read
        x, y = strip.thumb_box(f)
        assert frame_counter(image[y:y + strip.thumb_height, x + 1:x + strip.cell - 1]) == position

    def colour(w, f):  # a pixel of the cell's right edge, clear of the printed percentage
        x0, y0, x1, y1 = strip.cell_box(w, f)
        return tuple(int(v) for v in image[(y0 + y1) // 2, x1 - 1])

    assert colour(0, 0) == HEAT and colour(1, 3) == HEAT  # each word's strongest frame
    assert colour(0, 3) == BACKGROUND and colour(1, 0) == BACKGROUND  # frames a word ignored
    assert BACKGROUND[0] < colour(0, 1)[0] < HEAT[0]  # 0.2 of the peak 0.7: between the two
    assert all(colour(2, f) == HEAT for f in range(4))  # uniform attention: every frame is the peak
    word_column = image[strip.cell_box(0, 0)[1]:strip.cell_box(2, 0)[3], PAD:PAD + 40]
    assert (word_column > 200).any()  # the words are written left of their rows


def test_attention_strip_rejects_mismatched_inputs(tmp_path):
    with pytest.raises(ValueError, match="weights must be"):
        _strip_sheet(tmp_path, [[0.5, 0.5]], [0, 1, 2])
    with pytest.raises(ValueError, match="positions indices of the 6 frames"):
        _strip_sheet(tmp_path, [[1.0]] * 3, [6])
    assert not list(tmp_path.iterdir())
