"""Hostile results files given to `vidcap score --results` (vidcap/metrics/scoring.py, vidcap.files.read_json).

Each case scores a hostile results file against valid annotations with `--json` asked for: exit 1, a
message naming the results file and the entries, no traceback, no scores file written.
"""
from __future__ import annotations

import json
import pathlib

import pytest
from hostilekit import Case, refused, snapshot, unchanged, vidcap

ANNOTATIONS = {"videos": [{"video_id": "v1", "split": "test"}, {"video_id": "v2", "split": "test"},
                          {"video_id": "t1", "split": "train"}],
               "sentences": [{"video_id": "v1", "caption": "a cat sleeps", "sen_id": 0},
                             {"video_id": "v2", "caption": "a dog runs", "sen_id": 1},
                             {"video_id": "t1", "caption": "a bird sings", "sen_id": 2}]}
GOOD = [{"video_id": "v1", "caption": "a cat sleeps"}, {"video_id": "v2", "caption": "a dog runs"}]


def _results(content):
    """A case's make: the results file (bytes, or JSON data, or a function of the good list)."""
    def make(tmp: pathlib.Path) -> list[str]:
        (tmp / "ann.json").write_text(json.dumps(ANNOTATIONS))
        data = content([dict(e) for e in GOOD]) if callable(content) else content
        (tmp / "res.json").write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
        return ["score", "--no-java", "--results", tmp / "res.json", "--annotations", tmp / "ann.json",
                "--split", "test", "--json", tmp / "out" / "scores.json"]
    return make


def _edit(i: int, **changes):
    def edit(items):
        items[i].update(changes)
        return [{k: v for k, v in e.items() if v is not ...} for e in items]
    return edit


def _sparse(tmp: pathlib.Path) -> list[str]:
    args = _results([])(tmp)
    with open(tmp / "res.json", "r+b") as fh:
        fh.truncate(300 << 20)
    return args


def _folder(tmp: pathlib.Path) -> list[str]:
    args = _results([])(tmp)
    (tmp / "res.json").unlink()
    (tmp / "res.json").mkdir()
    return args


CASES = [
    Case("an-object", _results({"v1": "a cat sleeps"}), ("res.json", "a JSON list", "got a dict")),
    Case("a-string", _results("a cat sleeps"), ("res.json", "got a str")),
    Case("entry-not-an-object", _results(lambda r: r + ["v3"]), ("res.json", "[2] is a str")),
    Case("missing-caption", _results(_edit(0, caption=...)), ("res.json", "[0] (v1) lacks caption")),
    Case("missing-video-id", _results(_edit(1, video_id=...)), ("res.json", "[1] lacks video_id")),
    Case("both-ids", _results(_edit(0, image_id="v1")), ("res.json", "[0] has both")),
    Case("caption-a-number", _results(_edit(0, caption=3)), ("res.json", "[0] (v1) has caption=3")),
    Case("caption-null", _results(_edit(1, caption=None)), ("res.json", "[1] (v2) has caption=None")),
    Case("caption-a-list", _results(_edit(1, caption=["a", "dog"])), ("res.json", "(v2) has caption=['a', 'dog']")),
    Case("caption-escape-sequence", _results(_edit(0, caption="a cat\x1b]0;pwned\x07")),
         ("res.json", "(v1)", "U+0007, U+001B")),
    Case("caption-carriage-return", _results(_edit(1, caption="a dog\rruns")), ("res.json", "(v2)", "U+000D")),
    Case("id-a-bool", _results(_edit(0, video_id=True)), ("res.json", "video_id=True")),
    Case("id-a-float", _results(_edit(0, video_id=1.5)), ("res.json", "video_id=1.5")),
    Case("id-an-object", _results(_edit(0, video_id={"a": 1})), ("res.json", "video_id={'a': 1}")),
    Case("duplicate-ids", _results(lambda r: r + [r[0]]), ("res.json", "more than one caption: v1")),
    Case("id-of-another-split", _results(lambda r: r + [{"video_id": "t1", "caption": "x"}]),
         ("res.json", "not in the chosen split", "train split", "t1")),
    Case("id-not-annotated", _results(lambda r: r + [{"video_id": "../../etc/passwd", "caption": "x"}]),
         ("res.json", "not in the chosen split", "../../etc/passwd")),
    Case("id-with-escape-sequence", _results(lambda r: r + [{"video_id": "x\x1b[2J", "caption": "x"}]),
         ("res.json", "not in the chosen split", "'x\\x1b[2J'")),
    Case("missing-videos", _results(lambda r: r[:1]), ("res.json", "1 of the 2 videos", "v2")),
    Case("empty-list", _results([]), ("res.json", "2 of the 2 videos")),
    Case("deep-nesting", _results(b"[" * 100000 + b"]" * 100000), ("res.json", "nests deeper")),
    Case("deep-nesting-in-caption", _results(lambda r: [{**r[0], "caption": [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]},
                                                        r[1]]), ("res.json", "(v1) has caption=")),
    Case("nan-literal", _results(b'[{"video_id": "v1", "caption": "a", "score": NaN}]'), ("res.json", "NaN")),
    Case("invalid-json-line", _results(b'[\n{"video_id": "v1",\n"caption": "a"\n'), ("res.json", "line 4")),
    Case("invalid-utf8", _results(b'[{"video_id": "v1", "caption": "a \xc3\x28"}]'), ("res.json", "line 1", "UTF-8")),
    Case("300MB", _sparse, ("res.json", "bytes, more than")),
    Case("a-folder", _folder, ("res.json", "is a folder")),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_hostile_results_file_is_refused_and_nothing_is_scored(tmp_path, case):
    args = case.make(tmp_path)
    before = snapshot(tmp_path)
    out = refused(vidcap(*args, timeout=120), status=case.status, names=case.names)
    assert "\x1b" not in out and "\x07" not in out, "a control character reached the terminal"
    unchanged(before, tmp_path)
    assert not (tmp_path / "out").exists()


def test_the_good_file_of_these_cases_scores(tmp_path):
    """The cases differ from a file that scores only in what they break."""
    args = _results(GOOD)(tmp_path)
    run = vidcap(*args, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "out" / "scores.json").read_text())["videos_scored"] == 2
