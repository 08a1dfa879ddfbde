"""Choosing the videos to extract and sharding them (vidcap/features/sources.py)."""
from __future__ import annotations

import json

import pytest

from vidcap.errors import InputError, UsageError
from vidcap.features.sources import collect_sources, missing_by_split, missing_summary, parse_shard, select_shard


def _touch(folder, *names):
    folder.mkdir(exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"x")


def test_video_dir_takes_video_files_only(tmp_path):
    _touch(tmp_path, "b.mp4", "a.MKV", "c.webm", "notes.txt", ".hidden.mp4", "ann.json")
    srcs = collect_sources(video_dir=tmp_path)
    assert [(s.video_id, s.path.name, s.problem) for s in srcs] == [
        ("a", "a.MKV", None), ("b", "b.mp4", None), ("c", "c.webm", None)]


def test_same_stem_twice_is_a_per_video_problem(tmp_path):
    _touch(tmp_path, "a.mp4", "a.avi", "b.mp4")
    srcs = {s.video_id: s for s in collect_sources(video_dir=tmp_path)}
    assert "several files for id a" in srcs["a"].problem and srcs["b"].problem is None


def test_annotations_pick_ids_and_report_missing_files(tmp_path, msrvtt_dir):
    _touch(tmp_path, "video7010.mp4", "video7011.mkv", "video1.mp4")
    srcs = collect_sources(video_dir=tmp_path, annotations=[msrvtt_dir / "test_videodatainfo.json"],
                           split="test")
    assert len(srcs) == 195 and srcs == sorted(srcs, key=lambda s: s.video_id)
    by_id = {s.video_id: s for s in srcs}
    assert by_id["video7010"].problem is None and by_id["video7011"].path.name == "video7011.mkv"
    assert by_id["video7012"].problem == f"no video file for id video7012 in {tmp_path}"
    assert "video1" not in by_id  # train video, not in the test split


def test_small_annotation_file_and_its_errors(tmp_path):
    _touch(tmp_path / "v", "x.mp4")
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"videos": [{"video_id": "x", "split": "train"}, {"video_id": "y", "split": "test"}],
                               "sentences": []}))
    assert [s.video_id for s in collect_sources(video_dir=tmp_path / "v", annotations=[ann])] == ["x", "y"]
    with pytest.raises(InputError, match="no videos in split 'validate'"):
        collect_sources(video_dir=tmp_path / "v", annotations=[ann], split="validate")
    ann.write_text("[]")
    with pytest.raises(InputError, match="ann.json: not an MSR-VTT-schema file"):
        collect_sources(video_dir=tmp_path / "v", annotations=[ann])
    with pytest.raises(InputError, match="absent.json: annotation file not found"):
        collect_sources(video_dir=tmp_path / "v", annotations=[tmp_path / "absent.json"])


def test_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="need a video folder"):
        collect_sources(["a.mp4"], annotations=["ann.json"])
    with pytest.raises(UsageError, match="no videos given"):
        collect_sources([])
    with pytest.raises(InputError, match="no such folder"):
        collect_sources(video_dir=tmp_path / "absent")
    with pytest.raises(InputError, match="no video files"):
        collect_sources(video_dir=tmp_path)


def test_explicit_paths_keep_missing_ones_for_the_report(tmp_path):
    srcs = collect_sources([str(tmp_path / "gone.mp4"), str(tmp_path / "a.mp4")])
    assert [s.video_id for s in srcs] == ["a", "gone"]


def test_parse_shard(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert parse_shard("0/2") == (0, 2) and parse_shard("3/4") == (3, 4) and parse_shard(None) is None
    for bad in ("2/2", "-1/2", "1", "a/b", "1/0", ""):
        with pytest.raises(UsageError, match="expected i/n"):
            parse_shard(bad)
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    assert parse_shard(None) == (1, 3)
    assert parse_shard("0/2") == (0, 2)  # an explicit shard wins
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    assert parse_shard(None) is None


def test_select_shard_interleaves_sorted_ids(tmp_path):
    srcs = collect_sources([f"{c}.mp4" for c in "ecabdf"])
    parts = [[s.video_id for s in select_shard(srcs, (i, 3))] for i in range(3)]
    assert parts == [["a", "d"], ["b", "e"], ["c", "f"]]
    assert [s.video_id for s in select_shard(srcs, None)] == list("abcdef")


def test_missing_videos_are_counted_per_split(tmp_path):
    _touch(tmp_path / "v", "a.mp4", "c.avi", "d.mkv")  # b and e are gone (e.g. deleted from YouTube)
    first, second = tmp_path / "train_val.json", tmp_path / "test.json"
    first.write_text(json.dumps({"videos": [{"video_id": "a", "split": "train"}, {"video_id": "b", "split": "train"},
                                            {"video_id": "c", "split": "validate"}], "sentences": []}))
    second.write_text(json.dumps({"videos": [{"video_id": "d", "split": "test"}, {"video_id": "e", "split": "test"}],
                                  "sentences": []}))
    srcs = collect_sources(video_dir=tmp_path / "v", annotations=[first, second])
    assert [(s.video_id, s.split, s.missing, s.problem is None) for s in srcs] == [
        ("a", "train", False, True), ("b", "train", True, False), ("c", "validate", False, True),
        ("d", "test", False, True), ("e", "test", True, False)]
    assert srcs[2].path.name == "c.avi"
    assert missing_by_split(srcs) == {"train": (1, 2), "validate": (0, 1), "test": (1, 2)}
    assert missing_summary(srcs) == \
        "videos without a file: train 1 of 2, validate 0 of 1, test 1 of 2 (listed in failures.json)"
    test_only = collect_sources(video_dir=tmp_path / "v", annotations=[first, second], split="test")
    assert missing_by_split(test_only) == {"test": (1, 2)}
    assert missing_summary(collect_sources(video_dir=tmp_path / "v")) is None  # not from annotations
