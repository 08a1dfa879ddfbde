"""Hostile video files (vidcap/video/*): what a user's video folder may hold besides videos.

The table runs each file through `read_clip` (what extraction and captioning decode with) in-process:
a VideoError (an InputError, exit 1) whose message is ``<path>: <reason>``, nothing written. One
end-to-end case runs `vidcap extract` over a folder holding all of them next to one good clip: exit 1,
every hostile file named with its reason in failures.json and on stderr, only the good clip stored.
Containers that lie about fps or frame count are not refused (probe.py falls back to what decodes);
their case asserts that nothing non-finite reaches the store.
"""
from __future__ import annotations

import json
import math
import os
import pathlib

import av
import numpy as np
import pytest
from hostilekit import Case, raised, refused, snapshot, unchanged, vidcap
from videogen import counter_frames, patch_avi_header, write_video

from vidcap.features import FeatureStore
from vidcap.video import Sampling, VideoError, probe, read_clip


def _zero_bytes(tmp: pathlib.Path) -> pathlib.Path:
    (tmp / "zero.mp4").touch()
    return tmp / "zero.mp4"


def _text(tmp: pathlib.Path) -> pathlib.Path:
    (tmp / "notes.mp4").write_text("ffmpeg -i in.mov out.mp4\n" * 50)
    return tmp / "notes.mp4"


def _random(tmp: pathlib.Path) -> pathlib.Path:
    (tmp / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 20000, np.uint8).tobytes())
    return tmp / "noise.mp4"


def _truncated(tmp: pathlib.Path) -> pathlib.Path:
    full = write_video(tmp / "full.tmpvideo.mp4", counter_frames(30), 10, "libx264")
    data = full.read_bytes()
    full.unlink()
    (tmp / "cut.mp4").write_bytes(data[: len(data) // 2])  # the moov index is at the end: cut off
    return tmp / "cut.mp4"


def _zero_frames(tmp: pathlib.Path) -> pathlib.Path:
    """Index first, then no frame data: the container opens and states 30 frames, none decodes."""
    path = tmp / "fs.tmpvideo.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for frame in counter_frames(30):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    data = path.read_bytes()
    path.unlink()
    (tmp / "empty.mp4").write_bytes(data[: data.find(b"mdat") + 200])
    return tmp / "empty.mp4"


def _one_frame(tmp: pathlib.Path) -> pathlib.Path:
    return write_video(tmp / "still.mp4", counter_frames(1), 10, "libx264")


def _absurd_size(tmp: pathlib.Path) -> pathlib.Path:
    return write_video(tmp / "wide.avi", (np.zeros((16, 20000, 3), np.uint8) for _ in range(3)), 10, "MJPG")


def _folder(tmp: pathlib.Path) -> pathlib.Path:
    (tmp / "folder.mp4").mkdir()
    return tmp / "folder.mp4"


def _dev_zero(tmp: pathlib.Path) -> pathlib.Path:
    os.symlink("/dev/zero", tmp / "endless.mp4")  # reading it would never end
    return tmp / "endless.mp4"


def _fifo(tmp: pathlib.Path) -> pathlib.Path:
    os.mkfifo(tmp / "pipe.mp4")  # opening it would block until a writer came
    return tmp / "pipe.mp4"


def _dangling(tmp: pathlib.Path) -> pathlib.Path:
    os.symlink(tmp / "gone.mp4", tmp / "dangling.mp4")
    return tmp / "dangling.mp4"


CASES = [
    Case("zero-bytes", _zero_bytes, ("empty file (0 bytes)",)),
    Case("text-renamed-mp4", _text, ("not a video: the file holds plain text",)),
    Case("random-bytes", _random, ("cannot open it",)),
    Case("truncated-before-index", _truncated, ("truncated/corrupt container",)),
    Case("zero-frames-decode", _zero_frames, ("only 0 of the 30 frames",)),
    Case("one-frame", _one_frame, ("only 1 frame",)),
    Case("absurd-dimensions", _absurd_size, ("absurd frame size 20000×16",)),
    Case("a-folder", _folder, ("not a regular file",)),
    Case("symlink-to-dev-zero", _dev_zero, ("not a regular file",)),
    Case("fifo", _fifo, ("not a regular file",)),
    Case("dangling-symlink", _dangling, ("no such file",)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_hostile_video_is_refused_naming_it(tmp_path, case):
    path = case.make(tmp_path)
    before = snapshot(tmp_path)
    raised(lambda: read_clip(path, Sampling(frames=4)), names=(f"{path}: ", *case.names), error=VideoError)
    unchanged(before, tmp_path)


@pytest.mark.parametrize("rate", [(1, 0), (0, 1), (10**9, 1)], ids=["infinite-fps", "zero-fps", "1e9-fps"])
def test_a_container_lying_about_fps_yields_finite_timestamps(tmp_path, rate):
    """The stated rate is not used where it is not finite and plausible; what reaches a store is."""
    good = write_video(tmp_path / "good.avi", counter_frames(12), 10, "MJPG")
    path = patch_avi_header(good, tmp_path / "lying.avi", rate=rate)
    info = probe(path)
    # FFmpeg itself assumes 25 fps for a 1/0 or 0/1 rate; vidcap's probe replaces 1e9 (see probe.py)
    assert math.isfinite(info.fps) and 0 < info.fps <= 1000
    clip = read_clip(path, Sampling(frames=4))
    assert np.isfinite(clip.timestamps).all() and math.isfinite(clip.info.duration)


@pytest.mark.slow
def test_extract_over_a_folder_of_hostile_files_stores_only_the_good_clip(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    hostile = [case.make(videos) for case in CASES if case.name not in ("a-folder", "fifo")]
    write_video(videos / "good.mp4", counter_frames(12), 10, "libx264")
    before = snapshot(videos)
    run = vidcap("extract", "--video-dir", videos, "--backbone", "resnet18", "--weights", "none",
                 "--frames", "4", "--out", tmp_path / "feats", "--no-progress", "--workers", "0", "--verbose", timeout=600)
    # the failure block names each video by its id (--verbose: all of them, not only the first five)
    refused(run, status=1, names=[path.stem for path in hostile if path.suffix != ".mp4" or path.is_file()])
    unchanged(before, videos)
    failures = {r["video_id"]: r["reason"] for r in json.loads((tmp_path / "feats" / "failures.json").read_text())}
    store = FeatureStore(tmp_path / "feats")
    assert store.ids() == ["good"] and np.isfinite(store["good"]["frame"].astype(np.float32)).all()
    expected = {p.stem for p in hostile if p.is_file() and p.stat().st_size}  # --video-dir lists regular files
    assert expected <= set(failures), (expected, failures)
    assert "good" not in failures
