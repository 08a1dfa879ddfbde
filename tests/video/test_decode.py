"""Decoding exactly the sampled frames (vidcap/video/decode.py) on generated and real videos."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from videogen import counter_frame, counter_frames, frame_counter, patch_avi_header, write_video
from vidcap.errors import UsageError
from vidcap.video import Sampling, VideoError, probe, read_clip
from vidcap.video.capture import Capture
from vidcap.video.decode import SEEK_MIN_GAP

FORMATS = [("mp4v.mp4", "mp4v", 25), ("mjpg.avi", "MJPG", 10), ("xvid.avi", "XVID", 30),
           ("h264.mp4", "libx264", 30), ("h264.mkv", "libx264", 15), ("vp8.webm", "libvpx", 24),
           ("vp9.webm", "libvpx-vp9", 12)]


def _counters(clip) -> list[int]:
    return [frame_counter(f) for f in clip.frames]


@pytest.mark.parametrize("name, codec, fps", FORMATS, ids=[f[0] for f in FORMATS])
def test_uniform_sampling_decodes_exactly_the_sampled_frames(tmp_path, name, codec, fps):
    path = write_video(tmp_path / name, counter_frames(50), fps, codec)
    clip = read_clip(path, Sampling(frames=6))
    assert clip.indices.tolist() == [4, 12, 20, 29, 37, 45]      # (2k + 1) * 50 // 12
    assert clip.timestamps == pytest.approx(clip.indices / fps)
    assert clip.frames.shape == (6, 48, 64, 3) and clip.frames.dtype == np.uint8
    assert _counters(clip) == clip.indices.tolist()
    assert clip.info == probe(path)


def test_frames_are_rgb(tmp_path):
    red = np.zeros((48, 64, 3), np.uint8)
    red[..., 0] = 220
    clip = read_clip(write_video(tmp_path / "red.avi", [red] * 4, 10, "MJPG"), Sampling(frames=1))
    assert clip.frames[0, ..., 0].mean() > 200 and clip.frames[0, ..., 2].mean() < 30


def test_fixed_rate_and_window(tmp_path):
    path = write_video(tmp_path / "v.mp4", counter_frames(90), 30, "libx264")
    clip = read_clip(path, Sampling.from_options(fps=4))
    assert clip.indices.tolist() == [0, 7, 15, 22, 30, 37, 45, 52, 60, 67, 75, 82]
    assert _counters(clip) == clip.indices.tolist()
    clip = read_clip(path, Sampling(frames=4, start=0.5, end=1.5))
    assert clip.indices.tolist() == [18, 26, 33, 41] and _counters(clip) == [18, 26, 33, 41]
    assert clip.timestamps == pytest.approx([0.6, 26 / 30, 1.1, 41 / 30])


def test_more_samples_than_frames_repeats_frames(tmp_path):
    clip = read_clip(write_video(tmp_path / "short.avi", counter_frames(4), 10, "MJPG"), Sampling(frames=6))
    assert clip.indices.tolist() == [0, 1, 1, 2, 3, 3] and _counters(clip) == [0, 1, 1, 2, 3, 3]


def test_only_sampled_frames_are_converted(tmp_path, monkeypatch):
    # A spy on the real retrieve(): skipped frames must only be grabbed, each kept frame retrieved once.
    calls: list[int] = []
    real_retrieve = Capture.retrieve

    def spy(self):
        calls.append(self.next_index - 1)
        return real_retrieve(self)

    monkeypatch.setattr(Capture, "retrieve", spy)
    clip = read_clip(write_video(tmp_path / "v.avi", counter_frames(40), 10, "MJPG"), Sampling(frames=5))
    assert calls == clip.indices.tolist() == [4, 12, 20, 28, 36]


@pytest.mark.parametrize("name, codec", [("long.mp4", "libx264"), ("long.webm", "libvpx-vp9")])
def test_long_gaps_are_seeked_exactly(tmp_path, caplog, name, codec):
    n = 3 * SEEK_MIN_GAP + 60
    path = write_video(tmp_path / name, counter_frames(n), 30, codec, gop=25)
    with caplog.at_level(logging.DEBUG, logger="vidcap.video"):
        clip = read_clip(path, Sampling(frames=3))
    assert clip.indices.tolist() == [160, 480, 800]
    assert _counters(clip) == [160, 480, 800]
    assert "seeked to frame 480" in caplog.text and "seeked to frame 800" in caplog.text


def test_no_seeking_when_metadata_needed_fallbacks(tmp_path, caplog):
    n = 3 * SEEK_MIN_GAP + 60
    src = write_video(tmp_path / "long.avi", counter_frames(n), 30, "MJPG")
    path = patch_avi_header(src, tmp_path / "lying.avi", rate=(1_000_000, 1))  # fps falls back to 25
    with caplog.at_level(logging.DEBUG, logger="vidcap.video"):
        clip = read_clip(path, Sampling(frames=3))
    assert clip.info.fps == 25.0 and _counters(clip) == [160, 480, 800]
    assert clip.timestamps.tolist() == [6.4, 19.2, 32.0]
    assert "seeked" not in caplog.text


def test_video_shorter_than_its_header_is_resampled_over_the_real_frames(tmp_path, caplog):
    src = write_video(tmp_path / "ok.avi", counter_frames(50), 10, "MJPG")
    path = patch_avi_header(src, tmp_path / "claims500.avi", frame_count=500)
    with caplog.at_level(logging.WARNING, logger="vidcap.video"):
        clip = read_clip(path, Sampling(frames=6))
    assert clip.indices.tolist() == [4, 12, 20, 29, 37, 45] == _counters(clip)
    assert (clip.info.frame_count, clip.info.duration) == (50, 5.0)
    assert clip.info.fallbacks == ("the container states 500 frames; 50 decode (sampled over those)",)
    assert "50 decode" in caplog.text


def test_truncated_video_keeps_the_frames_that_exist(tmp_path):
    data = write_video(tmp_path / "ok.avi", counter_frames(50), 10, "MJPG").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: len(data) * 9 // 10])
    clip = read_clip(tmp_path / "cut.avi", Sampling(frames=5))
    real = clip.info.frame_count
    assert 30 < real < 50
    assert clip.indices.tolist() == [(2 * k + 1) * real // 10 for k in range(5)] == _counters(clip)


def test_corrupt_data_in_the_middle(tmp_path):
    # Garbage over the middle of the stream: the frames before it decode, and are sampled exactly.
    data = bytearray(write_video(tmp_path / "ok.avi", counter_frames(50), 10, "MJPG").read_bytes())
    garbage = np.random.default_rng(1).integers(0, 256, 3000, np.uint8).tobytes()
    data[len(data) // 2: len(data) // 2 + 3000] = garbage
    (tmp_path / "bad.avi").write_bytes(data)
    clip = read_clip(tmp_path / "bad.avi", Sampling(frames=5))
    real = clip.info.frame_count
    assert 5 <= real < 50 and "decode (sampled over those)" in clip.info.fallbacks[-1]
    assert clip.indices.tolist() == [(2 * k + 1) * real // 10 for k in range(5)] == _counters(clip)


def test_max_side_downscales(tmp_path):
    path = write_video(tmp_path / "v.mp4", counter_frames(12, 160, 120), 10, "mp4v")
    clip = read_clip(path, Sampling(frames=3), max_side=80)
    assert clip.frames.shape == (3, 60, 80, 3) and _counters(clip) == clip.indices.tolist()
    assert read_clip(path, Sampling(frames=3), max_side=500).frames.shape == (3, 120, 160, 3)


def test_huge_resolution(tmp_path):
    path = write_video(tmp_path / "4k.avi", (counter_frame(i, 3840, 2160) for i in range(3)), 10, "MJPG")
    clip = read_clip(path, Sampling(frames=3), max_side=640)
    assert clip.frames.shape == (3, 360, 640, 3) and _counters(clip) == [0, 1, 2]
    with pytest.raises(VideoError, match=r"100 frames of 3840×2160 need 2.3 GiB; sample fewer frames or "
                                         r"downscale \(max_side\)"):
        read_clip(path, Sampling(frames=100))
    assert read_clip(path, Sampling(frames=100), max_side=64).frames.shape == (100, 36, 64, 3)


@pytest.mark.parametrize("max_side", [0, -5, 2.5, True])
def test_bad_max_side(tmp_path, max_side):
    with pytest.raises(UsageError, match="max_side"):
        read_clip(tmp_path / "unused.mp4", max_side=max_side)


def test_decoding_threads_follow_opencv(tmp_path):
    path = write_video(tmp_path / "v.avi", counter_frames(5), 10, "MJPG")
    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        with Capture(path) as cap:
            assert cap.prop(cv2.CAP_PROP_N_THREADS) == 1
    finally:
        cv2.setNumThreads(before)


def test_real_clips(real_videos):
    for path in real_videos:
        info = probe(path)
        clip = read_clip(path, Sampling(frames=8), max_side=224)
        expected = [(2 * k + 1) * info.frame_count // 16 for k in range(8)]
        assert clip.indices.tolist() == expected
        assert clip.timestamps == pytest.approx(np.array(expected) / info.fps)
        scale = 224 / max(info.width, info.height)
        assert clip.frames.shape == (8, round(info.height * scale), 224, 3) and clip.frames.dtype == np.uint8
        assert clip.frames.std() > 5  # real picture content, not blank frames


def test_real_clip_seeking_matches_sequential_decoding(real_videos):
    path = next(p for p in real_videos if p.name == "intel_one-by-one-person-detection.mp4")
    clip = read_clip(path, Sampling(frames=3))
    assert clip.indices.tolist() == [232, 697, 1161]
    cap = cv2.VideoCapture(str(path))
    expected = []
    for i in range(clip.indices[-1] + 1):
        assert cap.grab()
        if i in clip.indices:
            expected.append(cv2.cvtColor(cap.retrieve()[1], cv2.COLOR_BGR2RGB))
    cap.release()
    assert np.array_equal(clip.frames, np.stack(expected))
