"""SubRip and WebVTT files (vidcap/outputs/subtitles.py)."""
from __future__ import annotations

import math

import pytest

from vidcap.outputs import Segment, write_srt, write_vtt

SEGMENTS = [Segment(0.0, 4.0, "a man is walking"),
            Segment(4.0, 9.5, "a man sits\n\n down"),
            Segment(3725.0421, 3730.9999, "cats & dogs <play>")]


def test_srt_exact_text(tmp_path):
    path = write_srt(tmp_path / "out.srt", SEGMENTS)
    assert path.read_text(encoding="utf-8") == (
        "1\n00:00:00,000 --> 00:00:04,000\na man is walking\n"
        "\n"
        "2\n00:00:04,000 --> 00:00:09,500\na man sits down\n"
        "\n"
        "3\n01:02:05,042 --> 01:02:11,000\ncats & dogs <play>\n")


def test_vtt_exact_text(tmp_path):
    path = write_vtt(tmp_path / "out.vtt", SEGMENTS)
    assert path.read_text(encoding="utf-8") == (
        "WEBVTT\n"
        "\n"
        "00:00:00.000 --> 00:00:04.000\na man is walking\n"
        "\n"
        "00:00:04.000 --> 00:00:09.500\na man sits down\n"
        "\n"
        "01:02:05.042 --> 01:02:11.000\ncats &amp; dogs &lt;play&gt;\n")


def test_unicode_and_overwrite(tmp_path):
    path = tmp_path / "sub" / "x.srt"  # missing folders are created
    write_srt(path, [Segment(0, 1, "first")])
    write_srt(path, [Segment(0, 1, "ein Mädchen läuft")])
    assert path.read_text(encoding="utf-8").splitlines()[2] == "ein Mädchen läuft"
    assert [p.name for p in path.parent.iterdir()] == ["x.srt"]  # no temporary file left behind


@pytest.mark.parametrize("start, end", [(2.0, 2.0), (3.0, 1.0), (-1.0, 1.0), (0.0, math.inf),
                                        (math.nan, 1.0)])
def test_bad_segments(start, end):
    with pytest.raises(ValueError, match="0 <= start < end"):
        Segment(start, end, "x")
