"""Metadata and its fallbacks (vidcap/video/probe.py)."""
from __future__ import annotations

import logging

import pytest

from videogen import counter_frames, patch_avi_header, patch_mkv_frame_duration, write_video
from vidcap.video import probe
from vidcap.video.probe import DEFAULT_FPS

# (file name, codec, fps, FourCC OpenCV reports)
FORMATS = [
    ("mp4v.mp4", "mp4v", 25, "FMP4"),
    ("mjpg.avi", "MJPG", 10, "MJPG"),
    ("xvid.avi", "XVID", 30, "FMP4"),
    ("h264.mp4", "libx264", 29.97, "h264"),
    ("h264.mkv", "libx264", 15, "h264"),
    ("vp8.webm", "libvpx", 24, "VP80"),
    ("vp9.webm", "libvpx-vp9", 12, "VP90"),
]


@pytest.mark.parametrize("name, codec, fps, fourcc", FORMATS, ids=[f[0] for f in FORMATS])
def test_container_metadata(tmp_path, name, codec, fps, fourcc):
    path = write_video(tmp_path / name, counter_frames(40, 64, 48), fps, codec)
    info = probe(path)
    assert (info.frame_count, info.width, info.height, info.codec, info.fallbacks) == (40, 64, 48, fourcc, ())
    assert info.fps == pytest.approx(fps, rel=1e-4)
    assert info.duration == pytest.approx(40 / fps)
    assert info.path == str(path)


@pytest.fixture(scope="module")
def mkv(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("mkv") / "ok.mkv", counter_frames(50), 10, "libx264")


def test_absurd_fps_is_derived_from_timestamps(tmp_path, mkv, caplog):
    # A stated frame duration of 1 ns: OpenCV reports 30,000 fps and a 150,000-frame estimate,
    # while the frames are really 100 ms apart.
    path = patch_mkv_frame_duration(mkv, tmp_path / "lying.mkv", 1)
    with caplog.at_level(logging.WARNING, logger="vidcap.video"):
        info = probe(path)
    assert (info.fps, info.frame_count, info.duration) == (10.0, 50, 5.0)
    assert info.fallbacks == ("the container states 150000 frames; 50 decode",
                              "the container states 30000 fps; the timestamps give 10")
    assert "the timestamps give 10" in caplog.text


def test_rate_above_limit_is_not_trusted(tmp_path, mkv):
    info = probe(patch_mkv_frame_duration(mkv, tmp_path / "2000fps.mkv", 500_000))  # 2,000 fps stated
    assert (info.fps, info.frame_count) == (10.0, 50)


def test_no_usable_rate_falls_back_to_the_default_with_a_warning(tmp_path, caplog):
    # In an AVI the stated rate is also the time base, so the timestamps agree with the absurd rate.
    src = write_video(tmp_path / "ok.avi", counter_frames(20), 10, "MJPG")
    path = patch_avi_header(src, tmp_path / "1e6fps.avi", rate=(1_000_000, 1))
    with caplog.at_level(logging.WARNING, logger="vidcap.video"):
        info = probe(path)
    assert (info.fps, info.frame_count, info.duration) == (DEFAULT_FPS, 20, 20 / DEFAULT_FPS)
    assert info.fallbacks == ("the container states 1e+06 fps and the timestamps give no rate; assumed 25",)
    assert "assumed 25" in caplog.text


def test_plausible_header_count_is_taken_as_stated(tmp_path):
    # Only decoding can tell a plausible count is wrong; probe stays cheap, read_clip corrects it.
    src = write_video(tmp_path / "ok.avi", counter_frames(20), 10, "MJPG")
    info = probe(patch_avi_header(src, tmp_path / "500.avi", frame_count=500))
    assert (info.frame_count, info.fallbacks) == (500, ())


# Frame counts and rates from tests/assets/README.md.
REAL = {"intel_car-detection.mp4": (768, 432, 12.5, 377),
        "intel_one-by-one-person-detection.mp4": (768, 432, 10, 1394),
        "intel_bottle-detection.mp4": (640, 360, 29.8, 1189),
        "intel_walk.mkv": (640, 480, 30, 89),
        "intel_eat.mkv": (640, 480, 30, 47)}


def test_real_clips(real_videos):
    assert sorted(p.name for p in real_videos) == sorted(REAL)
    for path in real_videos:
        width, height, fps, count = REAL[path.name]
        info = probe(path)
        assert (info.width, info.height, info.frame_count, info.codec, info.fallbacks) == \
            (width, height, count, "h264", ())
        assert info.fps == pytest.approx(fps, abs=0.05)
