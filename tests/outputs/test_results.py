"""COCO results files (vidcap/outputs/results.py)."""
from __future__ import annotations

import json

import pytest

from vidcap.outputs import write_results


def test_round_trip(tmp_path):
    items = [{"video_id": "video7010", "caption": "a man is cooking"},
             {"video_id": 7011, "caption": "une femme chante", "score": -3.5}]
    path = write_results(tmp_path / "res.json", items)
    assert json.loads(path.read_text(encoding="utf-8")) == [
        {"video_id": "video7010", "caption": "a man is cooking"},
        {"video_id": "7011", "caption": "une femme chante", "score": -3.5}]
    assert path.read_text(encoding="utf-8").count("\n") == 4  # one entry per line, brackets apart


def test_empty_results(tmp_path):
    assert write_results(tmp_path / "r.json", []).read_text() == "[]\n"


@pytest.mark.parametrize("item, message", [
    ({"caption": "x"}, "entry 0 must be a mapping with 'video_id' and 'caption'"),
    ("video1", "entry 0 must be a mapping"),
    ({"video_id": None, "caption": "x"}, "video_id must be a string"),
    ({"video_id": "v", "caption": 3}, "caption must be a string"),
])
def test_bad_entries_write_nothing(tmp_path, item, message):
    with pytest.raises(ValueError, match=message):
        write_results(tmp_path / "r.json", [item])
    assert not list(tmp_path.iterdir())
