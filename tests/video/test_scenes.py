"""Segments at shot boundaries (vidcap/video/scenes.py, `vidcap caption --segment scenes`): on a generated
video with hard cuts at known frames, the cues start and end within one frame interval of the cuts; short
shots join the next, long ones are split."""
from __future__ import annotations

import re

import numpy as np
import pytest

from videogen import write_video
from vidcap.cli import main
from vidcap.demo.synthetic import render
from vidcap.errors import UsageError
from vidcap.video import VideoError, probe
from vidcap.video.scenes import SceneCuts, scene_spans

FPS = 25
# (colour, shape, motion, frames): cuts at frames 60, 150, 170 and 420 → 2.4, 6.0, 6.8 and 16.8 s; 18.8 s in all.
SHOTS = [("red", "circle", "left", 60), ("blue", "square", "up", 90), ("green", "triangle", "right", 20),
         ("yellow", "circle", "down", 250), ("red", "square", "right", 50)]
CUTS = [2.4, 6.0, 6.8, 16.8]


@pytest.fixture(scope="module")
def cut_video(tmp_path_factory):
    rng = np.random.default_rng(0)
    frames = np.concatenate([render(rng, c, s, m, 160, 120, n) for c, s, m, n in SHOTS])
    return write_video(tmp_path_factory.mktemp("scenes") / "cuts.mkv", frames, fps=FPS, codec="libx264")


def test_spans_merge_short_shots_and_split_long_ones():
    assert scene_spans(10.0, [], min_seconds=1, max_seconds=30) == [(0.0, 10.0)]
    # 1.0 is too early for a 2 s minimum (joins the next shot), 6.5 too; 9.0 leaves an 11 s shot, split in two.
    assert scene_spans(20.0, [1.0, 6.0, 6.5, 9.0], min_seconds=2, max_seconds=8) == \
        [(0.0, 6.0), (6.0, 9.0), (9.0, 14.5), (14.5, 20.0)]
    assert scene_spans(10.0, [4.0, 9.5], min_seconds=1, max_seconds=30) == [(0.0, 4.0), (4.0, 10.0)]  # short last shot
    assert scene_spans(10.0, [0.0, 10.0, 12.0], min_seconds=1, max_seconds=30) == [(0.0, 10.0)]  # cuts outside
    spans = scene_spans(95.0, [], min_seconds=1, max_seconds=30)
    assert len(spans) == 4 and all(e - s <= 30 for s, e in spans) and spans[-1][1] == 95.0
    for spans in (scene_spans(31.7, [3.3, 3.9, 12.0, 29.0], min_seconds=1.5, max_seconds=5),):
        assert spans[0][0] == 0 and spans[-1][1] == 31.7 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))


@pytest.mark.parametrize("kw", [dict(min_seconds=0, max_seconds=5), dict(min_seconds=6, max_seconds=5),
                                dict(min_seconds=1, max_seconds=float("inf"))])
def test_bad_lengths(kw):
    with pytest.raises(UsageError, match="0 < minimum <= maximum"):
        SceneCuts(**kw)


def test_detected_cuts_are_the_generated_ones(cut_video):
    assert probe(cut_video).duration == pytest.approx(18.8)
    found = SceneCuts().cuts(cut_video)
    assert len(found) == len(CUTS) and np.allclose(found, CUTS, atol=1 / FPS + 1e-9), found


def test_one_shot_has_no_cuts(tmp_path):
    rng = np.random.default_rng(1)
    path = write_video(tmp_path / "one.mkv", render(rng, "blue", "circle", "left", 160, 120, 75), fps=FPS,
                       codec="libx264")
    assert SceneCuts().cuts(path) == [] and SceneCuts(max_seconds=2)(path) == [(0.0, 1.5), (1.5, 3.0)]


def test_an_unreadable_file_is_a_video_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    with pytest.raises(VideoError, match="bad.mp4"):
        SceneCuts().cuts(bad)


def _cues(text: str) -> list[tuple[float, float, str]]:
    def seconds(clock: str) -> float:
        h, m, s = clock.replace(",", ".").split(":")
        return 3600 * int(h) + 60 * int(m) + float(s)

    return [(seconds(a), seconds(b), caption) for a, b, caption in
            re.findall(r"(\d\d:\d\d:\d\d[.,]\d{3}) --> (\d\d:\d\d:\d\d[.,]\d{3})\n(.*)", text)]


def test_caption_segment_scenes_puts_cues_at_the_cuts(cut_video, tiny_model, tmp_path, capsys):
    code = main(["caption", str(cut_video), "--model", str(tiny_model.ckpt), "--beam-size", "2", "--segment", "scenes",
                 "--min-segment", "1", "--max-segment", "6", "--srt", str(tmp_path / "c.srt"),
                 "--vtt", str(tmp_path / "c.vtt")])
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith(f"{cut_video}\t"), err
    srt, vtt = _cues((tmp_path / "c.srt").read_text()), _cues((tmp_path / "c.vtt").read_text())
    assert [c[:2] for c in srt] == [c[:2] for c in vtt] and all(c[2] for c in srt)
    bounds = [end for _, end, _ in srt[:-1]]
    # The 0.8 s shot (6.0–6.8) is shorter than --min-segment 1: it joins the next one, and that
    # 10.8 s shot (6.0–16.8) is longer than --max-segment 6: two equal parts of 5.4 s.
    expected = [2.4, 6.0, 11.4, 16.8]
    assert len(bounds) == len(expected) and np.allclose(bounds, expected, atol=1 / FPS), srt
    assert srt[0][0] == 0 and srt[-1][1] == pytest.approx(18.8, abs=1e-3)
    assert all(a[1] == b[0] for a, b in zip(srt, srt[1:]))


@pytest.mark.parametrize("args, message", [
    (["--segment", "shots"], "--segment 'shots': give a positive number of seconds or one of: scenes"),
    (["--segment", "-3"], "give a positive number of seconds"),
    (["--segment", "10", "--max-segment", "5"], "--min-segment and --max-segment go with --segment scenes"),
    (["--segment", "scenes", "--min-segment", "9", "--max-segment", "5"], "0 < minimum <= maximum"),
])
def test_bad_segment_options(tmp_path, capsys, args, message):
    code = main(["caption", str(tmp_path / "x.mp4"), "--model", str(tmp_path / "none.pt"), *args])
    assert code == 2 and message in capsys.readouterr().err
