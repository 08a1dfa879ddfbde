"""vidcap.data.annotations on real MSR-VTT annotations (the subset in tests/assets/msrvtt) and on malformed files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidcap.data.annotations import CATEGORY_NAMES, Annotations, VideoRecord, natural_key
from vidcap.errors import InputError, UsageError


@pytest.fixture(scope="module")
def msrvtt(msrvtt_dir) -> Annotations:
    return Annotations.load(msrvtt_dir / "train_val_videodatainfo.json", msrvtt_dir / "test_videodatainfo.json")


def test_msrvtt_split_sizes(msrvtt):
    # The subset's counts (tests/assets/README.md); ids sort by their numbers, not as text.
    assert (len(msrvtt.ids("train")), len(msrvtt.ids("validate")), len(msrvtt.ids("test"))) == (170, 104, 195)
    assert len(msrvtt) == 469 and len(msrvtt.ids()) == 469
    assert msrvtt.ids("train")[:3] == ["video0", "video1", "video2"]
    assert msrvtt.ids() == sorted(msrvtt.ids(), key=natural_key) != sorted(msrvtt.ids())
    assert msrvtt.ids("test")[0] == "video7010" and msrvtt.ids("test")[-1] == "video9990"


def test_msrvtt_references_are_the_stripped_captions_in_sen_id_order(msrvtt, msrvtt_dir):
    refs = msrvtt.references()
    assert all(len(caps) == 20 for caps in refs.values())
    raw: dict[str, list[tuple[int, str]]] = {}
    padded = 0
    for name in ("train_val_videodatainfo.json", "test_videodatainfo.json"):
        for s in json.loads((msrvtt_dir / name).read_text())["sentences"]:
            raw.setdefault(s["video_id"], []).append((s["sen_id"], s["caption"]))
            padded += s["caption"] != s["caption"].strip()
    assert padded == 63  # tests/assets/README.md's count: these must come back stripped
    assert refs == {vid: [c.strip() for _, c in sorted(sens)] for vid, sens in raw.items()}


def test_msrvtt_categories_match_category_txt(msrvtt, msrvtt_dir):
    lines = (msrvtt_dir / "category.txt").read_text().split("\n")
    from_file = {}
    for line in filter(str.strip, lines):
        name, number = line.rsplit(maxsplit=1)
        from_file[int(number)] = name
    assert from_file == CATEGORY_NAMES and len(CATEGORY_NAMES) == 20
    assert {msrvtt.category_of(v) for v in msrvtt.ids("test")} == set(CATEGORY_NAMES.values())


def test_a_single_file_and_references_of_chosen_ids(msrvtt_dir):
    test = Annotations.load(msrvtt_dir / "test_videodatainfo.json")
    assert test.ids("train") == [] and len(test.ids("test")) == 195
    assert list(test.references(["video7011", "video7010"])) == ["video7011", "video7010"]
    with pytest.raises(UsageError, match="unknown video ids: video1"):
        test.references(["video1"])
    with pytest.raises(UsageError, match="unknown split 'val'"):
        test.ids("val")


def test_natural_key_and_records():
    assert sorted(["v10", "v9", "a", "v100"], key=natural_key) == ["a", "v9", "v10", "v100"]
    ann = Annotations({"x": VideoRecord("x", "test")}, {"x": ["a cat"]})
    assert ann.category_of("x") is None and "memory" in repr(ann)


def write(tmp_path: Path, data, name="ann.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def valid(**changes):
    data = {"videos": [{"video_id": "v1", "split": "train", "category": 3},
                       {"video_id": "v2", "split": "test"}],
            "sentences": [{"video_id": "v1", "caption": " a man runs ", "sen_id": 1},
                          {"video_id": "v1", "caption": "a person runs", "sen_id": 0},
                          {"video_id": "v2", "caption": "a cat", "sen_id": 2}]}
    data.update(changes)
    return data


def test_a_small_valid_file(tmp_path):
    ann = Annotations.load(write(tmp_path, valid()))
    assert ann.references() == {"v1": ["a person runs", "a man runs"], "v2": ["a cat"]}
    assert ann.category_of("v1") == "sports/actions" and ann.category_of("v2") is None


V = {"video_id": "v1", "split": "train"}
S = {"video_id": "v1", "caption": "a", "sen_id": 0}


@pytest.mark.parametrize("data, message", [
    ("{not json", "invalid JSON"),
    ("[]", "top level must be an object"),
    ({"videos": []}, "'sentences' is missing"),
    ({"videos": {}, "sentences": []}, "'videos' is a dict, not a list"),
    ({"videos": ["v1"], "sentences": []}, r"videos\[0\] is a str, not an object"),
    ({"videos": [{"split": "train"}], "sentences": []}, r"videos\[0\] lacks 'video_id'"),
    ({"videos": [{**V, "video_id": 5}], "sentences": [S]}, r"video_id=5 \(int, expected str\)"),
    ({"videos": [{**V, "category": "3"}], "sentences": [S]}, r"category='3' \(str, expected int\)"),
    ({"videos": [{**V, "split": "val"}], "sentences": [S]}, r"unknown split .*v1 \('val'\)"),
    ({"videos": [V, V], "sentences": [S]}, "duplicate video ids: v1"),
    ({"videos": [V], "sentences": [{**S, "sen_id": True}]}, r"sentences\[0\] has sen_id=True"),
    ({"videos": [V], "sentences": [{**S, "caption": None}]}, r"sentences\[0\] has caption=None"),
    ({"videos": [V], "sentences": [{**S, "caption": "  "}]}, r"blank captions: sen_id 0 \(v1\)"),
    ({"videos": [V], "sentences": [S, {**S, "video_id": "v9"}]}, "sentences for videos that no annotation file lists: v9"),
    ({"videos": [V, {**V, "video_id": "v2"}], "sentences": [S]}, "videos without any sentence: v2"),
    ({"videos": [V], "sentences": [S, S]}, "sentence ids repeated for one video: v1 sen_id 0"),
])
def test_malformed_files_name_the_file_and_the_entry(tmp_path, data, message):
    path = write(tmp_path, data)
    with pytest.raises(InputError, match=message) as err:
        Annotations.load(path)
    assert str(path) in str(err.value)


def test_merging_files(tmp_path):
    first = write(tmp_path, {"videos": [V], "sentences": []}, "a.json")
    second = write(tmp_path, {"videos": [{**V, "video_id": "v2", "split": "test"}],
                              "sentences": [S, {**S, "video_id": "v2"}]}, "b.json")
    ann = Annotations.load(first, second)  # a sentence may caption a video listed in another file
    assert ann.ids() == ["v1", "v2"] and ann.sources == [first, second]
    with pytest.raises(InputError, match=r"a.json: video ids already listed in .*a.json: v1"):
        Annotations.load(first, first)
    with pytest.raises(InputError, match="annotation file not found"):
        Annotations.load(tmp_path / "missing.json")
    with pytest.raises(UsageError):
        Annotations.load()


def test_many_problems_are_counted(tmp_path):
    data = {"videos": [{"video_id": f"v{i}", "split": "x"} for i in range(8)], "sentences": []}
    with pytest.raises(InputError, match=r"v0 \('x'\), v1 .*\(8 in all\)"):
        Annotations.load(write(tmp_path, data))
