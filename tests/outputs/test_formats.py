"""One file per video and format: the writers behind `vidcap caption --output-dir`."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidcap.errors import UsageError
from vidcap.outputs import Segment, format_srt, format_vtt
from vidcap.outputs.formats import (
    OUTPUT_FORMATS,
    VideoCaptions,
    output_formats,
    write_outputs,
)

SEGMENTS = [Segment(0.0, 5.0, "a man walks"), Segment(5.0, 7.25, "he sits down")]


def _item(name: str = "clips/walk.mp4") -> VideoCaptions:
    frames = np.random.default_rng(0).integers(0, 255, (4, 48, 64, 3), dtype=np.uint8)
    return VideoCaptions(Path(name), "a man walks and sits", SEGMENTS, 7.25, frames, [0.5, 2.0, 4.0, 6.5])


def test_every_format_writes_one_file_named_after_the_video(tmp_path: Path) -> None:
    paths = write_outputs(tmp_path / "out", _item(), output_formats("all"))
    assert [p.name for p in paths] == ["walk.srt", "walk.vtt", "walk.json", "walk.png"]
    assert paths[0].read_text() == format_srt(SEGMENTS)
    assert paths[1].read_text() == format_vtt(SEGMENTS)
    assert Image.open(paths[3]).format == "PNG"
    doc = json.loads(paths[2].read_text())
    assert doc == {"video": "clips/walk.mp4", "video_id": "walk", "caption": "a man walks and sits",
                   "duration": 7.25, "segments": [{"start": 0.0, "end": 5.0, "caption": "a man walks"},
                                                  {"start": 5.0, "end": 7.25, "caption": "he sits down"}]}


def test_only_the_formats_asked_for(tmp_path: Path) -> None:
    write_outputs(tmp_path, _item(), output_formats("json,srt,json"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.json", "walk.srt"]


@pytest.mark.parametrize("text, message", [
    ("SRT", "unknown output format 'SRT'.*Did you mean 'srt'"),
    ("srt,mp4", "unknown output format 'mp4'"),
    (" , ", "name one or more of srt, vtt, json, png"),
])
def test_bad_format_lists_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        output_formats(text)


def test_all_covers_every_registered_format() -> None:
    assert sorted(output_formats("all")) == sorted(OUTPUT_FORMATS.names())
