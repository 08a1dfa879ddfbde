"""Sampling options, exact indices/timestamps, and segment windows (vidcap/video/sampling.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from vidcap.errors import UsageError
from vidcap.video import Sampling, VideoError, VideoInfo, sample_indices, windows


def _info(count: int, fps: float) -> VideoInfo:
    return VideoInfo("v.mp4", fps=fps, frame_count=count, duration=count / fps, width=64, height=48,
                     codec="h264")


@pytest.mark.parametrize("options, message", [
    (dict(frames=0), "frames must be a whole number >= 1"),
    (dict(frames=-3), "frames must be a whole number >= 1"),
    (dict(frames=2.5), "frames must be a whole number >= 1"),
    (dict(frames=True), "frames must be a whole number >= 1"),
    (dict(fps=0), "fps must be > 0"),
    (dict(fps=-1.0), "fps must be > 0"),
    (dict(fps=math.nan), "fps must be a finite number"),
    # a sampling read from an untrusted model decides how many frames are decoded and held at once
    (dict(frames=10**9), "frames must be at most 4096"),
    (dict(fps=1e12), "at most 1000"),
    (dict(stride=5, window=10**9), "window must be at most 4096"),
    (dict(frames=8, fps=2.0), "a number of frames or a rate (fps), not both"),
    (dict(start=-1.0), "start must be >= 0"),
    (dict(start=5.0, end=5.0), "end (5.0 s) must be after start (5.0 s)"),
    (dict(start=5.0, end=2.0), "must be after start"),
    (dict(end=0), "must be after start"),
])
def test_bad_options_are_usage_errors(options, message):
    with pytest.raises(UsageError) as err:
        Sampling.from_options(**options)
    assert message in str(err.value) and err.value.exit_code == 2


def test_from_options_defaults_to_28_frames():
    assert Sampling.from_options() == Sampling(frames=28)
    assert Sampling.from_options(fps=2) == Sampling(frames=None, fps=2.0)


def test_constructor_rejects_both_or_neither():
    with pytest.raises(UsageError, match="exactly one"):
        Sampling(fps=2.0)  # frames defaults to 28
    with pytest.raises(UsageError, match="exactly one"):
        Sampling(frames=None)


def test_dict_round_trip_and_unknown_keys():
    s = Sampling.from_options(fps=1.5, start=2, end=9)
    assert s.to_dict() == {"frames": None, "fps": 1.5, "start": 2.0, "end": 9.0}
    assert Sampling.from_dict(s.to_dict()) == s
    with pytest.raises(UsageError, match=r"unknown sampling keys \['step'\]"):
        Sampling.from_dict({"frames": 4, "step": 2})


def test_uniform_is_the_centre_of_equal_segments():
    idx, ts = sample_indices(_info(100, 10.0), Sampling(frames=4))
    assert idx.dtype == np.int64 and ts.dtype == np.float64
    assert idx.tolist() == [12, 37, 62, 87] and ts.tolist() == [1.2, 3.7, 6.2, 8.7]
    # MSR-VTT shape: 28 of 450 frames at 30 fps.
    idx, _ = sample_indices(_info(450, 30.0), Sampling())
    assert len(idx) == 28 and idx[0] == 8 and idx[-1] == 441
    assert np.array_equal(idx, [(2 * k + 1) * 450 // 56 for k in range(28)])


def test_uniform_is_deterministic_with_fewer_frames_than_samples():
    idx, _ = sample_indices(_info(3, 10.0), Sampling(frames=7))
    assert idx.tolist() == [0, 0, 1, 1, 1, 2, 2]


def test_uniform_in_a_window():
    idx, ts = sample_indices(_info(90, 30.0), Sampling(frames=3, start=1.0, end=2.0))
    assert idx.tolist() == [35, 45, 55]
    assert ts == pytest.approx([35 / 30, 1.5, 55 / 30])
    # A start between frames takes the frame on screen at that time; 1/3 s × 30 fps is exactly frame 10.
    assert sample_indices(_info(90, 30.0), Sampling(frames=1, start=1 / 3, end=0.35))[0].tolist() == [10]
    assert sample_indices(_info(90, 30.0), Sampling(frames=2, start=0.35, end=0.4))[0].tolist() == [10, 11]


def test_window_end_past_the_video_is_clipped():
    idx, _ = sample_indices(_info(100, 10.0), Sampling(frames=2, start=5.0, end=60.0))
    assert idx.tolist() == [62, 87]


def test_window_starting_after_the_end_is_a_video_error():
    with pytest.raises(VideoError, match=r"v.mp4: sampling window starts at 12 s, at or after the end of "
                                         r"the video \(10.000 s\)"):
        sample_indices(_info(100, 10.0), Sampling(frames=2, start=12.0))


def test_fixed_rate():
    idx, ts = sample_indices(_info(60, 30.0), Sampling(frames=None, fps=4.0))
    assert idx.tolist() == [0, 7, 15, 22, 30, 37, 45, 52]   # floor(k * 30 / 4), times k / 4 < 2 s
    assert ts == pytest.approx(idx / 30.0)


def test_fixed_rate_in_a_window():
    idx, ts = sample_indices(_info(100, 10.0), Sampling(frames=None, fps=0.5, start=2.0, end=7.0))
    assert idx.tolist() == [20, 40, 60] and ts.tolist() == [2.0, 4.0, 6.0]


def test_rate_above_the_videos_keeps_each_frame_once():
    idx, _ = sample_indices(_info(10, 5.0), Sampling(frames=None, fps=12.0))
    assert idx.tolist() == list(range(10))


def test_single_frame_is_refused():
    with pytest.raises(VideoError, match="only 1 frame: a still image"):
        sample_indices(_info(1, 10.0), Sampling())


def test_windows():
    assert windows(10.0, 4.0) == [(0.0, 4.0), (4.0, 8.0), (8.0, 10.0)]
    assert windows(9.0, 4.0) == [(0.0, 4.0), (4.0, 9.0)]          # 1 s remainder merged
    assert windows(8.0, 4.0) == [(0.0, 4.0), (4.0, 8.0)]
    assert windows(3.0, 4.0) == [(0.0, 3.0)]
    w = windows(30.0, 0.1)
    assert len(w) == 300 and w[150] == (15.0, 15.100000000000001) and w[-1][1] == 30.0
    assert all(a[1] == b[0] for a, b in zip(w, w[1:]))


@pytest.mark.parametrize("seconds", [0, -1.0, math.inf, math.nan])
def test_windows_reject_bad_lengths(seconds):
    with pytest.raises(UsageError, match="segment length"):
        windows(10.0, seconds)


def _hobincar(frame_count: int) -> list[int]:
    """hobincar's two steps written out from its sources: the extractor (pytorch-video-feature-extractor
    commons.py sample_frames: range(8, frame_count - 7, 5)) then the loader (SA-LSTM loader/data_loader.py:
    pad to / cut at 60, np.linspace(0, 59, 28, dtype=int)); padded positions are zero features there."""
    taken = list(range(8, frame_count - 7, 5))[:60]
    return [taken[p] for p in np.linspace(0, 59, 28, dtype=int) if p < len(taken)]


@pytest.mark.parametrize("frame_count", [17, 100, 303, 310, 311, 312, 450, 900])
def test_strided_sampling_takes_hobincars_frames(frame_count):
    sampling = Sampling(frames=28, stride=5, margin=8, window=60)
    assert sample_indices(_info(frame_count, 30.0), sampling)[0].tolist() == _hobincar(frame_count)


def test_strided_sampling_without_a_count_keeps_every_strided_frame_and_records_its_keys():
    idx, _ = sample_indices(_info(30, 10.0), Sampling.from_options(stride=4, margin=2))
    assert idx.tolist() == [2, 6, 10, 14, 18, 22, 26]
    assert Sampling(frames=28, stride=5, margin=8, window=60).to_dict() == {
        "frames": 28, "fps": None, "start": None, "end": None, "stride": 5, "margin": 8, "window": 60}
    assert set(Sampling().to_dict()) == {"frames", "fps", "start", "end"}  # records made before stride existed
    assert Sampling.from_dict({"frames": 28, "fps": None, "start": None, "end": None}) == Sampling()


def test_strided_sampling_errors_name_the_problem():
    with pytest.raises(UsageError, match="stride-th frame or at a rate"):
        Sampling(frames=None, fps=2.0, stride=5)
    with pytest.raises(UsageError, match="give stride too"):
        Sampling(window=60)
    with pytest.raises(UsageError, match="stride must be a whole number >= 1"):
        Sampling(stride=0)
    with pytest.raises(VideoError, match="no frame to take every 5 frames with 8 frames"):
        sample_indices(_info(12, 6.0), Sampling(stride=5, margin=8))
