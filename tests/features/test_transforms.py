"""Worker-side frame transforms (vidcap/features/transforms.py)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from PIL import Image

from vidcap.features.transforms import Letterbox, PilResizeCenterCrop, ResizeCenterCrop, Stretch


def test_resize_center_crop_keeps_the_centre():
    frame = np.zeros((1, 240, 320, 3), np.uint8)
    frame[0, 100:140, 140:180] = 255  # a white square in the middle
    out = ResizeCenterCrop(size=224, resize=256)(frame)
    assert out.shape == (1, 3, 224, 224) and out.dtype == np.uint8
    ys, xs = np.nonzero(out[0, 0] > 128)
    # 240 → 256 scales by 16/15; the crop removes (341 - 224) // 2 = 58 columns and 16 rows
    assert abs(ys.mean() - (120 * 16 / 15 - 16)) < 1.5 and abs(xs.mean() - (160 * 16 / 15 - 58)) < 1.5
    assert out.flags.c_contiguous


def test_resize_center_crop_portrait_and_tiny_frames():
    assert ResizeCenterCrop(size=64, resize=73)(np.zeros((2, 300, 100, 3), np.uint8)).shape == (2, 3, 64, 64)
    assert ResizeCenterCrop(size=64, resize=73)(np.zeros((1, 8, 8, 3), np.uint8)).shape == (1, 3, 64, 64)


def test_letterbox_pads_with_grey_and_unletterbox_inverts():
    box = Letterbox(imgsz=320)
    frames = np.full((1, 240, 320, 3), 7, np.uint8)
    out = box(frames)
    assert out.shape == (1, 3, 320, 320)
    scale, nw, nh, left, top = box.params(240, 320)
    assert (scale, nw, nh, left, top) == (1.0, 320, 240, 0, 40)
    assert (out[0, :, :40] == 114).all() and (out[0, :, 40:280] == 7).all() and (out[0, :, 280:] == 114).all()
    # a box covering the whole picture area maps to the whole frame
    frame_box = np.array([[0, 40, 320, 280], [160, 160, 240, 220]], np.float32)
    np.testing.assert_allclose(box.unletterbox(frame_box, 240, 320),
                               [[0, 0, 1, 1], [0.5, 0.5, 0.75, 0.75]], atol=1e-6)
    # outside the picture (in the padding) clips to the frame
    assert box.unletterbox(np.array([[-10, 0, 400, 20]], np.float32), 240, 320).tolist() == [[0, 0, 1, 0]]


def test_stretch_keeps_the_whole_frame():
    frame = np.zeros((1, 96, 128, 3), np.uint8)
    frame[0, :, :16] = 255  # a white band along the left edge: a centre crop would drop it
    out = Stretch(size=64)(frame)
    assert out.shape == (1, 3, 64, 64) and out.flags.c_contiguous
    assert (out[0, :, :, :7] > 250).all() and (out[0, :, :, 9:] < 5).all()  # 16/128 of the width = 8 columns
    assert (ResizeCenterCrop(size=64, resize=73)(frame)[0] < 5).all()


def test_letterbox_pads_with_one_colour_per_channel():
    out = Letterbox(imgsz=64, pad_value=(124, 116, 104))(np.full((1, 96, 128, 3), 7, np.uint8))
    assert out[0, :, 0, 0].tolist() == [124, 116, 104] and (out[0, :, 8:56] == 7).all()


def test_transforms_pickle_for_worker_processes():
    for t in (ResizeCenterCrop(224, 256), Letterbox(640), Stretch(64), Letterbox(64, (124, 116, 104))):
        assert pickle.loads(pickle.dumps(t)) == t


def test_transforms_keep_the_rgb_channel_order():
    frame = np.zeros((1, 48, 64, 3), np.uint8)
    frame[..., 0] = 200  # pure red in RGB
    for t in (ResizeCenterCrop(32, 36), PilResizeCenterCrop(32, 36), Stretch(32), Letterbox(32)):
        out = t(frame)
        assert out[0, 0, 16, 16] == 200 and out[0, 1, 16, 16] == 0 and out[0, 2, 16, 16] == 0


def test_pil_resize_center_crop_equals_pil():
    frames = np.random.default_rng(1).integers(0, 256, (2, 90, 160, 3), dtype=np.uint8)
    frames[:, 30:60, 40:120] = 255  # an edge for the filters to disagree on
    out = PilResizeCenterCrop(size=56, resize=64, interpolation="bicubic")(frames)
    assert out.shape == (2, 3, 56, 56) and out.flags.c_contiguous
    for ours, frame in zip(out, frames):  # PIL: 90×160 → 64×113 (int(64·160/90)), crop at round(28.5) = 28
        pil = np.asarray(Image.fromarray(frame).resize((113, 64), Image.BICUBIC))[4:60, 28:84]
        assert np.abs(ours.astype(int) - pil.transpose(2, 0, 1)).max() <= 1
    assert pickle.loads(pickle.dumps(PilResizeCenterCrop(56, 64))) == PilResizeCenterCrop(56, 64)
    with pytest.raises(ValueError, match="interpolation 'area'"):
        PilResizeCenterCrop(56, 64, "area")
