"""Opening files and the errors bad files give (vidcap/video/capture.py), through the public API."""
from __future__ import annotations

import pickle

import av
import numpy as np
import pytest

from videogen import counter_frames, write_video
from vidcap.errors import InputError
from vidcap.video import Sampling, VideoError, probe, read_clip
from vidcap.video.capture import Capture


def _reason(path, call=read_clip) -> str:
    with pytest.raises(VideoError) as info:
        call(path)
    err = info.value
    assert isinstance(err, InputError) and err.exit_code == 1
    assert str(err) == f"{path}: {err.reason}" and err.path == str(path)
    return err.reason


def test_video_error_fields_and_pickling():
    err = VideoError("clips/a.mp4", "empty file (0 bytes)")
    back = pickle.loads(pickle.dumps(err))  # errors cross DataLoader worker processes
    assert (type(back), back.path, back.reason, str(back)) == (
        VideoError, "clips/a.mp4", "empty file (0 bytes)", "clips/a.mp4: empty file (0 bytes)")


def test_missing_file(tmp_path):
    assert _reason(tmp_path / "nope.mp4", probe) == "no such file"


def test_directory(tmp_path):
    (tmp_path / "d.mp4").mkdir()
    assert _reason(tmp_path / "d.mp4") == "not a regular file"


def test_empty_file(tmp_path):
    (tmp_path / "e.mp4").touch()
    assert _reason(tmp_path / "e.mp4") == "empty file (0 bytes)"


def test_text_file_named_mp4(tmp_path):
    (tmp_path / "t.mp4").write_text("just some notes, ünïcode too\n" * 20)
    assert _reason(tmp_path / "t.mp4") == "not a video: the file holds plain text"


def test_random_bytes(tmp_path):
    (tmp_path / "r.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes())
    assert "cannot open it" in _reason(tmp_path / "r.mp4")


def test_truncated_mp4_without_index(tmp_path):
    full = write_video(tmp_path / "full.mp4", counter_frames(30), 10, "libx264").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(full[: len(full) // 2])  # the moov index is at the end
    assert "truncated/corrupt container" in _reason(tmp_path / "cut.mp4")


def test_truncated_faststart_mp4_decodes_nothing(tmp_path):
    # Index first, then data: the container opens and promises 30 frames, but no frame data is left.
    path = tmp_path / "fs.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for frame in counter_frames(30):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    data = path.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: data.find(b"mdat") + 200])
    assert probe(tmp_path / "cut.mp4").frame_count == 30
    assert _reason(tmp_path / "cut.mp4") == "only 0 of the 30 frames the container states decode " \
                                            "(truncated or corrupt video?)"


def test_one_frame_video(tmp_path):
    path = write_video(tmp_path / "one.mp4", counter_frames(1), 10, "libx264")
    assert probe(path).frame_count == 1
    assert _reason(path) == "only 1 frame: a still image, not a video"


def test_absurd_frame_size(tmp_path):
    frames = (np.zeros((16, 20000, 3), np.uint8) for _ in range(3))
    path = write_video(tmp_path / "wide.avi", frames, 10, "MJPG")
    assert _reason(path, probe) == "absurd frame size 20000×16 (the limit is 16384 per side)"


def test_capture_tracks_position_and_rewinds(tmp_path):
    path = write_video(tmp_path / "c.avi", counter_frames(5), 10, "MJPG")
    with Capture(path) as cap:
        assert [cap.grab() for _ in range(6)] == [True] * 5 + [False]
        assert cap.next_index == 5
        cap.rewind()
        assert cap.next_index == 0 and cap.grab() and cap.retrieve().shape == (48, 64, 3)


def test_bad_file_among_good_ones_does_not_stick(tmp_path):
    # OpenCV keeps no state between captures: a good file after a bad one reads normally.
    (tmp_path / "bad.mp4").write_text("x")
    good = write_video(tmp_path / "good.avi", counter_frames(10), 10, "MJPG")
    with pytest.raises(VideoError):
        read_clip(tmp_path / "bad.mp4")
    assert read_clip(good, Sampling(frames=2)).indices.tolist() == [2, 7]
