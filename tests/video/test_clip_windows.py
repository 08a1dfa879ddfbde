"""Frame windows around the sampled positions (vidcap/video/clip_windows.py) and their decoding
(read_clip(..., windows=)): every window sits around the frame an image backbone samples at that step."""
from __future__ import annotations

import numpy as np
import pytest
from videogen import counter_frames, frame_counter, write_video

from vidcap.errors import UsageError
from vidcap.video import Sampling, VideoInfo, read_clip, sample_indices
from vidcap.video.clip_windows import ClipWindows


def _info(fps: float, count: int) -> VideoInfo:
    return VideoInfo("v.mp4", fps, count, count / fps, 64, 48, "h264")


@pytest.mark.parametrize("fps, count, frames, length, stride", [
    (30.0, 450, 28, 16, 1),       # a 15 s MSR-VTT clip: windows nearly tile it
    (29.97, 60, 8, 16, 2),        # short: windows overlap heavily, ends shifted
    (23.976, 1000, 5, 32, 3),     # long, odd rate, sparse windows
    (7.5, 11, 4, 16, 1),          # shorter than one window: the last frame repeats
    (12.5, 37, 6, 5, 4),
])
def test_windows_sit_around_the_frame_positions_image_backbones_sample(fps, count, frames, length, stride):
    info, sampling = _info(fps, count), Sampling(frames=frames)
    centres, _ = sample_indices(info, sampling)
    win = ClipWindows(length, stride).indices(centres, 0, count)
    assert win.shape == (frames, length)
    assert win.min() >= 0 and win.max() <= count - 1
    steps = np.diff(win, axis=1)
    if (length - 1) * stride + 1 <= count:  # room for whole windows: every one is evenly strided …
        assert (steps == stride).all()
        # … and contains its position (or is shifted only as far as the video's ends force it)
        ideal_first = centres - (length // 2) * stride
        shifted = win[:, 0] != ideal_first
        assert (win[~shifted, length // 2] == centres[~shifted]).all()
        assert ((win[shifted, 0] == 0) | (win[shifted, -1] == count - 1)).all()
    else:  # shorter than a window: from the first frame, the last one repeated
        assert (win[:, 0] == 0).all() and (win[:, -1] == count - 1).all()
        assert ((steps == stride) | (steps == 0)).all()


def test_windows_stay_inside_a_start_end_range():
    info = _info(25.0, 500)
    sampling = Sampling(frames=4, start=4.0, end=6.0)  # frames 100..149
    centres, _ = sample_indices(info, sampling)
    win = ClipWindows(16, 2).indices(centres, 100, 150)
    assert win.min() >= 100 and win.max() <= 149


@pytest.mark.parametrize("kwargs", [{"length": 0}, {"length": 4, "stride": 0}, {"length": True},
                                    {"length": 4, "stride": 1.5}, {"length": 10_000}])
def test_bad_window_settings_are_usage_errors(kwargs):
    with pytest.raises(UsageError, match="clip_(len|stride)="):
        ClipWindows(**kwargs)


@pytest.mark.parametrize("fps, count", [(29.97, 40), (12.5, 9)])
def test_decoding_windows_reads_each_frame_once_and_returns_the_right_ones(tmp_path, fps, count):
    path = write_video(tmp_path / "c.mkv", counter_frames(count), fps=fps, codec="libx264")
    sampling, windows = Sampling(frames=6), ClipWindows(8, 2)
    plain = read_clip(path, sampling)
    clip = read_clip(path, sampling, windows=windows)
    # the sampled frames are exactly the image backbones' ones
    assert clip.indices.tolist() == plain.indices.tolist() and np.array_equal(clip.frames, plain.frames)
    assert clip.window_indices.tolist() == windows.indices(plain.indices, 0, count).tolist()
    # every distinct frame decoded once, in index order; the windows pick the right ones out of them
    read = [frame_counter(f) for f in clip.window_frames]
    assert read == sorted(set(read)) and len(read) == len(set(clip.window_indices.ravel()) | set(plain.indices))
    picked = [[frame_counter(clip.window_frames[r]) for r in row] for row in clip.windows]
    assert picked == clip.window_indices.tolist()
